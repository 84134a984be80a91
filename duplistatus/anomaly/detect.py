"""The detectors: is a run (or the job's state now) outside what is normal for it? Pure.

Each detector has a rule, a default sensitivity, and can be muted or tuned per job, server
or globally (the `anomaly_detectors` notification rule, merged key by key: job → server →
global → DEFAULTS). A value must be both outside the job's band (baseline.py) and beyond a
plain factor of normal: the band knows the job's noise, the factor keeps a very steady job
from alarming at a change nobody would care about.

- *source_vanished* (anomaly): files or size examined below the band and below 50 % of
  normal (`drop`); 0 where normal is not is critical.
- *change_burst* (anomaly, the ransomware early warning): files added + modified, or bytes
  uploaded, above the band, ≥ 8 × normal (`factor`) and ≥ 100 files / 50 MiB.
- *slow_run* (anomaly, the spec's Performance Warning): duration above the band, ≥ 2.5 ×
  normal (`factor`) and ≥ 2 minutes longer (`min_seconds`).
- *storage_shrink* (anomaly): storage fell ≥ 20 % (`drop`) since the previous run, and
  beyond the job's usual run-to-run changes (retention, compacts).
- *versions_falling* (anomaly): versions fell by ≥ 3 (`drop`) since the previous run, and
  by more than any fall in the window (retention thins a version or two at a time).
- *quota* (storage): at the recent rate of its free space (Theil–Sen over the last
  `window` runs) the destination is full within 14 days (`horizon_days`), or Duplicati
  reported a quota warning or error itself.
- *unverified* (anomaly): no successful verification of the destination (a backup's
  TestResults, or a Test operation) for 30 days (`days`).

`sensitivity` is the band's width in robust standard deviations (higher = fewer alarms).
Nothing is judged before `min_history` usable runs (default 7); quota warnings Duplicati
reports itself and `unverified` need no history.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from duplistatus.validation import gettext_noop

from . import baseline
from .baseline import Band, Sample

DETECTORS = (
    "source_vanished",
    "change_burst",
    "slow_run",
    "storage_shrink",
    "versions_falling",
    "quota",
    "unverified",
)
DEFAULTS: dict[str, Any] = {
    "min_history": baseline.MIN_HISTORY,
    "source_vanished": {"enabled": True, "sensitivity": 4.0, "drop": 0.5},
    "change_burst": {"enabled": True, "sensitivity": 4.0, "factor": 8.0},
    "slow_run": {"enabled": True, "sensitivity": 4.0, "factor": 2.5, "min_seconds": 120},
    "storage_shrink": {"enabled": True, "sensitivity": 4.0, "drop": 0.2},
    "versions_falling": {"enabled": True, "drop": 3},
    "quota": {"enabled": True, "horizon_days": 14, "window": 10},
    "unverified": {"enabled": True, "days": 30},
}
# The notification spec's message types, for titles and the webhook document.
MESSAGE_TYPES = {
    "slow_run": "Performance Warning",
    "quota": "Storage Warning",
}
# Each detector in a few words: marked for translation, translated where shown
# (anomaly/words.py), so that the plain English stays usable as data.
LABELS = {
    "source_vanished": gettext_noop("source vanished"),
    "change_burst": gettext_noop("change burst"),
    "slow_run": gettext_noop("slow run"),
    "storage_shrink": gettext_noop("storage shrank"),
    "versions_falling": gettext_noop("versions falling"),
    "quota": gettext_noop("destination filling up"),
    "unverified": gettext_noop("not verified"),
}
# Metrics whose flat-out minimum (below which a burst is not worth a message) is given in
# the metric's unit: a job that changes 3 files a day changing 40 is no burst.
BURST_MINIMUM = {
    "changed_files": 100,
    "bytes_uploaded": 50 * (1 << 20),
}


@dataclass(frozen=True)
class Finding:
    detector: str
    metric: str
    value: float
    low: float | None  # the normal range, when there is one
    high: float | None
    normal: float | None  # the median
    severity: str  # "warning" | "critical"
    kind: str = "anomaly"  # the event kind: "anomaly" or "storage"
    days_left: float | None = None  # quota: forecast days until full

    @property
    def message_type(self) -> str:
        return MESSAGE_TYPES.get(self.detector, "Anomaly")

    def as_details(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "metric": self.metric,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "normal": self.normal,
            "severity": self.severity,
            "message_type": self.message_type,
            **({"days_left": round(self.days_left, 1)} if self.days_left is not None else {}),
        }


def merge_settings(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Detector settings, most specific layer first (job, server, global); each key of each
    detector is taken from the first layer that sets it, else DEFAULTS."""
    merged: dict[str, Any] = {}
    for name, default in DEFAULTS.items():
        if isinstance(default, dict):
            value = dict(default)
            for layer in reversed([layer for layer in layers if layer]):
                own = layer.get(name)
                if isinstance(own, Mapping):
                    value.update({k: v for k, v in own.items() if v is not None})
            merged[name] = value
        else:
            merged[name] = next(
                (layer[name] for layer in layers if layer and layer.get(name) is not None),
                default,
            )
    return merged


