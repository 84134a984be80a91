"""Changing schedule settings, for the API and the web pages alike: one validation
(`ScheduleSettingsIn`), one way to apply it (`apply_settings`), which also brings every
affected job's expectation up to date."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.utils.translation import gettext as _
from pydantic import BaseModel, Field, field_validator

from duplistatus import clock
from duplistatus.backups.models import BackupJob, MonitoringDefaults, Reminder, Server

from . import monitor
from .intervals import IntervalError, format_interval, parse_interval
from .schedule import MAX_SETTING_MINUTES


class ScheduleSettingsIn(BaseModel):
    """Schedule settings. Send only what you change; `null` means inherit from the level
    above (job → server → global)."""

    interval: str | None = Field(None, description='e.g. "1D", "12h", "2h30m", "1W", "1M"')
    weekdays: list[int] | None = Field(None, description="allowed days, 0 = Sunday … 6")
    timezone: str | None = Field(None, description='IANA zone, e.g. "Europe/Berlin"')
    grace_minutes: int | None = Field(None, ge=0, le=MAX_SETTING_MINUTES)
    monitoring_enabled: bool | None = None
    reminder: Reminder | None = None
    reminder_minutes: int | None = Field(
        None, ge=1, le=MAX_SETTING_MINUTES, description="custom reminder period"
    )
    escalation_after_minutes: int | None = Field(
        None, ge=0, le=MAX_SETTING_MINUTES, description="0 = never"
    )
    paused_until: datetime | None = Field(None, description="no overdue alerts until then")

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        try:
            return format_interval(parse_interval(value))
        except IntervalError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(day < 0 or day > 6 for day in value):
            raise ValueError(_("weekdays are 0 (Sunday) to 6 (Saturday)"))
        return sorted(set(value)) if value is not None else None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return clock.check_zone(value) or None

    @field_validator("paused_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(_("give a time zone, e.g. 2026-01-01T08:00:00Z"))
        # In UTC, as stored: PostgreSQL refuses offsets beyond ±15:59 that JSON allows.
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError(_("the time is out of range")) from None


SETTING_FIELDS = tuple(ScheduleSettingsIn.model_fields)
_BLANK_IS_EMPTY_STRING = ("interval", "timezone", "reminder")


class DefaultsIn(ScheduleSettingsIn):
    adopt_learned: bool | None = Field(
        None, description="jobs without a schedule use the learned one"
    )
    min_learned_confidence: float | None = Field(None, ge=0, le=1)
    system_health_time: time | None = Field(
        None, description="a daily System Health message to every channel at this time (UTC)"
    )

    @field_validator("system_health_time")
    @classmethod
    def _utc(cls, value: time | None) -> time | None:
        # Stored as UTC without a zone (the database keeps no zone with a time): "08:00+02:00"
        # becomes 06:00, "08:00Z" 08:00.
        if value is None or value.utcoffset() is None:
            return value
        at = datetime.combine(date(2000, 1, 1), value).astimezone(UTC)
        return at.time().replace(tzinfo=None)

    @field_validator("adopt_learned", "min_learned_confidence")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only a value sent is checked: the global defaults have no level above to inherit.
        if value is None:
            raise ValueError(_("the global default cannot be empty (there is nothing to inherit)"))
        return value


def apply_settings(
    target: BackupJob | Server | MonitoringDefaults, values: ScheduleSettingsIn
) -> None:
    """Save the fields that were sent (None = inherit) and refresh the jobs they affect."""
    changed = sorted(values.model_fields_set)
    for name in changed:
        value = getattr(values, name)
        blank = "" if name in _BLANK_IS_EMPTY_STRING else None
        setattr(target, name, blank if value is None else value)
    target.save(update_fields=changed or None)

    if isinstance(target, BackupJob):
        jobs = [target]
    elif isinstance(target, Server):
        jobs = list(BackupJob.objects.filter(server=target))
    else:
        jobs = list(BackupJob.objects.all())
    for job in jobs:
        if "interval" in changed:
            # A new interval steps from the latest run, not from a first run long ago.
            BackupJob.objects.filter(pk=job.pk).update(schedule_anchor=job.last_run_at)
        monitor.refresh(job)


def apply_to_jobs(job_ids: list[int], values: ScheduleSettingsIn) -> int:
    """Bulk edit: the same settings on many jobs."""
    jobs = list(BackupJob.objects.filter(pk__in=job_ids))
    for job in jobs:
        apply_settings(job, values)
    return len(jobs)
