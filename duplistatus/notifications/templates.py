"""Message templates: the variables, the built-in texts, validation, sandboxed rendering, and
which template a destination gets.

Syntax. Users paste templates from the original duplistatus, which writes variables as
`{name}`; those work here unchanged. The full syntax is Jinja2's (`{{ name }}`, `{% if … %}`,
filters), rendered in a `SandboxedEnvironment` with plain data only (strings and numbers, never
model objects), so a template can neither reach into the application nor run code. Block tags
on a line of their own leave no blank line behind (`trim_blocks`, `lstrip_blocks`).

Formats. A template is plain text, Markdown or HTML. Variables are HTML-escaped in HTML
templates only. Every rendered message also gets a plain-text body (derived from the Markdown
or HTML), because every channel needs one: the e-mail text part, ntfy without Markdown, logs.
E-mail shows a Markdown template as that text (there is no Markdown-to-HTML step, to keep
dependencies few); an HTML template is the e-mail's HTML part as written.

Which template. `resolve(kind, channel_kind, language)` picks, in order: the saved template
for that kind and channel kind, the saved one for the kind on all channels, the built-in.
The built-in is in the destination's language: in English the variant for the channel kind
(e-mail: HTML, ntfy: Markdown) or the plain one, in the other languages the library's text
(template_library/). Saved templates are cached per process (see `_saved_templates`);
`template_store` holds the models, the library and writes.

Language. Messages are rendered inside languages.speaking(channel): gettext, humanize (the
durations in the variables) and the built-in texts all follow the channel's language.

Limits. The sandbox also bounds what a template may cost (see MAX_STEPS and its neighbours):
time, loop rounds and calls, the length of any string it builds, the size of numbers, widths,
and how big a template may be to compile. The checks are cooperative (a thread cannot be
stopped from outside): loop rounds and calls count steps and watch the clock, operators and
filters that could build a huge value are refused before they run.

A saved template that fails at send time (say, arithmetic on a value that turned out empty,
or a limit that real data reaches and the sample data did not) never loses the notification:
`render_message` logs it, falls back to the built-in text and says so in `Rendered.note`,
which the delivery log shows.
"""

from __future__ import annotations

import contextlib
import difflib
import html as html_module
import logging
import re
import time
import traceback
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from jinja2 import StrictUndefined, TemplateSyntaxError, filters, meta, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import pass_environment, pass_eval_context
from markupsafe import Markup

from duplistatus.humanize import human_span

from . import languages

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- variables

# The original's variables (keep every one: users' templates name them) and ours.
VARIABLES: dict[str, str] = {
    "server_name": gettext_noop("the server's name"),
    "server_alias": gettext_noop("the server's alias (its name when none is set)"),
    "server_note": gettext_noop("the note on the server"),
    "server_url": gettext_noop("the server's Duplicati web UI, when known"),
    "backup_name": gettext_noop("the backup job's name"),
    "status": gettext_noop("Success, Warning, Error, Fatal, or the monitoring state"),
    "backup_date": gettext_noop("when the run began (local time)"),
    "duration": gettext_noop("how long the run took (HH:MM:SS)"),
    "uploaded_size": gettext_noop("bytes uploaded, human-readable"),
    "storage_size": gettext_noop("size of the backup at the destination, human-readable"),
    "available_versions": gettext_noop("number of backup versions kept"),
    "file_count": gettext_noop("files examined"),
    "file_size": gettext_noop("size of the files examined, human-readable"),
    "messages_count": gettext_noop("log messages"),
    "warnings_count": gettext_noop("warnings"),
    "errors_count": gettext_noop("errors"),
    "log_text": gettext_noop(
        "warning and error lines of the log (or all lines when there are none)"
    ),
    "last_backup_date": gettext_noop("when the latest run began (local time)"),
    "last_elapsed": gettext_noop("time since the latest run, e.g. '2 days'"),
    "expected_date": gettext_noop("when the next run was expected (local time)"),
    "expected_elapsed": gettext_noop("time since the expected run, e.g. '5 hours'"),
    "backup_interval": gettext_noop("the job's schedule interval, e.g. '1D'"),
    "overdue_tolerance": gettext_noop("the grace period, e.g. '2 hours'"),
    # Ours.
    "event_kind": gettext_noop("the message kind, as rules and the API name it (e.g. overdue)"),
    "job_url": gettext_noop("link to the job's page"),
    "run_url": gettext_noop("link to the run's page"),
    "consecutive_failures": gettext_noop("failed runs in a row"),
    "overdue_for": gettext_noop("how long the job has been overdue, e.g. '1 day 2 hours'"),
    "learned_schedule": gettext_noop("the schedule learned from history, e.g. 'daily at 02:00'"),
    "exception": gettext_noop("the exception that stopped a fatal run"),
}

# An anomaly or storage event says what was found (anomaly/words.py makes these).
ANOMALY_VARIABLES: dict[str, str] = {
    "anomaly": gettext_noop(
        "what was found, e.g. 'slow run', 'change burst', 'destination filling up'"
    ),
    "detector": gettext_noop(
        "the detector's name: source_vanished, change_burst, slow_run, storage_shrink, "
        "versions_falling, quota or unverified"
    ),
    "message_type": gettext_noop(
        "Anomaly, Performance Warning (slow_run) or Storage Warning (quota)"
    ),
    "severity": gettext_noop("warning or critical"),
    "metric": gettext_noop("what was measured, e.g. 'bytes uploaded', 'files examined'"),
    "value": gettext_noop("the run's value, in the metric's unit, e.g. '40.0 GiB'"),
    "normal_value": gettext_noop("the job's usual value (median of recent runs)"),
    "normal_range": gettext_noop("the job's normal range, e.g. '150.2 MiB – 310.9 MiB'"),
    "days_until_full": gettext_noop(
        "storage: days until the destination is full at the recent rate"
    ),
}

# Messages about the monitor itself (notifications/watch.py): no job, no run.
SYSTEM_VARIABLES: dict[str, str] = {
    "message_type": gettext_noop(
        "Connection Error (channel_failing), System Health or System Error (system_error)"
    ),
    "channel_name": gettext_noop("channel_failing: the channel that keeps failing"),
    "channel_kind": gettext_noop("channel_failing: its kind (ntfy, email, webhook, apprise)"),
    "failures": gettext_noop("channel_failing: failed attempts in a row"),
    "last_error": gettext_noop("channel_failing: the last error, as the channel reported it"),
    "failing_since": gettext_noop("channel_failing: its last successful delivery (UTC)"),
    "dead": gettext_noop("channel_failing: 'yes' when a message could not be delivered at all"),
    "queue": gettext_noop("system_health: messages waiting to be sent"),
    "dead_deliveries": gettext_noop("system_health: messages that could not be delivered"),
    "database_size": gettext_noop("system_health: the database's size"),
    "last_report": gettext_noop(
        "system_health: when the latest report arrived, e.g. '2 hours ago'"
    ),
    "jobs_overdue": gettext_noop("system_health: jobs that are overdue"),
    "jobs_total": gettext_noop("system_health: jobs watched"),
    "failing_channels": gettext_noop("system_health: channels reported failing, or 'none'"),
    "stopped_at": gettext_noop(
        "system_error: the last pass a worker completed before it stopped (UTC)"
    ),
    "resumed_at": gettext_noop("system_error: when a worker completed a pass again (UTC)"),
    "stopped_minutes": gettext_noop("system_error: how long no worker ran, in minutes"),
    "stopped_for": gettext_noop("system_error: how long no worker ran, e.g. '2 hours 5 minutes'"),
    "never_ran": gettext_noop(
        "system_error: 'yes' when no worker had ever run (then stopped_at is the "
        "oldest report left waiting)"
    ),
    "worker_name": gettext_noop("system_error: the worker that resumed (host:process id)"),
    "job_url": gettext_noop("link to the dashboard"),
}

