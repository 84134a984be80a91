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

from duplistatus import wakeup
from duplistatus.backups import sqlrows
from duplistatus.backups.models import BackupJob, BackupRun, Event, RawReport, Server
from duplistatus.monitoring import monitor

from .parse import Identity, Report

FAILED_STATUSES = ("Error", "Fatal")
# A ZstdCompressor must not be used by two threads at once (it fails, or crashes the
# process), and the web server runs requests in several threads: each gets its own.
_compressors = threading.local()


def _compress(body: bytes) -> bytes:
    compressor = getattr(_compressors, "zstd", None)
    if compressor is None:
        compressor = _compressors.zstd = zstandard.ZstdCompressor(level=3)
    return compressor.compress(body)


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
            body_zstd=_compress(self.body),
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
    server = _touch_server(identity, now)
    job = _locked_job(server, identity, now)
    job_changes: dict[str, object] = {}
    if identity.backup_id and job.backup_id != identity.backup_id:
        job_changes["backup_id"] = identity.backup_id

    raw = sqlrows.insert(upload.raw_report())
    run = BackupRun(
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
    sqlrows.insert(run)
    if run.is_backup:
        # The event first: a recovery notice reads better after the run that caused it.
        sqlrows.insert(
            Event(
                kind=Event.Kind.BACKUP_RESULT,
                job=job,
                run=run,
                created_at=now,
                details={"status": run.status, "server_id": server.pk},
            )
        )
        job_changes.update(_job_changes(job, run, now))
        wakeup.wake_on_commit()  # notifications go out promptly, after the response
    sqlrows.update(BackupJob, job.pk, job_changes)
    return run


def _touch_server(identity: Identity, now: datetime) -> Server:
    """The server, its `last_seen_at` (and name) brought up to date: one UPDATE … RETURNING
    for a server we know, which is nearly every upload (SQLite and PostgreSQL both have it).

    A derived name ("addr:…") never overwrites one the server told us itself."""
    q = connection.ops.quote_name
    seen = Server._meta.get_field("last_seen_at").get_db_prep_save(now, connection)
    sets, params = [f"{q('last_seen_at')} = %s"], [seen]
    if identity.source != "address":
        sets.append(f"{q('name')} = %s")
        params.append(identity.server_name)
    update = (
        f"UPDATE {q(Server._meta.db_table)} SET {', '.join(sets)} WHERE {q('key')} = %s "
        f"RETURNING {sqlrows.columns(Server)}"
    )
    params.append(identity.server_key)
    if updated := sqlrows.fetch_one(Server, update, params):
        return updated
    try:
        with transaction.atomic():
            return Server.objects.create(
                key=identity.server_key, name=identity.server_name, created_at=now, last_seen_at=now
            )
    except IntegrityError:
        # Another process stored its first report at the same moment; it is there now.
        return sqlrows.fetch_one(Server, update, params)  # type: ignore[return-value]


def _locked_job(server: Server, identity: Identity, now: datetime) -> BackupJob:
    """The job, its row locked (PostgreSQL; SQLite's IMMEDIATE transaction already holds the
    whole database), so the scanner cannot declare it overdue between our read and our write.

    Read by raw SQL: the ORM spends ~1 ms compiling a query over this wide table and
    converting its row, several times what the query itself costs (bench/ingest.py)."""
    q = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    select = (
        f"SELECT {sqlrows.columns(BackupJob)} FROM {q(BackupJob._meta.db_table)} "
        f"WHERE {q('server_id')} = %s AND {q('name')} = %s{lock}"
    )
    params = [server.pk, identity.job_name]
    if found := sqlrows.fetch_one(BackupJob, select, params):
        job = found
    else:
        try:
            with transaction.atomic():
                job = BackupJob.objects.create(
                    server=server,
                    name=identity.job_name,
                    backup_id=identity.backup_id,
                    created_at=now,
                )
        except IntegrityError:
            # Another process created it at the same moment; it is there now.
            job = sqlrows.fetch_one(BackupJob, select, params)  # type: ignore[assignment]
    job.server = server
    return job


def _job_changes(job: BackupJob, run: BackupRun, now: datetime) -> dict[str, object]:
    """The per-job columns the dashboard reads, and the job's schedule state, after `run`.
    A late-arriving older run only counts; it does not become the latest."""
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
    return changes
