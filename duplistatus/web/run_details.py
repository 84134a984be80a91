"""What the run page shows: the statistics of a run, its nested results, and its log lines
with their levels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from duplistatus.backups.models import BackupRun
from duplistatus.ingest.parse import _LOG_LINE  # Duplicati's log line format, defined once

# (label, field, kind) — kind picks the format: count, bytes, seconds, text, bool
STATISTICS = (
    ("Examined files", "examined_files", "count"),
    ("Size of examined files", "size_of_examined_files", "bytes"),
    ("Opened files", "opened_files", "count"),
    ("Added files", "added_files", "count"),
    ("Size of added files", "size_of_added_files", "bytes"),
    ("Modified files", "modified_files", "count"),
    ("Size of modified files", "size_of_modified_files", "bytes"),
    ("Deleted files", "deleted_files", "count"),
    ("Files with errors", "files_with_error", "count"),
    ("Uploaded", "bytes_uploaded", "bytes"),
    ("Downloaded", "bytes_downloaded", "bytes"),
    ("Files at the destination", "known_file_count", "count"),
    ("Storage used", "known_file_size", "bytes"),
    ("Versions", "backup_list_count", "count"),
    ("Messages", "messages_count", "count"),
    ("Warnings", "warnings_count", "count"),
    ("Errors", "errors_count", "count"),
    ("Interrupted", "interrupted", "bool"),
    ("Partial backup", "partial_backup", "bool"),
    ("Dry run", "dryrun", "bool"),
    ("Duplicati version", "version", "text"),
    ("Report format", "report_format", "text"),
)

LEVELS = ("error", "warning", "information", "verbose", "profiling", "retry", "dryrun")


@dataclass(frozen=True)
class LogLine:
    level: str  # one of LEVELS, or "" when the line has no level
    text: str


def statistics(run: BackupRun) -> list[tuple[str, Any, str]]:
    return [(label, getattr(run, name), kind) for label, name, kind in STATISTICS]


def log_lines(lines: list[str]) -> list[LogLine]:
    out = []
    for line in lines:
        match = _LOG_LINE.match(line.split("\n", 1)[0])
        level = match["level"].lower() if match else ""
        out.append(LogLine(level if level in LEVELS else "", line))
    return out


def sections(data: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The report's Data object: its plain values first, then each nested result
    (BackendStatistics, CompactResults, …) as a section of its own."""
    plain: list[tuple[str, Any]] = []
    nested: list[tuple[str, list[tuple[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            if value:
                flat = sections(value)
                nested.append((key, flat[0][1] if flat and flat[0][0] == "" else []))
                nested.extend((f"{key} › {name}", items) for name, items in flat if name)
        elif isinstance(value, list):
            plain.append((key, f"{len(value)} item{'s' if len(value) != 1 else ''}"))
        else:
            plain.append((key, value))
    return ([("", plain)] if plain else []) + nested
