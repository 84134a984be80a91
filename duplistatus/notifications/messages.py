"""From an event to the words of a notification: the template variables (plain data), the
message kind and priority, and the webhook document. Rendering itself is in templates.py."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils.translation import pgettext_lazy

from duplistatus import clock
from duplistatus.backups.models import BackupJob, BackupRun, Event
from duplistatus.humanize import format_duration, human_size, human_span
from duplistatus.monitoring.learn import describe_learned
from duplistatus.monitoring.schedule import Schedule

from . import templates

# Each message kind in words, for pages (the kind itself is an identifier: rules, the API and
# templates use it as it is).
KIND_LABELS = {
    "success": pgettext_lazy("message kind", "success"),
    "warning": pgettext_lazy("message kind", "warning"),
    "error": pgettext_lazy("message kind", "error"),
    "fatal": pgettext_lazy("message kind", "fatal error"),
    "overdue": pgettext_lazy("message kind", "overdue"),
    "reminder": pgettext_lazy("message kind", "reminder"),
    "escalation": pgettext_lazy("message kind", "escalation"),
    "recovered": pgettext_lazy("message kind", "recovered"),
    "anomaly": pgettext_lazy("message kind", "anomaly"),
    "storage": pgettext_lazy("message kind", "storage warning"),
    "channel_failing": pgettext_lazy("message kind", "channel failing"),
    "system_health": pgettext_lazy("message kind", "system health"),
    "system_error": pgettext_lazy("message kind", "system error"),
    "summary": pgettext_lazy("message kind", "summary"),
    "test": pgettext_lazy("message kind", "test"),
}

PRIORITY = {
    "fatal": 5,
    "escalation": 5,
    "error": 4,
    "overdue": 4,
    "warning": 3,
    "reminder": 3,
    "recovered": 2,
    "test": 3,
    "summary": 2,
    "success": 2,
    "anomaly": 4,
    "storage": 4,
    "channel_failing": 4,
    "system_health": 2,
    # No worker ran for a while: nothing was checked or sent meanwhile, which someone should
    # look into (it resumed by then, so not 5, the level of escalations and critical findings).
    "system_error": 4,
}
TAGS = {
    "success": ("white_check_mark",),
    "warning": ("warning",),
    "error": ("x",),
    "fatal": ("stop_sign",),
    "overdue": ("alarm_clock",),
    "reminder": ("alarm_clock",),
    "escalation": ("rotating_light",),
    "recovered": ("white_check_mark",),
    "test": ("test_tube",),
    "summary": ("bar_chart",),
    "anomaly": ("mag",),
    "storage": ("floppy_disk",),
    "channel_failing": ("satellite",),
    "system_health": ("stethoscope",),
    "system_error": ("warning", "gear"),
}
LOG_TEXT_LIMIT = 4000


# `serve` listening on every address: no one of them is the one users reach it by.
_ANY_ADDRESS = ("", "0.0.0.0", "::", "[::]")


def base_url() -> str:
    """Where users open the web UI, for links in messages: DUPLISTATUS_BASE_URL, else the
    host and port `serve` listens on (it puts --host and --port in DUPLISTATUS_HOST and
    PORT), with the machine's name standing in for "every address"."""
    configured = os.environ.get("DUPLISTATUS_BASE_URL", "").strip()
    if configured:
        return configured.rstrip("/")
    host = os.environ.get("DUPLISTATUS_HOST", "0.0.0.0").strip()
    port = os.environ.get("PORT", "9666").strip() or "9666"
    if host in _ANY_ADDRESS:
        host = socket.gethostname() or "localhost"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"


def base_url_is_guessed() -> bool:
    """True when links name this machine only because `serve` listens on every address:
    phones and other computers may know it by another name (the channels page says so)."""
    return not os.environ.get("DUPLISTATUS_BASE_URL", "").strip() and (
        os.environ.get("DUPLISTATUS_HOST", "0.0.0.0").strip() in _ANY_ADDRESS
    )


def page_url(name: str, **kwargs: int) -> str:
    """The absolute address of a web page (`web:job`, `web:run`, `web:dashboard`)."""
    return base_url() + reverse(name, kwargs=kwargs or None)


def message_kind(event: Event) -> str:
    """`backup_result` events are named after the run's status: success, warning, …"""
    if event.kind == Event.Kind.BACKUP_RESULT:
        status = (event.run.status if event.run else event.details.get("status", "")).lower()
        return status if status in templates.RUN_KINDS else "error"
    return str(event.kind)


def routing_status(event: Event) -> str:
    """The run status the rules judge an event by: an anomaly's severity stands in for it
    (warning → Warning, critical → Error)."""
    if event.kind in (Event.Kind.ANOMALY, Event.Kind.STORAGE):
        return "Error" if event.details.get("severity") == "critical" else "Warning"
    return event.run.status if event.run else ""


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if moment else ""


