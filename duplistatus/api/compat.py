"""Endpoints compatible with the original duplistatus (docs/compatibility.md says what is kept
and where we differ).

`POST /api/upload` is what Duplicati calls; the read endpoints are what dashboards such as
Homepage call. Field names are the original's wire names, so they are not ours to rename.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.db import DatabaseError, connection
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router

from duplistatus import clock, worker_health
from duplistatus.backups import sqlrows
from duplistatus.backups.models import BackupJob, BackupRun, Server
from duplistatus.humanize import format_duration
from duplistatus.ingest.parse import MAX_FORM_FIELDS, ParseError, parse_body, resolve_identity
from duplistatus.ingest.store import DuplicateReport, Upload, keep_unparsed, store_report
from duplistatus.monitoring import monitor

from .auth import public_read_auth, sees_details
from .errors import UNAVAILABLE, is_transient

log = logging.getLogger(__name__)
router = Router(tags=["compatible with the original duplistatus"])

_NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache"}

_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "Data": {"type": "object"},
                        "Extra": {"type": "object"},
                        "LogLines": {"type": "array", "items": {"type": "string"}},
                        "Exception": {"type": ["string", "null"]},
                    },
                    "required": ["Data"],
                }
            },
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string", "description": "Duplicati's text report"}
                    },
                }
            },
        },
    },
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": text,
        }
        for name, text in (
            ("server", "server name, for Duplicati versions that send no machine-name"),
            ("machine-id", "server id, for versions that send no machine-id"),
            ("job", "backup job name, for reports that carry no backup-name"),
            ("backup-id", "Duplicati's backup id"),
        )
    ],
}


@router.post(
    "/upload",
    auth=None,
    summary="Receive a Duplicati report (JSON or form-encoded text)",
    openapi_extra=_UPLOAD_DOC,
    response={200: dict, 400: dict, 409: dict, 413: dict, 500: dict, 503: dict},
)
def upload(request: HttpRequest) -> HttpResponse:
    limit = settings.MAX_UPLOAD_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _error(413, f"report too large: {declared} bytes, the limit is {limit}")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(413, f"report too large: over {limit} bytes")

    upload = Upload(
        body=body,
        content_type=request.META.get("CONTENT_TYPE", ""),
        query_string=request.META.get("QUERY_STRING", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        received_at=clock.now(),
    )
    try:
        report = parse_body(
            body,
            upload.content_type,
            local_tz=clock.default_timezone(),
            received_at=upload.received_at,
        )
    except ParseError as exc:
        return _rejected(upload, exc.message, missing_fields=exc.missing_fields)
    try:
        query = request.GET.dict()
    except TooManyFieldsSent:
        return _rejected(upload, f"the URL has more than {MAX_FORM_FIELDS:,} query parameters")

    identity = resolve_identity(report, query, upload.remote_addr)
    try:
        run = store_report(report, identity, upload)
    except DuplicateReport:
        return _error(409, "ignored, duplicated data")
    except Exception as exc:
        if is_transient(exc):
            log.warning("could not store a report from %s: %s", upload.remote_addr, exc)
            return _error(503, UNAVAILABLE)
        # Our fault, not the sender's, and retrying will not help: keep the body so that
        # a fixed version can read it again, and say so.
        log.exception("could not store a report from %s", upload.remote_addr)
        return _rejected(upload, f"could not store this report ({type(exc).__name__})", status=500)
    log.info(
        "stored %s run %s of %s / %s", run.status, run.pk, identity.server_name, identity.job_name
    )
    return JsonResponse(
        {"success": True, "run_id": run.pk, "server_id": run.server_id, "job_id": run.job_id}
    )


def _rejected(
    upload: Upload, message: str, *, missing_fields: tuple[str, ...] = (), status: int = 400
) -> JsonResponse:
    """A body we cannot turn into a run: kept (see keep_unparsed), and the reason."""
    try:
        keep_unparsed(upload, message)
    except DatabaseError as exc:
        if not is_transient(exc):
            raise
        log.warning("could not keep an unparsed body from %s: %s", upload.remote_addr, exc)
        return _error(503, UNAVAILABLE)
    payload: dict[str, Any] = {"error": message}
    if missing_fields:
        payload["missingFields"] = list(missing_fields)
    return JsonResponse(payload, status=status)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@router.get(
    "/health",
    auth=public_read_auth(),
    summary="200 when the app and its database answer and a worker is running",
)
def health(request: HttpRequest) -> HttpResponse:
    """ok (200) or degraded (503): the database does not answer, or no worker has completed
    a pass for a while (worker_health.py). Why it is degraded (the database error names its
    host, port and database) goes to the log, and to a signed-in user or an admin token when
    the database still lets us check who is asking."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        now = clock.now()
        stopped = worker_health.stopped(now)
    except DatabaseError as exc:
        log.warning("health: the database does not answer: %s", exc)
        body = {"status": "degraded", "database": "unavailable"}
        if sees_details(request):
            body["database"] = str(exc)[:200]
        return JsonResponse(body, status=503, headers=_NO_STORE)
    if stopped is None:
        return JsonResponse({"status": "ok", "database": "ok"}, headers=_NO_STORE)
    body = {"status": "degraded", "database": "ok"}
    if sees_details(request):
        body["worker"] = "stopped"
        body["reason"] = worker_health.describe(stopped, now)
    return JsonResponse(body, status=503, headers=_NO_STORE)


