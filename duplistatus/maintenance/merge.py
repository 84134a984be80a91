"""Merge two servers (one machine seen under two ids: reinstalled, a new machine-id,
renamed) or two jobs (a renamed backup) into one.

The runs move to the target; a run whose operation and BeginTime the target already has is
kept once (the target's). The newer name wins (the server seen last, the job that ran last)
unless the caller picks one; a merged server also takes the newer machine id, so the next
report of the machine lands on it. The target keeps its own rules, schedule and pause.
Summaries are recomputed and the schedule is learned again from the merged history."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext

from duplistatus.accounts import audit
from duplistatus.backups.models import BackupJob, BackupRun, Event, RawReport, Server
from duplistatus.ingest.store import writer_lock
from duplistatus.notifications.models import Delivery

from .delete import delete_runs
from .summary import recompute


class MergeError(ValueError):
    """The merge asked for cannot be done (same row, unknown target); the message says why."""


@dataclass(frozen=True)
class MergeResult:
    moved_runs: int
    duplicate_runs: int
    moved_jobs: int = 0
    merged_jobs: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "moved_runs": self.moved_runs,
            "duplicate_runs": self.duplicate_runs,
            "moved_jobs": self.moved_jobs,
            "merged_jobs": self.merged_jobs,
        }


def _newer_job(a: BackupJob, b: BackupJob) -> BackupJob:
    if a.last_run_at is None:
        return b
    if b.last_run_at is None:
        return a
    return a if a.last_run_at > b.last_run_at else b


def _merge_job_rows(source: BackupJob, target: BackupJob) -> tuple[int, int]:
    """Move source's runs, events and deliveries to target; drop source. No recompute."""
    target_begins = set(BackupRun.objects.filter(job=target).values_list("operation", "begin_time"))
    runs = list(BackupRun.objects.filter(job=source).values_list("pk", "operation", "begin_time"))
    duplicates = [pk for pk, operation, begin in runs if (operation, begin) in target_begins]
    if duplicates:
        delete_runs(Q(pk__in=duplicates))  # the source's counts go with the source
    moved = BackupRun.objects.filter(job=source).update(job=target, server=target.server_id)
    Event.objects.filter(job=source).update(job=target)
    Delivery.objects.filter(job=source).update(job=target)
    BackupJob.objects.filter(pk=source.pk).delete()
    return moved, len(duplicates)


def merge_jobs(
    source: BackupJob, target: BackupJob, *, name: str = "", request: HttpRequest | None = None
) -> MergeResult:
    if source.pk == target.pk:
        raise MergeError(gettext("a job cannot be merged into itself"))
    newer = _newer_job(source, target)
    name = name.strip()[:200] or newer.name
    with writer_lock(), transaction.atomic():
        if (
            BackupJob.objects.filter(server_id=target.server_id, name=name)
            .exclude(pk__in=[source.pk, target.pk])
            .exists()
        ):
            raise MergeError(
                gettext("the server already has another job named “%(name)s”") % {"name": name}
            )
        moved, duplicates = _merge_job_rows(source, target)
        BackupJob.objects.filter(pk=target.pk).update(
            name=name, backup_id=newer.backup_id or target.backup_id
        )
        result = MergeResult(moved_runs=moved, duplicate_runs=duplicates)
        audit.record(
            request,
            "job.merge",
            f"job {source.pk} ({source.name}) into job {target.pk} ({target.name})",
            {**result.as_dict(), "name": name},
        )
    recompute([target.pk])
    return result


def merge_servers(
    source: Server, target: Server, *, name: str = "", request: HttpRequest | None = None
) -> MergeResult:
    if source.pk == target.pk:
        raise MergeError(gettext("a server cannot be merged into itself"))
    newer = source if source.last_seen_at > target.last_seen_at else target
    name = name.strip()[:200] or newer.name
    moved_runs = duplicates = moved_jobs = merged_jobs = 0
    with writer_lock(), transaction.atomic():
        target_jobs = {job.name: job for job in BackupJob.objects.filter(server=target)}
        touched = []
        for job in BackupJob.objects.filter(server=source):
            same = target_jobs.get(job.name)
            if same is None:
                moved_runs += BackupRun.objects.filter(job=job).update(server=target)
                BackupJob.objects.filter(pk=job.pk).update(server=target)
                moved_jobs += 1
                touched.append(job.pk)
            else:
                moved, dropped = _merge_job_rows(job, same)
                moved_runs += moved
                duplicates += dropped
                merged_jobs += 1
                touched.append(same.pk)
        Server.objects.filter(pk=source.pk).delete()
        # The machine id of the newer installation, so its next report lands here.
        Server.objects.filter(pk=target.pk).update(
            key=newer.key,
            name=name,
            alias=target.alias or source.alias,
            note=target.note or source.note,
            created_at=min(source.created_at, target.created_at),
            last_seen_at=max(source.last_seen_at, target.last_seen_at),
        )
        result = MergeResult(moved_runs, duplicates, moved_jobs, merged_jobs)
        audit.record(
            request,
            "server.merge",
            f"server {source.pk} ({source.name}) into server {target.pk} ({target.name})",
            {**result.as_dict(), "name": name, "machine_id": newer.key},
        )
    recompute(touched)
    return result


@dataclass(frozen=True)
class Duplicate:
    """Two servers that are likely one machine, and why we think so."""

    older: Server
    newer: Server
    reason: str


def likely_duplicates() -> list[Duplicate]:
    """Servers with the same name, or the only two reporting from one address, under
    different ids."""
    servers = list(Server.objects.order_by("last_seen_at", "id"))
    addresses = _last_addresses()
    # An address many servers share is a proxy or a NAT, not one machine.
    shared = Counter(addresses.values())
    addresses = {pk: addr for pk, addr in addresses.items() if addr and shared[addr] == 2}
    found: list[Duplicate] = []
    for i, older in enumerate(servers):
        for newer in servers[i + 1 :]:
            if older.name.casefold() == newer.name.casefold():
                found.append(Duplicate(older, newer, gettext("same name")))
            elif addresses.get(older.pk) and addresses.get(older.pk) == addresses.get(newer.pk):
                reason = gettext("same address %(address)s") % {"address": addresses[older.pk]}
                found.append(Duplicate(older, newer, reason))
    return found


def _last_addresses() -> dict[int, str]:
    """Each server's sending address, from the raw body of its latest run."""
    latest = (
        BackupJob.objects.exclude(last_run=None)
        .order_by("server_id", "-last_run_at")
        .values_list("server_id", "last_run__raw_report_id")
    )
    raw_of: dict[int, int] = {}
    for server_id, raw_id in latest:
        if raw_id is not None:
            raw_of.setdefault(server_id, raw_id)
    addresses = dict(
        RawReport.objects.filter(pk__in=raw_of.values()).values_list("pk", "remote_addr")
    )
    return {server_id: addresses.get(raw_id, "") for server_id, raw_id in raw_of.items()}
