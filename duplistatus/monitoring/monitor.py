"""Monitoring, database side: keep each job's expectation current, scan for due jobs, learn
schedules from history. Decisions are made by the pure functions in `schedule.py`.

The scanner: one indexed query finds jobs whose `alert_after` has passed; a batch of them is
claimed by reading it inside a write transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
an IMMEDIATE transaction on SQLite) with `alert_after <= now` checked again, and the
decisions and their events are written in that same transaction. A job a worker has handled
is no longer due, and one it is handling is locked, so two workers never write the same
event. (This replaced one conditional UPDATE per job: same guarantee, 3–4× faster, see
bench/scan.py.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet

from duplistatus import clock, wakeup
from duplistatus.backups.models import BackupJob, BackupRun, Event, MonitoringDefaults, Server

from . import schedule as plan
from .learn import MAX_RUNS, fallback_schedule, learn_schedule

log = logging.getLogger(__name__)

SCAN_BATCH = 200  # jobs claimed per transaction


_UNKNOWN = object()


class Inherited:
    """What a job's schedule inherits, read once for many jobs: the global defaults, each
    server's settings (a thousand jobs share a few hundred servers) and the deployment's time
    zone. Reading these layers again for every job was most of the time a dashboard of a
    thousand jobs took to resolve their schedules.

    `schedule()` reads the job's and the server's settings by attribute name, so the job may
    be a model or a row read as plain values with the same names (web/board.py lists jobs so).
    """

    def __init__(self, defaults: MonitoringDefaults) -> None:
        self.defaults = defaults
        self.defaults_layer = plan.Layer.of(defaults)
        self.fallback_tz = clock.default_timezone()
        self.server_layers: dict[int, plan.Layer] = {}

    def schedule(self, job: Any, server: Server, duplicati_next: datetime | None) -> plan.Schedule:
        server_layer = self.server_layers.get(server.pk)
        if server_layer is None:
            server_layer = self.server_layers[server.pk] = plan.Layer.of(server)
        learned = None
        if job.learned_interval and job.learned_anchor and job.learned_confidence is not None:
            learned = plan.Learned(
                interval=job.learned_interval,
                weekdays=list(job.learned_weekdays or []),
                anchor=job.learned_anchor,
                confidence=job.learned_confidence,
                grace_minutes=job.learned_grace_minutes,
                early_minutes=job.learned_early_minutes or 0,
            )
        fallback = None
        if job.fallback_interval and job.fallback_grace_minutes is not None:
            fallback = plan.Fallback(job.fallback_interval, job.fallback_grace_minutes)
        duplicati = None
        if job.duplicati_interval and job.duplicati_anchor is not None:
            duplicati = plan.DuplicatiSchedule(
                interval=job.duplicati_interval,
                weekdays=list(job.duplicati_weekdays or []),
                anchor=job.duplicati_anchor,
            )
        return plan.resolve(
            duplicati=duplicati,
            job=plan.Layer.of(job),
            server=server_layer,
            defaults=self.defaults_layer,
            fallback_tz=self.fallback_tz,
            learned=learned,
            fallback=fallback,
            adopt_learned=self.defaults.adopt_learned,
            min_confidence=self.defaults.min_learned_confidence,
            duplicati_next=duplicati_next,
            last_run_at=job.last_run_at,
            first_run_at=job.schedule_anchor,
        )


def job_schedule(
    job: BackupJob,
    *,
    server: Server | None = None,
    defaults: MonitoringDefaults | None = None,
    duplicati_next: object = _UNKNOWN,
) -> plan.Schedule:
    """The schedule in force for `job`. Callers that list many jobs use `with_schedules`;
    callers that look at a few pass `defaults` and `duplicati_next` (the latest run's
    next-scheduled-run) to save a query per job."""
    if duplicati_next is _UNKNOWN:
        duplicati_next = (
            BackupRun.objects.filter(pk=job.last_run_id)
            .values_list("next_scheduled_run", flat=True)
            .first()
            if job.last_run_id is not None
            else None
        )
    assert duplicati_next is None or isinstance(duplicati_next, datetime)
    inherited = Inherited(defaults or MonitoringDefaults.load())
    return inherited.schedule(job, server or job.server, duplicati_next)


def with_schedule_inputs(jobs: QuerySet[BackupJob]) -> QuerySet[BackupJob]:
    """Load what `job_schedule` needs in the same query (pass `job.duplicati_next`)."""
    return jobs.select_related("server").annotate(duplicati_next=F("last_run__next_scheduled_run"))


def with_schedules(jobs: QuerySet[BackupJob]) -> list[tuple[BackupJob, plan.Schedule]]:
    """Jobs with the schedule in force for each, in three queries whatever their number.

    Servers are prefetched rather than joined: each is then built once, not once per job,
    which matters when a thousand jobs are listed."""
    inherited = Inherited(MonitoringDefaults.load())
    listed = jobs.prefetch_related("server").annotate(
        duplicati_next=F("last_run__next_scheduled_run")
    )
    return [(job, inherited.schedule(job, job.server, job.duplicati_next)) for job in listed]


def overdue_count(now: datetime) -> int:
    """Jobs in state `overdue` (declared, or past due and not yet scanned)."""
    candidates = BackupJob.objects.filter(
        Q(overdue_since__isnull=False) | Q(alert_after__lte=now, next_expected_at__lte=now)
    )
    return sum(
        1
        for job, schedule in with_schedules(candidates)
        if plan.state(schedule, watch_of(job), now=now) == "overdue"
    )


def watch_of(job: BackupJob) -> plan.Watch:
    return plan.Watch(
        next_expected_at=job.next_expected_at,
        overdue_since=job.overdue_since,
        last_reminder_at=job.last_reminder_at,
        escalated_at=job.escalated_at,
    )


def expectation_changes(job: BackupJob, schedule: plan.Schedule) -> dict[str, object]:
    """The schedule columns for a job that is not overdue (after a run or a settings change)."""
    expected = plan.expected_after(schedule, job.last_run_at)
    return {
        "next_expected_at": expected,
        "alert_after": plan.first_alert(schedule, expected),
        "schedule_source": schedule.source,
    }


def after_backup_run(job: BackupJob, run: BackupRun, now: datetime) -> dict[str, object]:
    """Called by ingest, inside its transaction, with `job` locked and already updated with
    `run` as its latest. Writes the `recovered` event when the job was overdue and returns
    the schedule columns to save."""
    changes: dict[str, object] = {}
    if job.overdue_since is not None:
        Event.objects.create(
            kind=Event.Kind.RECOVERED,
            job=job,
            run=run,
            created_at=now,
            details={
                "overdue_since": job.overdue_since.isoformat(),
                "overdue_seconds": max(
                    0, int((run.begin_time - job.overdue_since).total_seconds())
                ),
                "status": run.status,
            },
        )
        changes.update(overdue_since=None, last_reminder_at=None, escalated_at=None)
        job.overdue_since = None
    if job.schedule_anchor is None:
        changes["schedule_anchor"] = job.schedule_anchor = run.begin_time
    changes.update(
        expectation_changes(job, job_schedule(job, duplicati_next=run.next_scheduled_run))
    )
    return changes


def refresh(job: BackupJob) -> BackupJob:
    """Recompute a job's expectation after its settings (or its server's) changed."""
    with transaction.atomic():
        # The job's row only: an upload locks its server's row and then the job's, so locking
        # the server's here too (after the job's) deadlocked with it on PostgreSQL
        # (bench/cluster.py: two uploads in 10,000 answered 503).
        job = (
            BackupJob.objects.select_for_update(of=("self",))
            .select_related("server")
            .get(pk=job.pk)
        )
        schedule = job_schedule(job)
        changes = expectation_changes(job, schedule)
        if job.overdue_since is not None:
            # Stay overdue (no second overdue event), but let the scanner look again now:
            # pause, reminders and monitoring on/off take effect on its next pass.
            changes.pop("next_expected_at")
            changes["alert_after"] = clock.now() if schedule.monitoring_enabled else None
        BackupJob.objects.filter(pk=job.pk).update(**changes)
        for name, value in changes.items():
            setattr(job, name, value)
    return job


@dataclass
class ScanResult:
    examined: int = 0
    events: dict[str, list[int]] = field(default_factory=dict)  # kind → job ids
    learned: int = 0  # jobs whose schedule was learned again first (`check`)

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.events.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "learned": self.learned,
            "examined": self.examined,
            "events": self.events,
            "total": self.total,
        }


def check(now: datetime | None = None) -> ScanResult:
    """The monitoring pass: learn from the jobs' new runs, then scan. The worker runs it once a
    minute, `duplistatus scan` and `POST /api/v1/monitoring/scan` on demand: one path, so a
    scan asked for by hand sees the schedules the worker's would."""
    now = now or clock.now()
    learned = learn_pending(now)
    result = scan(now)
    result.learned = learned
    return result