# A summary is about every job at once, so it has variables of its own.
SUMMARY_VARIABLES: dict[str, str] = {
    "jobs_ok": gettext_noop("jobs whose latest run succeeded and that are on time"),
    "jobs_warning": gettext_noop("jobs whose latest run ended with warnings"),
    "jobs_failed": gettext_noop("jobs whose latest run failed (Error or Fatal)"),
    "jobs_overdue": gettext_noop("jobs that are overdue"),
    "jobs_anomaly": gettext_noop("jobs whose latest run (or storage) was flagged as an anomaly"),
    "summary_text": gettext_noop(
        "the failed, overdue, anomalous and warning jobs, one per line, with links"
    ),
    "dashboard_url": gettext_noop("link to the dashboard"),
}

RUN_KINDS = ("success", "warning", "error", "fatal")
MONITOR_KINDS = ("overdue", "reminder", "escalation", "recovered")
ANOMALY_KINDS = ("anomaly", "storage")
SYSTEM_KINDS = ("channel_failing", "system_health", "system_error")
KINDS = (*RUN_KINDS, *MONITOR_KINDS, *ANOMALY_KINDS, *SYSTEM_KINDS, "summary", "test")
CHANNEL_KINDS = ("", "email", "ntfy", "webhook", "apprise")  # "" = every channel
FORMATS = ("plain", "markdown", "html")
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
_BLANK = dict.fromkeys([*VARIABLES, *SUMMARY_VARIABLES, *ANOMALY_VARIABLES, *SYSTEM_VARIABLES], "")


def allowed_variables(kind: str) -> list[str]:
    if kind == "summary":
        return sorted([*SUMMARY_VARIABLES, "event_kind"])
    if kind in ANOMALY_KINDS:
        return sorted([*VARIABLES, *ANOMALY_VARIABLES])
    if kind in SYSTEM_KINDS:
        return sorted([*SYSTEM_VARIABLES, "event_kind"])
    if kind in RUN_KINDS or kind in ("test", "recovered"):
        return sorted(VARIABLES)
    return sorted(set(VARIABLES) - _RUN_ONLY)


def describe_variables(kind: str) -> dict[str, str]:
    every = VARIABLES | SUMMARY_VARIABLES | ANOMALY_VARIABLES | SYSTEM_VARIABLES
    return {name: every[name] for name in allowed_variables(kind)}


# --------------------------------------------------------------------------- the built-in texts


@dataclass(frozen=True)
class ResolvedTemplate:
    """What a destination renders: saved by a user, or built in."""

    title: str
    body: str
    format: str = "plain"  # plain | markdown | html
    priority: int | None = None  # ntfy priority 1..5; None = the kind's default
    tags: tuple[str, ...] = ()  # ntfy tags
    # The library language whose text this is, unchanged ("" = none): such a saved template
    # is sent to a channel in another language as that language's library text.
    library: str = ""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {self.format!r}")


DEFAULTS: dict[str, ResolvedTemplate] = {
    "success": ResolvedTemplate(
        "✅ {backup_name} on {server_alias}: {status}",
        "Backup {backup_name} on {server_alias} finished: {status}.\n"
        "Began {backup_date}, took {duration}; {file_count} files, {uploaded_size} uploaded, "
        "{storage_size} stored, {available_versions} versions.\n\n{job_url}",
    ),
    "warning": ResolvedTemplate(
        "⚠️ {backup_name} on {server_alias}: {status}",
        "Backup {backup_name} on {server_alias} finished with {warnings_count} warning(s).\n"
        "Began {backup_date}, took {duration}.\n"
        "{% if log_text %}\n\n{{ log_text }}\n{% endif %}\n"
        "\n{run_url}",
    ),
    "error": ResolvedTemplate(
        "❌ {backup_name} on {server_alias}: {status}",
        "Backup {backup_name} on {server_alias} failed: {status}, {errors_count} error(s), "
        "{warnings_count} warning(s).\n"
        "Began {backup_date}, took {duration}.\n"
        "{% if consecutive_failures > 1 %}\n{{ consecutive_failures }} failures in a row.\n"
        "{% endif %}\n"
        "{% if log_text %}\n\n{{ log_text }}\n{% endif %}\n"
        "\n{run_url}",
    ),
    "fatal": ResolvedTemplate(
        "🛑 {backup_name} on {server_alias}: {status}",
        "Backup {backup_name} on {server_alias} stopped with a fatal error.\n"
        "Began {backup_date}.\n"
        "{% if consecutive_failures > 1 %}\n{{ consecutive_failures }} failures in a row.\n"
        "{% endif %}\n"
        "{% if exception %}\n\n{{ exception | truncate(600) }}\n{% endif %}\n"
        "{% if log_text %}\n\n{{ log_text }}\n{% endif %}\n"
        "\n{run_url}",
    ),
    "overdue": ResolvedTemplate(
        "⏰ {backup_name} on {server_alias} is overdue",
        "No backup of {backup_name} on {server_alias} since {last_backup_date} "
        "({last_elapsed} ago).\nExpected {expected_date} ({expected_elapsed} ago), schedule "
        "{backup_interval}, grace {overdue_tolerance}.\n\n{job_url}",
    ),
    "reminder": ResolvedTemplate(
        "⏰ Still overdue: {backup_name} on {server_alias}",
        "{backup_name} on {server_alias} has been overdue for {overdue_for}. Last backup "
        "{last_backup_date} ({last_elapsed} ago).\n\n{job_url}",
    ),
    "escalation": ResolvedTemplate(
        "🚨 Overdue for {overdue_for}: {backup_name} on {server_alias}",
        "{backup_name} on {server_alias} has had no backup since {last_backup_date} and has "
        "been overdue for {overdue_for}. Please look at it.\n\n{job_url}",
    ),
    "recovered": ResolvedTemplate(
        "✅ {backup_name} on {server_alias} is back",
        "{backup_name} on {server_alias} ran again ({status}) after being overdue for "
        "{overdue_for}.\n\n{run_url}",
    ),
    "anomaly": ResolvedTemplate(
        "🔍 {backup_name} on {server_alias}: {anomaly}",
        "{message_type} ({severity}): {anomaly} in {backup_name} on {server_alias}.\n"
        "{% if normal_range %}\n{{ metric | capitalize }}: {{ value }}, normal "
        "{{ normal_range }}.\n{% endif %}\n"
        "Run of {backup_date}. If this was expected, mark it so on the job's page.\n\n"
        "{run_url}",
    ),
    "storage": ResolvedTemplate(
        "💾 {backup_name} on {server_alias}: destination filling up",
        "The destination of {backup_name} on {server_alias} "
        "{% if days_until_full != '' %}will be full in about {{ days_until_full }} days at "
        "the recent rate{% else %}reported a quota problem{% endif %}: {value} free "
        "{normal_range}, {storage_size} used by the backup.\n\n{job_url}",
    ),
    "channel_failing": ResolvedTemplate(
        "📡 Connection Error: channel {channel_name} is failing",
        "duplistatus cannot deliver through {channel_name} ({channel_kind}): "
        "{failures} failed attempts in a row"
        "{% if dead %}, and a message could not be delivered at all{% endif %}.\n"
        "{% if failing_since %}Last delivered {{ failing_since }}.\n{% endif %}"
        "{% if last_error %}\n{{ last_error }}\n{% endif %}"
        "\nYou get this through your other channels. See the delivery log: {job_url}",
    ),
    "system_health": ResolvedTemplate(
        "🩺 System Health: {jobs_overdue} overdue, {queue} waiting, {dead_deliveries} dead",
        "duplistatus watches {jobs_total} jobs; {jobs_overdue} overdue.\n"
        "Latest report: {last_report}.\n"
        "Messages waiting: {queue}; not deliverable: {dead_deliveries}; "
        "failing channels: {failing_channels}.\n"
        "Database: {database_size}.\n\n{job_url}",
    ),
    "system_error": ResolvedTemplate(
        "⚠️ System Error: no worker ran for {stopped_for}",
        "No duplistatus worker completed a pass from {stopped_at} to {resumed_at} "
        "({stopped_minutes} minutes){% if never_ran %} (none had run yet: reports waited from "
        "{stopped_at}){% endif %}. In that time no job was checked and no message was sent.\n"
        "Checks resumed on {worker_name}; messages held up meanwhile are sent now.\n"
        "If this happens again, keep a worker running (`duplistatus serve` runs one, or "
        "`duplistatus worker`) and look at its log.\n\n{job_url}",
    ),
    "summary": ResolvedTemplate(
        "Backups: {jobs_ok} ok, {jobs_warning} warning, {jobs_failed} failed, "
        "{jobs_overdue} overdue",
        "{summary_text}\n\nDashboard: {dashboard_url}",
    ),
    "test": ResolvedTemplate(
        "duplistatus test message",
        "This is a test from duplistatus. If you can read it, this channel works.",
    ),
}

