"""The application log: what the service itself did, in a size-limited rotating file in the
data dir (`duplistatus.log`, kept to DUPLISTATUS_LOG_MAX_BYTES × 4), shown in Settings → Log.

Every line passes `RedactSecrets` first, on the console too: passwords, tokens and keys are
replaced by "[redacted]" whatever code logged them (an exception message quoting a URL with
a password in it, a request's Authorization header)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDACTED = "[redacted]"
_PATTERNS = [
    # Authorization: Bearer …, Basic …
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1\2" + REDACTED),
    # our API tokens, wherever they appear
    (re.compile(r"\bdst_[A-Za-z0-9_-]{8,}"), REDACTED),
    # Fernet ciphertexts (encrypted secrets)
    (re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"), REDACTED),
    # user:password@ in URLs
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s@/]+@", re.I), r"\1" + REDACTED + "@"),
    # password=…, "token": "…", secret: …, api_key=…
    (
        re.compile(
            r"""(?ix)\b((?:[a-z]+[_-])?(?:password|passwd|pwd|secret|token|api[_-]?key|apikey)s?)
            (["']?\s*[:=]\s*["']?)([^\s"'&,;}]+)"""
        ),
        r"\1\2" + REDACTED,
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites the record's message (and traceback) with secrets replaced. Each handler
    (console, file) runs it; the second finds the record done (every upload logs a line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "redacted", False):
            return True
        record.redacted = True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what we have, still redacted
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# --------------------------------------------------------------------------- reading

_START = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+): ?(.*)$"
)
READ_BYTES = 2 * 1024 * 1024  # the page reads at most the newest 2 MB


@dataclass(frozen=True)
class Entry:
    at: str
    level: str
    logger: str
    message: str


def log_file() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "duplistatus.log"


def entries(path: Path | None = None) -> list[Entry]:
    """The newest entries of the current log file, oldest first (a traceback stays with
    the line it belongs to)."""
    path = path or log_file()
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - READ_BYTES))
            data = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    if size > READ_BYTES:
        data = data.split("\n", 1)[-1]  # the first line is likely cut
    return list(_parse(data.splitlines()))


def _parse(lines: list[str]) -> Iterator[Entry]:
    current: list[str] | None = None
    for line in lines:
        match = _START.match(line)
        if match:
            if current:
                yield Entry(current[0], current[1], current[2], "\n".join(current[3:]))
            current = list(match.groups())
        elif current is not None:
            current.append(line)
    if current:
        yield Entry(current[0], current[1], current[2], "\n".join(current[3:]))


def select(found: list[Entry], level: str = "", search: str = "", limit: int = 500) -> list[Entry]:
    """Newest first, at `level` or above, containing `search` (any case)."""
    least = LEVELS.index(level) if level in LEVELS else 0
    needle = search.casefold()
    chosen = [
        e
        for e in reversed(found)
        if LEVELS.index(e.level) >= least
        and (not needle or needle in f"{e.logger} {e.message}".casefold())
    ]
    return chosen[:limit]
