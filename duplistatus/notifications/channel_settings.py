"""The one way to change a channel, shared by the API and the settings pages.

Secrets are write-only: a secret not given again keeps its stored value, because neither the
API nor the pages ever show it back. The kind's pydantic Config validates the merged settings.

Some settings are not secrets to an admin (who sees and edits them) but are to everyone else:
whoever knows a Discord or Slack webhook URL can post to it, whoever knows an ntfy topic can
read and post. `shown_config` masks them for viewers and read-only tokens.
"""

from __future__ import annotations

from datetime import time
from typing import Any, Literal

import pydantic
from django.utils.translation import gettext as _
from pydantic import BaseModel, Field, field_validator

from duplistatus import clock
from duplistatus.validation import message

from . import languages
from .channels import KINDS
from .channels._http import host_of
from .channels.base import EVENT_KINDS
from .models import Channel, DeviceGroup

# Fields that may be cleared (set to None) on purpose.
NULLABLE = ("quiet_start", "quiet_end", "active_start", "active_end", "group_id", "summary_time")


class ChannelIn(BaseModel):
    """A channel's settings, for the API and the settings page; send only what you change."""

    kind: str | None = Field(None, description="ntfy | email | webhook | apprise")
    name: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None
    config: dict[str, Any] | None = Field(
        None, description="the kind's settings; secrets write-only"
    )
    event_kinds: list[str] | None = Field(None, description="event kinds this channel receives")
    language: str | None = Field(
        None,
        description="the language of its messages: "
        + ", ".join(languages.codes())
        + "; blank = the deployment's (DUPLISTATUS_LANGUAGE)",
    )
    rate_per_minute: float | None = Field(None, ge=0, description="0 = no rate limit")
    burst: int | None = Field(None, ge=1, le=10_000)
    batch_threshold: int | None = Field(None, ge=0, description="0 = never batch")
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str | None = Field(None, description="for quiet hours, active hours, summaries")
    urgent_kinds: list[str] | None = None
    # As a device a person carries:
    group_id: int | None = Field(None, description="the device group it belongs to")
    group_position: int | None = Field(None, ge=0, description="order within the group")
    min_priority: int | None = Field(None, ge=1, le=5, description="skip quieter messages")
    active_start: time | None = None
    active_end: time | None = None
    # Privacy:
    hide_log_text: bool | None = None
    hide_paths: bool | None = None
    use_server_alias: bool | None = None
    log_retention_days: int | None = Field(None, ge=1, le=3650)
    # Summary reports:
    summary_schedule: Literal["", "daily", "weekly"] | None = None
    summary_time: time | None = None
    summary_weekday: int | None = Field(None, ge=0, le=6, description="0 = Sunday")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        if value is not None and value not in KINDS:
            raise ValueError(
                _("unknown kind '%(kind)s'; one of: %(kinds)s")
                % {"kind": value, "kinds": ", ".join(sorted(KINDS))}
            )
        return value

    @field_validator("event_kinds", "urgent_kinds")
    @classmethod
    def _kinds(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (bad := sorted(set(value) - set(EVENT_KINDS))):
            raise ValueError(
                _("unknown event kinds: %(unknown)s; known: %(kinds)s")
                % {"unknown": ", ".join(bad), "kinds": ", ".join(EVENT_KINDS)}
            )
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else languages.check(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return clock.check_zone(value)


class ChannelSettingsError(ValueError):
    """The settings were not accepted; `str(exc)` says why, fit to show to the user.
    `invalid`: pydantic's error when the kind's settings were refused, so that a page can
    name the fields by their labels."""

    def __init__(self, text: str, invalid: pydantic.ValidationError | None = None) -> None:
        super().__init__(text)
        self.invalid = invalid


def apply_channel(channel: Channel, values: dict[str, Any], *, new: bool) -> None:
    """Set the given fields (and `config`, merged over the stored one), validate, save.

    `values` holds only the fields to change; `kind` is taken from the channel itself.
    """
    for name, value in values.items():
        if name in ("kind", "config"):
            continue
        if name in ("timezone", "summary_schedule", "language"):
            value = value or ""
        if (
            name == "group_id"
            and value is not None
            and not DeviceGroup.objects.filter(pk=value).exists()
        ):
            raise ChannelSettingsError(_("no device group %(id)s") % {"id": value})
        if value is not None or name in NULLABLE:
            setattr(channel, name, value)
    config = values.get("config")
    if config is not None or new:
        merged = {**({} if new else channel.full_config()), **(config or {})}
        try:
            channel.set_config(merged)
        except pydantic.ValidationError as exc:
            raise ChannelSettingsError(config_error(exc), exc) from None
    channel.updated_at = clock.now()
    channel.save()


def config_error(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors(include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "config"
        parts.append(f"{where}: {message(error)}")
    return _("invalid config: %(problems)s") % {"problems": "; ".join(parts)}


# Settings that work as credentials: masked for anyone who may not edit channels.
PRIVATE_FIELDS: dict[str, tuple[str, ...]] = {"webhook": ("url",), "ntfy": ("topic",)}
MASK = "***"


def shown_config(channel: Channel, *, may_edit: bool) -> dict[str, Any]:
    """The channel's config as `may_edit` (an admin) or anyone else may see it: for the
    others, a webhook URL keeps only its scheme and host, an ntfy topic nothing."""
    config = dict(channel.config)
    if may_edit:
        return config
    for name in PRIVATE_FIELDS.get(channel.kind, ()):
        value = config.get(name)
        if isinstance(value, str) and value:
            config[name] = mask(value)
    return config


def mask(value: str) -> str:
    if "://" in value:
        return f"{value.split('://', 1)[0]}://{host_of(value)}/{MASK}"
    return MASK
