"""Store one parsed report: server, job, run, the job's summary and schedule state, and the
`backup_result` event, all in one transaction. The upload request returns when it commits;
notifications happen later, in the worker, from the event row.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime

import zstandard
from django.db import IntegrityError, connection, transaction

from duplistatus import worker
from duplistatus.backups.models import BackupJob, BackupRun, Event, RawReport, Server
from duplistatus.monitoring import monitor

from .parse import Identity, Report

FAILED_STATUSES = ("Error", "Fatal")
_compressor = zstandard.ZstdCompressor(level=3)


class DuplicateReport(Exception):
    """This run is already stored (same body, or same server, job and BeginTime)."""


@dataclass(frozen=True)
class Upload:
    """What arrived on the wire, kept verbatim (compressed) beside the parsed run."""

    body: bytes
    content_type: str
    query_string: str
    remote_addr: str
    received_at: datetime

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def raw_report(self, parse_error: str = "") -> RawReport:
        return RawReport(
            received_at=self.received_at,
            content_type=self.content_type[:200],
            query_string=self.query_string,
            remote_addr=self.remote_addr[:100],
            size=len(self.body),
            sha256=self.sha256,
            body_zstd=_compressor.compress(self.body),
            parse_error=parse_error,
        )


def keep_unparsed(upload: Upload, error: str) -> RawReport:
    """A body we could not parse is still kept, so nothing a sender sent is lost."""
    raw = upload.raw_report(parse_error=error[:2000])
    raw.save()
    return raw


# SQLite has one writer at a time. Threads of this process queue here, in order, instead of
# in SQLite's busy handler, which sleeps in growing steps and lets a writer starve.
_sqlite_writer = threading.Lock()


def store_report(report: Report, identity: Identity, upload: Upload) -> BackupRun:
    sha256 = upload.sha256
    lock = _sqlite_writer if connection.vendor == "sqlite" else contextlib.nullcontext()
    try:
        with lock, transaction.atomic():
            return _store(report, identity, upload, sha256)
    except IntegrityError as exc:
        # A resend (same body, or same job and BeginTime) hits a unique index; the whole
        # transaction rolls back, server and job included if they were new.
        raise DuplicateReport from exc


def _store(report: Report, identity: Identity, upload: Upload, sha256: str) -> BackupRun:
    now = upload.received_at
    server, created = Server.objects.get_or_create(
        key=identity.server_key,
        defaults={"name": identity.server_name, "created_at": now, "last_seen_at": now},
    )
    if not created:
        changes = {"last_seen_at": now}
        # A derived name ("addr:…") never overwrites one the server told us itself.
        if identity.server_name != server.name and identity.source != "address":
            changes["name"] = identity.server_name
        Server.objects.filter(pk=server.pk).update(**changes)

    job, created = BackupJob.objects.get_or_create(
        server=server,
        name=identity.job_name,
        defaults={"backup_id": identity.backup_id, "created_at": now},
    )
    if not created and identity.backup_id and job.backup_id != identity.backup_id:
        BackupJob.objects.filter(pk=job.pk).update(backup_id=identity.backup_id)

    raw = upload.raw_report()
    raw.save()
    run = BackupRun.objects.create(
        job=job,
        server=server,
        raw_report=raw,
        body_sha256=sha256,
        received_at=now,
        report_format=report.format,
        operation=report.operation,
        status=report.status,
        parsed_result=report.parsed_result,
        interrupted=report.interrupted,
        partial_backup=report.partial_backup,
        dryrun=report.dryrun,
        version=report.version,
        begin_time=report.begin_time,
        begin_time_estimated=report.begin_time_estimated,
        end_time=report.end_time,
        duration_seconds=report.duration_seconds,
        messages_count=report.messages_count,
        warnings_count=report.warnings_count,
        errors_count=report.errors_count,
        backup_list_count=report.backup_list_count,
        last_backup_date=report.last_backup_date,
        data=report.data,
        extra=report.extra,
        log_lines=report.log_lines,
        messages=report.messages,
        warnings=report.warnings,
        errors=report.errors,
        exception=report.exception,
        available_versions=report.available_versions,
        next_scheduled_run=report.next_scheduled_run,
        **report.stats,
    )
    if run.is_backup:
        # The event first: a recovery notice reads better after the run that caused it.
        Event.objects.create(
            kind=Event.Kind.BACKUP_RESULT,
            job=job,
            run=run,
            created_at=now,
            details={"status": run.status, "server_id": server.pk},
        )
        _update_job(job, server, run, now)
        worker.wake_on_commit()  # notifications go out promptly, after the response
    return run


def _update_job(job: BackupJob, server: Server, run: BackupRun, now: datetime) -> None:
    """Keep the per-job columns the dashboard reads, and the job's schedule state.

    The row is locked first, so the scanner cannot declare the job overdue between our read
    and our write. A late-arriving older run only counts; it does not become the latest.
    """
    job = BackupJob.objects.select_for_update().get(pk=job.pk)
    job.server = server
    changes: dict[str, object] = {
        "run_count": job.run_count + 1,
        "bytes_uploaded_total": job.bytes_uploaded_total + run.bytes_uploaded,
        "needs_learning": True,
    }
    if job.last_run_at is None or run.begin_time >= job.last_run_at:
        failed = run.status in FAILED_STATUSES
        changes.update(
            last_run_id=run.pk,
            last_run_at=run.begin_time,
            last_status=run.status,
            consecutive_failures=job.consecutive_failures + 1 if failed else 0,
        )
        if not failed:
            changes["last_success_at"] = run.begin_time
        for name, value in changes.items():
            setattr(job, name, value)
        changes.update(monitor.after_backup_run(job, run, now))
    BackupJob.objects.filter(pk=job.pk).update(**changes)