def scan(now: datetime | None = None, *, limit: int = 10_000) -> ScanResult:
    """One pass: every job whose alert time has passed gets its decision applied once."""
    now = now or clock.now()
    result = ScanResult()
    due = list(
        BackupJob.objects.filter(alert_after__lte=now)
        .order_by("alert_after")
        .values_list("pk", flat=True)[:limit]
    )
    if not due:
        return result
    defaults = MonitoringDefaults.load()
    for start in range(0, len(due), SCAN_BATCH):
        with transaction.atomic():
            _scan_batch(due[start : start + SCAN_BATCH], now, defaults, result)
    if result.total:
        wakeup.wake()
    return result


def _scan_batch(
    ids: list[int], now: datetime, defaults: MonitoringDefaults, result: ScanResult
) -> None:
    """Claim a batch and apply each job's decision, in the caller's transaction.

    The claim is the read itself: on PostgreSQL `FOR UPDATE SKIP LOCKED` locks the rows
    (another worker skips them, and once we commit they are no longer due); on SQLite the
    transaction is IMMEDIATE, so it holds the database's write lock before it reads. Either
    way no other worker can decide about these jobs until we commit, and the writes can go
    out in a few statements instead of one conditional UPDATE per job.
    """
    jobs = list(
        with_schedule_inputs(BackupJob.objects.filter(pk__in=ids, alert_after__lte=now))
        .order_by()
        .select_for_update(of=("self",), skip_locked=True)
    )
    inherited = Inherited(defaults)
    changes_by_columns: dict[tuple[str, ...], list[tuple[int, dict[str, object]]]] = {}
    events = []
    for job in jobs:
        result.examined += 1
        schedule = inherited.schedule(job, job.server, job.duplicati_next)
        decision = plan.decide(schedule, watch_of(job), now=now, last_run_at=job.last_run_at)
        columns = tuple(sorted(decision.changes))
        changes_by_columns.setdefault(columns, []).append((job.pk, decision.changes))
        if decision.event:
            events.append(
                Event(
                    kind=decision.event,
                    job=job,
                    created_at=now,
                    details=_event_details(job, decision, now),
                )
            )
            result.events.setdefault(decision.event, []).append(job.pk)
    for columns, rows in changes_by_columns.items():
        _update_jobs(columns, rows)
    Event.objects.bulk_create(events)


