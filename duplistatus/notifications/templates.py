"""Message templates: the variables, the built-in texts, validation, and sandboxed rendering.

Users paste templates from the original duplistatus, which writes variables as `{name}`;
those work here unchanged. The full syntax is Jinja2's (`{{ name }}`, `{% if … %}`, filters),
rendered in a `SandboxedEnvironment` with plain data only (strings and numbers, never model
objects), so a template can neither reach into the application nor run code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

# The original's variables (keep every one: users' templates name them) and ours.
VARIABLES: dict[str, str] = {
    "server_name": "the server's name",
    "server_alias": "the server's alias (its name when none is set)",
    "server_note": "the note on the server",
    "server_url": "the server's Duplicati web UI, when known",
    "backup_name": "the backup job's name",
    "status": "Success, Warning, Error, Fatal, or the monitoring state",
    "backup_date": "when the run began (local time)",
    "duration": "how long the run took (HH:MM:SS)",
    "uploaded_size": "bytes uploaded, human-readable",
    "storage_size": "size of the backup at the destination, human-readable",
    "available_versions": "number of backup versions kept",
    "file_count": "files examined",
    "file_size": "size of the files examined, human-readable",
    "messages_count": "log messages",
    "warnings_count": "warnings",
    "errors_count": "errors",
    "log_text": "warning and error lines of the log (or all lines when there are none)",
    "last_backup_date": "when the latest run began (local time)",
    "last_elapsed": "time since the latest run, e.g. '2 days'",
    "expected_date": "when the next run was expected (local time)",
    "expected_elapsed": "time since the expected run, e.g. '5 hours'",
    "backup_interval": "the job's schedule interval, e.g. '1D'",
    "overdue_tolerance": "the grace period, e.g. '2 hours'",
    # Ours.
    "event_kind": "success, warning, error, fatal, overdue, reminder, escalation, recovered, test",
    "job_url": "link to the job's page",
    "run_url": "link to the run's page",
    "consecutive_failures": "failed runs in a row",
    "overdue_for": "how long the job has been overdue, e.g. '1 day 2 hours'",
    "learned_schedule": "the schedule learned from history, e.g. 'daily at 02:00'",
    "exception": "the exception that stopped a fatal run",
}

RUN_KINDS = ("success", "warning", "error", "fatal")
MONITOR_KINDS = ("overdue", "reminder", "escalation", "recovered")
_RUN_ONLY = {
    "duration",
    "uploaded_size",
    "file_count",
    "file_size",
    "messages_count",
    "warnings_count",
    "errors_count",
    "log_text",
    "backup_date",
    "run_url",
    "exception",
}


def allowed_variables(kind: str) -> list[str]:
    if kind in RUN_KINDS or kind in ("test", "recovered"):
        return sorted(VARIABLES)
    return sorted(set(VARIABLES) - _RUN_ONLY)


@dataclass(frozen=True)
class Template:
    title: str
    body: str


DEFAULTS: dict[str, Template] = {
    "success": Template(
        "✅ {backup_name} on {server_alias}: {status}",
        "Backup {backup_name} on {server_alias} finished: {status}.\n"
        "Began {backup_date}, took {duration}; {file_count} files, {uploaded_size} uploaded, "
        "{storage_size} stored, {available_versions} versions.\n{job_url}",
    ),
    "warning": Template(
        "⚠️ {backup_name} on {server_alias}: {status}",
        "Backup {backup_name} on {server_alias} finished with {warnings_count} warning(s).\n"
        "Began {backup_date}, took {duration}.\n{% if log_text %}\n{{ log_text }}\n{% endif %}"
        "\n{run_url}",
    ),
    "error": Template(
        "❌ {backup_name} on {server_alias}: {status}",
        "Backup {backup_name} on {server_alias} failed: {status}, {errors_count} error(s), "
        "{warnings_count} warning(s).\nBegan {backup_date}, took {duration}."
        "{% if consecutive_failures > 1 %} {{ consecutive_failures }} failures in a row."
        "{% endif %}\n{% if log_text %}\n{{ log_text }}\n{% endif %}\n{run_url}",
    ),
    "fatal": Template(
        "🛑 {backup_name} on {server_alias}: {status}",
        "Backup {backup_name} on {server_alias} stopped with a fatal error.\n"
        "Began {backup_date}.{% if consecutive_failures > 1 %} "
        "{{ consecutive_failures }} failures in a row.{% endif %}\n"
        "{% if exception %}\n{{ exception | truncate(600) }}\n{% endif %}"
        "{% if log_text %}\n{{ log_text }}\n{% endif %}\n{run_url}",
    ),
    "overdue": Template(
        "⏰ {backup_name} on {server_alias} is overdue",
        "No backup of {backup_name} on {server_alias} since {last_backup_date} "
        "({last_elapsed} ago).\nExpected {expected_date} ({expected_elapsed} ago), schedule "
        "{backup_interval}, grace {overdue_tolerance}.\n{job_url}",
    ),
    "reminder": Template(
        "⏰ Still overdue: {backup_name} on {server_alias}",
        "{backup_name} on {server_alias} has been overdue for {overdue_for}. Last backup "
        "{last_backup_date} ({last_elapsed} ago).\n{job_url}",
    ),
    "escalation": Template(
        "🚨 Overdue for {overdue_for}: {backup_name} on {server_alias}",
        "{backup_name} on {server_alias} has had no backup since {last_backup_date} and has "
        "been overdue for {overdue_for}. Please look at it.\n{job_url}",
    ),
    "recovered": Template(
        "✅ {backup_name} on {server_alias} is back",
        "{backup_name} on {server_alias} ran again ({status}) after being overdue for "
        "{overdue_for}.\n{run_url}",
    ),
    "summary": Template("duplistatus summary", "{body}"),
    "test": Template(
        "duplistatus test message",
        "This is a test from duplistatus. If you can read it, this channel works.",
    ),
}

# `{name}` of the original, but not `{{ name }}` or `{% … %}`.
_LEGACY_VARIABLE = re.compile(r"(?<![{%])\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}(?!\})")


def to_jinja(text: str) -> str:
    return _LEGACY_VARIABLE.sub(r"{{ \1 }}", text)


@lru_cache(maxsize=4)
def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined)


@lru_cache(maxsize=512)
def _compile(text: str, autoescape: bool) -> Any:
    return _environment(autoescape).from_string(to_jinja(text))


class TemplateError(ValueError):
    def __init__(self, message: str, *, line: int | None = None, allowed: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.allowed = allowed or []


def validate(text: str, kind: str) -> None:
    """Raise TemplateError for a syntax error or a variable this kind does not have."""
    allowed = allowed_variables(kind)
    try:
        tree = _environment(False).parse(to_jinja(text))
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"syntax error on line {exc.lineno}: {exc.message}", line=exc.lineno, allowed=allowed
        ) from None
    loop_names = {
        node.target.name for node in tree.find_all(nodes.For) if isinstance(node.target, nodes.Name)
    }
    unknown = sorted(meta.find_undeclared_variables(tree) - set(allowed) - loop_names)
    if unknown:
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == unknown[0]), None)
        raise TemplateError(
            f"unknown variable {unknown[0]!r}"
            + (f" on line {line}" if line else "")
            + f"; {kind} templates may use: "
            + ", ".join(allowed),
            line=line,
            allowed=allowed,
        )


def render(text: str, context: dict[str, Any], *, html: bool = False) -> str:
    """Render with plain data. Unknown variables render empty rather than failing a send."""
    values = {name: "" for name in VARIABLES} | context
    try:
        return _compile(text, html).render(values).strip()
    except (UndefinedError, SecurityError, TypeError, ValueError) as exc:
        raise TemplateError(f"template failed: {exc}") from None