def check_settings(value: Mapping[str, Any]) -> dict[str, Any]:
    """A level's own detector settings, checked (ValueError naming what is wrong)."""
    out: dict[str, Any] = {}
    for name, own in value.items():
        default = DEFAULTS.get(name)
        if default is None:
            raise ValueError(f"unknown detector {name!r}; one of: {', '.join(DEFAULTS)}")
        if not isinstance(default, dict):
            if own is not None and (not isinstance(own, int) or isinstance(own, bool) or own < 1):
                raise ValueError(f"{name} must be a whole number of runs, at least 1")
            out[name] = own
            continue
        if not isinstance(own, Mapping):
            raise ValueError(f"{name} must be an object such as {default}")
        for key, setting in own.items():
            if key not in default:
                raise ValueError(f"{name} has no setting {key!r}; it has: {', '.join(default)}")
            if setting is None:
                continue
            if isinstance(default[key], bool):
                if not isinstance(setting, bool):
                    raise ValueError(f"{name}.{key} must be true or false")
            elif (
                isinstance(setting, bool)
                or not isinstance(setting, int | float)
                or not math.isfinite(setting)
                or setting <= 0
            ):
                raise ValueError(f"{name}.{key} must be a number above 0")
            elif key == "drop" and isinstance(default[key], float) and setting >= 1:
                raise ValueError(f"{name}.drop is a fraction of normal, between 0 and 1")
        out[name] = dict(own)
    return out


def check_run(
    run: Sample,
    history: Sequence[Sample],
    settings: Mapping[str, Any] | None = None,
    *,
    tz: tzinfo | None = None,
) -> list[Finding]:
    """Findings about one backup run, judged against `history` (older runs, newest last)."""
    settings = settings or merge_settings()
    min_history = int(settings["min_history"])
    found: list[Finding] = []

    def learned(metric: str, k: float) -> Band | None:
        return baseline.learn(metric, history, run.at, k=k, min_history=min_history, tz=tz)

    on = settings["source_vanished"]
    if on["enabled"]:
        for metric in ("examined_files", "examined_size"):
            value = run.values.get(metric)
            b = learned(metric, float(on["sensitivity"]))
            if value is None or b is None or b.median <= 0:
                continue
            if value <= 0:
                found.append(_finding("source_vanished", b, value, "critical"))
                break
            if value < b.low and value < b.median * (1 - float(on["drop"])):
                severity = "critical" if value < b.median * 0.1 else "warning"
                found.append(_finding("source_vanished", b, value, severity))
                break

    on = settings["change_burst"]
    if on["enabled"]:
        factor = float(on["factor"])
        for metric in ("changed_files", "bytes_uploaded"):
            value = run.values.get(metric)
            b = learned(metric, float(on["sensitivity"]))
            if value is None or b is None:
                continue
            threshold = factor * max(b.median, BURST_MINIMUM[metric] / factor)
            if value > b.high and value >= threshold:
                severity = "critical" if value >= 4 * threshold else "warning"
                found.append(_finding("change_burst", b, value, severity))

    on = settings["slow_run"]
    if on["enabled"]:
        value = run.values.get("duration")
        b = learned("duration", float(on["sensitivity"]))
        if (
            value is not None
            and b is not None
            and value > b.high
            and value >= float(on["factor"]) * b.median
            and value - b.median >= float(on["min_seconds"])
        ):
            found.append(_finding("slow_run", b, value, "warning"))

    previous = next((s for s in reversed(history) if s.counts), None)
    if previous is not None:
        found += _storage_shrink(run, previous, history, settings, min_history)
        found += _versions_falling(run, previous, history, settings, min_history)
    return found


