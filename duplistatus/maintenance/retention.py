"""Retention: old runs, raw report bodies, delivery log and audit log go on a schedule the
user chooses (Settings → Maintenance, with a per-server override for runs).

Runs go when older than N days and/or beyond the last N of their job; the latest run of
every job is never purged. The worker purges in small batches, each its own short
transaction, so uploads keep their latency while a million rows go (bench/purge.py).
`plan()` says what would go (the dry run of "Clean up now"); `purge()` does it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q

from duplistatus import clock
from duplistatus.accounts.models import AuditEntry
from duplistatus.backups.models import BackupJob, BackupRun, MaintenanceSettings, RawReport, Server
from duplistatus.ingest.store import writer_lock
from duplistatus.notifications.models import Delivery

from .delete import delete_runs

BATCH = 200  # rows per transaction: a few ms each, so an upload waits little
# On SQLite (one writer at a time) the purge rests as long as each batch took, so waiting
# uploads get the database between batches instead of losing the race for its lock.
SQLITE_REST = 1.0
JOINED_JOBS = 100  # jobs whose counts are brought up to date in one transaction


@dataclass(frozen=True)
class Policy:
    """How long one server's runs are kept (None: for ever)."""

    days: int | None
    count: int | None


def policy_of(server: Server, settings: MaintenanceSettings) -> Policy:
    """A server's own setting wins, field by field, over the global one."""
    return Policy(
        days=server.keep_runs_days
        if server.keep_runs_days is not None
        else settings.keep_runs_days,
        count=(
            server.keep_runs_count
            if server.keep_runs_count is not None
            else settings.keep_runs_count
        ),
    )


def _expired_runs(now: datetime, settings: MaintenanceSettings) -> Iterator[Q]:
    """Disjoint conditions selecting the runs to purge: one per server for an age alone,
    else one per job (each a range of an index); the latest run of a job is left out
    later."""
    for server in Server.objects.all():
        policy = policy_of(server, settings)
        cutoff = now - timedelta(days=policy.days) if policy.days else None
        if not policy.count:
            if cutoff is not None:
                yield Q(server_id=server.pk, begin_time__lt=cutoff)
            continue
        jobs = BackupJob.objects.filter(server=server)
        if cutoff is None:
            jobs = jobs.filter(run_count__gt=policy.count)
        for job_id in jobs.values_list("pk", flat=True):
            # The begin time of the Nth newest run: everything older goes.
            oldest_kept = (
                BackupRun.objects.filter(job_id=job_id)
                .order_by("-begin_time", "-id")
                .values_list("begin_time", flat=True)[policy.count - 1 : policy.count]
                .first()
            )
            limits = [t for t in (cutoff, oldest_kept) if t is not None]
            if limits:
                yield Q(job_id=job_id, begin_time__lt=max(limits))


def _expired_batches(now: datetime, settings: MaintenanceSettings) -> Iterator[list[int]]:
    """Ids of runs to purge, BATCH at a time; a batch may span jobs, so a job with a few
    runs to go does not cost a transaction of its own."""
    batch: list[int] = []
    for condition in _expired_runs(now, settings):
        after = 0
        while True:
            ids = list(
                BackupRun.objects.filter(_never_the_latest(condition), pk__gt=after)
                .order_by("pk")
                .values_list("pk", flat=True)[:BATCH]
            )
            if not ids:
                break
            after = ids[-1]
            batch.extend(ids)
            while len(batch) >= BATCH:
                yield batch[:BATCH]
                batch = batch[BATCH:]
    if batch:
        yield batch


def _never_the_latest(runs: Q) -> Q:
    return runs & ~Q(pk=F("job__last_run_id"))


@dataclass
class Plan:
    """What a clean-up removes (or, after `purge`, removed)."""

    runs: int = 0
    raw_reports: int = 0
    deliveries: int = 0
    audit_entries: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def total(self) -> int:
        return self.runs + self.raw_reports + self.deliveries + self.audit_entries


def _raw_expired(now: datetime, settings: MaintenanceSettings) -> Q | None:
    if not settings.keep_raw_days:
        return None
    return Q(raw_report__isnull=False, received_at__lt=now - timedelta(days=settings.keep_raw_days))


def _deliveries_expired(now: datetime, settings: MaintenanceSettings) -> Q | None:
    if not settings.delivery_log_days:
        return None
    finished = [Delivery.Status.SENT, Delivery.Status.DEAD, Delivery.Status.BATCHED]
    return Q(status__in=finished, created_at__lt=now - timedelta(days=settings.delivery_log_days))


