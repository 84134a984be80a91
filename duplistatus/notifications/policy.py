"""From rule targets to the channels that get a delivery. Pure: channels, groups and `now`
in, routes out.

- "*" is every enabled channel that is not a device in a group;
- "channel:<id>" is that channel, if enabled;
- "group:<id>" is one device of the group: in `failover` mode the first active one in
  order (outbox.fail_over moves a failed delivery to the next), in `rotation` mode the one on
  duty for the current period.

Every channel then applies its own preferences: the message kinds it takes (empty = all) and
a minimum priority (a device that only wants urgent news).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from duplistatus.clock import zone_or

from .rules import Target


@dataclass(frozen=True)
class Route:
    channel: Any  # a Channel
    kind: str
    priority: int
    group: Any | None = None  # the DeviceGroup it was chosen from


def receives(channel: Any, kind: str, priority: int) -> bool:
    return (
        channel.enabled
        and (not channel.event_kinds or kind in channel.event_kinds)
        and priority >= (channel.min_priority or 1)
    )


def is_active(channel: Any, now: datetime, tz: ZoneInfo) -> bool:
    """Within the device's active hours (no hours set means always)."""
    start, end = channel.active_start, channel.active_end
    if start is None or end is None or start == end:
        return True
    local: time = now.astimezone(tz).time()
    return start <= local < end if start < end else local >= start or local < end


def group_members(group: Any, channels: Iterable[Any]) -> list[Any]:
    return sorted(
        (c for c in channels if c.group_id == group.pk and c.enabled),
        key=lambda c: (c.group_position, c.pk),
    )


def pick_device(
    group: Any,
    members: Sequence[Any],
    now: datetime,
    fallback_tz: ZoneInfo,
    *,
    after: Any | None = None,
) -> Any | None:
    """The device of `group` to send to now; with `after`, the next one after that device."""
    if not members:
        return None
    tz = zone_or(group.timezone, fallback_tz)
    order = list(members)
    if group.mode == "rotation" and group.rotation_start is not None and after is None:
        days = (now.astimezone(tz).date() - group.rotation_start).days
        on_duty = (days // max(1, group.rotation_days)) % len(order)
        order = order[on_duty:] + order[:on_duty]
    if after is not None:
        ids = [c.pk for c in order]
        if after.pk not in ids:
            return None
        order = order[ids.index(after.pk) + 1 :]
    return next((c for c in order if is_active(c, now, tz)), None)


def routes(
    targets: Iterable[Target],
    *,
    channels: Sequence[Any],
    groups: dict[int, Any],
    now: datetime,
    default_priority: dict[str, int],
    fallback_tz: ZoneInfo,
) -> list[Route]:
    """The deliveries to write for one event: one per channel at most."""
    chosen: dict[int, Route] = {}
    by_id = {c.pk: c for c in channels}

    def add(channel: Any | None, target: Target, group: Any | None = None) -> None:
        if channel is None or not channel.enabled:
            return
        priority = target.priority or default_priority.get(target.kind, 3)
        if not receives(channel, target.kind, priority):
            return
        kept = chosen.get(channel.pk)
        if kept is None or priority > kept.priority:
            chosen[channel.pk] = Route(channel, target.kind, priority, group)

    for target in targets:
        kind, _, ref = target.destination.partition(":")
        if target.destination == "*":
            for channel in channels:
                if channel.group_id is None:
                    add(channel, target)
        elif kind == "channel" and ref.isdigit():
            add(by_id.get(int(ref)), target)
        elif kind == "group" and ref.isdigit() and (group := groups.get(int(ref))):
            device = pick_device(group, group_members(group, channels), now, fallback_tz)
            add(device, target, group)
    return list(chosen.values())