# ntfy shows Markdown; logs go in a code block so their characters stay literal.
_LOG_MD = "{% if log_text %}\n\n```\n{{ log_text }}\n```\n{% endif %}\n"
_FAILURES_MD = (
    "{% if consecutive_failures > 1 %}\n\n**{{ consecutive_failures }} failures in a row.**\n"
    "{% endif %}\n"
)
_NTFY_BODIES: dict[str, str] = {
    "success": "**{backup_name}** on **{server_alias}** finished: {status}.\n\n"
    "Began {backup_date}, took {duration}. {file_count} files, {uploaded_size} uploaded, "
    "{storage_size} stored, {available_versions} versions.\n\n[Open the job]({job_url})",
    "warning": "**{backup_name}** on **{server_alias}** finished with {warnings_count} "
    "warning(s).\n\nBegan {backup_date}, took {duration}.\n"
    + _LOG_MD
    + "\n[Open the run]({run_url})",
    "error": "**{backup_name}** on **{server_alias}** failed: {status}, {errors_count} error(s), "
    "{warnings_count} warning(s).\n\nBegan {backup_date}, took {duration}.\n"
    + _FAILURES_MD
    + _LOG_MD
    + "\n[Open the run]({run_url})",
    "fatal": "Backup **{backup_name}** on **{server_alias}** stopped with a fatal error.\n\n"
    "Began {backup_date}.\n"
    + _FAILURES_MD
    + "{% if exception %}\n\n```\n{{ exception | truncate(600) }}\n```\n{% endif %}\n"
    + _LOG_MD
    + "\n[Open the run]({run_url})",
    "overdue": "No backup of **{backup_name}** on **{server_alias}** since {last_backup_date} "
    "({last_elapsed} ago).\n\nExpected {expected_date} ({expected_elapsed} ago); schedule "
    "{backup_interval}, grace {overdue_tolerance}.\n\n[Open the job]({job_url})",
    "reminder": "**{backup_name}** on **{server_alias}** has been overdue for **{overdue_for}**."
    "\n\nLast backup {last_backup_date} ({last_elapsed} ago).\n\n[Open the job]({job_url})",
    "escalation": "**{backup_name}** on **{server_alias}** has had no backup since "
    "{last_backup_date} and has been overdue for **{overdue_for}**. Please look at it."
    "\n\n[Open the job]({job_url})",
    "recovered": "**{backup_name}** on **{server_alias}** ran again ({status}) after being "
    "overdue for {overdue_for}.\n\n[Open the run]({run_url})",
    "anomaly": "**{message_type}** ({severity}): **{anomaly}** in **{backup_name}** on "
    "**{server_alias}**.\n"
    "{% if normal_range %}\n{{ metric | capitalize }}: **{{ value }}**, normal "
    "{{ normal_range }}.\n{% endif %}\n"
    "Run of {backup_date}. If this was expected, mark it so on the job's page.\n\n"
    "[Open the run]({run_url})",
    "storage": "The destination of **{backup_name}** on **{server_alias}** "
    "{% if days_until_full != '' %}will be full in about **{{ days_until_full }} days** at "
    "the recent rate{% else %}reported a quota problem{% endif %}: {value} free "
    "{normal_range}, {storage_size} used by the backup.\n\n[Open the job]({job_url})",
    "summary": "{summary_text}\n\n[Open the dashboard]({dashboard_url})",
    "test": "This is a **test** from duplistatus. If you can read it, this channel works.",
}

_COLOURS = {
    "success": "#1a7f37",
    "recovered": "#1a7f37",
    "warning": "#9a6700",
    "error": "#cf222e",
    "escalation": "#cf222e",
    "fatal": "#82071e",
    "overdue": "#bc4c00",
    "reminder": "#bc4c00",
    "summary": "#0969da",
    "test": "#0969da",
    "anomaly": "#9a6700",
    "storage": "#bc4c00",
}
_PRE = (
    '<pre style="white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;'
    'font-size:13px;background:#f6f8fa;padding:8px 12px;border-radius:6px">'
)
_LOG_HTML = "{% if log_text %}\n" + _PRE + "{{ log_text }}</pre>\n{% endif %}\n"


def _email(
    kind: str,
    lead: str,
    rows: list[tuple[str, str]],
    *,
    extra: str = "",
    link: tuple[str, str] | None = None,
) -> str:
    """An e-mail body: a lead sentence, a table of facts, extra blocks, a link."""
    cells = "".join(
        f'<tr><td style="padding:2px 16px 2px 0;color:#59636e">{label}</td><td>{value}</td></tr>\n'
        for label, value in rows
    )
    table = f'<table style="border-collapse:collapse">\n{cells}</table>\n' if rows else ""
    anchor = f'<p><a href="{link[0]}" style="color:#0969da">{link[1]}</a></p>\n' if link else ""
    return (
        "<div style=\"font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
        f"font-size:15px;line-height:1.5;color:#1f2328;max-width:680px;"
        f'border-left:4px solid {_COLOURS[kind]};padding-left:16px">\n'
        f"<p>{lead}</p>\n{table}{extra}{anchor}</div>"
    )


