"""Who hears about what. Pure: an event's message kind and the enabled channels in, the
channels that should get a delivery out.

Each channel lists the kinds it receives (`event_kinds`; empty means the default: every run
that was not a plain success, and the monitoring events overdue, reminder, escalation and
recovered).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class Destination(Protocol):
    enabled: bool
    event_kinds: list[str]


def receives(channel: Destination, kind: str) -> bool:
    from .models import DEFAULT_EVENT_KINDS

    return channel.enabled and kind in (channel.event_kinds or DEFAULT_EVENT_KINDS)


def destinations[T: Destination](kind: str, channels: Iterable[T]) -> list[T]:
    return [channel for channel in channels if receives(channel, kind)]