def _pairs(history: Sequence[Sample], metric: str) -> list[tuple[float, float]]:
    """(previous, next) values of consecutive counted runs that both have the metric."""
    counted = [v for s in history if s.counts and (v := s.values.get(metric)) is not None]
    return list(zip(counted, counted[1:], strict=False))[-baseline.WINDOW :]


def _storage_shrink(
    run: Sample,
    previous: Sample,
    history: Sequence[Sample],
    settings: Mapping[str, Any],
    min_history: int,
) -> list[Finding]:
    on = settings["storage_shrink"]
    value, before = run.values.get("storage"), previous.values.get("storage")
    if not on["enabled"] or value is None or not before:
        return []
    changes = [b / a - 1 for a, b in _pairs(history, "storage") if a > 0]
    if len(changes) < max(1, min_history - 1):
        return []
    change = value / before - 1
    centre = sorted(changes)[len(changes) // 2]
    spread = max(baseline.MAD_SCALE * baseline.mad(changes, centre), 0.01)
    low = centre - float(on["sensitivity"]) * spread
    if change < low and change <= -float(on["drop"]):
        severity = "critical" if change <= -0.5 else "warning"
        return [
            Finding(
                "storage_shrink",
                "storage",
                value,
                before * (1 + low),
                None,
                before,
                severity,
            )
        ]
    return []


def _versions_falling(
    run: Sample,
    previous: Sample,
    history: Sequence[Sample],
    settings: Mapping[str, Any],
    min_history: int,
) -> list[Finding]:
    on = settings["versions_falling"]
    value, before = run.values.get("versions"), previous.values.get("versions")
    if not on["enabled"] or value is None or before is None:
        return []
    falls = [a - b for a, b in _pairs(history, "versions")]
    if len(falls) < max(1, min_history - 1):
        return []
    usual = max([0.0, *falls])
    fall = before - value
    if fall >= float(on["drop"]) and fall > usual:
        severity = "critical" if value <= before / 2 else "warning"
        return [
            Finding("versions_falling", "versions", value, before - usual, None, before, severity)
        ]
    return []


def check_quota(
    latest: Sample, history: Sequence[Sample], settings: Mapping[str, Any] | None = None
) -> Finding | None:
    """A `storage` finding: the destination fills within the horizon at the recent rate of
    its free space, or Duplicati itself reported a quota warning or error."""
    settings = settings or merge_settings()
    on = settings["quota"]
    if not on["enabled"]:
        return None
    free = latest.quota_free
    horizon = float(on["horizon_days"])
    days_left = None
    points = [
        (s.at.timestamp() / 86400, s.quota_free)
        for s in [*history[-int(on["window"]) :], latest]
        if s.quota_free is not None and s.quota_free >= 0
    ]
    if (
        free is not None
        and free >= 0
        and len(points) >= min(int(on["window"]), int(settings["min_history"]))
    ):
        slope = baseline.theil_sen_slope(points)  # bytes of free space per day
        if slope is not None and slope < 0:
            days_left = free / -slope
    if latest.quota_error:
        severity = "critical"
    elif days_left is not None and days_left <= horizon:
        severity = "critical" if days_left <= horizon / 2 else "warning"
    elif latest.quota_warning:
        severity = "warning"
    else:
        return None
    total = latest.quota_total
    return Finding(
        "quota",
        "free_space",
        free if free is not None else 0.0,
        None,
        total,
        None,
        severity,
        kind="storage",
        days_left=days_left,
    )


def check_unverified(
    samples: Sequence[Sample],
    now: datetime,
    settings: Mapping[str, Any] | None = None,
    *,
    first_run_at: datetime | None = None,
) -> Finding | None:
    """No successful verification in `days`: counted from the last one, or from the job's
    first run for a job that has never had one (a new job is given the full period)."""
    settings = settings or merge_settings()
    on = settings["unverified"]
    if not on["enabled"]:
        return None
    days = float(on["days"])
    verified = [s.at for s in samples if s.verified]
    since = max(verified) if verified else first_run_at
    if since is None or now - since <= timedelta(days=days):
        return None
    age = (now - since).total_seconds() / 86400
    return Finding(
        "unverified", "days_since_verified", math.floor(age), None, days, None, "warning"
    )


def _finding(detector: str, b: Band, value: float, severity: str) -> Finding:
    return Finding(detector, b.metric, value, b.low, b.high, b.median, severity)
