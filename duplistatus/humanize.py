"""Numbers and durations as people read them, for the API, notifications and pages.

Words and number formats follow the active language (pages: the user's; notifications: the
one they are rendered in); the binary size symbols (KiB, MiB, …) are the same everywhere."""

from __future__ import annotations

from datetime import timedelta

from django.utils.formats import get_format
from django.utils.translation import gettext, ngettext

SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_duration(seconds: float) -> str:
    """HH:MM:SS, the original's format: whole seconds, truncated (49.66 s is 00:00:49), and
    hours going past 24 rather than wrapping. See docs/compatibility.md."""
    total = int(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def human_size(size: int | None, decimal_mark: str | None = None) -> str:
    """Bytes in steps of 1,024, labelled as such (KiB, MiB, GiB, ...), as everywhere the project
    shows a size (pages, charts.js, notifications); the APIs give plain bytes. The decimal
    mark is the active language's ("1.5 GiB", German "1,5 GiB"); a caller writing many sizes
    looks it up once (decimal_mark())."""
    value = float(size or 0)
    unit = "PiB"
    for step in SIZE_UNITS:
        if abs(value) < 1024:
            unit = step
            break
        value /= 1024
    if unit == "B":
        return f"{value:.0f} B"
    return f"{value:.1f}".replace(".", decimal_mark or get_format("DECIMAL_SEPARATOR")) + " " + unit


def decimal_mark() -> str:
    """The active language's decimal mark ("." or ",")."""
    return str(get_format("DECIMAL_SEPARATOR"))


def _count(unit: str, count: int) -> str:
    """'3 days', '1 hour': a count with its unit, in the active language."""
    if unit == "day":
        text = ngettext("%(count)s day", "%(count)s days", count)
    elif unit == "hour":
        text = ngettext("%(count)s hour", "%(count)s hours", count)
    else:
        text = ngettext("%(count)s minute", "%(count)s minutes", count)
    return text % {"count": count}


def human_span(delta: timedelta | None) -> str:
    """'2 days 3 hours'; the two largest units only."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(_count(unit, count))
    return " ".join(parts[:2]) or gettext("less than a minute")
