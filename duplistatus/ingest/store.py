"""Store one parsed report: server, job, run, the job's summary and schedule state, and the
`backup_result` event, all in one transaction. The upload request returns when it commits;
notifications happen later, in the worker, from the event row.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import zstandard
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Length

from duplistatus import wakeup
from duplistatus.backups import sqlrows
from duplistatus.backups.models import BackupJob, BackupRun, Event, RawReport, Server
from duplistatus.monitoring import monitor

from .parse import Identity, Report, clean_text

log = logging.getLogger(__name__)
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

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def raw_report(self, parse_error: str = "", keep_bytes: int | None = None) -> RawReport:
        """The row that keeps this body (see raw_report_fields)."""
        return RawReport(**self.raw_report_fields(parse_error, keep_bytes))

    def raw_report_fields(
        self, parse_error: str = "", keep_bytes: int | None = None
    ) -> dict[str, object]:
        """The columns of the row that keeps this body: all of it, or its first `keep_bytes`;
        `size` and `sha256` always describe the whole body. Text is cleaned of what no
        column holds."""
        return {
            "received_at": self.received_at,
            "content_type": clean_text(self.content_type)[:200],
            "query_string": clean_text(self.query_string)[:MAX_QUERY_CHARS],
            "remote_addr": clean_text(self.remote_addr)[:100],
            "size": len(self.body),
            "sha256": self.sha256,
            "body_zstd": _compress(self.body if keep_bytes is None else self.body[:keep_bytes]),
            "parse_error": clean_text(parse_error)[:2000],
        }


MAX_QUERY_CHARS = 4000
# What a kept row counts for besides its text and body (its other columns, index entries):
# a flood of empty bodies fills the quota too, and the quota bounds the rows that
# unparsed_bytes() adds up (100 MB: at most ~100,000).
_ROW_OVERHEAD_BYTES = 1024


def keep_unparsed(upload: Upload, error: str) -> RawReport | None:
    """A body we could not parse is kept so a better parser can read it later: its first
    UNPARSED_KEEP_BYTES (and the whole body's size and hash), while all kept unparsed bodies
    stay within UNPARSED_QUOTA_BYTES. Anyone may post them, so that is the bound on the
    disk they take; the worker drops them after UNPARSED_RETENTION_DAYS. None when full."""
    raw = upload.raw_report(parse_error=error, keep_bytes=settings.UNPARSED_KEEP_BYTES)
    cost = len(raw.body_zstd) + len(raw.query_string) + len(raw.parse_error) + _ROW_OVERHEAD_BYTES
    lock = _sqlite_writer if connection.vendor == "sqlite" else contextlib.nullcontext()
    with lock:
        # Several processes may check at once on PostgreSQL: the quota can be passed by at
        # most one body per concurrent request, which is bounded too.
        if unparsed_bytes() + cost > settings.UNPARSED_QUOTA_BYTES:
            log.warning(
                "not keeping an unparseable body of %d bytes from %s: the quota for "
                "unparsed bodies (DUPLISTATUS_UNPARSED_QUOTA_BYTES=%d) is full",
                raw.size,
                raw.remote_addr,
                settings.UNPARSED_QUOTA_BYTES,
            )
            return None
        raw.save()
    return raw


def unparsed_bytes() -> int:
    """What the kept unparsed bodies take, as keep_unparsed counts it."""
    totals = _unparsed().aggregate(
        rows=Count("id"),
        body=Sum(Length("body_zstd")),
        query=Sum(Length("query_string")),
        error=Sum(Length("parse_error")),
    )
    return (
        (totals["body"] or 0)
        + (totals["query"] or 0)
        + (totals["error"] or 0)
        + totals["rows"] * _ROW_OVERHEAD_BYTES
    )


def purge_unparsed(now: datetime) -> int:
    """Drop unparsed bodies older than UNPARSED_RETENTION_DAYS (the worker calls this);
    the bodies of parsed reports stay."""
    cutoff = now - timedelta(days=settings.UNPARSED_RETENTION_DAYS)
    deleted, _ = _unparsed().filter(received_at__lt=cutoff).delete()
    return deleted


def _unparsed() -> QuerySet[RawReport]:
    # Matches the partial index rawreport_failed.
    return RawReport.objects.exclude(parse_error="")


# SQLite has one writer at a time. Threads of this process queue here, in order, instead of
# in SQLite's busy handler, which sleeps in growing steps and lets a writer starve. Re-entrant:
# a batch of reports (collect/) holds it around several store_report calls.
_sqlite_writer = threading.RLock()


# The server and job rows a write transaction has read (and locked), by thread: the reports
# of a batch mostly belong to one job, and reading it again for each was half the cost of
# storing one. Only within one transaction, whose locks keep the rows as we left them.
_in_transaction = threading.local()


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """One write transaction, queued behind this process's other writers on SQLite. Several
    store_report calls inside one share its commit and its server and job rows (each report
    is then a savepoint: a duplicate rolls back only itself)."""
    lock = _sqlite_writer if connection.vendor == "sqlite" else contextlib.nullcontext()
    with lock, transaction.atomic():
        if getattr(_in_transaction, "rows", None) is not None:
            yield  # inside a batch: its transaction and rows
            return
        _in_transaction.rows = {}
        try:
            yield
        finally:
            _in_transaction.rows = None


def store_report(
    report: Report, identity: Identity, upload: Upload, *, notify: bool = True
) -> BackupRun:
    """`notify=False` stores a backup run without its `backup_result` event: history
    imported from a Duplicati server (collect/) must not notify about months-old runs."""
    sha256 = upload.sha256
    try:
        with writing():
            return _store(report, identity, upload, sha256, notify, _in_transaction.rows)
    except BaseException as exc:
        # What this report wrote is rolled back (a batch goes on without it): rows read or
        # created for it may be gone, so they are read again.
        rows = getattr(_in_transaction, "rows", None)
        if rows:
            rows.clear()
        if isinstance(exc, IntegrityError):
            # A resend (same body, or same job and BeginTime) hits a unique index; the whole
            # transaction rolls back, server and job included if they were new.
            raise DuplicateReport from exc
        raise


def _store(
    report: Report,
    identity: Identity,
    upload: Upload,
    sha256: str,
    notify: bool,
    rows: dict[tuple[object, ...], object],
) -> BackupRun:
    now = upload.received_at
    server_key = ("server", identity.server_key, identity.server_name, identity.source)
    server = rows.get(server_key)
    if not isinstance(server, Server):
        server = rows[server_key] = _touch_server(identity, now)
    job_key = ("job", server.pk, identity.job_name)
    job = rows.get(job_key)
    if not isinstance(job, BackupJob):
        job = rows[job_key] = _locked_job(server, identity, now)
    job_changes: dict[str, object] = {}
    if identity.backup_id and job.backup_id != identity.backup_id:
        job_changes["backup_id"] = identity.backup_id

    raw_report_id = sqlrows.insert(RawReport, upload.raw_report_fields())
    run = sqlrows.create(
        BackupRun,
        {
            "job_id": job.pk,
            "server_id": server.pk,
            "raw_report_id": raw_report_id,
            "body_sha256": sha256,
            "received_at": now,
            "report_format": report.format,
            "operation": report.operation,
            "status": report.status,
            "parsed_result": report.parsed_result,
            "interrupted": report.interrupted,
            "partial_backup": report.partial_backup,
            "dryrun": report.dryrun,
            "version": report.version,
            "begin_time": report.begin_time,
            "begin_time_estimated": report.begin_time_estimated,
            "end_time": report.end_time,
            "duration_seconds": report.duration_seconds,
            "messages_count": report.messages_count,
            "warnings_count": report.warnings_count,
            "errors_count": report.errors_count,
            "backup_list_count": report.backup_list_count,
            "last_backup_date": report.last_backup_date,
            "data": report.data,
            "extra": report.extra,
            "log_lines": report.log_lines,
            "messages": report.messages,
            "warnings": report.warnings,
            "errors": report.errors,
            "exception": report.exception,
            "available_versions": report.available_versions,
            "next_scheduled_run": report.next_scheduled_run,
            **report.stats,
        },
    )
    _RUN_JOB.set_cached_value(run, job)
    _RUN_SERVER.set_cached_value(run, server)
    if run.is_backup:
        if notify:
            # The event first: a recovery notice reads better after the run that caused it.
            sqlrows.insert(
                Event,
                {
                    "kind": Event.Kind.BACKUP_RESULT,
                    "job_id": job.pk,
                    "run_id": run.pk,
                    "created_at": now,
                    "details": {"status": run.status, "server_id": server.pk},
                },
            )
        job_changes.update(_job_changes(job, run, now))
        wakeup.wake_on_commit()  # notifications go out promptly, after the response
    if job_changes:
        sqlrows.update(BackupJob, job.pk, job_changes)
        for name, value in job_changes.items():
            setattr(job, name, value)  # as stored, for the batch's next report
    return run


# run.job and run.server, set as BackupRun(job=job, server=server) would have set them.
_RUN_JOB = BackupRun._meta.get_field("job")
_RUN_SERVER = BackupRun._meta.get_field("server")


def _touch_server(identity: Identity, now: datetime) -> Server:
    """The server, its `last_seen_at` (and name) brought up to date: one UPDATE … RETURNING
    for a server we know, which is nearly every upload (SQLite and PostgreSQL both have it).

    The name is set only when it changed: naming an indexed column in an UPDATE rewrites its
    index entry even to the same value (on SQLite a page more per upload). A derived name
    ("addr:…") never overwrites one the server told us itself."""
    q = connection.ops.quote_name
    seen = Server._meta.get_field("last_seen_at").get_db_prep_save(now, connection)
    update = (
        f"UPDATE {q(Server._meta.db_table)} SET {q('last_seen_at')} = %s "
        f"WHERE {q('key')} = %s RETURNING {sqlrows.columns(Server)}"
    )
    params = [seen, identity.server_key]
    server = sqlrows.fetch_one(Server, update, params)
    if server is None:
        try:
            with transaction.atomic():
                return Server.objects.create(
                    key=identity.server_key,
                    name=identity.server_name,
                    created_at=now,
                    last_seen_at=now,
                )
        except IntegrityError:
            # Another process stored its first report at the same moment; it is there now.
            server = sqlrows.fetch_one(Server, update, params)
            assert server is not None
    if identity.source != "address" and server.name != identity.server_name:
        sqlrows.update(Server, server.pk, {"name": identity.server_name})
        server.name = identity.server_name
    return server


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
    }
    # Set only when not set already (the job's row is locked, so as read is as stored): each
    # is in a partial index, whose entry an UPDATE naming the column rewrites even to the
    # same value (on SQLite two pages more per upload).
    if not job.needs_learning:
        changes["needs_learning"] = True
    if not job.needs_anomaly_check:
        changes["needs_anomaly_check"] = True
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


def writer_lock() -> contextlib.AbstractContextManager[object]:
    """Held by anything else that writes many rows (maintenance), so that on SQLite it queues
    with this process's uploads instead of starving them in SQLite's busy handler."""
    return _sqlite_writer if connection.vendor == "sqlite" else contextlib.nullcontext()