def context(
    event: Event, *, now: datetime | None = None, schedule: Schedule | None = None
) -> dict[str, Any]:
    """The template variables for an event, as plain strings and numbers. Pass the job's
    `schedule` when it is already known (the outbox resolves it once for many events)."""
    from duplistatus.monitoring import monitor  # monitoring imports notifications' callers

    now = now or clock.now()
    job: BackupJob = event.job
    server = job.server
    schedule = schedule or monitor.job_schedule(job)
    tz = schedule.tz
    run: BackupRun | None = event.run
    kind = message_kind(event)
    overdue_since = event.details.get("overdue_since")
    overdue_from = datetime.fromisoformat(overdue_since) if overdue_since else None
    overdue_seconds = event.details.get("overdue_seconds")
    overdue_for = (
        timedelta(seconds=overdue_seconds)
        if overdue_seconds is not None
        else (now - overdue_from if overdue_from else None)
    )
    values: dict[str, Any] = {
        "event_kind": kind,
        "server_name": server.name,
        "server_alias": server.alias or server.name,
        "server_note": server.note,
        "server_url": "",
        "backup_name": job.name,
        "status": run.status if run else kind,
        "last_backup_date": _local(job.last_run_at, tz),
        "last_elapsed": human_span(now - job.last_run_at) if job.last_run_at else "",
        "expected_date": _local(job.next_expected_at, tz),
        "expected_elapsed": human_span(now - job.next_expected_at) if job.next_expected_at else "",
        "backup_interval": schedule.interval_text,
        "overdue_tolerance": human_span(schedule.grace),
        "job_url": page_url("web:job", job_id=job.pk),
        "consecutive_failures": job.consecutive_failures,
        "overdue_for": human_span(overdue_for),
        "learned_schedule": describe_learned(job, tz),
        "available_versions": "",
        "storage_size": "",
    }
    latest = (
        {
            "backup_list_count": run.backup_list_count,
            "available_versions": run.available_versions,
            "known_file_size": run.known_file_size,
        }
        if run is not None
        else BackupRun.objects.filter(pk=job.last_run_id)
        .values("backup_list_count", "available_versions", "known_file_size")
        .first()
    )
    if latest is not None:
        values.update(
            available_versions=latest["backup_list_count"] or len(latest["available_versions"]),
            storage_size=human_size(latest["known_file_size"]),
        )
    if event.kind in (Event.Kind.ANOMALY, Event.Kind.STORAGE):
        from duplistatus.anomaly import words

        values.update(words.variables(event.details))
        values["status"] = values["message_type"] or kind
    if run is not None:
        log_lines = run.warnings + run.errors or run.log_lines
        values.update(
            backup_date=_local(run.begin_time, tz),
            duration=format_duration(run.duration_seconds or 0),
            uploaded_size=human_size(run.bytes_uploaded),
            file_count=run.examined_files,
            file_size=human_size(run.size_of_examined_files),
            messages_count=run.messages_count,
            warnings_count=run.warnings_count,
            errors_count=run.errors_count,
            log_text="\n".join(log_lines)[:LOG_TEXT_LIMIT],
            run_url=page_url("web:run", run_id=run.pk),
            exception=run.exception,
        )
    return values


def payload(event: Event, kind: str, title: str, body: str, values: dict[str, Any]) -> dict:
    """The webhook document (see channels/webhook): event, job, server, run, links."""
    job, run = event.job, event.run
    return {
        "type": kind,
        "event": {
            "id": event.pk,
            "kind": kind,
            "title": title,
            "text": body,
            "priority": PRIORITY.get(kind, 3),
            "created_at": event.created_at.isoformat(),
            "details": event.details,
        },
        "job": {
            "id": job.pk,
            "name": job.name,
            "backup_id": job.backup_id,
            "last_status": job.last_status,
            "next_expected_at": _iso(job.next_expected_at),
            "consecutive_failures": job.consecutive_failures,
        },
        "server": {
            "id": job.server_id,
            "machine_id": job.server.key,
            "name": job.server.name,
            "alias": job.server.alias,
        },
        "run": None
        if run is None
        else {
            "id": run.pk,
            "status": run.status,
            "operation": run.operation,
            "begin_time": _iso(run.begin_time),
            "end_time": _iso(run.end_time),
            "duration_seconds": run.duration_seconds,
            "warnings": run.warnings_count,
            "errors": run.errors_count,
            "examined_files": run.examined_files,
            "uploaded_bytes": run.bytes_uploaded,
            "version": run.version,
        },
        "links": {"job": values["job_url"], **({"run": values["run_url"]} if run else {})},
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
