"""Notification rules and device groups, under /api/v1/. Rules live on the global defaults,
on servers and on jobs; every GET returns each effective value with where it came from."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.responses import Status

from duplistatus.backups.models import BackupJob, MonitoringDefaults, Server
from duplistatus.notifications import rule_settings
from duplistatus.notifications.models import DeviceGroup
from duplistatus.notifications.rule_settings import GroupIn, RulesIn

router = Router(tags=["notification rules"])


class RulesOut(Schema):
    effective: dict[str, Any] = Field(description="the value in force for each field")
    origins: dict[str, str] = Field(description="job | server | global | default")
    own: dict[str, Any] = Field(description="what is set at this level")


def _out(row: Any, resolved: Any) -> RulesOut:
    return RulesOut(effective=resolved.values, origins=resolved.origins, own=rule_settings.own(row))


def _global() -> RulesOut:
    defaults = MonitoringDefaults.load()
    return _out(defaults, rule_settings.effective(defaults))


@router.get("/rules", response=RulesOut, summary="Global notification rules")
def get_global(request: HttpRequest) -> RulesOut:
    return _global()


@router.patch("/rules", response=RulesOut, summary="Set global notification rules")
def patch_global(request: HttpRequest, body: RulesIn) -> RulesOut:
    rule_settings.apply_rules(MonitoringDefaults.load(), body)
    return _global()


def _server_out(server: Server) -> RulesOut:
    return _out(server, rule_settings.effective(server))


@router.get("/servers/{server_id}/rules", response=RulesOut, summary="A server's rules")
def get_server(request: HttpRequest, server_id: int) -> RulesOut:
    return _server_out(get_object_or_404(Server, pk=server_id))


@router.patch(
    "/servers/{server_id}/rules",
    response=RulesOut,
    summary="Set a server's rules (its jobs inherit them)",
)
def patch_server(request: HttpRequest, server_id: int, body: RulesIn) -> RulesOut:
    server = get_object_or_404(Server, pk=server_id)
    rule_settings.apply_rules(server, body)
    return _server_out(server)


@router.get("/jobs/{job_id}/rules", response=RulesOut, summary="A job's rules")
def get_job(request: HttpRequest, job_id: int) -> RulesOut:
    job = get_object_or_404(BackupJob.objects.select_related("server"), pk=job_id)
    return _out(job, rule_settings.effective(job))


@router.patch("/jobs/{job_id}/rules", response=RulesOut, summary="Set a job's own rules")
def patch_job(request: HttpRequest, job_id: int, body: RulesIn) -> RulesOut:
    job = get_object_or_404(BackupJob.objects.select_related("server"), pk=job_id)
    rule_settings.apply_rules(job, body)
    return _out(job, rule_settings.effective(job))


class BulkIn(Schema):
    job_ids: list[int] | None = Field(None, description="null: every job")
    rules: RulesIn | None = None
    level: Literal["all", "warnings", "errors"] = "warnings"


@router.post("/rules/bulk", response=dict, summary="Set the same rules on many jobs")
def bulk(request: HttpRequest, body: BulkIn) -> dict[str, int]:
    jobs = (
        BackupJob.objects.all()
        if body.job_ids is None
        else BackupJob.objects.filter(pk__in=body.job_ids)
    )
    count = 0
    for job in jobs:
        rule_settings.apply_rules(job, body.rules or RulesIn())
        count += 1
    return {"changed": count}


@router.post(
    "/rules/enable-all",
    response=dict,
    summary="Jobs whose notifications are off get them back (at `level`)",
)
def enable_all(request: HttpRequest, body: BulkIn) -> dict[str, int]:
    return {"changed": rule_settings.enable_all(body.job_ids, body.level)}


@router.post("/rules/disable-all", response=dict, summary="Turn run notifications off")
def disable_all(request: HttpRequest, body: BulkIn) -> dict[str, int]:
    return {"changed": rule_settings.disable_all(body.job_ids)}


@router.post(
    "/rules/reset", response=dict, summary="Jobs drop their own rules and inherit everything again"
)
def reset(request: HttpRequest, body: BulkIn) -> dict[str, int]:
    return {"changed": rule_settings.reset(body.job_ids)}


class DeviceOut(Schema):
    id: int
    name: str
    kind: str
    position: int
    enabled: bool
    status: str = Field(description="ok | failing | unknown: how its last delivery went")


class GroupOut(Schema):
    id: int
    name: str
    mode: str
    rotation_days: int
    rotation_start: date | None
    timezone: str
    devices: list[DeviceOut]


def group_out(group: DeviceGroup) -> GroupOut:
    devices = sorted(group.devices.all(), key=lambda c: (c.group_position, c.pk))
    return GroupOut(
        id=group.pk,
        name=group.name,
        mode=group.mode,
        rotation_days=group.rotation_days,
        rotation_start=group.rotation_start,
        timezone=group.timezone,
        devices=[
            DeviceOut(
                id=c.pk,
                name=c.name,
                kind=c.kind,
                position=c.group_position,
                enabled=c.enabled,
                status="failing"
                if c.consecutive_failures
                else "ok"
                if c.last_success_at
                else "unknown",
            )
            for c in devices
        ],
    )


@router.get("/groups", response=list[GroupOut], summary="Device groups")
def list_groups(request: HttpRequest) -> list[GroupOut]:
    return [group_out(g) for g in DeviceGroup.objects.prefetch_related("devices")]


@router.post("/groups", response={201: GroupOut}, summary="Add a device group")
def create_group(request: HttpRequest, body: GroupIn) -> Status[GroupOut]:
    group = DeviceGroup(name=body.name or "devices")
    rule_settings.apply_group(group, body)
    return Status(201, group_out(group))


@router.patch("/groups/{group_id}", response=GroupOut, summary="Change a device group")
def patch_group(request: HttpRequest, group_id: int, body: GroupIn) -> GroupOut:
    group = get_object_or_404(DeviceGroup, pk=group_id)
    rule_settings.apply_group(group, body)
    return group_out(group)


@router.delete("/groups/{group_id}", response={204: None}, summary="Remove a device group")
def delete_group(request: HttpRequest, group_id: int) -> Status[None]:
    get_object_or_404(DeviceGroup, pk=group_id).delete()
    return Status(204, None)
