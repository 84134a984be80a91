"""Our own API, `/api/v1/`. Every endpoint needs a Bearer token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.errors import HttpError

from duplistatus import clock
from duplistatus.backups.models import BackupJob, Event, MonitoringDefaults, Server
from duplistatus.maintenance.details import DETAIL_FIELDS, ServerDetailsIn, save_details
from duplistatus.monitoring import monitor
from duplistatus.monitoring import schedule as plan
from duplistatus.monitoring.health import HEALTHS
from duplistatus.monitoring.health import health as health_of
from duplistatus.monitoring.settings import (
    SETTING_FIELDS,
    DefaultsIn,
    ScheduleSettingsIn,
    apply_settings,
)

router = Router(tags=["v1"])


class ServerRef(Schema):
    id: int
    name: str


class ScheduleOut(Schema):
    interval: str | None
    weekdays: list[int]
    timezone: str
    grace_minutes: int
    source: str | None = Field(
        description="duplicati | configured | learned | default | fallback (a guess from the"
        " gaps between the latest runs, until a schedule is set or learned); null: not run twice"
    )
    confidence: float | None
    reminder_minutes: int | None
    escalation_after_minutes: int | None
    inherited_from: dict[str, str]


class LearnedOut(Schema):
    interval: str
    description: str
    weekdays: list[int]
    confidence: float
    suggested_grace_minutes: int | None


class JobOut(Schema):
    id: int
    server: ServerRef
    name: str
    backup_id: str
    last_run_id: int | None
    last_run_at: datetime | None
    last_status: str | None
    run_count: int
    consecutive_failures: int
    state: str = Field(
        description="the schedule alone: ok | late | overdue | paused | disabled | unknown"
    )
    health: str = Field(
        description="schedule and last results together, what to read first: "
        "overdue | failing | late | warning | unknown | ok | paused "
        "(a job on time whose last run failed is failing, never ok)"
    )
    next_expected_at: datetime | None
    overdue_since: datetime | None
    paused_until: datetime | None
    monitoring_enabled: bool
    schedule: ScheduleOut
    learned: LearnedOut | None
    settings: dict[str, Any] = Field(description="what is set on the job itself")


class ServerOut(Schema):
    id: int
    machine_id: str
    name: str
    alias: str
    note: str
    url: str = Field(description='its Duplicati UI ("Open Duplicati")')
    created_at: datetime
    last_seen_at: datetime
    job_count: int
    settings: dict[str, Any]


class ServerPatchIn(ScheduleSettingsIn, ServerDetailsIn):
    """Send only what you change: details, schedule defaults (null inherits), or both."""


def _own_settings(row: Any) -> dict[str, Any]:
    return {
        name: getattr(row, name) for name in SETTING_FIELDS if getattr(row, name) not in (None, "")
    }


def job_out(job: BackupJob, schedule: plan.Schedule, now: datetime) -> JobOut:
    learned = None
    if job.learned_interval:
        learned = LearnedOut(
            interval=job.learned_interval,
            description=job.learned_description,
            weekdays=list(job.learned_weekdays or []),
            confidence=job.learned_confidence or 0.0,
            suggested_grace_minutes=job.learned_grace_minutes,
        )
    reminder = schedule.reminder_period
    escalation = schedule.escalation_after
    state = plan.state(schedule, monitor.watch_of(job), now=now)
    return JobOut(
        id=job.pk,
        server=ServerRef(id=job.server_id, name=job.server.name),
        name=job.name,
        backup_id=job.backup_id,
        last_run_id=job.last_run_id,
        last_run_at=job.last_run_at,
        last_status=job.last_status or None,
        run_count=job.run_count,
        consecutive_failures=job.consecutive_failures,
        state=state,
        health=health_of(state, job.last_status, job.consecutive_failures),
        next_expected_at=job.next_expected_at,
        overdue_since=job.overdue_since,
        paused_until=schedule.paused_until,
        monitoring_enabled=schedule.monitoring_enabled,
        schedule=ScheduleOut(
            interval=schedule.interval_text or None,
            weekdays=sorted(schedule.weekdays),
            timezone=schedule.tz.key,
            grace_minutes=int(schedule.grace.total_seconds() // 60),
            source=schedule.source or None,
            confidence=schedule.confidence,
            reminder_minutes=int(reminder.total_seconds() // 60) if reminder else None,
            escalation_after_minutes=int(escalation.total_seconds() // 60) if escalation else None,
            inherited_from=schedule.origins,
        ),
        learned=learned,
        settings=_own_settings(job),
    )


def _jobs_out(jobs: Any) -> list[JobOut]:
    now = clock.now()
    return [job_out(job, schedule, now) for job, schedule in monitor.with_schedules(jobs)]


def _server_out(server: Server, job_count: int) -> ServerOut:
    return ServerOut(
        id=server.pk,
        machine_id=server.key,
        name=server.name,
        alias=server.alias,
        note=server.note,
        url=server.url,
        created_at=server.created_at,
        last_seen_at=server.last_seen_at,
        job_count=job_count,
        settings=_own_settings(server),
    )


@router.get("/servers", response=list[ServerOut], summary="All servers")
def list_servers(request: HttpRequest) -> list[ServerOut]:
    servers = Server.objects.annotate(job_count=Count("jobs")).order_by("name", "id")
    return [_server_out(s, s.job_count) for s in servers]


@router.patch(
    "/servers/{server_id}",
    response=ServerOut,
    summary="Set a server's details (alias, note, Duplicati address) and schedule defaults",
)
def patch_server(request: HttpRequest, server_id: int, body: ServerPatchIn) -> ServerOut:
    server = get_object_or_404(Server, pk=server_id)
    sent = body.model_fields_set
    save_details(
        server, ServerDetailsIn(**body.model_dump(include=sent & set(DETAIL_FIELDS))), request
    )
    schedule_fields = sent - set(DETAIL_FIELDS)
    if schedule_fields:
        apply_settings(
            server,
            ScheduleSettingsIn.model_construct(
                schedule_fields, **body.model_dump(include=schedule_fields)
            ),
        )
    return _server_out(server, server.jobs.count())


@router.get("/jobs", response=list[JobOut], summary="All backup jobs with state and schedule")
def list_jobs(
    request: HttpRequest,
    server: int | None = None,
    state: str | None = None,
    health: str | None = None,
) -> list[JobOut]:
    if health is not None and health not in HEALTHS:
        raise HttpError(400, f"health must be one of: {', '.join(HEALTHS)}")
    jobs = BackupJob.objects.order_by("server__name", "name", "id")
    if server is not None:
        jobs = jobs.filter(server_id=server)
    out = _jobs_out(jobs)
    return [
        job
        for job in out
        if (state is None or job.state == state) and (health is None or job.health == health)
    ]


@router.get("/jobs/{job_id}", response=JobOut, summary="One backup job")
def get_job(request: HttpRequest, job_id: int) -> JobOut:
    jobs = _jobs_out(BackupJob.objects.filter(pk=job_id))
    if not jobs:
        raise HttpError(404, "no such job")
    return jobs[0]


@router.patch(
    "/jobs/{job_id}", response=JobOut, summary="Set a job's schedule, monitoring on/off, pause"
)
def patch_job(request: HttpRequest, job_id: int, body: ScheduleSettingsIn) -> JobOut:
    apply_settings(get_object_or_404(BackupJob, pk=job_id), body)
    return get_job(request, job_id)


@router.get("/monitoring/defaults", response=dict, summary="Global schedule defaults")
def get_defaults(request: HttpRequest) -> dict[str, Any]:
    row = MonitoringDefaults.load()
    return {
        **{name: getattr(row, name) for name in SETTING_FIELDS},
        "adopt_learned": row.adopt_learned,
        "min_learned_confidence": row.min_learned_confidence,
        "system_health_time": row.system_health_time,
    }


@router.patch("/monitoring/defaults", response=dict, summary="Set global schedule defaults")
def patch_defaults(request: HttpRequest, body: DefaultsIn) -> dict[str, Any]:
    apply_settings(MonitoringDefaults.load(), body)
    return get_defaults(request)


@router.post(
    "/monitoring/scan",
    response=dict,
    summary="Learn schedules from new runs, then run one overdue scan now",
)
def run_scan(request: HttpRequest) -> dict[str, Any]:
    return monitor.check(clock.now()).as_dict()


class ResetIn(Schema):
    job_ids: list[int] | None = None


@router.post(
    "/monitoring/reset-reminders",
    response=dict,
    summary="Restart the reminder period of overdue jobs from now",
)
def reset_reminders(request: HttpRequest, body: ResetIn) -> dict[str, Any]:
    return {"reset": monitor.reset_reminders(clock.now(), body.job_ids)}


class EventOut(Schema):
    id: int
    kind: str
    job_id: int
    server_id: int
    run_id: int | None
    created_at: datetime
    details: dict[str, Any]


@router.get("/events", response=list[EventOut], summary="Events, newest first")
def list_events(
    request: HttpRequest,
    job: int | None = None,
    kind: Event.Kind | None = None,
    limit: int = 100,
) -> list[EventOut]:
    events = Event.objects.select_related("job").order_by("-created_at", "-id")
    if job is not None:
        events = events.filter(job_id=job)
    if kind is not None:
        events = events.filter(kind=kind)
    return [
        EventOut(
            id=e.pk,
            kind=e.kind,
            job_id=e.job_id,
            server_id=e.job.server_id,
            run_id=e.run_id,
            created_at=e.created_at,
            details=e.details,
        )
        for e in events[: max(1, min(limit, 1000))]
    ]


@router.post(
    "/events/{event_id}/expected",
    response=EventOut,
    summary="Mark an anomaly as expected: its run counts as normal from now on",
)
def mark_expected(request: HttpRequest, event_id: int) -> EventOut:
    from duplistatus.anomaly import check as anomaly

    event = get_object_or_404(Event.objects.select_related("job"), pk=event_id)
    if event.kind != Event.Kind.ANOMALY:
        raise HttpError(400, f"only anomaly events can be marked expected, this is {event.kind}")
    user = getattr(request, "user", None)
    event = anomaly.mark_expected(event, by=getattr(user, "username", "") or "api")
    return EventOut(
        id=event.pk,
        kind=event.kind,
        job_id=event.job_id,
        server_id=event.job.server_id,
        run_id=event.run_id,
        created_at=event.created_at,
        details=event.details,
    )
