"""Numbers and durations as people read them, for the API, notifications and pages."""

from __future__ import annotations

from datetime import timedelta


def format_duration(seconds: float) -> str:
    """HH:MM:SS, the original's format: whole seconds, truncated (49.66 s is 00:00:49), and
    hours going past 24 rather than wrapping. See docs/compatibility.md."""
    total = int(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def human_size(size: int | None) -> str:
    """Bytes in steps of 1,024, labelled as such (KiB, MiB, GiB, ...), as everywhere the project
    shows a size (pages, charts.js, notifications); the APIs give plain bytes."""
    value = float(size or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"


def human_span(delta: timedelta | None) -> str:
    """'2 days 3 hours'; the two largest units only."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts[:2]) or "less than a minute"