@router.get("/summary", auth=public_read_auth(), summary="Totals for dashboard widgets")
def summary(request: HttpRequest) -> HttpResponse:
    jobs = BackupJob.objects.aggregate(
        runs=Sum("run_count"),
        uploaded=Sum("bytes_uploaded_total"),
        storage=Sum("last_run__known_file_size"),
        size=Sum("last_run__size_of_examined_files"),
        latest=Max("last_run_at"),
    )
    latest = jobs["latest"]
    now = clock.now()
    return JsonResponse(
        {
            "totalServers": Server.objects.count(),
            "totalBackupsRuns": jobs["runs"] or 0,
            "totalBackups": BackupJob.objects.filter(run_count__gt=0).count(),
            "totalUploadedSize": jobs["uploaded"] or 0,
            "totalStorageUsed": jobs["storage"] or 0,
            "totalBackupSize": jobs["size"] or 0,
            "overdueBackupsCount": monitor.overdue_count(now),
            "secondsSinceLastBackup": int((now - latest).total_seconds()) if latest else None,
        },
        headers=_NO_STORE,
    )


@router.get(
    "/lastbackup/{server}",
    auth=public_read_auth(),
    summary="The latest backup of a server (by id or name)",
)
def lastbackup(request: HttpRequest, server: str) -> HttpResponse:
    found = _find_server(server)
    if isinstance(found, JsonResponse):
        return found
    latest = _latest_run(found)
    return JsonResponse(
        {
            "server": _server_json(found, latest),
            "latest_backup": _backup_json(latest) if latest else None,
            "status": 200,
        },
        headers=_NO_STORE,
    )


@router.get(
    "/lastbackups/{server}",
    auth=public_read_auth(),
    summary="The latest backup of each job of a server (by id or name)",
)
def lastbackups(request: HttpRequest, server: str) -> HttpResponse:
    found = _find_server(server)
    if isinstance(found, JsonResponse):
        return found
    runs = _latest_run_of_each_job(found)
    jobs = [run.job for run in runs]
    latest = max(runs, key=lambda run: run.begin_time, default=None)
    return JsonResponse(
        {
            "server": _server_json(found, latest),
            "latest_backups": [_backup_json(run) for run in runs],
            "backup_jobs_count": len(runs),
            "backup_names": [job.name for job in jobs],
            "status": 200,
        },
        headers=_NO_STORE,
    )


def _find_server(identifier: str) -> Server | JsonResponse:
    """By machine id (the original's server id), by our numeric id, then by name."""
    server = sqlrows.fetch_one(
        Server,
        f"SELECT {sqlrows.columns(Server)} FROM {_table(Server)} WHERE {_q('key')} = %s",
        [identifier],
    )
    if server is None and identifier.isdigit():
        server = Server.objects.filter(pk=int(identifier)).first()
    if server is None:
        named = [
            found
            for found, _ in sqlrows.fetch_all(
                Server,
                f"SELECT {sqlrows.columns(Server)} FROM {_table(Server)} "
                f"WHERE {_q('name')} = %s OR {_q('alias')} = %s "
                f"ORDER BY {_q('name')}, {_q('id')} LIMIT 10",
                [identifier, identifier],
            )
        ]
        if len(named) > 1:
            return JsonResponse(
                {
                    "error": "Multiple servers found with the same name",
                    "message": f'Multiple servers found with name "{identifier}". Use the '
                    "server ID instead. Available IDs: " + ", ".join(s.key for s in named),
                    "status": 400,
                    "duplicate_servers": [{"id": s.key, "name": s.name} for s in named],
                },
                status=400,
                headers=_NO_STORE,
            )
        server = named[0] if named else None
    if server is None:
        return JsonResponse(
            {
                "error": "Server not found",
                "message": f"No server found with identifier: {identifier}",
                "status": 404,
            },
            status=404,
            headers=_NO_STORE,
        )
    return server