_RUN_ROWS = [("Began", "{backup_date}"), ("Duration", "{duration}")]
_FAILURES_ROW = (
    "{% if consecutive_failures > 1 %}<tr><td "
    'style="padding:2px 16px 2px 0;color:#59636e">Failures in a row</td>'
    "<td><b>{{ consecutive_failures }}</b></td></tr>{% endif %}\n"
)
_EMAIL_BODIES: dict[str, str] = {
    "success": _email(
        "success",
        "Backup <b>{backup_name}</b> on <b>{server_alias}</b> finished: {status}.",
        [
            *_RUN_ROWS,
            ("Files", "{file_count} ({file_size})"),
            ("Uploaded", "{uploaded_size}"),
            ("Stored", "{storage_size}"),
            ("Versions", "{available_versions}"),
        ],
        link=("{job_url}", "Open the job"),
    ),
    "warning": _email(
        "warning",
        "Backup <b>{backup_name}</b> on <b>{server_alias}</b> finished with "
        "{warnings_count} warning(s).",
        _RUN_ROWS,
        extra=_LOG_HTML,
        link=("{run_url}", "Open the run"),
    ),
    "error": _email(
        "error",
        "Backup <b>{backup_name}</b> on <b>{server_alias}</b> failed: {status}, "
        "{errors_count} error(s), {warnings_count} warning(s).",
        _RUN_ROWS,
        extra=_LOG_HTML,
        link=("{run_url}", "Open the run"),
    ).replace("</table>", _FAILURES_ROW + "</table>"),
    "fatal": _email(
        "fatal",
        "Backup <b>{backup_name}</b> on <b>{server_alias}</b> stopped with a fatal error.",
        [("Began", "{backup_date}")],
        extra="{% if exception %}\n" + _PRE + "{{ exception | truncate(600) }}</pre>\n"
        "{% endif %}\n" + _LOG_HTML,
        link=("{run_url}", "Open the run"),
    ).replace("</table>", _FAILURES_ROW + "</table>"),
    "overdue": _email(
        "overdue",
        "No backup of <b>{backup_name}</b> on <b>{server_alias}</b> since {last_backup_date} "
        "({last_elapsed} ago).",
        [
            ("Expected", "{expected_date} ({expected_elapsed} ago)"),
            ("Schedule", "{backup_interval}"),
            ("Grace", "{overdue_tolerance}"),
        ],
        link=("{job_url}", "Open the job"),
    ),
    "reminder": _email(
        "reminder",
        "<b>{backup_name}</b> on <b>{server_alias}</b> has been overdue for {overdue_for}.",
        [("Last backup", "{last_backup_date} ({last_elapsed} ago)")],
        link=("{job_url}", "Open the job"),
    ),
    "escalation": _email(
        "escalation",
        "<b>{backup_name}</b> on <b>{server_alias}</b> has had no backup since "
        "{last_backup_date} and has been overdue for <b>{overdue_for}</b>. Please look at it.",
        [],
        link=("{job_url}", "Open the job"),
    ),
    "recovered": _email(
        "recovered",
        "<b>{backup_name}</b> on <b>{server_alias}</b> ran again ({status}) after being "
        "overdue for {overdue_for}.",
        [],
        link=("{run_url}", "Open the run"),
    ),
    "anomaly": _email(
        "anomaly",
        "{message_type} ({severity}): <b>{anomaly}</b> in <b>{backup_name}</b> on "
        "<b>{server_alias}</b>. If this was expected, mark it so on the job's page.",
        [
            ("Measured", "{metric}"),
            ("This run", "<b>{value}</b>"),
            ("Normal", "{normal_range}"),
            ("Began", "{backup_date}"),
        ],
        link=("{run_url}", "Open the run"),
    ),
    "storage": _email(
        "storage",
        "The destination of <b>{backup_name}</b> on <b>{server_alias}</b> "
        "{% if days_until_full != '' %}will be full in about <b>{{ days_until_full }} days</b> "
        "at the recent rate{% else %}reported a quota problem{% endif %}.",
        [("Free", "{value} {normal_range}"), ("Used by the backup", "{storage_size}")],
        link=("{job_url}", "Open the job"),
    ),
    "summary": _email(
        "summary",
        "{jobs_ok} ok, {jobs_warning} warning, {jobs_failed} failed, {jobs_overdue} overdue.",
        [],
        extra=_PRE.replace("font-family:ui-monospace,Menlo,Consolas,monospace;", "")
        + "{summary_text}</pre>\n",
        link=("{dashboard_url}", "Open the dashboard"),
    ),
    "test": _email(
        "test",
        "This is a test from duplistatus. If you can read it, this channel works.",
        [],
    ),
}

VARIANTS: dict[tuple[str, str], ResolvedTemplate] = {
    **{
        (kind, "ntfy"): replace(DEFAULTS[kind], body=body, format="markdown")
        for kind, body in _NTFY_BODIES.items()
    },
    **{
        (kind, "email"): replace(DEFAULTS[kind], body=body, format="html")
        for kind, body in _EMAIL_BODIES.items()
    },
}


def builtin(kind: str, channel_kind: str = "", language: str | None = None) -> ResolvedTemplate:
    """The built-in template in `language` (default: the active one, see
    languages.speaking): in English the channel kind's variant, else the plain one; in
    another language that language's library text (template_library/), else the English."""
    code = languages.supported(language or translation.get_language() or "") or languages.ENGLISH
    if code != languages.ENGLISH:
        found = library_template(code, kind)
        if found is not None:
            return found
    return VARIANTS.get((kind, channel_kind)) or DEFAULTS[kind]


def library_template(language: str, kind: str) -> ResolvedTemplate | None:
    """The library's `kind` template in `language`, if the library has one."""
    from . import template_store  # it holds the library and imports this module

    try:
        return template_store.library_templates(language).get(kind)
    except KeyError:
        return None


# --------------------------------------------------------------------------- the sandbox

MAX_OUTPUT = 200_000  # characters a template may produce
_LEGACY_VARIABLE = re.compile(r"(?<![{%])\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}(?!\})")
# The `span_in` filter's words, by language code (settings.LANGUAGES). Durations reach the
# templates in the channel's language already where gettext has a catalogue for it (they are
# made by humanize inside languages.speaking); span_in is for texts still in English.
_SPAN_WORDS: dict[str, dict[str, str]] = {
    "de": {
        "days": "Tage",
        "day": "Tag",
        "hours": "Stunden",
        "hour": "Stunde",
        "minutes": "Minuten",
        "minute": "Minute",
        "less than a minute": "weniger als eine Minute",
    },
    "fr": {
        "days": "jours",
        "day": "jour",
        "hours": "heures",
        "hour": "heure",
        "minutes": "minutes",
        "minute": "minute",
        "less than a minute": "moins d'une minute",
    },
    "es": {
        "days": "días",
        "day": "día",
        "hours": "horas",
        "hour": "hora",
        "minutes": "minutos",
        "minute": "minuto",
        "less than a minute": "menos de un minuto",
    },
    "pt-br": {
        "days": "dias",
        "day": "dia",
        "hours": "horas",
        "hour": "hora",
        "minutes": "minutos",
        "minute": "minuto",
        "less than a minute": "menos de um minuto",
    },
    "zh-hans": {
        "days": "天",
        "day": "天",
        "hours": "小时",
        "hour": "小时",
        "minutes": "分钟",
        "minute": "分钟",
        "less than a minute": "不到一分钟",
    },
    "hi": {
        "days": "दिन",
        "day": "दिन",
        "hours": "घंटे",
        "hour": "घंटा",
        "minutes": "मिनट",
        "minute": "मिनट",
        "less than a minute": "एक मिनट से कम",
    },
}
_SPAN_WORD = re.compile(r"\b(?:less than a minute|days?|hours?|minutes?)\b")
# Chinese writes a count and its unit together: "2天3小时".
_CJK_GAP = re.compile(r"(?<=\d) (?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff]) (?=\d)")


def span_in(text: Any, language: str) -> str:
    """The `span_in` filter: '2 days 3 hours' (overdue_for, last_elapsed, …) in a language;
    a duration already in another language is left as it is."""
    code = languages.supported(str(language)) or ""
    words = _SPAN_WORDS.get(code)
    text = str(text)
    if not words:
        return text
    text = _SPAN_WORD.sub(lambda m: words[m.group(0)], text)
    return _CJK_GAP.sub("", text) if code == "zh-hans" else text


# Limits. A template is code that any signed-in user can run in a preview and that the
# worker runs for every message, and a thread cannot be stopped from outside, so the sandbox
# checks as it goes: each loop round and call counts against MAX_STEPS and the clock; an
# operation that could build a huge string or number is refused before it runs.
MAX_STRING = MAX_OUTPUT  # characters in any string or list a template builds
MAX_INT_BITS = 4096  # about 1,230 digits: far more than any count or size needs
MAX_WIDTH = 1000  # padding, indent and format widths
MAX_STEPS = 100_000  # loop rounds and calls in one render
PREVIEW_SECONDS = 0.25  # a preview and the check before a save
SEND_SECONDS = 1.0  # a message the worker renders (each of title and body)


class TemplateLimitError(SecurityError):
    """A template went past one of the limits above."""


@dataclass
class _Budget:
    deadline: float
    seconds: float
    steps: int = 0


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _count_step() -> None:
    budget = _budget.get()
    if budget is None:
        return
    budget.steps += 1
    if budget.steps > MAX_STEPS:
        raise TemplateLimitError(
            f"the template repeats too often (more than {MAX_STEPS:,} loop rounds and calls)"
        )
    if time.monotonic() > budget.deadline:
        raise TemplateLimitError(
            f"the template takes too long (more than {budget.seconds * 1000:.0f} ms)"
        )


