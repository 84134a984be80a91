"""What is normal for a job, learned from its own history. Pure: plain values in, bands out.

A *band* is the range a metric's next value is expected in: the median of the recent runs
plus or minus `k` robust standard deviations (1.4826 × the median absolute deviation, MAD).
Median and MAD ignore the odd outlier that a mean and a standard deviation would chase, so a
single burst in the history neither widens the band nor drags the centre.

Two refinements keep a band honest on real backups:

- *A floor on the spread.* A job whose file count never changed has a MAD of 0; a band of
  zero width would flag the first file added. The spread is at least a fraction of the
  median and an absolute minimum, per metric (METRICS).
- *Multiplicative metrics on a log scale.* Bytes uploaded, files changed and durations vary
  by factors, not by amounts (a quiet day uploads 20 MB, a busy one 400 MB); their bands are
  computed on log(1 + value), so "ten times normal" weighs the same on a small job and a big
  one.

*Weekday seasonality.* Where the history shows it (a Monday backup that always carries the
weekend's changes), a run is judged against the runs of its own weekday: used when that
weekday has at least `min_history` runs and its median lies outside the all-days band's
inner half. Otherwise all days are one population.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from statistics import median

from duplistatus.validation import gettext_noop

MAD_SCALE = 1.4826  # MAD × this estimates the standard deviation of normal data
WINDOW = 30  # recent runs a band is learned from
SEASONAL_WINDOW = 12  # recent runs of the same weekday
MIN_HISTORY = 7  # runs before anything is judged (a setting: DetectorSettings.min_history)


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # marked for translation; translated where shown (anomaly/words.py)
    unit: str  # "files", "bytes", "seconds", "versions"
    log: bool  # band on log(1 + value)
    rel_floor: float  # the spread is at least this fraction of the median (linear metrics)
    abs_floor: float  # … and at least this much (linear), or this log-width (log metrics)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("examined_files", gettext_noop("files examined"), "files", False, 0.02, 5),
        Metric("examined_size", gettext_noop("size examined"), "bytes", False, 0.02, 1 << 20),
        Metric("added_files", gettext_noop("files added"), "files", True, 0.0, 0.7),
        Metric("modified_files", gettext_noop("files modified"), "files", True, 0.0, 0.7),
        Metric("deleted_files", gettext_noop("files deleted"), "files", True, 0.0, 0.7),
        Metric("changed_files", gettext_noop("files added or modified"), "files", True, 0.0, 0.7),
        Metric("bytes_uploaded", gettext_noop("bytes uploaded"), "bytes", True, 0.0, 0.7),
        Metric("duration", gettext_noop("duration"), "seconds", True, 0.0, 0.25),
        Metric("storage", gettext_noop("storage used"), "bytes", False, 0.01, 1 << 20),
        Metric("versions", gettext_noop("versions"), "versions", False, 0.05, 1),
    )
}


@dataclass(frozen=True)
class Sample:
    """One run as the baseline sees it. `counts` is False for a run that was flagged and not
    marked expected by the user: it is judged, but it does not teach what normal is."""

    run_id: int
    at: datetime
    values: dict[str, float | None]
    counts: bool = True
    verified: bool = False  # carried a successful verification (TestResults) of the backend
    quota_total: float | None = None  # bytes available to the backup at the destination
    quota_free: float | None = None
    quota_warning: bool = False  # Duplicati's own ReportedQuotaWarning / Error
    quota_error: bool = False


@dataclass(frozen=True)
class Band:
    metric: str
    median: float
    low: float
    high: float
    n: int  # runs it was learned from
    seasonal: bool = False  # learned from the same weekday only
    spread: float = field(default=0.0, compare=False)  # robust SD, on the band's scale

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "median": self.median,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "seasonal": self.seasonal,
        }


def mad(values: Sequence[float], centre: float) -> float:
    return median(abs(v - centre) for v in values)


def band(metric: Metric, values: Sequence[float], k: float, *, seasonal: bool = False) -> Band:
    """The band of `values` (at least one) at `k` robust standard deviations."""
    if metric.log:
        logs = [math.log1p(max(0.0, v)) for v in values]
        centre = median(logs)
        spread = max(MAD_SCALE * mad(logs, centre), metric.abs_floor / k)
        return Band(
            metric.name,
            math.expm1(centre),
            max(0.0, math.expm1(centre - k * spread)),
            math.expm1(centre + k * spread),
            len(values),
            seasonal,
            spread,
        )
    centre = median(values)
    spread = max(MAD_SCALE * mad(values, centre), metric.rel_floor * abs(centre), metric.abs_floor)
    return Band(
        metric.name,
        centre,
        max(0.0, centre - k * spread),
        centre + k * spread,
        len(values),
        seasonal,
        spread,
    )


def learn(
    metric_name: str,
    history: Sequence[Sample],
    at: datetime,
    *,
    k: float,
    min_history: int = MIN_HISTORY,
    tz: tzinfo | None = None,
) -> Band | None:
    """The band for `metric_name` of a run at `at`, from `history` (older runs, newest last).
    None until `min_history` runs count."""
    metric = METRICS[metric_name]
    counted = [
        (s.at, v) for s in history if s.counts and (v := s.values.get(metric_name)) is not None
    ]
    if len(counted) < max(1, min_history):
        return None
    # A band learned from few runs is less sure of the spread: widen it (by 41 % at 7 runs,
    # 11 % at 30), as a t-distribution widens a normal one.
    k = k * math.sqrt(1 + 7 / len(counted[-WINDOW:]))
    overall = band(metric, [v for _, v in counted[-WINDOW:]], k)
    weekday = at.astimezone(tz).weekday() if tz else at.weekday()
    same_day = [v for t, v in counted if (t.astimezone(tz) if tz else t).weekday() == weekday]
    same_day = same_day[-SEASONAL_WINDOW:]
    if len(same_day) >= max(min_history, 3) and len(same_day) < len(counted):
        seasonal = band(metric, same_day, k, seasonal=True)
        if _outside_inner_half(overall, seasonal.median, metric):
            return seasonal
    return overall


def _outside_inner_half(overall: Band, value: float, metric: Metric) -> bool:
    """Is `value` far enough from the overall centre that its weekday is its own population?"""
    if metric.log:
        distance = abs(math.log1p(max(0.0, value)) - math.log1p(overall.median))
    else:
        distance = abs(value - overall.median)
    return distance > 2 * overall.spread


def theil_sen_slope(points: Sequence[tuple[float, float]]) -> float | None:
    """The median of the slopes between every pair of points: a trend that one odd point
    cannot tilt. None with fewer than two distinct x."""
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    ]
    return median(slopes) if slopes else None
