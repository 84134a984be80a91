"""The one clock. Everything that needs "now" calls `clock.now()`, so tests can move time.

Tests use `clock.frozen(dt)` or `clock.set(dt)`/`clock.reset()`; nothing in the code sleeps to
wait for time to pass.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from duplistatus.validation import Invalid, gettext_noop

_fixed: datetime | None = None
_deployment_zone: str | None = None


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return _fixed if _fixed is not None else datetime.now(UTC)


def set(moment: datetime) -> None:  # noqa: A001 - reads well as clock.set(...)
    global _fixed
    if moment.tzinfo is None:
        raise ValueError("clock.set needs an aware datetime")
    _fixed = moment.astimezone(UTC)


def advance(delta: timedelta) -> datetime:
    set(now() + delta)
    return now()


def reset() -> None:
    global _fixed
    _fixed = None


@contextlib.contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    set(moment)
    try:
        yield
    finally:
        reset()


def zone_or(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    """The named IANA zone, or `fallback` when the name is blank or unknown (settings are
    validated when saved, so an unknown name here means tzdata changed under us)."""
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def keep_deployment_zone() -> None:
    """Remember `TZ` as the deployment's time zone. Called by the settings: once Django has
    read them it sets os.environ["TZ"] to its TIME_ZONE, which stays UTC (times are stored
    and computed in UTC), and `TZ` as the user set it is gone."""
    global _deployment_zone
    _deployment_zone = os.environ.get("TZ", "UTC")


def default_timezone() -> ZoneInfo:
    """The deployment's time zone (`TZ`), used for schedules that do not set their own."""
    name = _deployment_zone if _deployment_zone is not None else os.environ.get("TZ", "UTC")
    return zone_or(name.lstrip(":"), ZoneInfo("UTC"))


def check_zone(name: str | None) -> str | None:
    """For validators: the name back when it is blank or a known IANA zone, else ValueError."""
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(gettext_noop("unknown time zone '%(name)s'"), name=name) from None
    return name
