"""Our own API, `/api/v1/`. Every endpoint needs a Bearer token."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count
from django.http import HttpRequest
from ninja import Router, Schema

from duplistatus.backups.models import BackupJob, Server

router = Router(tags=["v1"])


class ServerRef(Schema):
    id: int
    name: str


class ServerOut(Schema):
    id: int
    machine_id: str
    name: str
    alias: str
    created_at: datetime
    last_seen_at: datetime
    job_count: int


class JobOut(Schema):
    id: int
    server: ServerRef
    name: str
    backup_id: str
    last_run_id: int | None
    last_run_at: datetime | None
    last_status: str | None
    run_count: int


@router.get("/servers", response=list[ServerOut], summary="All servers")
def list_servers(request: HttpRequest) -> list[ServerOut]:
    servers = Server.objects.annotate(job_count=Count("jobs")).order_by("name", "id")
    return [
        ServerOut(
            id=s.pk,
            machine_id=s.key,
            name=s.name,
            alias=s.alias,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            job_count=s.job_count,
        )
        for s in servers
    ]


def job_out(job: BackupJob) -> JobOut:
    return JobOut(
        id=job.pk,
        server=ServerRef(id=job.server_id, name=job.server.name),
        name=job.name,
        backup_id=job.backup_id,
        last_run_id=job.last_run_id,
        last_run_at=job.last_run_at,
        last_status=job.last_status or None,
        run_count=job.run_count,
    )


@router.get("/jobs", response=list[JobOut], summary="All backup jobs with their latest run")
def list_jobs(request: HttpRequest, server: int | None = None) -> list[JobOut]:
    jobs = BackupJob.objects.select_related("server").order_by("server__name", "name", "id")
    if server is not None:
        jobs = jobs.filter(server_id=server)
    return [job_out(job) for job in jobs]
