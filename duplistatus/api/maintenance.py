"""Delete and merge servers, jobs and runs (`/api/v1/`); the work is in duplistatus.maintenance.

These share their paths with v1's GET and PATCH (`/jobs/{id}`, `/servers/{id}`), and
django-ninja serves one path from one router only, so they are added to v1's router."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Schema
from ninja.errors import HttpError

from duplistatus.accounts import audit
from duplistatus.backups.models import BackupJob, BackupRun, MaintenanceSettings, Server
from duplistatus.maintenance import delete, merge, retention

from .v1 import router


class DeletedOut(Schema):
    deleted: dict[str, int] = Field(description="how many of each went: servers, jobs, runs, …")


class MergeIn(Schema):
    into: int = Field(description="the id that stays")
    name: str = Field(
        "",
        max_length=200,
        pattern=r"^[^\x00]*$",  # PostgreSQL stores no NUL character
        description="the merged name; empty: the newer one",
    )


class MergedOut(Schema):
    into: int
    name: str
    moved_runs: int
    duplicate_runs: int = Field(description="runs the target already had (same BeginTime)")
    moved_jobs: int
    merged_jobs: int


@router.delete("/runs/{run_id}", response=DeletedOut, summary="Delete a run")
def delete_run(request: HttpRequest, run_id: int) -> DeletedOut:
    impact = delete.delete_run(get_object_or_404(BackupRun, pk=run_id), request)
    return DeletedOut(deleted=impact.as_dict())


@router.delete(
    "/jobs/{job_id}", response=DeletedOut, summary="Delete a job with its runs and events"
)
def delete_job(request: HttpRequest, job_id: int) -> DeletedOut:
    impact = delete.delete_job(get_object_or_404(BackupJob, pk=job_id), request)
    return DeletedOut(deleted=impact.as_dict())


@router.delete("/servers/{server_id}", response=DeletedOut, summary="Delete a server with its jobs")
def delete_server(request: HttpRequest, server_id: int) -> DeletedOut:
    impact = delete.delete_server(get_object_or_404(Server, pk=server_id), request)
    return DeletedOut(deleted=impact.as_dict())


def _merged[M: (Server, BackupJob)](
    request: HttpRequest,
    model: type[M],
    source_id: int,
    body: MergeIn,
    merging: Callable[..., merge.MergeResult],
) -> MergedOut:
    """What both merge endpoints do: 404 for an unknown source, 400 for an unknown target
    or a merge refused (with the reason), else the target as it is after."""
    source = get_object_or_404(model, pk=source_id)
    target = model.objects.filter(pk=body.into).first()
    if target is None:
        what = model.__name__.lower().replace("backup", "")
        raise HttpError(400, f"no {what} with id {body.into} to merge into")
    try:
        result = merging(source, target, name=body.name, request=request)
    except merge.MergeError as exc:
        raise HttpError(400, str(exc)) from None
    target.refresh_from_db()
    return MergedOut(into=target.pk, name=target.name, **result.as_dict())


@router.post(
    "/servers/{server_id}/merge",
    response=MergedOut,
    summary="Merge a server into another (one machine seen under two ids)",
)
def merge_server(request: HttpRequest, server_id: int, body: MergeIn) -> MergedOut:
    return _merged(request, Server, server_id, body, merge.merge_servers)


@router.post(
    "/jobs/{job_id}/merge",
    response=MergedOut,
    summary="Merge a job into another (a renamed backup)",
)
def merge_job(request: HttpRequest, job_id: int, body: MergeIn) -> MergedOut:
    return _merged(request, BackupJob, job_id, body, merge.merge_jobs)


# Bounds a person could mean (a century; ten years of nightly backups): beyond them a
# date subtraction overflows or the database column (PostgreSQL: 2**31 - 1) refuses it.
MAX_RETENTION_DAYS = 36_600
MAX_RUNS_KEPT = 1_000_000
MAX_BACKUPS_KEPT = 3_650


class RetentionOut(Schema):
    """Null: keep for ever (runs, bodies), or the default (delivery and audit logs)."""

    keep_runs_days: int | None
    keep_runs_count: int | None = Field(description="the last N runs of each job")
    keep_raw_days: int | None = Field(description="report bodies of parsed runs")
    delivery_log_days: int | None
    audit_retention_days: int | None
    backups_kept: int = Field(description="nightly backups kept; 0: none")


class RetentionIn(Schema):
    """Send only what you change. Null: keep for ever (runs, bodies), or the default
    (delivery and audit logs)."""

    keep_runs_days: int | None = Field(None, ge=1, le=MAX_RETENTION_DAYS)
    keep_runs_count: int | None = Field(
        None, ge=1, le=MAX_RUNS_KEPT, description="the last N runs of each job"
    )
    keep_raw_days: int | None = Field(
        None, ge=1, le=MAX_RETENTION_DAYS, description="report bodies of parsed runs"
    )
    delivery_log_days: int | None = Field(None, ge=1, le=MAX_RETENTION_DAYS)
    audit_retention_days: int | None = Field(None, ge=1, le=MAX_RETENTION_DAYS)
    backups_kept: int = Field(
        7, ge=0, le=MAX_BACKUPS_KEPT, description="nightly backups kept; 0: none"
    )


RETENTION_FIELDS = list(RetentionOut.model_fields)


def _retention_out(row: MaintenanceSettings) -> RetentionOut:
    return RetentionOut(**{name: getattr(row, name) for name in RETENTION_FIELDS})


@router.get("/maintenance/retention", response=RetentionOut, summary="Retention settings")
def get_retention(request: HttpRequest) -> RetentionOut:
    return _retention_out(MaintenanceSettings.load())


@router.patch("/maintenance/retention", response=RetentionOut, summary="Change retention")
def patch_retention(request: HttpRequest, body: RetentionIn) -> RetentionOut:
    row = MaintenanceSettings.load()
    before = {name: getattr(row, name) for name in RETENTION_FIELDS}
    for name in body.model_fields_set:
        setattr(row, name, getattr(body, name))
    after = {name: getattr(row, name) for name in RETENTION_FIELDS}
    if changes := audit.diff(before, after):
        row.save(update_fields=list(changes))
        audit.record(request, "maintenance.settings", "retention", changes)
    return _retention_out(row)


class CleanupOut(Schema):
    dry_run: bool
    runs: int
    raw_reports: int
    deliveries: int
    audit_entries: int


@router.post(
    "/maintenance/cleanup",
    response=CleanupOut,
    summary="Apply retention now; ?dry_run=true only says what would go",
)
def cleanup(request: HttpRequest, dry_run: bool = False) -> CleanupOut:
    if dry_run:
        return CleanupOut(dry_run=True, **retention.plan().as_dict())
    done = retention.purge()
    audit.record(request, "maintenance.cleanup", "retention", done.as_dict())
    return CleanupOut(dry_run=False, **done.as_dict())
