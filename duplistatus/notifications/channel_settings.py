"""The one way to change a channel, shared by the API and the settings pages.

Secrets are write-only: a secret not given again keeps its stored value, because neither the
API nor the pages ever show it back. The kind's pydantic Config validates the merged settings.
"""

from __future__ import annotations

from typing import Any

import pydantic

from duplistatus import clock

from .models import Channel, DeviceGroup

# Fields that may be cleared (set to None) on purpose.
NULLABLE = ("quiet_start", "quiet_end", "active_start", "active_end", "group_id", "summary_time")


class ChannelSettingsError(ValueError):
    """The settings were not accepted; `str(exc)` says why, fit to show to the user."""


def apply_channel(channel: Channel, values: dict[str, Any], *, new: bool) -> None:
    """Set the given fields (and `config`, merged over the stored one), validate, save.

    `values` holds only the fields to change; `kind` is taken from the channel itself.
    """
    for name, value in values.items():
        if name in ("kind", "config"):
            continue
        if name in ("timezone", "summary_schedule"):
            value = value or ""
        if (
            name == "group_id"
            and value is not None
            and not DeviceGroup.objects.filter(pk=value).exists()
        ):
            raise ChannelSettingsError(f"no device group {value}")
        if value is not None or name in NULLABLE:
            setattr(channel, name, value)
    config = values.get("config")
    if config is not None or new:
        merged = {**({} if new else channel.full_config()), **(config or {})}
        try:
            channel.set_config(merged)
        except pydantic.ValidationError as exc:
            raise ChannelSettingsError(config_error(exc)) from None
    channel.updated_at = clock.now()
    channel.save()


def config_error(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors(include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "config"
        parts.append(f"{where}: {error['msg']}")
    return "invalid config: " + "; ".join(parts)
