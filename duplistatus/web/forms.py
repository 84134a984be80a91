"""Schedule settings from HTML forms, validated by the same `ScheduleSettingsIn` the API uses
and applied by the same `apply_settings` / `apply_to_jobs`; every change is audited.

HTML has no "null": an empty field means *inherit* (job → server → global). The bulk form
changes only the fields whose "change" box is ticked, so a blank there can still mean
"inherit" without touching the fields left alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import ValidationError

from duplistatus.accounts import audit
from duplistatus.backups.models import BackupJob, MonitoringDefaults, Server
from duplistatus.monitoring.settings import (
    SETTING_FIELDS,
    DefaultsIn,
    ScheduleSettingsIn,
    apply_settings,
    apply_to_jobs,
)
from duplistatus.validation import message
from duplistatus.validation import problems as problems  # the pages call forms.problems

DEFAULTS_FIELDS = (*SETTING_FIELDS, "adopt_learned", "min_learned_confidence")
_NUMBERS = ("grace_minutes", "reminder_minutes", "escalation_after_minutes")
_TRI_STATE = {"": None, "on": True, "off": False}
# The fields' names as the forms show them, to name a field in a message.
LABELS = {
    "interval": gettext_lazy("Interval"),
    "weekdays": gettext_lazy("Days"),
    "timezone": gettext_lazy("Time zone"),
    "grace_minutes": gettext_lazy("Grace (minutes)"),
    "monitoring_enabled": gettext_lazy("Monitoring"),
    "reminder": gettext_lazy("Remind while overdue"),
    "reminder_minutes": gettext_lazy("Custom reminder (minutes)"),
    "escalation_after_minutes": gettext_lazy("Escalate after (minutes, 0 = never)"),
    "paused_until": gettext_lazy("Paused until"),
    "adopt_learned": gettext_lazy("Use learned schedules for jobs that have none"),
    "min_learned_confidence": gettext_lazy("… when the confidence is at least (%)"),
}
# What a person reads instead of the parser's words ("unexpected 'e' at position 1").
HUMAN_ERRORS = {
    "interval": gettext_lazy(
        "write a number and a unit, e.g. 1D (a day), 12h, 2h30m or 1W (a week)"
    ),
}


def read(
    post: QueryDict, *, only: set[str] | None = None, defaults: bool = False
) -> tuple[ScheduleSettingsIn | None, dict[str, str]]:
    """The settings a form sent, validated; or None and an error message per field."""
    names = DEFAULTS_FIELDS if defaults else SETTING_FIELDS
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in names:
        if only is not None and name not in only:
            continue
        raw = post.get(name, "").strip()
        try:
            data[name] = _value(name, raw, post)
        except ValueError as exc:
            errors[name] = str(exc)
    # The fields that read well are validated too, so that every error shows at once.
    try:
        checked = (DefaultsIn if defaults else ScheduleSettingsIn).model_validate(data)
        return (None, errors) if errors else (checked, {})
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "__all__"
            errors.setdefault(name, str(HUMAN_ERRORS.get(name) or message(error)))
        return None, errors


def _value(name: str, raw: str, post: QueryDict) -> Any:
    if name == "weekdays":
        days = post.getlist("weekdays")
        return sorted(int(day) for day in days if day.isdigit()) or None
    if name in _NUMBERS:
        if not raw:
            return None
        if not raw.isdigit():
            raise ValueError(_("a whole number of minutes"))
        return int(raw)
    if name == "monitoring_enabled":
        return _TRI_STATE.get(raw)
    if name == "adopt_learned":
        return raw == "on"
    if name == "min_learned_confidence":
        try:
            return float(raw) / 100 if raw else None
        except ValueError:
            raise ValueError(_("a percentage from 0 to 100")) from None
    if name == "paused_until":
        return _local_time(raw, post.get("tz", ""))
    return raw or None


def _local_time(raw: str, zone: str) -> datetime | None:
    """A `datetime-local` value is wall-clock time; the page sends the browser's zone."""
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(_("a date and time, e.g. 2026-01-31 08:00")) from None
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=ZoneInfo(zone or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment


def posted(post: QueryDict) -> dict[str, Any]:
    """A submitted form's values, to show it again with its errors."""
    values: dict[str, Any] = {name: post.get(name, "") for name in DEFAULTS_FIELDS}
    values["weekdays"] = [int(day) for day in post.getlist("weekdays") if day.isdigit()]
    values["adopt_learned"] = post.get("adopt_learned") == "on"
    try:
        values["min_learned_confidence"] = float(post.get("min_learned_confidence", "")) / 100
    except ValueError:
        values["min_learned_confidence"] = None
    return values


def own_settings(target: Any, names: tuple[str, ...] = SETTING_FIELDS) -> dict[str, Any]:
    return {name: getattr(target, name) for name in names}


def target_label(target: BackupJob | Server | MonitoringDefaults) -> tuple[str, str]:
    """(audit action prefix, target description)."""
    if isinstance(target, BackupJob):
        return "job", f"job {target.pk} ({target.server} / {target.name})"
    if isinstance(target, Server):
        return "server", f"server {target.pk} ({target})"
    return "defaults", "global defaults"


def save(
    request: HttpRequest,
    target: BackupJob | Server | MonitoringDefaults,
    values: ScheduleSettingsIn,
    action: str = "schedule",
) -> dict[str, Any]:
    """Apply through the one apply path and audit what changed; returns the changes."""
    names = DEFAULTS_FIELDS if isinstance(target, MonitoringDefaults) else SETTING_FIELDS
    before = own_settings(target, names)
    apply_settings(target, values)
    changes = audit.diff(before, own_settings(target, names))
    if changes:
        kind, label = target_label(target)
        audit.record(request, f"{kind}.{action}", label, changes)
    return changes


def save_many(request: HttpRequest, job_ids: list[int], values: ScheduleSettingsIn) -> int:
    count = apply_to_jobs(job_ids, values)
    if count:
        audit.record(
            request,
            "jobs.schedule",
            f"{count} jobs",
            {"jobs": sorted(job_ids), "set": values.model_dump(exclude_unset=True)},
        )
    return count
