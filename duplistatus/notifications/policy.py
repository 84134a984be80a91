"""From rule targets to the channels that get a delivery. Pure: channels, groups and `now`
in, routes out.

- "*" is every enabled channel that is not a device in a group;
- "channel:<id>" is that channel, if enabled;
- "group:<id>" is one device of the group: in `failover` mode the first active one in
  order (outbox.fail_over moves a failed delivery to the next), in `rotation` mode the one on
  duty for the current period.

Every channel then applies its own preferences: the message kinds it takes (empty = all) and
a minimum priority (a device that only wants urgent news). A group's message goes to its
first device that is within its active hours and takes the message. When none does, the
message is not dropped: an urgent kind (the primary device's urgent kinds, by default fatal
and escalation) still goes to the group's primary device (the first in order, or the one on
duty); any other kind is written for the primary device as `suppressed`, with the reason,
and never sent.
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
    # Why the group's usual choice was not made (no device eligible); with `suppressed` the
    # message is recorded but not sent.
    note: str = ""
    suppressed: bool = False


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


def duty_order(group: Any, members: Sequence[Any], now: datetime, tz: ZoneInfo) -> list[Any]:
    """The group's devices in the order they are tried: the one on duty first in rotation."""
    order = list(members)
    if order and group.mode == "rotation" and group.rotation_start is not None:
        days = (now.astimezone(tz).date() - group.rotation_start).days
        on_duty = (days // max(1, group.rotation_days)) % len(order)
        order = order[on_duty:] + order[:on_duty]
    return order


def why_not(channel: Any, kind: str, priority: int, now: datetime, tz: ZoneInfo) -> str:
    """Why a device cannot take this message now ("" when it can)."""
    if not is_active(channel, now, tz):
        return (
            f"{channel.name} is outside its active hours "
            f"({channel.active_start:%H:%M}–{channel.active_end:%H:%M})"
        )
    if channel.event_kinds and kind not in channel.event_kinds:
        return f"{channel.name} does not take {kind} messages"
    if priority < (channel.min_priority or 1):
        return f"{channel.name} wants priority {channel.min_priority} or more, this is {priority}"
    return ""


def group_route(
    group: Any,
    members: Sequence[Any],
    kind: str,
    priority: int,
    now: datetime,
    fallback_tz: ZoneInfo,
    urgent_kinds: Sequence[str],
) -> Route | None:
    """Where a message for `group` goes: its first eligible device, else the fallback (see
    the module's docstring). None only when the group has no enabled device."""
    tz = zone_or(group.timezone, fallback_tz)
    order = duty_order(group, members, now, tz)
    if not order:
        return None
    reasons = []
    for device in order:
        reason = why_not(device, kind, priority, now, tz)
        if not reason:
            return Route(device, kind, priority, group)
        reasons.append(reason)
    primary = order[0]
    note = f"no device of {group.name} could take it: " + "; ".join(reasons)
    if kind in (primary.urgent_kinds or urgent_kinds):
        return Route(primary, kind, priority, group, note=note + "; sent to the primary device")
    return Route(primary, kind, priority, group, note=note, suppressed=True)


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
    order = duty_order(group, members, now, tz) if after is None else list(members)
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
    urgent_kinds: Sequence[str] = (),
) -> list[Route]:
    """The deliveries to write for one event: one per channel at most, a sent one before a
    suppressed one."""
    chosen: dict[int, Route] = {}
    by_id = {c.pk: c for c in channels}

    def keep(route: Route) -> None:
        kept = chosen.get(route.channel.pk)
        if (
            kept is None
            or (kept.suppressed and not route.suppressed)
            or (kept.suppressed == route.suppressed and route.priority > kept.priority)
        ):
            chosen[route.channel.pk] = route

    def add(channel: Any | None, target: Target) -> None:
        if channel is None or not channel.enabled:
            return
        priority = target.priority or default_priority.get(target.kind, 3)
        if receives(channel, target.kind, priority):
            keep(Route(channel, target.kind, priority))

    for target in targets:
        kind, _, ref = target.destination.partition(":")
        if target.destination == "*":
            for channel in channels:
                if channel.group_id is None:
                    add(channel, target)
        elif kind == "channel" and ref.isdigit():
            add(by_id.get(int(ref)), target)
        elif kind == "group" and ref.isdigit() and (group := groups.get(int(ref))):
            priority = target.priority or default_priority.get(target.kind, 3)
            members = group_members(group, channels)
            route = group_route(
                group, members, target.kind, priority, now, fallback_tz, urgent_kinds
            )
            if route is not None:
                keep(route)
    return list(chosen.values())