def _check_length(length: int, what: str = "a value") -> None:
    if length > MAX_STRING:
        raise TemplateLimitError(f"{what} would be longer than {MAX_STRING:,} characters")


def _check_width(width: Any) -> None:
    if isinstance(width, int) and abs(width) > MAX_WIDTH:
        raise TemplateLimitError(f"widths above {MAX_WIDTH} are not allowed")


def _check_result(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict):
        _check_length(len(value))
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(_TOO_BIG)
    return value


_TOO_BIG = f"a number would have more than {MAX_INT_BITS * 3 // 10:,} digits"
# A printf directive's width and precision: '%-10s', '%.3f', '%*d'.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")
# A str.format spec's width and precision: '>10', '0=8.2f'.
_FORMAT_SPEC = re.compile(r"(\d+)?(?:[,_])?(?:\.(\d+))?[a-zA-Z%]?$")


def _check_percent_format(text: str) -> None:
    for match in _PERCENT_SPEC.finditer(text):
        for number in match.groups():
            if number == "*":
                raise TemplateLimitError("'*' widths are not allowed; write the number")
            if number:
                _check_width(int(number))


def _check_replace(text: str, old: str, new: str, count: Any = None) -> None:
    if len(new) <= len(old):
        return
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    _check_length(len(text) + times * (len(new) - len(old)))


def _check_join(parts: list[Any], separator: str) -> None:
    _check_length(sum(len(str(part)) for part in parts) + len(separator) * max(len(parts) - 1, 0))


