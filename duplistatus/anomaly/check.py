"""Anomaly detection, database side: judge the new runs of jobs flagged at ingest, write the
`anomaly` and `storage` events, keep the job's anomaly columns current. The deciding is in
detect.py; this reads the history as plain values and writes what it found.

Runs in the worker, never on the upload path: ingest only sets `needs_anomaly_check`. A
job is claimed by clearing that flag with a conditional UPDATE (another worker then skips
it); runs up to `anomaly_checked_run_id` have been judged, so a run is judged once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from duplistatus import clock, wakeup
from duplistatus.backups.models import BackupJob, BackupRun, Event, MonitoringDefaults
from duplistatus.monitoring import monitor
from duplistatus.notifications import rule_settings

from . import detect
from .baseline import Sample

log = logging.getLogger(__name__)

HISTORY = 120  # runs read per job: the bands' window, the weekday window, verifications
JUDGED = ("Success", "Warning")  # failed runs are reported as such, and their figures are partial
STORAGE_REPEAT = timedelta(days=1)  # a filling destination is reported at most daily
_FIELDS = (
    "pk",
    "operation",
    "status",
    "begin_time",
    "dryrun",
    "interrupted",
    "partial_backup",
    "examined_files",
    "size_of_examined_files",
    "added_files",
    "modified_files",
    "deleted_files",
    "bytes_uploaded",
    "duration_seconds",
    "known_file_size",
    "backup_list_count",
    "available_versions",
    "data",
)


def check_pending(now: datetime | None = None, *, limit: int = 100) -> int:
    """Judge the new runs of jobs that got some; returns how many events were written."""
    now = now or clock.now()
    ids = list(
        BackupJob.objects.filter(needs_anomaly_check=True).values_list("pk", flat=True)[:limit]
    )
    written = 0
    defaults = MonitoringDefaults.load()
    for job_id in ids:
        if not BackupJob.objects.filter(pk=job_id, needs_anomaly_check=True).update(
            needs_anomaly_check=False
        ):
            continue  # another worker took it
        try:
            written += check_job(job_id, now, defaults)
        except Exception:
            # The next run of the job sets the flag again; one bad history must not stop
            # the others.
            log.exception("anomaly check of job %s failed", job_id)
    if written:
        wakeup.wake()
    return written


def samples(job: BackupJob, *, limit: int = HISTORY) -> tuple[list[Sample], list[Sample]]:
    """The job's recent backup runs as samples, oldest first, and its verifications (backup
    runs and Test operations that verified the destination)."""
    rows = list(
        BackupRun.objects.filter(job=job, operation__in=("Backup", "Test"))
        .order_by("-begin_time", "-id")
        .values(*_FIELDS)[:limit]
    )
    rows.reverse()
    flagged, expected = _flags(job, [r["pk"] for r in rows])
    backups, verified = [], []
    for row in rows:
        sample = _sample(row, counts=row["pk"] not in flagged or row["pk"] in expected)
        if sample.verified:
            verified.append(sample)
        if (
            row["operation"] == "Backup"
            and row["status"] in JUDGED
            and not (row["dryrun"] or row["interrupted"] or row["partial_backup"])
        ):
            backups.append(sample)
    return backups, verified


def check_job(job_id: int, now: datetime, defaults: MonitoringDefaults | None = None) -> int:
    job = BackupJob.objects.select_related("server").get(pk=job_id)
    settings = rule_settings.effective(job, defaults).anomaly_detectors
    backups, verified = samples(job)
    # Weekdays (seasonality) in the job's own time zone: a Monday backup at 01:00 in Berlin
    # is a Sunday one in UTC.
    tz = monitor.job_schedule(job, defaults=defaults).tz
    checked = job.anomaly_checked_run_id
    if checked is None:
        # Never judged (a job from before anomaly detection, or a new one): only its latest
        # run, so an upgrade does not report the anomalies of a whole history at once.
        checked = max((s.run_id for s in backups[:-1]), default=0)
    events: list[Event] = []
    latest_flags: list[str] = []
    for index, sample in enumerate(backups):
        if sample.run_id <= checked:
            continue
        findings = detect.check_run(sample, backups[:index], settings, tz=tz)
        by_detector: dict[str, list[detect.Finding]] = {}
        for finding in findings:
            by_detector.setdefault(finding.detector, []).append(finding)
        for found in by_detector.values():
            worst = max(found, key=lambda f: f.severity == "critical")
            details = worst.as_details() | {"server_id": job.server_id}
            if len(found) > 1:
                details["also"] = [f.as_details() for f in found if f is not worst]
            events.append(_event(job, sample.run_id, now, details, worst.kind))
        if sample.run_id == job.last_run_id:
            latest_flags = sorted(by_detector)
    latest = backups[-1] if backups else None
    new_runs = [s for s in backups if s.run_id > checked]
    if latest is not None and new_runs:
        quota = detect.check_quota(latest, backups[:-1], settings)
        if quota is not None and not _recent(job, Event.Kind.STORAGE, now - STORAGE_REPEAT):
            details = quota.as_details() | {"server_id": job.server_id}
            events.append(_event(job, latest.run_id, now, details, Event.Kind.STORAGE))
        if quota is not None:
            latest_flags.append("quota")
        unverified = detect.check_unverified(
            verified, now, settings, first_run_at=backups[0].at if backups else None
        )
        if unverified is not None:
            days = float(settings["unverified"]["days"])
            if not _recent(job, Event.Kind.ANOMALY, now - timedelta(days=days), "unverified"):
                details = unverified.as_details() | {"server_id": job.server_id}
                events.append(_event(job, latest.run_id, now, details, Event.Kind.ANOMALY))
            latest_flags.append("unverified")
    newest_id = max([checked, *(s.run_id for s in backups)])
    with transaction.atomic():
        Event.objects.bulk_create(events)
        changes: dict[str, Any] = {"anomaly_checked_run_id": newest_id}
        if new_runs:
            changes["anomalies"] = sorted(set(latest_flags))
            if events:
                changes["last_anomaly_at"] = now
        BackupJob.objects.filter(pk=job.pk).update(**changes)
    return len(events)


# The job page's charts (web/history.py METRICS) and the baseline metric and detector behind
# each: the band is drawn at that detector's sensitivity. Storage and versions are judged by
# their change from run to run, so they have flagged runs but no band.
CHART_BANDS = {
    "duration": ("duration", "slow_run"),
    "uploaded": ("bytes_uploaded", "change_burst"),
    "files": ("examined_files", "source_vanished"),
}
CHART_METRICS = {
    "duration": "duration",
    "bytes_uploaded": "uploaded",
    "changed_files": "uploaded",
    "storage": "storage",
    "examined_files": "files",
    "examined_size": "files",
    "versions": "versions",
}


def chart_marks(job: BackupJob, now: datetime) -> dict[str, Any]:
    """For the job page's charts: each metric's normal band now, and the begin times (epoch
    seconds) of the runs flagged on it that were not marked expected."""
    from . import baseline

    settings = rule_settings.effective(job).anomaly_detectors
    backups, _ = samples(job)
    bands = {}
    for chart, (metric, detector) in CHART_BANDS.items():
        band = baseline.learn(
            metric,
            backups,
            now,
            k=float(settings[detector]["sensitivity"]),
            min_history=int(settings["min_history"]),
        )
        if band is not None:
            bands[chart] = band.as_dict()
    flagged: dict[str, set[int]] = {}
    events = Event.objects.filter(job=job, kind=Event.Kind.ANOMALY, run__isnull=False)
    for begin, details in events.values_list("run__begin_time", "details"):
        if details.get("expected"):
            continue
        for finding in [details, *details.get("also", [])]:
            chart = CHART_METRICS.get(finding.get("metric", ""))
            if chart is not None:
                flagged.setdefault(chart, set()).add(int(begin.timestamp()))
    return {"bands": bands, "flagged": {chart: sorted(xs) for chart, xs in flagged.items()}}


def mark_expected(event: Event, *, by: str = "") -> Event:
    """The user says a flagged run was expected: it teaches the baseline from now on (its
    run counts as normal) and the job no longer shows the anomaly."""
    event.details = event.details | {"expected": True, "expected_by": by}
    event.save(update_fields=["details"])
    job = event.job
    detector = event.details.get("detector")
    if detector in job.anomalies and (event.run_id is None or event.run_id == job.last_run_id):
        job.anomalies = [d for d in job.anomalies if d != detector]
        BackupJob.objects.filter(pk=job.pk).update(anomalies=job.anomalies)
    return event


def _flags(job: BackupJob, run_ids: list[int]) -> tuple[set[int], set[int]]:
    """Runs flagged by a run detector, and those of them the user marked expected (a run
    with any unexpected finding stays out of the baseline)."""
    flagged: set[int] = set()
    unexpected: set[int] = set()
    for run_id, details in Event.objects.filter(
        job=job, kind=Event.Kind.ANOMALY, run_id__in=run_ids
    ).values_list("run_id", "details"):
        if details.get("detector") == "unverified":
            continue  # about the job, not the run's figures
        flagged.add(run_id)
        if not details.get("expected"):
            unexpected.add(run_id)
    return flagged, flagged - unexpected


def _sample(row: dict[str, Any], *, counts: bool) -> Sample:
    data = row["data"] if isinstance(row["data"], dict) else {}
    backend = data.get("BackendStatistics") if isinstance(data, dict) else None
    backend = backend if isinstance(backend, dict) else {}
    versions = row["backup_list_count"]
    if versions is None and row["available_versions"]:
        versions = len(row["available_versions"])
    total, free = _quota(backend, row["known_file_size"])
    return Sample(
        run_id=row["pk"],
        at=row["begin_time"],
        values={
            "examined_files": row["examined_files"],
            "examined_size": row["size_of_examined_files"],
            "added_files": row["added_files"],
            "modified_files": row["modified_files"],
            "deleted_files": row["deleted_files"],
            "changed_files": row["added_files"] + row["modified_files"],
            "bytes_uploaded": row["bytes_uploaded"],
            "duration": row["duration_seconds"],
            "storage": row["known_file_size"] or None,
            "versions": versions,
        },
        counts=counts,
        verified=_verified(row, data),
        quota_total=total,
        quota_free=free,
        quota_warning=backend.get("ReportedQuotaWarning") is True,
        quota_error=backend.get("ReportedQuotaError") is True,
    )


def _verified(row: dict[str, Any], data: dict[str, Any]) -> bool:
    """A successful verification of the destination: a Test operation that succeeded, or a
    backup whose TestResults (the samples Duplicati checks after a backup) found nothing."""
    if row["operation"] == "Test":
        return row["status"] == "Success"
    test = data.get("TestResults")
    if not isinstance(test, dict) or test.get("ParsedResult") not in ("Success", "Warning"):
        return False
    checks = test.get("Verifications")
    return isinstance(checks, list) and bool(checks) and all(not c.get("Value") for c in checks)


def _quota(backend: dict[str, Any], known_size: int) -> tuple[float | None, float | None]:
    """(space the backup may use, of it free), from BackendStatistics; an assigned quota
    (Duplicati's --quota-size) wins over the destination's own."""
    assigned, total, free = (
        backend.get(k) for k in ("AssignedQuotaSpace", "TotalQuotaSpace", "FreeQuotaSpace")
    )
    if isinstance(assigned, int | float) and assigned > 0:
        own_free = assigned - known_size
        if isinstance(free, int | float) and free >= 0:
            own_free = min(own_free, free)
        return float(assigned), float(max(0, own_free))
    if isinstance(total, int | float) and total > 0 and isinstance(free, int | float) and free >= 0:
        return float(total), float(free)
    return None, None


def _recent(job: BackupJob, kind: str, since: datetime, detector: str | None = None) -> bool:
    events = Event.objects.filter(job=job, kind=kind, created_at__gte=since)
    if detector is not None:
        events = events.filter(details__detector=detector)
    return events.exists()


def _event(job: BackupJob, run_id: int, now: datetime, details: dict, kind: str) -> Event:
    return Event(kind=kind, job=job, run_id=run_id, created_at=now, details=details)
