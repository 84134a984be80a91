"""Learn a job's schedule from the times its runs began.

Used when a job has no configured schedule (or to suggest one): from the run history we infer
the interval, the local time of day, the allowed weekdays and a grace period that covers the
usual lateness, with a confidence the caller can threshold before acting on it.

How: each candidate interval (15m … 1M) folds the run times onto one period, in the frame
the schedule would be stepped in (absolute time for hours and minutes, local wall-clock time
for days, weeks and months, so DST moves nothing). The densest window of that fold is the
schedule's phase; runs inside it are "on schedule", the rest (manual runs, retries) are
outliers. A candidate scores by the share of runs it explains times the square root of the
share of its slots that saw a run (so missed days cost little but "every 15 minutes" cannot
explain a daily job), both weighted toward recent runs and slots, so that a job that changed
pace is learned at its new one within a few runs. Among near-equal scores the longest
interval wins: a weekly job is "weekly", not "daily on Sundays".

Until a schedule is learned with confidence, `fallback_schedule` gives a cautious guess from
the gaps between the latest runs, so that no job with a history is left without expectation.

Pure: no I/O, no clock; `now` is an argument and all datetimes are timezone-aware UTC. Words
(describe) come in the active language.
"""

from __future__ import annotations

import math
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from statistics import median
from typing import Final, Literal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext, ngettext, pgettext

from duplistatus.monitoring.intervals import (
    GRACE_PRESETS_MINUTES,
    Interval,
    IntervalError,
    format_interval,
    format_weekdays,
    next_expected_at,
    parse_interval,
    resolve_local,
    weekday_abbr,
)

__all__ = [
    "FALLBACK_MIN_RUNS",
    "MIN_RUNS",
    "FallbackSchedule",
    "LearnedSchedule",
    "fallback_schedule",
    "learn_schedule",
]

MIN_RUNS: Final = 5
# A job whose schedule is not learned with confidence still gets an expectation: from the gaps
# between its latest runs, once it has two (see fallback_schedule).
FALLBACK_MIN_RUNS: Final = 2
_FALLBACK_GAPS: Final = 8
# Only recent history counts: schedules change, and 200 runs are plenty for any interval.
HISTORY_WINDOW: Final = timedelta(days=400)
MAX_RUNS: Final = 200
# Runs closer than this to the previous one are the same run reported twice.
_DUPLICATE_WITHIN: Final = timedelta(minutes=1)
# Confidence reaches its full value once this many distinct slots saw an on-schedule run:
# eight for intervals under a week, fewer for longer ones, where each slot is weeks of
# evidence (eight months before a monthly job is trusted leaves it unwatched most of a year).
_FULL_CONFIDENCE_SLOTS: Final = 8
_FULL_CONFIDENCE_SLOTS_WEEKLY: Final = 6
_FULL_CONFIDENCE_SLOTS_MONTHLY: Final = 4
# Schedules change (weekly for a while, then daily): recent evidence weighs more. A run's
# weight halves every _RUN_HALF_LIFE newer runs, a slot's every _SLOT_HALF_LIFE newer slots,
# a weekday's occurrence every _WEEKDAY_HALF_LIFE newer occurrences of that weekday; so a
# new pace wins within a few runs, while a missed run or two moves little.
_RUN_HALF_LIFE: Final = 8
_SLOT_HALF_LIFE: Final = 8
_WEEKDAY_HALF_LIFE: Final = 2
# Scores this close to the best count as a tie, and ties go to the longer interval.
_TIE: Final = 0.05

