"""Notification rules: which results notify, and to whom. Pure.

Rules inherit field by field: job → server → global, like the schedule settings. Each
effective value comes with the level it came from, so the API and the pages can show what
is inherited and what is overridden.

Destinations are references: "channel:<id>", "group:<id>" (a device group), or "*" for
every enabled channel that is not a device in a group. A null list inherits; an empty list
means nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RULE_FIELDS = (
    "event_level",
    "run_destinations",
    "overdue_destinations",
    "escalation_destinations",
    "extra_destinations",
    "recovery_notifications",
    "escalate_after_failures",
    "anomaly_detectors",
)
# What applies when no level sets a field (the original's defaults).
BUILT_IN: dict[str, Any] = {
    "event_level": "warnings",
    "run_destinations": ["*"],
    "overdue_destinations": ["*"],
    "escalation_destinations": None,  # the overdue destinations
    "extra_destinations": [],
    "recovery_notifications": True,
    "escalate_after_failures": 0,
    "anomaly_detectors": {},  # anomaly/detect.py's DEFAULTS
}
LEVELS = ("all", "warnings", "errors", "off")
MONITOR_KINDS = ("overdue", "reminder", "escalation", "recovered")
# About a run or the job's storage, judged by anomaly/; routed like a run whose status is
# its severity: warning → Warning, critical → Error.
ANOMALY_KINDS = ("anomaly", "storage")


@dataclass(frozen=True)
class Rules:
    values: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)  # field → job | server | global | default

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def layer(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in RULE_FIELDS}


def resolve(job: dict[str, Any], server: dict[str, Any], defaults: dict[str, Any]) -> Rules:
    values, origins = {}, {}
    for name in RULE_FIELDS:
        if name == "anomaly_detectors":
            values[name], origins[name] = _merged_detectors(job, server, defaults)
            continue
        for origin, source in (("job", job), ("server", server), ("global", defaults)):
            value = source.get(name)
            if value not in (None, ""):
                values[name], origins[name] = value, origin
                break
        else:
            values[name], origins[name] = BUILT_IN[name], "default"
    return Rules(values, origins)


def _merged_detectors(
    job: dict[str, Any], server: dict[str, Any], defaults: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """Detector settings merge key by key (a job may mute one detector and inherit the rest);
    the origin is the nearest level that sets anything."""
    from duplistatus.anomaly.detect import merge_settings

    layers = [("job", job), ("server", server), ("global", defaults)]
    origin = next((name for name, layer in layers if layer.get("anomaly_detectors")), "default")
    return merge_settings(*(layer.get("anomaly_detectors") for _, layer in layers)), origin


def level_matches(level: str, status: str, errors_count: int = 0) -> bool:
    """Does a run with this status notify at this level? (the original's semantics)"""
    if level == "all":
        return True
    if level == "warnings":
        return status != "Success"
    if level == "errors":
        return status in ("Error", "Fatal") or errors_count > 0
    return False


@dataclass(frozen=True)
class Target:
    destination: str  # "channel:3", "group:1" or "*"
    kind: str  # the message kind to send (an escalated failure is sent as is, louder)
    priority: int | None = None  # raised priority, when escalating


def targets(
    rules: Rules,
    kind: str,
    *,
    status: str = "",
    errors_count: int = 0,
    consecutive_failures: int = 0,
) -> list[Target]:
    """Where one event goes. `kind` is the message kind: success … fatal for runs, or one
    of the monitoring kinds."""
    out: list[Target] = []
    if kind in MONITOR_KINDS:
        if kind == "recovered" and not rules.recovery_notifications:
            return []
        overdue = list(rules.overdue_destinations)
        destinations = overdue
        if kind == "escalation":
            escalation = rules.escalation_destinations
            destinations = overdue if escalation is None else list(escalation)
        out += [Target(d, kind, 5 if kind == "escalation" else None) for d in destinations]
        for extra in rules.extra_destinations or []:
            if extra.get("level", "warnings") != "off":
                out.append(Target(extra["destination"], kind))
        return _unique(out)

    if kind in ANOMALY_KINDS:
        # The severity stands in for the status, and a finding is no failure to escalate.
        status, errors_count, consecutive_failures = status or "Warning", 0, 0
    raised = 5 if kind in ANOMALY_KINDS and status == "Error" else None  # critical
    if level_matches(rules.event_level, status, errors_count):
        out += [Target(d, kind, raised) for d in rules.run_destinations]
    for extra in rules.extra_destinations or []:
        if level_matches(extra.get("level", "warnings"), status, errors_count):
            out.append(Target(extra["destination"], kind, raised))
    threshold = rules.escalate_after_failures
    if threshold and status in ("Error", "Fatal") and consecutive_failures >= threshold:
        escalation = rules.escalation_destinations
        destinations = rules.overdue_destinations if escalation is None else escalation
        out = [Target(t.destination, t.kind, 5) for t in out]
        out += [Target(d, kind, 5) for d in destinations]
    return _unique(out)


def _unique(targets_: list[Target]) -> list[Target]:
    """One target per destination, keeping the highest priority asked for."""
    best: dict[str, Target] = {}
    for target in targets_:
        kept = best.get(target.destination)
        if kept is None or (target.priority or 0) > (kept.priority or 0):
            best[target.destination] = target
    return list(best.values())