def _check_str_method(text: str, name: str, args: tuple, kwargs: dict) -> tuple:
    """Refuse a str method call whose result would be too long; returns the arguments (a
    generator given to join is read into a list so that it can be measured)."""
    if name in ("ljust", "rjust", "center", "zfill") and args:
        _check_length(args[0] if isinstance(args[0], int) else 0)
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            _check_length(len(text) + text.count("\t") * size)
    elif name == "replace" and len(args) >= 2:
        _check_replace(text, str(args[0]), str(args[1]), args[2] if len(args) > 2 else None)
    elif name == "join" and args:
        parts = list(args[0])
        _check_join(parts, text)
        args = (parts, *args[1:])
    return args


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, plus a step count in every loop round and a length check
    before every `~` concatenation."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # Jinja has no node for "count a step" (nor allows new node types): the loop body
        # starts with a statement that names the counter, which visit_ExprStmt calls.
        node.body = [nodes.ExprStmt(nodes.EnvironmentAttribute("count_step")), *node.body]
        super().visit_For(node, frame)

    def visit_ExprStmt(self, node: nodes.ExprStmt, frame: Frame) -> None:
        if isinstance(node.node, nodes.EnvironmentAttribute) and node.node.name == "count_step":
            self.writeline("environment.count_step()")
        else:
            super().visit_ExprStmt(node, frame)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # As Jinja's, with the parts measured before they are joined.
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.bounded_join({join}, (")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


def _bounded_concat(parts: Any) -> str:
    """Joins what a block, a macro or a {% set %} … {% endset %} captured."""
    parts = list(parts)
    _check_join(parts, "")
    return "".join(parts)


@pass_eval_context
def _replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> str:
    _check_replace(str(s), str(old), str(new), count)
    return filters.do_replace(eval_ctx, s, old, new, count)


def _center(value: Any, width: int = 80) -> str:
    _check_width(width)
    return filters.do_center(value, width)


def _indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    indention = len(width) if isinstance(width, str) else width
    _check_width(indention)
    _check_length(len(text) + (text.count("\n") + 1) * max(indention, 0))
    return filters.do_indent(s, width, first, blank)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_percent_format(str(value))
    return _check_result(filters.do_format(value, *args, **kwargs))


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    parts = list(value)
    _check_join(parts if attribute is None else [], str(d))
    return _check_result(filters.sync_do_join(eval_ctx, parts, d, attribute))


def _batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    _check_length(linecount if isinstance(linecount, int) else 0, "a batch")
    return filters.do_batch(value, linecount, fill_with)


def _slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    _check_length(slices if isinstance(slices, int) else 0, "a slice")
    return filters.sync_do_slice(value, slices, fill_with)


@pass_environment
def _wordwrap(
    environment: Any,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = str(s)
    if isinstance(width, int) and width > 0:
        _check_length(len(text) + (len(text) // width + 1) * len(wrapstring or "\n"))
    return filters.do_wordwrap(
        environment, s, width, break_long_words, wrapstring, break_on_hyphens
    )


_GUARDED_FILTERS = {
    "replace": _replace,
    "center": _center,
    "indent": _indent,
    "format": _format,
    "join": _join,
    "batch": _batch,
    "slice": _slice,
    "wordwrap": _wordwrap,
}


class _SandboxedFormatter(SandboxedFormatter):
    """str.format with its widths bounded (checked after nested fields are filled in)."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        spec = _FORMAT_SPEC.search(format_spec)
        if spec:
            for number in spec.groups():
                if number:
                    _check_width(int(number))
        return super().format_field(value, format_spec)


class _SandboxedEscapeFormatter(_SandboxedFormatter, SandboxedEscapeFormatter):
    pass


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (lists and dicts cannot be changed in place), within the limits above."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    concat = staticmethod(_bounded_concat)  # type: ignore[assignment]

    count_step = staticmethod(_count_step)

    @staticmethod
    def bounded_join(join: Any, parts: tuple) -> Any:
        parts = tuple(map(filters.soft_str, parts))
        _check_join(list(parts), "")
        return join(parts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _count_step()
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                    _check_length(len(sequence) * times)
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise TemplateLimitError(_TOO_BIG)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0 and left.bit_length() * right > MAX_INT_BITS + right:
                raise TemplateLimitError(_TOO_BIG)
        elif operator == "+" and isinstance(left, str | list | tuple):
            if isinstance(right, str | list | tuple):
                _check_length(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left)
        return _check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _count_step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and not isinstance(owner, type):
            args = _check_str_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
        return _check_result(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Any:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        # Jinja's wrapper, with our formatter (widths bounded) in place of its own.
        owner = value.__self__
        formatter = (
            _SandboxedEscapeFormatter(self, escape=owner.escape)
            if isinstance(owner, Markup)
            else _SandboxedFormatter(self)
        )
        is_format_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return type(owner)(formatter.vformat(owner, args, kwargs))

        return bounded


def to_jinja(text: str) -> str:
    """The original's `{name}` as `{{ name }}`; lines stay where they are."""
    return _LEGACY_VARIABLE.sub(r"{{ \1 }}", text)


@lru_cache(maxsize=4)
def _environment(autoescape: bool, markdown: bool = False) -> SandboxedEnvironment:
    env = _Sandbox(
        autoescape=autoescape,
        finalize=_mark_value if markdown else None,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["span_in"] = span_in
    env.filters.update(_GUARDED_FILTERS)
    env.globals.pop("lipsum", None)  # lipsum(n) writes n paragraphs: nothing a message needs
    return env


MAX_TOKENS = 2_500  # names, operators, values and runs of text in one text: compiling takes
# about 0.1 ms each, so checking the biggest template allowed stays well under a second


def _parse(env: SandboxedEnvironment, source: str) -> nodes.Template:
    """Parse a template's source (after to_jinja); TemplateSyntaxError also for a template
    too big or too deeply nested to compile quickly."""
    for count, _token in enumerate(env.lex(source), 1):
        if count > MAX_TOKENS:
            raise TemplateSyntaxError(
                f"the template is too long to compile (more than {MAX_TOKENS:,} names, "
                "operators and values)",
                lineno=1,
            )
    try:
        tree = env.parse(source)
    except RecursionError:
        raise TemplateSyntaxError(_TOO_DEEP, lineno=1) from None
    # Compiling an expression takes time that grows with the square of its depth.
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TemplateSyntaxError(_TOO_DEEP, lineno=node.lineno)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return tree


MAX_DEPTH = 40  # operators, brackets and tags inside one another
_TOO_DEEP = f"operators, brackets or tags nested too deeply (at most {MAX_DEPTH} levels)"


@lru_cache(maxsize=512)
def _compile(text: str, autoescape: bool, markdown: bool = False) -> Any:
    env = _environment(autoescape, markdown)
    source = to_jinja(text)
    _parse(env, source)
    return env.from_string(source)


class TemplateError(ValueError):
    """A template that cannot be used, said so that a person can fix it."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        line: int | None = None,
        column: int | None = None,
        allowed: list[str] | None = None,
        limit: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.limit = limit  # it went past a limit (time, size), rather than being wrong
        self.field = field
        self.line = line
        self.column = column
        self.allowed = allowed or []

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": self.message,
            "field": self.field,
            "line": self.line,
            "column": self.column,
            "allowed": self.allowed,
        }


# --------------------------------------------------------------------------- validation


def validate(text: str, kind: str, *, field: str = "body", html: bool = False) -> None:
    """Raise TemplateError for a syntax error, a variable this kind does not have, an unknown
    filter or test, or a failure when rendered with sample data. The message names the field,
    the line (and column where known) and, for variables, those the kind may use."""
    if kind not in KINDS:
        raise TemplateError(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}", field="kind")
    allowed = allowed_variables(kind)
    env = _environment(html)
    source = to_jinja(text)

    def fail(message: str, line: int | None, column: int | None = None) -> TemplateError:
        where = f" on line {line}" if line else ""
        where += f", column {column}" if line and column else ""
        return TemplateError(
            f"{field}{where}: {message}", field=field, line=line, column=column, allowed=allowed
        )

    try:
        tree = _parse(env, source)
    except TemplateSyntaxError as exc:
        raise fail(f"syntax error: {exc.message}", exc.lineno) from None
    for check in (*tree.find_all(nodes.Filter), *tree.find_all(nodes.Test)):
        what, known = (
            ("filter", env.filters) if isinstance(check, nodes.Filter) else ("test", env.tests)
        )
        if check.name not in known:
            raise fail(
                f"unknown {what} {check.name!r}",
                check.lineno,
                _column(text, check.lineno, check.name),
            )
    try:
        undeclared = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as exc:  # what the compiler refuses (TemplateAssertionError)
        raise fail(exc.message or "invalid template", exc.lineno) from None
    unknown = sorted(undeclared - set(allowed))
    if unknown:
        name = unknown[0]
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), None)
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        names = ", ".join(repr(n) for n in unknown)
        raise fail(
            f"unknown variable{'s' if len(unknown) > 1 else ''} {names}{hint}; "
            f"{kind} templates may use: {', '.join(allowed)}",
            line,
            _column(text, line, name),
        )
    try:
        render(text, sample_context(kind), html=html, seconds=PREVIEW_SECONDS)
    except TemplateError as exc:
        raise fail(f"fails with sample data: {exc.message}", exc.line) from None


def validate_template(kind: str, title: str, body: str, format: str = "plain") -> None:
    if format not in FORMATS:
        raise TemplateError(
            f"format must be one of {', '.join(FORMATS)}, not {format!r}", field="format"
        )
    validate(title, kind, field="title")
    validate(body, kind, field="body", html=format == "html")


def _column(text: str, line: int | None, name: str) -> int | None:
    if not line:
        return None
    lines = text.split("\n")
    if line > len(lines):
        return None
    found = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", lines[line - 1])
    return found.start() + 1 if found else None


# --------------------------------------------------------------------------- rendering


def render(
    text: str,
    context: dict[str, Any],
    *,
    html: bool = False,
    markdown: bool = False,
    seconds: float = SEND_SECONDS,
) -> str:
    """Render with plain data; variables this message does not have are empty. HTML
    templates escape their variables for HTML, Markdown ones for Markdown. Raises
    TemplateError (with the line, when known), also when the template goes past a limit
    (time, loop rounds, sizes: see MAX_STEPS)."""
    values = _BLANK | (_unmarked(context) if markdown else context)
    try:
        template = _compile(text, html, markdown)  # cached; its time depends on the length
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error: {exc.message}", line=exc.lineno) from None
    budget = _Budget(time.monotonic() + seconds, seconds)
    token = _budget.set(budget)
    parts: list[str] = []
    size = 0
    try:
        for part in template.generate(values):
            size += len(part)
            if size > MAX_OUTPUT:
                raise TemplateError(f"the output is longer than {MAX_OUTPUT:,} characters")
            if time.monotonic() > budget.deadline:
                _count_step()  # says so
            parts.append(part)
    except TemplateError:
        raise
    except TemplateLimitError as exc:
        raise TemplateError(str(exc), line=_template_line(exc), limit=True) from None
    except Exception as exc:  # whatever a user's template does wrong, say it, never crash
        raise TemplateError(f"template failed: {exc}", line=_template_line(exc)) from None
    finally:
        _budget.reset(token)
    output = "".join(parts)
    if markdown:
        output = _escape_marked(output)
    output = output.strip()
    return output if html else _BLANK_LINES.sub("\n\n", output)


# Markdown. A report's names and log lines must not become links, images or formatting in a
# Markdown message (a backup named "[Update now](https://evil.example)"). Jinja's `finalize`
# marks every {{ value }} with two private-use characters; after rendering, a marked value
# is escaped with backslashes, or, inside a ``` code block (where backslashes would show),
# only kept from closing the block. The plain-text body (markdown_to_text) drops the
# backslashes again, so it shows the values as they are.
_OPEN, _CLOSE = "\ue000", "\ue001"
# Addresses stay as they are, so that they still become links; anything else that could
# start a link, an image, HTML, emphasis, code, a heading, a quote or a table gets a '\'.
_MD_URL = re.compile(r"(https?://[^\s\[\]()<>*`\\]+)")
_MD_SPECIAL = re.compile(r"[\\`*_\[\]()<>#~|!]")
_BACKTICKS = re.compile(r"`{3,}")


def _mark_value(value: Any) -> Any:
    if isinstance(value, str) and _OPEN not in value:  # a captured block is marked inside
        return f"{_OPEN}{value}{_CLOSE}"
    return value


def _unmarked(context: dict[str, Any]) -> dict[str, Any]:
    """The values without the marks (a report could carry them to unmark itself)."""
    return {
        name: value.replace(_OPEN, "").replace(_CLOSE, "")
        if isinstance(value, str) and (_OPEN in value or _CLOSE in value)
        else value
        for name, value in context.items()
    }


def escape_markdown(text: str) -> str:
    if not _MD_SPECIAL.search(text):
        return text
    parts = _MD_URL.split(text)  # text, address, text, …
    parts[::2] = [_MD_SPECIAL.sub(r"\\\g<0>", part) for part in parts[::2]]
    return "".join(parts)


def _escape_marked(text: str) -> str:
    if _OPEN not in text:
        return text
    out: list[str] = []
    fenced = False
    line_start = True  # whether the next character begins a line
    position = 0
    while (opening := text.find(_OPEN, position)) >= 0:
        closing = text.find(_CLOSE, opening)
        literal = text[position:opening]
        if literal:
            if "```" in literal:
                lines = literal.split("\n")[0 if line_start else 1 :]
                fences = sum(line.lstrip(" \t").startswith("```") for line in lines)
                fenced ^= fences % 2 == 1
            line_start = literal.endswith("\n")
        value = text[opening + 1 : closing]
        if fenced:
            if "```" in value:
                value = _BACKTICKS.sub(lambda m: "\u200b".join(m.group(0)), value)
        else:
            value = escape_markdown(value)
        out += (literal, value)
        if value:
            line_start = value.endswith("\n")
        position = closing + 1
    out.append(text[position:])
    return "".join(out)


_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def _template_line(exc: BaseException) -> int | None:
    """The template line an error happened on (Jinja rewrites tracebacks to show it)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None


@dataclass(frozen=True)
class Rendered:
    """One rendered message: `body` is always plain text; `markdown` and `html` are set when
    the template was written in that format."""

    title: str
    body: str
    markdown: str = ""
    html: str = ""
    priority: int | None = None
    tags: tuple[str, ...] = ()
    note: str = ""  # why the built-in text was sent instead (for the delivery log)

    def priority_for(self, asked: int | None, default: int) -> int:
        """The delivery's priority: a rule that raised it (an escalation) wins, then the
        template's ntfy priority, then the kind's default."""
        if asked is not None and asked != default:
            return asked
        return self.priority or asked or default


def render_template(
    template: ResolvedTemplate, values: dict[str, Any], *, seconds: float = SEND_SECONDS
) -> Rendered:
    """Render title and body (each within `seconds`); raises TemplateError."""
    title = " ".join(render(template.title, values, seconds=seconds).split())
    markdown = html = ""
    if template.format == "html":
        html = render(template.body, values, html=True, seconds=seconds)
        body = html_to_text(html)
    elif template.format == "markdown":
        markdown = render(template.body, values, markdown=True, seconds=seconds)
        body = markdown_to_text(markdown)
    else:
        body = render(template.body, values, seconds=seconds)
    return Rendered(title, body, markdown, html, template.priority, template.tags)


def render_message(
    template: ResolvedTemplate, values: dict[str, Any], *, kind: str, channel_kind: str = ""
) -> Rendered:
    """Like `render_template`, but never fails: a template that breaks on these values is
    logged and the built-in one is sent instead, so no notification is lost to a typo."""
    try:
        return render_template(template, values)
    except TemplateError as exc:
        note = (
            f"the {kind} template for {channel_kind or 'all channels'} failed "
            f"({exc.message}); sent the built-in text"
        )
        log.warning("%s", note)
    try:
        return replace(render_template(builtin(kind, channel_kind), values), note=note)
    except (TemplateError, KeyError):
        facts = "\n".join(f"{k}: {v}" for k, v in sorted(values.items()) if v not in ("", None))
        return Rendered(f"duplistatus: {kind}", facts, note=note)


# ------------------------------------------------------------------------- HTML, Markdown → text


_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre"}
)
_LINE_TAGS = frozenset(
    {"div", "tr", "li", "dl", "dt", "dd", "section", "article", "header", "footer", "main"}
    | {"nav", "address", "figure", "hr", "tbody", "thead", "br"}
)
_SKIP_TAGS = frozenset({"head", "style", "script", "title", "template"})
_TAG = re.compile(
    r"<!--.*?-->|<!.*?>|<(/?)([A-Za-z][A-Za-z0-9]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.S
)
_ATTRIBUTE = re.compile(r"""([A-Za-z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_SPACES = re.compile(r"\s+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_UNCOMMON_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|#34|#39|#x27);)")


def _unescape(text: str) -> str:
    """html.unescape, fast for what autoescaping writes (a 5 KB log has hundreds of these)."""
    if "&" not in text:
        return text
    if _UNCOMMON_ENTITY.search(text):
        return html_module.unescape(text)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#34;", '"')):
        text = text.replace(entity, char)
    return text.replace("&#39;", "'").replace("&#x27;", "'").replace("&amp;", "&")


def _attributes(raw: str) -> dict[str, str]:
    return {
        m.group(1).lower(): _unescape(next(v for v in m.groups()[1:] if v is not None))
        for m in _ATTRIBUTE.finditer(raw)
    }


class _Text:
    """The text being written: line and paragraph breaks that do not pile up."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.newlines = -1  # trailing newlines written; -1 while nothing is written

    def write(self, text: str, *, pre: bool = False) -> None:
        if not text:
            return
        if not pre:
            text = _SPACES.sub(" ", text)
            if self.newlines != 0:
                text = text.lstrip()
                if not text:
                    return
        self.parts.append(text)
        stripped = text.rstrip("\n")
        trailing = len(text) - len(stripped)
        self.newlines = trailing if stripped else max(self.newlines, 0) + trailing

    def end_line(self, lines: int) -> None:
        if self.newlines < 0:
            return  # no break before the first line
        if self.newlines < lines:
            self.parts.append("\n" * (lines - self.newlines))
            self.newlines = lines


def html_to_text(html: str) -> str:
    """Readable text from an HTML message: blocks become lines, table cells `a: b`, list
    items bullets, links keep their address; <pre> keeps its lines."""
    out = _Text()
    pre = 0
    cell = 0
    links: list[tuple[str, int]] = []
    position = 0
    length = len(html)
    while position < length:
        match = _TAG.search(html, position)
        end = match.start() if match else length
        if end > position:
            out.write(_unescape(html[position:end]), pre=pre > 0)
        if match is None:
            break
        position = match.end()
        closing, name, raw = match.group(1), match.group(2), match.group(3)
        if name is None:
            continue  # a comment or a doctype
        tag = name.lower()
        if tag in _SKIP_TAGS:
            if not closing and not raw.rstrip().endswith("/"):
                skip_to = re.compile(rf"</{tag}\s*>", re.I).search(html, position)
                position = skip_to.end() if skip_to else length
            continue
        if tag in _PARAGRAPH_TAGS:
            out.end_line(2)
        elif tag in _LINE_TAGS:
            out.end_line(1)
        if tag == "br":
            out.write("\n", pre=True)
        elif tag == "pre":
            pre = max(0, pre + (-1 if closing else 1))
        elif closing:
            if tag == "a" and links:
                href, start = links.pop()
                text = "".join(out.parts[start:]).strip()
                if href and not href.startswith(("#", "mailto:", "javascript:")):
                    if href not in text:
                        out.write(f": {href}" if text else href, pre=True)
        elif tag == "li":
            out.write("• ", pre=True)
        elif tag == "tr":
            cell = 0
        elif tag in ("td", "th"):
            if cell:
                out.write(": " if cell == 1 else " · ", pre=True)
            cell += 1
        elif tag == "a":
            links.append((_attributes(raw).get("href", ""), len(out.parts)))
        elif tag == "img" and (alt := _attributes(raw).get("alt")):
            out.write(alt)
    text = _TRAILING_SPACE.sub("\n", "".join(out.parts))
    return _BLANK_LINES.sub("\n\n", text).strip()


# Escaped characters (`\[`) start nothing, hence the (?<!\\).
_MD_LINK = re.compile(r"(?<!\\)(!?)\[([^\]\n]*)\]\(([^)\s]*)\)")
_MD_STRONG = re.compile(r"(?<!\\)(\*\*|__)(?=\S)(.+?)(?<=\S)(?<!\\)\1")
_MD_CODE = re.compile(r"(?<!\\)`([^`\n]+)(?<!\\)`")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>~|])")


def _md_link(match: re.Match[str]) -> str:
    image, text, url = match.groups()
    if image or not url or text == url:
        return text or url
    return f"{text}: {url}" if text else url


def markdown_to_text(markdown: str) -> str:
    """Readable text from Markdown: the markers go, links keep their address, code blocks
    stay as they are."""
    out: list[str] = []
    fenced = False
    for line in markdown.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            line = _MD_HEADING.sub("", line)
            line = _MD_LINK.sub(_md_link, line)
            line = _MD_STRONG.sub(r"\2", line)
            line = _MD_CODE.sub(r"\1", line)
            line = _MD_ESCAPE.sub(r"\1", line)
        out.append(line)
    return "\n".join(out).strip()


# --------------------------------------------------------------------------- sample data


def sample_context(kind: str, *, base_url: str = "http://localhost:9666") -> dict[str, Any]:
    """Made-up but realistic values for a preview and for checking a template; durations in
    the active language, as a real message's."""
    status = {"success": "Success", "warning": "Warning", "error": "Error", "fatal": "Fatal"}
    failed = kind in ("error", "fatal")
    values: dict[str, Any] = {
        "event_kind": kind,
        "server_name": "nas",
        "server_alias": "Office NAS",
        "server_note": "Rack 2, UPS-backed",
        "server_url": "http://nas.local:8200",
        "backup_name": "Documents",
        "status": status.get(kind, "Success" if kind in ("recovered", "test") else kind),
        "backup_date": "2026-03-02 02:00 UTC",
        "duration": "00:12:34",
        "uploaded_size": "1.2 GiB",
        "storage_size": "230.4 GiB",
        "available_versions": 42,
        "file_count": 10234,
        "file_size": "120.5 GiB",
        "messages_count": 57,
        "warnings_count": 2 if kind == "warning" else 0,
        "errors_count": 2 if failed else 0,
        "log_text": "",
        "last_backup_date": "2026-03-02 02:00 UTC",
        "last_elapsed": human_span(timedelta(days=2, hours=3)),
        "expected_date": "2026-03-03 02:00 UTC",
        "expected_elapsed": human_span(timedelta(days=1, hours=3)),
        "backup_interval": "1D",
        "overdue_tolerance": human_span(timedelta(hours=2)),
        "job_url": f"{base_url}/jobs/1",
        "run_url": f"{base_url}/runs/1",
        "consecutive_failures": 3 if failed else 0,
        "overdue_for": human_span(timedelta(days=1, hours=1)),
        "learned_schedule": "daily at 02:00",
        "exception": "",
    }
    if kind == "warning":
        values["log_text"] = (
            "2026-03-02 02:05:11 +00 - [Warning-Duplicati.Library.Main.Operation.Backup"
            "Handler-FileAccessError]: Error reported while accessing file: "
            "/home/ann/Documents/locked.pst"
        )
    elif failed:
        values["log_text"] = (
            "2026-03-02 02:07:42 +00 - [Error-Duplicati.Library.Main.Operation.Backup"
            "Handler-FatalError]: Fatal error\n"
            "2026-03-02 02:07:42 +00 - [Error-Duplicati.Library.Main.Controller-FailedOperation]"
            ": The operation Backup has failed: disk full"
        )
    if kind == "fatal":
        values["exception"] = (
            "System.IO.IOException: No space left on device\n"
            "   at Duplicati.Library.Main.Operation.BackupHandler.RunAsync()"
        )
    if kind in ("overdue", "reminder", "escalation"):
        for name in _RUN_ONLY:
            values[name] = ""
    if kind == "anomaly":
        values.update(
            status="Anomaly",
            uploaded_size="40.0 GiB",
            anomaly="change burst",
            detector="change_burst",
            message_type="Anomaly",
            severity="critical",
            metric="bytes uploaded",
            value="40.0 GiB",
            normal_value="210.3 MiB",
            normal_range="80.1 MiB – 1.1 GiB",
            days_until_full="",
        )
    if kind == "storage":
        values.update(
            status="Storage Warning",
            anomaly="destination filling up",
            detector="quota",
            message_type="Storage Warning",
            severity="warning",
            metric="free space",
            value="61.2 GiB",
            normal_value="",
            normal_range="of 1.0 TiB",
            days_until_full=9,
        )
    if kind in SYSTEM_KINDS:
        values = {
            "event_kind": kind,
            "message_type": {
                "channel_failing": "Connection Error",
                "system_health": "System Health",
                "system_error": "System Error",
            }[kind],
            "channel_name": "Phone",
            "channel_kind": "ntfy",
            "failures": 6,
            "last_error": "HTTP 502 from https://ntfy.example/backups",
            "failing_since": "2026-03-02 01:10 UTC",
            "dead": "",
            "queue": 3,
            "dead_deliveries": 1,
            "database_size": "412.3 MiB",
            "last_report": gettext("%(span)s ago") % {"span": human_span(timedelta(minutes=12))},
            "jobs_overdue": 1,
            "jobs_total": 42,
            "failing_channels": "Phone",
            "stopped_at": "2026-03-02 01:10 UTC",
            "resumed_at": "2026-03-02 03:25 UTC",
            "stopped_minutes": 135,
            "stopped_for": "2 hours 15 minutes",
            "never_ran": "",
            "worker_name": "backup-monitor:4711",
            "job_url": f"{base_url}/",
        }
    if kind == "summary":
        values = {
            "event_kind": "summary",
            "jobs_ok": 12,
            "jobs_warning": 1,
            "jobs_failed": 1,
            "jobs_overdue": 1,
            "jobs_anomaly": 0,
            "summary_text": (
                f"Failed:\nOffice NAS / Documents — Error {base_url}/jobs/1\n\n"
                f"Overdue:\nlaptop / Photos — overdue {base_url}/jobs/2\n\n"
                f"Warning:\nOffice NAS / Mail — Warning {base_url}/jobs/3"
            ),
            "dashboard_url": f"{base_url}/",
        }
    return values


def run_context(run: Any, kind: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The variables a real run gives a `kind` template, without an event: built from a
    synthetic, unsaved event so the words are exactly what a notification would say."""
    from duplistatus import clock
    from duplistatus.backups.models import Event

    from . import messages

    now = now or clock.now()
    job = run.job
    if kind in ("overdue", "reminder", "escalation"):
        overdue = job.alert_after is not None and job.alert_after <= now
        details = {"overdue_since": job.alert_after.isoformat()} if overdue else {}
        event = Event(kind=kind, job=job, run=None, details=details, created_at=now)
    else:
        event = Event(kind=Event.Kind.BACKUP_RESULT, job=job, run=run, details={}, created_at=now)
    return messages.context(event, now=now) | {"event_kind": kind}


# --------------------------------------------------------------------------- which template


@dataclass
class _Saved:
    templates: dict[tuple[str, str], ResolvedTemplate]
    stamp: Any
    checked: float


# Saved templates, read once and kept per process. Writes in this process forget them at
# once; other processes' writes are noticed by a cheap "did anything change" query that runs
# at most every RECHECK_SECONDS (so about once per outbox pass), not once per message.
RECHECK_SECONDS = 1.0
_saved: _Saved | None = None
_override: ContextVar[dict[str, ResolvedTemplate] | None] = ContextVar(
    "template_override", default=None
)


def resolve(kind: str, channel_kind: str = "", language: str | None = None) -> ResolvedTemplate:
    """The template a `channel_kind` destination renders for a `kind` message. `language`
    is the destination's own language, when it has one: then the built-in and an installed
    library text (saved, unchanged) come in that language. Without one, the built-in is in
    the active language and installed templates are sent as they are (installing a library
    set is how a deployment chooses its messages' language for every channel)."""
    override = _override.get()
    if override and kind in override:
        return override[kind]
    saved = _saved_templates()
    found = saved.get((kind, channel_kind)) or saved.get((kind, ""))
    if found is None:
        return builtin(kind, channel_kind, language)
    code = languages.supported(language) if language else None
    if found.library and code and code != found.library:
        return library_template(code, kind) or found
    return found


@contextlib.contextmanager
def using(kind: str, template: ResolvedTemplate) -> Iterator[None]:
    """Within the block, `resolve(kind, …)` is `template` (for test sends of a template)."""
    token = _override.set({**(_override.get() or {}), kind: template})
    try:
        yield
    finally:
        _override.reset(token)


def forget_cache() -> None:
    global _saved
    _saved = None


def _saved_templates() -> dict[tuple[str, str], ResolvedTemplate]:
    global _saved
    from . import template_store

    now = time.monotonic()
    current = _saved
    if current is not None and now - current.checked < RECHECK_SECONDS:
        return current.templates
    stamp = template_store.stamp()
    if current is None or stamp != current.stamp:
        # The stamp is read first: a write landing in between makes the next check reload.
        current = _Saved(template_store.load_resolved(), stamp, now)
    else:
        current = _Saved(current.templates, stamp, now)
    _saved = current
    return current.templates