def _audit_expired(now: datetime, settings: MaintenanceSettings) -> Q | None:
    if not settings.audit_retention_days:
        return None
    return Q(at__lt=now - timedelta(days=settings.audit_retention_days))


def plan(now: datetime | None = None) -> Plan:
    """What a clean-up would remove now: the dry run."""
    now = now or clock.now()
    settings = MaintenanceSettings.load()
    result = Plan()
    result.runs = sum(
        BackupRun.objects.filter(_never_the_latest(condition)).count()
        for condition in _expired_runs(now, settings)
    )
    if (raw := _raw_expired(now, settings)) is not None:
        # Bodies of runs that stay (those of purged runs go with them, counted there).
        result.raw_reports = BackupRun.objects.filter(raw).count()
    if (deliveries := _deliveries_expired(now, settings)) is not None:
        result.deliveries = Delivery.objects.filter(deliveries).count()
    if (audit := _audit_expired(now, settings)) is not None:
        result.audit_entries = AuditEntry.objects.filter(audit).count()
    return result


def purge(now: datetime | None = None, *, budget_seconds: float | None = None) -> Plan:
    """Remove what retention says goes, BATCH rows per transaction, until done or the time
    budget is spent (the worker gives it one; the rest goes on its next pass)."""
    now = now or clock.now()
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    settings = MaintenanceSettings.load()
    done = Plan()

    rest = SQLITE_REST if connection.vendor == "sqlite" else 0.0

    def spent() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    @contextlib.contextmanager
    def batch() -> Iterator[None]:
        started = time.monotonic()
        with writer_lock(), transaction.atomic():
            yield
        if rest:
            time.sleep((time.monotonic() - started) * rest)

    pending: dict[int, list[int]] = {}  # job: [backup runs, bytes] gone
    batches = _expired_batches(now, settings)
    while not spent():
        ids = next(batches, None)
        if ids is None:
            break
        with batch():
            # Checked again where it counts: the latest run is never purged.
            removed = delete_runs(_never_the_latest(Q(pk__in=ids)))
        done.runs += removed.runs
        for job_id, (backups, uploaded) in removed.per_job.items():
            totals = pending.setdefault(job_id, [0, 0])
            totals[0] += backups
            totals[1] += uploaded
        if len(pending) >= JOINED_JOBS:
            _subtract(pending)
            pending = {}
    _subtract(pending)
    if (raw := _raw_expired(now, settings)) is not None:
        while not spent():
            with batch():
                rows = list(
                    BackupRun.objects.filter(raw).values_list("pk", "raw_report_id")[:BATCH]
                )
                if not rows:
                    break
                BackupRun.objects.filter(pk__in=[pk for pk, _ in rows]).update(raw_report=None)
                RawReport.objects.filter(pk__in=[raw_id for _, raw_id in rows]).only("pk").delete()
            done.raw_reports += len(rows)
    for model, expired, counter in (
        (Delivery, _deliveries_expired(now, settings), "deliveries"),
        (AuditEntry, _audit_expired(now, settings), "audit_entries"),
    ):
        while expired is not None and not spent():
            with batch():
                ids = list(model.objects.filter(expired).values_list("pk", flat=True)[:BATCH])
                if not ids:
                    break
                model.objects.filter(pk__in=ids).only("pk").delete()
            setattr(done, counter, getattr(done, counter) + len(ids))
    if not spent():
        MaintenanceSettings.objects.filter(pk=1).update(last_purge_at=now)
    return done


def _subtract(pending: dict[int, list[int]]) -> None:
    """The jobs' run counts and upload totals, less what was purged (the latest run stays,
    so nothing else in a job's summary changes). Once per hundred jobs rather than per
    batch: one UPDATE per job was most of what a batch cost."""
    if not pending:
        return
    with writer_lock(), transaction.atomic():
        for job_id, (backups, uploaded) in pending.items():
            BackupJob.objects.filter(pk=job_id).update(
                run_count=F("run_count") - backups,
                bytes_uploaded_total=F("bytes_uploaded_total") - uploaded,
                needs_learning=True,
            )


PURGE_PERIOD = timedelta(hours=1)
WORKER_BUDGET_SECONDS = 5.0


def purge_due(now: datetime) -> Plan:
    """The worker's call, once a minute: a clean-up every hour, and until an unfinished one
    is done, WORKER_BUDGET_SECONDS of it per pass."""
    last = MaintenanceSettings.load().last_purge_at
    if last is not None and now - last < PURGE_PERIOD:
        return Plan()
    return purge(now, budget_seconds=WORKER_BUDGET_SECONDS)
