"""What the run page shows: the statistics of a run, its nested results, and its log lines
with their levels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from duplistatus.backups.models import BackupRun
from duplistatus.ingest.parse import _LOG_LINE  # Duplicati's log line format, defined once

# (label, field, kind) — kind picks the format: count, bytes, seconds, text, bool
STATISTICS = (
    (_("Examined files"), "examined_files", "count"),
    (_("Size of examined files"), "size_of_examined_files", "bytes"),
    (_("Opened files"), "opened_files", "count"),
    (_("Added files"), "added_files", "count"),
    (_("Size of added files"), "size_of_added_files", "bytes"),
    (_("Modified files"), "modified_files", "count"),
    (_("Size of modified files"), "size_of_modified_files", "bytes"),
    (_("Deleted files"), "deleted_files", "count"),
    (_("Files with errors"), "files_with_error", "count"),
    (_("Uploaded"), "bytes_uploaded", "bytes"),
    (_("Downloaded"), "bytes_downloaded", "bytes"),
    (_("Files at the destination"), "known_file_count", "count"),
    (_("Storage used"), "known_file_size", "bytes"),
    (_("Versions"), "backup_list_count", "count"),
    (_("Messages"), "messages_count", "count"),
    (_("Warnings"), "warnings_count", "count"),
    (_("Errors"), "errors_count", "count"),
    (_("Interrupted"), "interrupted", "bool"),
    (_("Partial backup"), "partial_backup", "bool"),
    (_("Dry run"), "dryrun", "bool"),
    (_("Duplicati version"), "version", "text"),
    (_("Report format"), "report_format", "text"),
)

LEVELS = ("error", "warning", "information", "verbose", "profiling", "retry", "dryrun")
# A line's level in words before its text, for screen readers (the colour says it to the eye).
LEVEL_LABELS = {
    "error": _("error:"),
    "warning": _("warning:"),
    "information": _("information:"),
    "verbose": _("verbose:"),
    "profiling": _("profiling:"),
    "retry": _("retry:"),
    "dryrun": _("dry run:"),
}


@dataclass(frozen=True)
class LogLine:
    level: str  # one of LEVELS, or "" when the line has no level
    text: str

    @property
    def label(self) -> str:
        return str(LEVEL_LABELS.get(self.level, self.level))


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
            count = len(value)
            items = ngettext("%(count)s item", "%(count)s items", count) % {"count": count}
            plain.append((key, items))
        else:
            plain.append((key, value))
    return ([("", plain)] if plain else []) + nested
