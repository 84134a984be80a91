"""A job's summary columns recomputed from the runs it has left, after runs were deleted,
merged or purged. Ingest keeps the same columns current one run at a time
(ingest.store._job_changes); this is the same result computed from the whole history."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, Sum

from duplistatus.backups.models import BackupJob, BackupRun
from duplistatus.ingest.store import FAILED_STATUSES
from duplistatus.monitoring import monitor

LEARNED_FIELDS = {
    "learned_interval": "",
    "learned_weekdays": None,
    "learned_time_of_day": None,
    "learned_anchor": None,
    "learned_confidence": None,
    "learned_grace_minutes": None,
    "learned_early_minutes": None,
    "learned_description": "",
}


def summary_of(job_id: int) -> dict[str, object]:
    """The summary columns of a job as its backup runs (the runs ingest counts) give them."""
    backups = BackupRun.objects.filter(job_id=job_id, operation="Backup")
    totals = backups.aggregate(count=Count("id"), uploaded=Sum("bytes_uploaded"))
    latest = backups.order_by("-begin_time", "-id").values("id", "begin_time", "status").first()
    last_success_at = (
        backups.exclude(status__in=FAILED_STATUSES)
        .order_by("-begin_time")
        .values_list("begin_time", flat=True)
        .first()
    )
    failures = backups.filter(status__in=FAILED_STATUSES)
    if last_success_at is not None:
        failures = failures.filter(begin_time__gt=last_success_at)
    return {
        "run_count": totals["count"],
        "bytes_uploaded_total": totals["uploaded"] or 0,
        "last_run_id": latest["id"] if latest else None,
        "last_run_at": latest["begin_time"] if latest else None,
        "last_status": latest["status"] if latest else "",
        "last_success_at": last_success_at,
        "consecutive_failures": failures.count(),
    }


def recompute(job_ids: Iterable[int]) -> None:
    """Summary, expectation and (through the worker) learned schedule of each job, from the
    runs it has now."""
    for job_id in set(job_ids):
        with transaction.atomic():
            job = BackupJob.objects.select_for_update().filter(pk=job_id).first()
            if job is None:
                continue
            changes = summary_of(job_id)
            if changes["last_run_id"] is None:
                # Nothing left to learn from or to expect a next run after.
                changes.update(LEARNED_FIELDS, needs_learning=False, schedule_anchor=None)
            else:
                changes["needs_learning"] = True  # the worker learns from the history left
            BackupJob.objects.filter(pk=job_id).update(**changes)
        monitor.refresh(job)
