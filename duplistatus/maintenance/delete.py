"""Delete a run, a job (its runs, events and deliveries) or a server (its jobs).

`impact_of_*` says what would go, for the confirmation; `delete_*` deletes it, in one
transaction, writes the audit entry and recomputes what the deletion changed (a job's
summary when one of its runs went). A report that arrives later for a deleted server or job
simply creates it anew: ingest finds them by machine id and name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext

from duplistatus.accounts import audit
from duplistatus.backups.models import BackupJob, BackupRun, Event, RawReport, Server
from duplistatus.ingest.store import writer_lock
from duplistatus.notifications.models import Delivery

from .summary import recompute

CHUNK = 500  # ids per IN (...): well under SQLite's variable limit
BATCH_DELETE = 500  # runs per transaction when a whole job or server goes


@dataclass(frozen=True)
class Impact:
    """How much goes: what the confirmation names and the audit entry records."""

    servers: int = 0
    jobs: int = 0
    runs: int = 0
    events: int = 0
    deliveries: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: value for name, value in asdict(self).items() if value}

    def describe(self) -> str:
        """'1 job, 20 runs, 3 events' in the active language, for the confirmation."""
        words = {
            "servers": lambda n: ngettext("%(count)s server", "%(count)s servers", n),
            "jobs": lambda n: ngettext("%(count)s job", "%(count)s jobs", n),
            "runs": lambda n: ngettext("%(count)s run", "%(count)s runs", n),
            "events": lambda n: ngettext("%(count)s event", "%(count)s events", n),
            "deliveries": lambda n: ngettext("%(count)s delivery", "%(count)s deliveries", n),
        }
        parts = [
            words[name](value) % {"count": number_format(value, force_grouping=True)}
            for name, value in asdict(self).items()
            if value
        ]
        return ", ".join(parts) or gettext("nothing")


def _deliveries(jobs: Q, events: Q) -> Q:
    return Q(job__in=BackupJob.objects.filter(jobs)) | Q(event__in=Event.objects.filter(events))


def impact_of_run(run: BackupRun) -> Impact:
    events = Event.objects.filter(run=run)
    return Impact(
        runs=1,
        events=events.count(),
        deliveries=Delivery.objects.filter(event__in=events).count(),
    )


def impact_of_jobs(jobs: Q) -> Impact:
    selected = BackupJob.objects.filter(jobs)
    return Impact(
        jobs=selected.count(),
        runs=BackupRun.objects.filter(job__in=selected).count(),
        events=Event.objects.filter(job__in=selected).count(),
        deliveries=Delivery.objects.filter(
            Q(job__in=selected) | Q(event__job__in=selected)
        ).count(),
    )


def impact_of_job(job: BackupJob) -> Impact:
    return impact_of_jobs(Q(pk=job.pk))


def impact_of_server(server: Server) -> Impact:
    jobs = impact_of_jobs(Q(server=server))
    return Impact(servers=1, **{k: v for k, v in asdict(jobs).items() if k != "servers"})


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _delete_raw_reports(ids: Iterable[int | None]) -> None:
    for chunk in _chunks([pk for pk in ids if pk is not None]):
        RawReport.objects.filter(pk__in=chunk).only("pk").delete()


@dataclass
class Removed:
    """What `delete_runs` removed: how many runs, and per job the backup runs and uploaded
    bytes that its summary counted (ingest counts backup runs only)."""

    runs: int = 0
    per_job: dict[int, list[int]] = field(default_factory=dict)  # job: [backups, bytes]

    @property
    def job_ids(self) -> set[int]:
        return set(self.per_job)


def delete_runs(runs: Q) -> Removed:
    """Delete runs, their events, deliveries and raw bodies (no audit, no summary: callers
    do that once for all)."""
    selected = BackupRun.objects.filter(runs)
    rows = list(
        selected.values_list("pk", "job_id", "raw_report_id", "operation", "bytes_uploaded")
    )
    removed = Removed(runs=len(rows))
    for _, job_id, _, operation, uploaded in rows:
        totals = removed.per_job.setdefault(job_id, [0, 0])
        if operation == "Backup":
            totals[0] += 1
            totals[1] += uploaded
    run_ids = [row[0] for row in rows]
    # `.only("pk")`: deleting reads the rows it deletes (to cascade), and a run's log and
    # a report's body are large; the ids are all it needs.
    for chunk in _chunks(run_ids):
        Delivery.objects.filter(event__run_id__in=chunk).only("pk").delete()
        Event.objects.filter(run_id__in=chunk).only("pk").delete()
        BackupJob.objects.filter(last_run_id__in=chunk).update(last_run=None)
        BackupRun.objects.filter(pk__in=chunk).only("pk").delete()
    _delete_raw_reports(row[2] for row in rows)
    return removed


def _delete_jobs(jobs: Q) -> None:
    selected = BackupJob.objects.filter(jobs)
    Delivery.objects.filter(Q(job__in=selected) | Q(event__job__in=selected)).only("pk").delete()
    Event.objects.filter(job__in=selected).only("pk").delete()
    delete_runs(Q(job__in=list(selected.values_list("pk", flat=True))))
    selected.delete()


def _runs_in_batches(runs: Q) -> None:
    """Most of a big job's runs go first, BATCH_DELETE per transaction, so that on SQLite
    uploads get the database between batches instead of waiting out one long delete."""
    while True:
        with writer_lock(), transaction.atomic():
            ids = list(
                BackupRun.objects.filter(runs)
                .order_by("pk")
                .values_list("pk", flat=True)[:BATCH_DELETE]
            )
            if len(ids) < BATCH_DELETE:
                return  # the rest goes in the final transaction, with the job
            delete_runs(Q(pk__in=ids))


def delete_run(run: BackupRun, request: HttpRequest | None = None) -> Impact:
    with writer_lock(), transaction.atomic():
        impact = impact_of_run(run)
        delete_runs(Q(pk=run.pk))
        audit.record(
            request,
            "run.delete",
            f"run {run.pk} of job {run.job_id} ({run.begin_time:%Y-%m-%d %H:%M} UTC)",
            impact.as_dict(),
        )
    recompute([run.job_id])
    return impact


def delete_job(job: BackupJob, request: HttpRequest | None = None) -> Impact:
    impact = impact_of_job(job)
    _runs_in_batches(Q(job_id=job.pk))
    with writer_lock(), transaction.atomic():
        _delete_jobs(Q(pk=job.pk))
        audit.record(request, "job.delete", f"job {job.pk} ({job.name})", impact.as_dict())
    return impact


def delete_server(server: Server, request: HttpRequest | None = None) -> Impact:
    impact = impact_of_server(server)
    _runs_in_batches(Q(server_id=server.pk))
    with writer_lock(), transaction.atomic():
        _delete_jobs(Q(server=server))
        BackupRun.objects.filter(server=server).delete()  # none left; guards a stray one
        Server.objects.filter(pk=server.pk).delete()
        audit.record(
            request, "server.delete", f"server {server.pk} ({server.name})", impact.as_dict()
        )
    return impact
