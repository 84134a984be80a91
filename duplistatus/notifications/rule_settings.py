"""Changing notification rules and device groups, for the API and the pages alike: one
validation (`RulesIn`, `GroupIn`), one way to apply each, plus the bulk operations on rules
(enable all, disable all, reset)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from django.utils.translation import gettext as _
from pydantic import BaseModel, Field, field_validator

from duplistatus import clock
from duplistatus.backups.models import BackupJob, MonitoringDefaults, Server

from . import rules
from .models import Channel, DeviceGroup

Level = Literal["all", "warnings", "errors", "off"]


class ExtraDestination(BaseModel):
    destination: str
    level: Level = "warnings"


class RulesIn(BaseModel):
    """Send only what you change; `null` inherits from the level above (job → server →
    global). Destinations: "channel:<id>", "group:<id>", or "*" (every channel not in a
    device group); `[]` means nobody."""

    event_level: Level | None = Field(None, description="which run results notify")
    run_destinations: list[str] | None = None
    overdue_destinations: list[str] | None = None
    escalation_destinations: list[str] | None = Field(
        None, description="null: the overdue destinations"
    )
    extra_destinations: list[ExtraDestination] | None = Field(
        None, description="more destinations, each with its own level"
    )
    recovery_notifications: bool | None = None
    escalate_after_failures: int | None = Field(None, ge=0, description="0 = never")
    anomaly_detectors: dict[str, Any] | None = Field(
        None,
        description="anomaly detector settings, merged key by key with the levels above, e.g. "
        '{"min_history": 10, "slow_run": {"enabled": false}, "quota": {"horizon_days": 30}}; '
        "{} or null inherits everything",
    )

    @field_validator("anomaly_detectors")
    @classmethod
    def _detectors(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from duplistatus.anomaly.detect import check_settings

        return check_settings(value) if value is not None else None

    @field_validator("run_destinations", "overdue_destinations", "escalation_destinations")
    @classmethod
    def _refs(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for ref in value:
                check_destination(ref)
        return value

    @field_validator("extra_destinations")
    @classmethod
    def _extra(cls, value: list[ExtraDestination] | None) -> list[ExtraDestination] | None:
        for item in value or []:
            check_destination(item.destination)
        return value


def check_destination(ref: str) -> None:
    if ref == "*":
        return
    kind, _colon, ident = ref.partition(":")
    model = {"channel": Channel, "group": DeviceGroup}.get(kind)
    if model is None or not ident.isdigit():
        raise ValueError(
            _("'%(ref)s' is not a destination: use channel:<id>, group:<id> or *") % {"ref": ref}
        )
    if not model.objects.filter(pk=int(ident)).exists():
        if kind == "channel":
            raise ValueError(_("'%(ref)s': no such channel") % {"ref": ref})
        raise ValueError(_("'%(ref)s': no such device group") % {"ref": ref})


RuleTarget = BackupJob | Server | MonitoringDefaults  # the levels that hold rules


def apply_rules(target: RuleTarget, values: RulesIn) -> None:
    changed = sorted(values.model_fields_set)
    for name in changed:
        value = getattr(values, name)
        if name == "extra_destinations" and value is not None:
            value = [item.model_dump() for item in value]
        setattr(target, name, "" if value is None and name == "event_level" else value)
    target.save(update_fields=changed or None)


def _layers(target: RuleTarget, defaults: MonitoringDefaults | None) -> list[dict[str, Any]]:
    """The (job, server, global) layers that decide `target`'s rules; the levels below
    `target` are empty."""
    if isinstance(target, MonitoringDefaults):
        return [{}, {}, rules.layer(target)]
    global_layer = rules.layer(defaults or MonitoringDefaults.load())
    if isinstance(target, Server):
        return [{}, rules.layer(target), global_layer]
    return [rules.layer(target), rules.layer(target.server), global_layer]


def effective(target: RuleTarget, defaults: MonitoringDefaults | None = None) -> rules.Rules:
    """The rules in force at this level (a job, a server, or the global defaults)."""
    return rules.resolve(*_layers(target, defaults))


_LEVELS = ("job", "server", "global")


def _own_level(target: RuleTarget) -> int:
    return {BackupJob: 0, Server: 1, MonitoringDefaults: 2}[type(target)]


def inherited(target: RuleTarget) -> rules.Rules:
    """What this level would have without rules of its own: the level above's."""
    layers = _layers(target, None)
    layers[_own_level(target)] = {}
    return rules.resolve(*layers)


def layers_above(target: RuleTarget) -> list[tuple[str, dict[str, Any]]]:
    """The levels `target` inherits from, nearest first, as (origin, rule layer)."""
    layers = _layers(target, None)
    below = _own_level(target) + 1
    return list(zip(_LEVELS[below:], layers[below:], strict=True))


def own(row: Any) -> dict[str, Any]:
    return {k: v for k, v in rules.layer(row).items() if v not in (None, "")}


def enable_all(job_ids: list[int] | None = None, level: str = "warnings") -> int:
    """Every job whose effective level is `off` notifies again at `level`."""
    defaults = MonitoringDefaults.load()
    count = 0
    for job in _jobs(job_ids):
        if effective(job, defaults).event_level == "off":
            BackupJob.objects.filter(pk=job.pk).update(event_level=level)
            count += 1
    return count


def disable_all(job_ids: list[int] | None = None) -> int:
    return _jobs(job_ids).update(event_level="off")


def reset(job_ids: list[int] | None = None) -> int:
    """Drop the jobs' own rules: they inherit everything again."""
    return _jobs(job_ids).update(
        event_level="",
        run_destinations=None,
        overdue_destinations=None,
        escalation_destinations=None,
        extra_destinations=None,
        recovery_notifications=None,
        escalate_after_failures=None,
        anomaly_detectors=None,
    )


def _jobs(job_ids: list[int] | None) -> Any:
    jobs = BackupJob.objects.select_related("server")
    return jobs if job_ids is None else jobs.filter(pk__in=job_ids)


class GroupIn(BaseModel):
    """A device group's settings; send only what you change."""

    name: str | None = Field(None, min_length=1, max_length=100)
    mode: Literal["failover", "rotation"] | None = None
    rotation_days: int | None = Field(None, ge=1, le=366, description="1 = daily, 7 = weekly")
    rotation_start: date | None = None
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return clock.check_zone(value)


def apply_group(group: DeviceGroup, values: GroupIn) -> None:
    for name in values.model_fields_set:
        value = getattr(values, name)
        if name == "timezone":
            value = value or ""
        if value is not None or name == "rotation_start":  # a rotation may lose its start
            setattr(group, name, value)
    group.save()