def _update_jobs(columns: tuple[str, ...], rows: list[tuple[int, dict[str, object]]]) -> None:
    """One `executemany` for jobs that change the same columns (Django's bulk_update builds a
    CASE per column and row, which is slower than the per-row updates it replaces)."""
    fields = [BackupJob._meta.get_field(name) for name in columns]
    table = connection.ops.quote_name(BackupJob._meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
    params = [
        [f.get_db_prep_save(changes[f.name], connection) for f in fields] + [pk]
        for pk, changes in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", params)


def _event_details(job: BackupJob, decision: plan.Decision, now: datetime) -> dict[str, object]:
    overdue_since = decision.changes.get("overdue_since") or job.overdue_since
    return {
        "server_id": job.server_id,
        "next_expected_at": job.next_expected_at.isoformat() if job.next_expected_at else None,
        "overdue_since": overdue_since.isoformat() if overdue_since else None,
        "overdue_seconds": int((now - overdue_since).total_seconds()) if overdue_since else 0,
        "last_run_at": job.last_run_at.isoformat() if job.last_run_at else None,
    }


def reset_reminders(now: datetime | None = None, job_ids: list[int] | None = None) -> int:
    """Restart the reminder period of overdue jobs from now (the original's "reset")."""
    now = now or clock.now()
    jobs = BackupJob.objects.filter(overdue_since__isnull=False)
    if job_ids is not None:
        jobs = jobs.filter(pk__in=job_ids)
    count = 0
    for job in jobs.select_related("server"):
        schedule = job_schedule(job)
        next_look = plan._next_look(schedule, job.overdue_since, now, job.escalated_at)
        count += BackupJob.objects.filter(pk=job.pk).update(
            last_reminder_at=now, alert_after=next_look
        )
    return count


def learn_pending(now: datetime | None = None, *, limit: int = 100) -> int:
    """Learn the schedule (and the fallback guess) of jobs that got new runs since they were
    last looked at."""
    now = now or clock.now()
    ids = list(BackupJob.objects.filter(needs_learning=True).values_list("pk", flat=True)[:limit])
    for job_id in ids:
        job = BackupJob.objects.select_related("server").get(pk=job_id)
        history = list(
            BackupRun.objects.filter(job=job, operation="Backup")
            .order_by("-begin_time")
            .values_list("begin_time", "duration_seconds")[:MAX_RUNS]
        )
        durations = sorted(d for _, d in history if d is not None)
        # Reports arrive when a backup ends, so the grace must cover a typical run too.
        typical = timedelta(seconds=durations[len(durations) // 2]) if durations else timedelta(0)
        schedule = job_schedule(job)
        times = [t for t, _ in history]
        learned = learn_schedule(times, schedule.tz, now=now, typical_duration=typical)
        fallback = fallback_schedule(times, now=now)
        changes: dict[str, object] = {
            "needs_learning": False,
            "fallback_interval": fallback.interval_text if fallback else "",
            "fallback_grace_minutes": (
                int((fallback.grace + typical).total_seconds() // 60) if fallback else None
            ),
        }
        if learned is not None:
            changes.update(
                learned_interval=learned.interval_text,
                learned_weekdays=sorted(learned.weekdays),
                learned_time_of_day=learned.time_of_day,
                learned_anchor=learned.anchor,
                learned_confidence=round(learned.confidence, 3),
                learned_grace_minutes=int(learned.suggested_grace.total_seconds() // 60),
                learned_early_minutes=int(-(-learned.early_tolerance.total_seconds() // 60)),
                learned_description=learned.describe()[:100],
            )
        BackupJob.objects.filter(pk=job_id).update(**changes)
        refresh(job)
    return len(ids)