# What the endpoints dashboards poll read, by SQL of its own: the ORM spent ~1 ms compiling
# each of their queries, more than the original's whole answer (bench/ingest.py). Only the
# run columns they show are read, not the report's Data, Extra and log (most of a row).
_SHOWN_RUN_FIELDS = (
    "job",
    "server",
    "begin_time",
    "status",
    "messages_count",
    "warnings_count",
    "errors_count",
    "examined_files",
    "size_of_examined_files",
    "bytes_uploaded",
    "duration_seconds",
    "known_file_size",
    "backup_list_count",
    "messages",
    "warnings",
    "errors",
    "exception",
    "available_versions",
)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model: type[Server] | type[BackupJob] | type[BackupRun]) -> str:
    return _q(model._meta.db_table)


def _runs_with_jobs(server: Server, where: str, order: str, params: list[Any]) -> list[BackupRun]:
    """The server's runs that match `where`, each with its job (name, backup id) and the job
    with `server`, as `select_related("job__server")` would give them."""
    run, job = _table(BackupRun), _table(BackupJob)
    sql = (
        f"SELECT {sqlrows.columns(BackupRun, _SHOWN_RUN_FIELDS)}, {job}.{_q('name')}, "
        f"{job}.{_q('backup_id')} FROM {run} JOIN {job} ON {job}.{_q('id')} = {run}.{_q('job_id')} "
        f"WHERE {where} ORDER BY {order}"
    )
    found = []
    read = sqlrows.fetch_all(BackupRun, sql, params, _SHOWN_RUN_FIELDS)
    for backup_run, (name, backup_id) in read:
        job = BackupJob.from_db(
            None,
            ["id", "server_id", "name", "backup_id"],
            [backup_run.job_id, server.pk, name, backup_id],
        )
        job.server = server
        backup_run.job = job
        found.append(backup_run)
    return found


def _latest_run(server: Server) -> BackupRun | None:
    """The server's latest backup run: the latest of its jobs' latest runs (which ingest
    keeps on each job), rather than a sort of all its runs (thousands, at 100,000 runs)."""
    run, job = _table(BackupRun), _table(BackupJob)
    found = _runs_with_jobs(
        server,
        f"{job}.{_q('server_id')} = %s AND {job}.{_q('last_run_id')} = {run}.{_q('id')}",
        f"{run}.{_q('begin_time')} DESC, {run}.{_q('id')} DESC LIMIT 1",
        [server.pk],
    )
    return found[0] if found else None


def _latest_run_of_each_job(server: Server) -> list[BackupRun]:
    """The latest run of each of the server's jobs, by job name."""
    run, job = _table(BackupRun), _table(BackupJob)
    return _runs_with_jobs(
        server,
        f"{job}.{_q('server_id')} = %s AND {job}.{_q('last_run_id')} = {run}.{_q('id')}",
        f"{job}.{_q('name')}",
        [server.pk],
    )


def _server_json(server: Server, latest: BackupRun | None) -> dict[str, Any]:
    return {
        "id": server.key,
        "name": server.name,
        "alias": server.alias,
        "backup_name": latest.job.name if latest else None,
        "backup_id": latest.job.backup_id if latest else None,
        "created_at": server.created_at.isoformat(),
    }


def _errors(run: BackupRun) -> list[str]:
    """The run's error lines; for a fatal run whose report had none (old text reports carry
    only the exception), the exception, so widgets show why it failed."""
    return run.errors or [run.exception]


def _backup_json(run: BackupRun) -> dict[str, Any]:
    seconds = run.duration_seconds or 0.0
    return {
        "id": str(run.pk),
        "server_id": run.job.server.key,
        "name": run.job.name,
        "date": run.begin_time.isoformat(),
        "status": run.status,
        "warnings": run.warnings_count,
        "errors": run.errors_count,
        "messages": run.messages_count,
        "fileCount": run.examined_files,
        "fileSize": run.size_of_examined_files,
        "uploadedSize": run.bytes_uploaded,
        "duration": format_duration(seconds),
        "duration_seconds": seconds,
        "durationInMinutes": seconds / 60,
        "knownFileSize": run.known_file_size,
        "backup_list_count": run.backup_list_count,
        # The original hands these out as JSON text, and widgets parse them as such.
        "messages_array": json.dumps(run.messages) if run.messages else None,
        "warnings_array": json.dumps(run.warnings) if run.warnings else None,
        "errors_array": json.dumps(_errors(run)) if run.errors or run.exception else None,
        "available_backups": run.available_versions,
    }