_DAY: Final = 86400
_ALL_DAYS: Final = frozenset(range(7))
_CANDIDATE_TEXTS: Final = (
    "15m", "30m", "1h", "2h", "3h", "4h", "6h", "8h", "12h", "1D", "2D", "1W", "1M",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LearnedSchedule:
    """A schedule inferred from run history.

    `anchor` is an on-schedule instant (the slot of the latest on-schedule run) to pass as
    `reference` to `intervals.next_expected_at`; `early_tolerance` is how early on-schedule
    runs started against the learned time, to pass along with it (`next_expected_at` below
    does both).
    """

    interval: Interval
    interval_text: str
    time_of_day: time | None  # local, for intervals of a day or longer
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday; empty means every day
    confidence: float  # 0 … 1
    suggested_grace: timedelta  # one of the grace presets
    sample_size: int  # runs analysed
    anchor: datetime
    tz: ZoneInfo
    early_tolerance: timedelta = timedelta(0)

    def next_expected_at(self, last_run_at: datetime) -> datetime:
        """The next expected run after `last_run_at` under this schedule (UTC)."""
        return next_expected_at(
            reference=self.anchor,
            last_run_at=last_run_at,
            interval=self.interval,
            tz=self.tz,
            weekdays=self.weekdays,
            early_tolerance=self.early_tolerance,
        )

    def describe(self) -> str:
        """Human text: "daily at 02:00 Mon–Fri", "every 6 h", "weekly on Sun at 03:00"."""
        return describe_schedule(
            self.interval, self.time_of_day, self.weekdays, self.anchor.astimezone(self.tz)
        )


def describe_schedule(
    interval: Interval, time_of_day: time | None, weekdays: Set[int], local_anchor: datetime
) -> str:
    """A learned schedule in words, in the active language (pages and messages call this with
    the job's stored learned_* fields, so each reader gets their own language)."""
    at = f"{time_of_day:%H:%M}" if time_of_day is not None else ""
    days = format_weekdays(weekdays)
    if interval == Interval(days=1):
        text = gettext("daily at %(time)s") % {"time": at} if at else gettext("daily")
    elif interval == Interval(days=7):
        day = weekday_abbr(_sunday_based(local_anchor))
        text = (
            gettext("weekly on %(day)s at %(time)s") % {"day": day, "time": at}
            if at
            else gettext("weekly on %(day)s") % {"day": day}
        )
        days = ""
    elif interval == Interval(months=1):
        values = {"day": local_anchor.day, "time": at}
        text = (
            gettext("monthly on day %(day)s at %(time)s") % values
            if at
            else gettext("monthly on day %(day)s") % values
        )
        days = ""
    elif interval.months == 0 and interval.seconds == 0 and interval.days > 1:
        values = {"count": interval.days, "time": at}
        text = (
            ngettext(
                "every %(count)s day at %(time)s", "every %(count)s days at %(time)s", interval.days
            )
            if at
            else ngettext("every %(count)s day", "every %(count)s days", interval.days)
        ) % values
    elif interval == Interval(seconds=3600):
        text = gettext("hourly")
    elif not interval.is_calendar and interval.seconds % 3600 == 0:
        text = gettext("every %(count)s h") % {"count": interval.seconds // 3600}
    elif not interval.is_calendar and interval.seconds % 60 == 0:
        text = gettext("every %(count)s min") % {"count": interval.seconds // 60}
    else:
        values = {"interval": format_interval(interval), "time": at}
        text = (
            gettext("every %(interval)s at %(time)s") % values
            if at
            else gettext("every %(interval)s") % values
        )
    if not days:
        return text
    return pgettext("a schedule on some weekdays", "%(schedule)s %(days)s") % {
        "schedule": text,
        "days": days,
    }


def describe_learned(job: object, tz: ZoneInfo) -> str:
    """The schedule learned for a job (its stored learned_* fields), in words; "" if none."""
    interval_text = getattr(job, "learned_interval", "")
    anchor = getattr(job, "learned_anchor", None)
    if not interval_text or anchor is None:
        return ""
    try:
        interval = parse_interval(interval_text)
    except IntervalError:
        return interval_text
    weekdays = set(getattr(job, "learned_weekdays", None) or ())
    return describe_schedule(
        interval, getattr(job, "learned_time_of_day", None), weekdays, anchor.astimezone(tz)
    )


def learn_schedule(
    run_times: Sequence[datetime],
    tz: ZoneInfo,
    *,
    now: datetime,
    typical_duration: timedelta = timedelta(0),
) -> LearnedSchedule | None:
    """Infer a job's schedule from the begin times of its runs (any order, UTC-aware).

    Returns None with fewer than MIN_RUNS usable runs (recent, not in the future, not
    duplicates). Otherwise the best-fitting schedule; random history gets a low confidence
    rather than None, so callers should threshold `confidence` (0.8 is a clean history).

    The grace is learned from start times; overdue checks see a run only once its report
    arrives, so pass `typical_duration` to have it added before rounding up to a preset.
    """
    runs = _prepare(run_times, tz, now)
    if len(runs) < MIN_RUNS:
        return None
    fits: list[_Fit] = []
    for text in _CANDIDATE_TEXTS:
        interval = parse_interval(text)
        frames: tuple[_FrameKind, ...]
        if interval.months:
            frames = ("month",)
        elif interval.is_calendar:
            frames = ("wall",)
        else:
            # Our own stepping keeps hours in absolute time, but a scheduler that keeps local
            # hours would look shifted after a DST change; try both, absolute wins ties.
            frames = ("absolute", "wall")
        for kind in frames:
            fit = _fit(runs, text, interval, _Frame(kind, _period_seconds(interval)), tz)
            if fit is not None:
                fits.append(fit)
    if not fits:
        return None
    top = max(fit.score for fit in fits)
    best = max(
        (fit for fit in fits if fit.score >= top - _TIE),
        key=lambda fit: (fit.period, fit.score, fit.frame.kind == "absolute"),
    )
    return _schedule(best, runs, tz, typical_duration)


@dataclass(frozen=True, slots=True)
class FallbackSchedule:
    """A cautious expectation for a job whose schedule is not learned with confidence.

    The next run is expected a typical recent gap after the latest run, in whole days (never
    sooner than a day: the original expected every job daily), and the grace covers the
    longest recent gap plus half an interval, so a job that keeps its pace is never overdue
    while one that stops is noticed. It steps from the latest run, whatever that is.
    """

    interval: Interval
    interval_text: str
    grace: timedelta

    def describe(self) -> str:
        days = self.interval.days
        return ngettext("about daily", "about every %(count)s days", days) % {"count": days}


def fallback_schedule(run_times: Sequence[datetime], *, now: datetime) -> FallbackSchedule | None:
    """The fallback expectation from the gaps between the latest runs (UTC-aware times, any
    order); None with fewer than FALLBACK_MIN_RUNS usable runs."""
    moments = _moments(run_times, now)
    if len(moments) < FALLBACK_MIN_RUNS:
        return None
    recent = moments[-_FALLBACK_GAPS - 1 :]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(recent)]
    days = max(1, round(median(gaps) / _DAY))
    interval = Interval(days=days)
    beyond = max(0.0, max(gaps) - days * _DAY)
    grace = timedelta(hours=math.ceil((beyond + days * _DAY / 2) / 3600))
    return FallbackSchedule(interval, format_interval(interval), grace)


# --- internals --------------------------------------------------------------------------------

_FrameKind = Literal["absolute", "wall", "month"]


@dataclass(frozen=True, slots=True)
class _Run:
    at: datetime  # UTC
    wall: datetime  # naive local wall-clock time
    absolute_s: float  # seconds since the Unix epoch
    wall_s: float  # wall-clock seconds on a linear local scale (ignores DST jumps)
    weight: float  # recent runs weigh more (_RUN_HALF_LIFE)


@dataclass(frozen=True, slots=True)
class _Frame:
    """How run times fold onto one period of a candidate interval."""

    kind: _FrameKind
    period: float  # seconds; for months the longest month, used only to fold phases

    def phase(self, run: _Run) -> float:
        if self.kind == "month":
            return _seconds_into_month(run.wall)
        coordinate = run.absolute_s if self.kind == "absolute" else run.wall_s
        return coordinate % self.period

    def locate(self, run: _Run, center: float) -> tuple[int, float]:
        """(slot number, seconds the run started after that slot's scheduled time)."""
        if self.kind == "month":
            slot = run.wall.year * 12 + run.wall.month - 1
            offset = _seconds_into_month(run.wall) - center
            if offset > self.period / 2:  # e.g. the 31st 23:55 of a schedule on the 1st 00:05
                slot += 1
                offset -= _month_days(run.wall.year, run.wall.month) * _DAY
            elif offset < -self.period / 2:
                slot -= 1
                offset += _month_days(slot // 12, slot % 12 + 1) * _DAY
            return slot, offset
        coordinate = run.absolute_s if self.kind == "absolute" else run.wall_s
        slot = math.floor((coordinate - center) / self.period + 0.5)
        return slot, coordinate - center - slot * self.period

    def slot_wall(self, run: _Run, offset: float) -> datetime:
        """The local wall-clock time the run's slot was scheduled for (wall frames)."""
        # Slots start on whole minutes of their frame (see _whole_minutes); rounding removes
        # the float noise of large second counts.
        return _round_to_minute(run.wall - timedelta(seconds=offset))

    def slot_start(self, run: _Run, offset: float, tz: ZoneInfo) -> datetime:
        """The scheduled instant of the run's slot (UTC)."""
        if self.kind == "absolute":
            return _round_to_minute(run.at - timedelta(seconds=offset))
        return resolve_local(self.slot_wall(run, offset), tz)

    def slot_date(self, run: _Run, offset: float, tz: ZoneInfo) -> date:
        """The local date of the run's slot (a run at 00:05 for a 23:55 slot is the day before).

        From the slot's whole minute, like slot_wall: the offset is a difference of large
        second counts, and its float noise would put a run a few seconds after a 00:00 slot
        at 23:59:59.99 of the day before, inventing weekday restrictions."""
        if self.kind == "absolute":
            return self.slot_start(run, offset, tz).astimezone(tz).date()
        return self.slot_wall(run, offset).date()


@dataclass(frozen=True, slots=True)
class _Fit:
    text: str
    interval: Interval
    frame: _Frame
    period: float
    center: float  # phase of the scheduled time within the period, whole minutes
    on_schedule: tuple[tuple[_Run, int, float], ...]  # (run, slot, offset)
    weekdays: frozenset[int]  # allowed days, _ALL_DAYS when unrestricted
    slots: int  # distinct slots with an on-schedule run
    score: float


def _moments(run_times: Sequence[datetime], now: datetime) -> list[datetime]:
    """The usable run times in UTC, oldest first: recent, not in the future, not duplicates."""
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    oldest = now - HISTORY_WINDOW
    moments: list[datetime] = []
    for moment in run_times:
        if moment.tzinfo is None:
            raise ValueError("run times must be timezone-aware datetimes")
        if oldest <= moment <= now:  # runs "in the future" come from a skewed host clock
            moments.append(moment.astimezone(UTC))
    moments.sort()
    unique: list[datetime] = []
    for moment in moments:
        if not unique or moment - unique[-1] >= _DUPLICATE_WITHIN:
            unique.append(moment)
    return unique[-MAX_RUNS:]


def _prepare(run_times: Sequence[datetime], tz: ZoneInfo, now: datetime) -> list[_Run]:
    runs: list[_Run] = []
    recent = _moments(run_times, now)
    for index, moment in enumerate(recent):
        wall = moment.astimezone(tz).replace(tzinfo=None)
        wall_s = (
            wall.toordinal() * _DAY
            + wall.hour * 3600
            + wall.minute * 60
            + wall.second
            + wall.microsecond / 1e6
        )
        weight = 0.5 ** ((len(recent) - 1 - index) / _RUN_HALF_LIFE)
        runs.append(_Run(moment, wall, moment.timestamp(), wall_s, weight))
    return runs


def _period_seconds(interval: Interval) -> float:
    if interval.months:
        return 31 * _DAY
    return interval.days * _DAY + interval.seconds


def _tolerance(period: float) -> float:
    """How far from the scheduled time a run may start and still count as on schedule."""
    return min(max(0.1 * period, 120.0), 90 * 60.0)


def _fit(
    runs: list[_Run], text: str, interval: Interval, frame: _Frame, tz: ZoneInfo
) -> _Fit | None:
    tolerance = _tolerance(frame.period)
    center = _densest(sorted(frame.phase(run) for run in runs), frame.period, tolerance)
    for _ in range(2):  # recentre on the median of the runs near the phase found
        near = [o for o in (frame.locate(run, center)[1] for run in runs) if abs(o) <= tolerance]
        if not near:
            return None
        center = (center + median(near)) % frame.period
    center = _whole_minutes(center) % frame.period

    located = [(run, *frame.locate(run, center)) for run in runs]
    on_schedule = [entry for entry in located if abs(entry[2]) <= tolerance]
    weekdays = _ALL_DAYS
    if frame.period <= _DAY:
        weekdays = _detect_weekdays({frame.slot_date(r, o, tz) for r, _, o in on_schedule})
        on_schedule = [
            (r, s, o)
            for r, s, o in on_schedule
            if _sunday_based(frame.slot_date(r, o, tz)) in weekdays
        ]
    slots = {slot for _, slot, _ in on_schedule}
    if len(slots) < 2:
        return None

    latest = max(slots)
    span = latest - min(slots) + 1
    decay = 0.5 ** (1 / _SLOT_HALF_LIFE)
    expected = (1 - decay**span) / (1 - decay)  # the weights of all `span` slots, summed
    if frame.period <= _DAY:
        # Only slots on allowed days were expected to see a run.
        dates = [frame.slot_date(r, o, tz) for r, _, o in on_schedule]
        all_dates = _date_range(min(dates), max(dates))
        allowed_dates = sum(1 for d in all_dates if _sunday_based(d) in weekdays)
        expected *= allowed_dates / len(all_dates)
    seen = sum(decay ** (latest - slot) for slot in slots)
    coverage = min(1.0, seen / expected)
    explained = sum(run.weight for run, _, _ in on_schedule) / sum(run.weight for run in runs)
    return _Fit(
        text=text,
        interval=interval,
        frame=frame,
        period=_period_seconds(interval),
        center=center,
        on_schedule=tuple(on_schedule),
        weekdays=weekdays,
        slots=len(slots),
        score=explained * math.sqrt(coverage),
    )


def _densest(phases: list[float], period: float, tolerance: float) -> float:
    """Middle of the circular window of width 2·tolerance holding the most phases."""
    n = len(phases)
    extended = phases + [p + period for p in phases]
    best_start, best_count, end = 0, 0, 0
    for start in range(n):
        end = max(end, start)
        while end < start + n and extended[end] - extended[start] <= 2 * tolerance:
            end += 1
        if end - start > best_count:
            best_start, best_count = start, end - start
    return median(extended[best_start : best_start + best_count]) % period


def _detect_weekdays(dates: set[date]) -> frozenset[int]:
    """Weekdays on which the job runs, or _ALL_DAYS without clear evidence of a restriction.

    A weekday counts as allowed when it saw an on-schedule run on a fair share of its
    occurrences. Days the job is off only see the odd manual run that happens to fall near
    the scheduled time (a share near 0), while a day it runs on keeps most of its runs even
    when some are missed; the bar sits well between, and drops with the busiest day's share
    so that a job missing many runs keeps its days.
    """
    if not dates:
        return _ALL_DAYS
    first, last = min(dates), max(dates)
    if (last - first).days + 1 < 14:  # need each weekday at least twice
        return _ALL_DAYS
    occurrences = [0.0] * 7
    seen = [0.0] * 7
    newer = [0] * 7  # newer occurrences of each weekday, counted walking back from `last`
    for day in reversed(_date_range(first, last)):
        weekday = _sunday_based(day)
        weight = 0.5 ** (newer[weekday] / _WEEKDAY_HALF_LIFE)
        newer[weekday] += 1
        occurrences[weekday] += weight
        if day in dates:
            seen[weekday] += weight
    ratios = [seen[d] / occurrences[d] for d in range(7)]
    threshold = max(0.2, 0.25 * max(ratios))
    allowed = frozenset(d for d in range(7) if ratios[d] >= threshold)
    return allowed or _ALL_DAYS


def _schedule(fit: _Fit, runs: list[_Run], tz: ZoneInfo, duration: timedelta) -> LearnedSchedule:
    anchor = _anchor(fit, tz)
    # Lateness in real elapsed time, not wall-clock offsets: on a spring-forward day a run one
    # minute before its 03:00 slot shows 01:59 on the wall, 61 wall minutes early.
    offsets = [
        (run.at - fit.frame.slot_start(run, offset, tz)).total_seconds()
        for run, _, offset in fit.on_schedule
    ]

    time_of_day: time | None = None
    if fit.interval.is_calendar:
        seconds = int(fit.center) % _DAY
        time_of_day = time(seconds // 3600, seconds // 60 % 60)

    if fit.interval == Interval(days=7):
        weekdays = frozenset({_sunday_based(anchor.astimezone(tz))})
    elif fit.weekdays == _ALL_DAYS:
        weekdays = frozenset()
    else:
        weekdays = fit.weekdays

    lateness = _percentile([max(0.0, o) for o in offsets], 0.95)
    needed = timedelta(seconds=lateness + max(300.0, 0.25 * lateness)) + duration
    earliness = _percentile([max(0.0, -o) for o in offsets], 0.95)
    early_minutes = min(math.ceil(1.25 * earliness / 60), _tolerance(fit.frame.period) // 60)

    confidence = fit.score * min(1.0, fit.slots / _full_confidence_slots(fit.period))
    return LearnedSchedule(
        interval=fit.interval,
        interval_text=fit.text,
        time_of_day=time_of_day,
        weekdays=weekdays,
        confidence=round(max(0.0, min(1.0, confidence)), 3),
        suggested_grace=_grace_preset(needed),
        sample_size=len(runs),
        anchor=anchor,
        tz=tz,
        early_tolerance=timedelta(minutes=early_minutes),
    )


def _anchor(fit: _Fit, tz: ZoneInfo) -> datetime:
    """The slot of the latest on-schedule run, as the reference to step the schedule from.

    Calendar steps keep the reference's local time of day, so a slot whose wall time did not
    exist (02:30 on a spring-forward day resolves to 03:00) would move the schedule to 03:00
    for good; such slots are passed over for the one before.
    """
    latest_first = sorted(fit.on_schedule, key=lambda entry: entry[0].at, reverse=True)
    for run, _, offset in latest_first:
        start = fit.frame.slot_start(run, offset, tz)
        if fit.frame.kind == "absolute":
            return start
        if start.astimezone(tz).replace(tzinfo=None) == fit.frame.slot_wall(run, offset):
            return start
    run, _, offset = latest_first[0]
    return fit.frame.slot_start(run, offset, tz)


def _full_confidence_slots(period: float) -> int:
    if period >= 28 * _DAY:
        return _FULL_CONFIDENCE_SLOTS_MONTHLY
    if period >= 7 * _DAY:
        return _FULL_CONFIDENCE_SLOTS_WEEKLY
    return _FULL_CONFIDENCE_SLOTS


def _grace_preset(needed: timedelta) -> timedelta:
    """The smallest grace preset covering `needed` (the largest preset if none does)."""
    for minutes in GRACE_PRESETS_MINUTES:
        if timedelta(minutes=minutes) >= needed:
            return timedelta(minutes=minutes)
    return timedelta(minutes=GRACE_PRESETS_MINUTES[-1])


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: with few runs, a real observed value)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _whole_minutes(seconds: float) -> float:
    """Snap a learned scheduled time to what a person would have configured.

    Duplicati starts a run at its scheduled minute or a few seconds later, so the typical
    start floors to the scheduled minute; a typical start within a minute of a five-minute
    mark (01:59:20, 02:00:40) is taken to mean that mark (02:00).
    """
    mark = round(seconds / 300) * 300
    if abs(seconds - mark) <= 60:
        return float(mark)
    return float(math.floor(seconds / 60) * 60)


def _round_to_minute(moment: datetime) -> datetime:
    return (moment + timedelta(seconds=30)).replace(second=0, microsecond=0)


def _seconds_into_month(wall: datetime) -> float:
    return (
        (wall.day - 1) * _DAY
        + wall.hour * 3600
        + wall.minute * 60
        + wall.second
        + wall.microsecond / 1e6
    )


def _month_days(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _date_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _sunday_based(day: date) -> int:
    return (day.weekday() + 1) % 7
