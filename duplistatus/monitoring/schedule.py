"""Which schedule applies to a job, when its next run is expected, and what the scanner does
when a job's alert time comes. Pure: plain values in, plain values out; the database side is
in `monitor.py`.

Settings inherit field by field: job → server → global defaults. The interval comes from the
first of:

1. `duplicati` — the latest report's `Extra.next-scheduled-run` (Duplicati ≥ 2.1.2), while it
   is still ahead of that run: Duplicati knows its own schedule best;
2. `configured` — an interval set on the job or on its server;
3. `duplicati` — the job's schedule as Duplicati has it (repeat, allowed days, next run),
   read over its REST API by duplistatus/collect/;
4. `learned` — what monitoring/learn.py inferred from the history, once confident enough
   (and when adopting learned schedules is on);
5. `default` — the global default interval, if one is set;
6. `fallback` — a cautious guess from the gaps between the job's latest runs, with a
   generous grace (learn.fallback_schedule): no job with a history goes unwatched unless its
   user turns monitoring off.

With none of these (a job that has run once), the job has no expectation: `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from duplistatus.clock import zone_or

from .intervals import (
    DEFAULT_GRACE_MINUTES,
    REMINDER_PERIODS,
    Interval,
    IntervalError,
    JobState,
    job_state,
    next_expected_at,
    parse_interval,
)

# The longest grace, reminder period or escalation delay a setting may have (a year).
MAX_SETTING_MINUTES = 60 * 24 * 366
# A run that starts a little before its slot still counts for it: clocks drift, and a learned
# time of day is a median that real runs scatter around.
EARLY_TOLERANCE = timedelta(minutes=15)


@dataclass(frozen=True)
class Layer:
    """One level of inheritable settings; None or "" means "not set here"."""

    interval: str = ""
    weekdays: list[int] | None = None
    timezone: str = ""
    grace_minutes: int | None = None
    monitoring_enabled: bool | None = None
    reminder: str = ""
    reminder_minutes: int | None = None
    escalation_after_minutes: int | None = None
    paused_until: datetime | None = None

    @classmethod
    def of(cls, row: Any) -> Layer:
        """Read the fields of a model row (job, server or defaults)."""
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Learned:
    interval: str
    weekdays: list[int]
    anchor: datetime
    confidence: float
    grace_minutes: int | None
    early_minutes: int = 0


@dataclass(frozen=True)
class Fallback:
    interval: str
    grace_minutes: int


@dataclass(frozen=True)
class DuplicatiSchedule:
    """A job's schedule read from Duplicati's REST API: repeat, weekdays, its planned run."""

    interval: str
    weekdays: list[int]
    anchor: datetime


@dataclass(frozen=True)
class Schedule:
    """The settings in force for one job, each with the level it came from."""

    interval: Interval | None
    interval_text: str
    weekdays: frozenset[int]
    tz: ZoneInfo
    grace: timedelta
    source: str  # duplicati | configured | learned | default | fallback | "" (none)
    confidence: float | None
    monitoring_enabled: bool
    paused_until: datetime | None
    reminder_period: timedelta | None
    escalation_after: timedelta | None
    anchor: datetime | None  # the time the interval steps from
    duplicati_next: datetime | None
    origins: dict[str, str] = field(default_factory=dict)  # field → job | server | global
    learned_early: timedelta = timedelta(0)

    @property
    def early_tolerance(self) -> timedelta:
        if self.interval is None:
            return timedelta(0)
        # A learned schedule knows how early its runs scatter; it must stay under half the
        # interval (a 15-minute schedule gets 3 minutes).
        wanted = max(EARLY_TOLERANCE, self.learned_early)
        return min(wanted, timedelta(seconds=self.interval.approx_seconds / 5))


def resolve(
    *,
    job: Layer,
    server: Layer,
    defaults: Layer,
    fallback_tz: ZoneInfo,
    learned: Learned | None,
    fallback: Fallback | None,
    adopt_learned: bool,
    min_confidence: float,
    duplicati_next: datetime | None,
    last_run_at: datetime | None,
    first_run_at: datetime | None,
    duplicati: DuplicatiSchedule | None = None,
) -> Schedule:
    origins: dict[str, str] = {}
    levels = (("job", job), ("server", server), ("global", defaults))

    def pick(name: str) -> Any:
        for origin, layer in levels:
            value = getattr(layer, name)
            if value not in (None, ""):
                origins[name] = origin
                return value
        return None

    tz = zone_or(pick("timezone"), fallback_tz)
    configured_interval = next((v for v in (job.interval, server.interval) if v), "")
    weekdays = pick("weekdays") or []
    grace_minutes = pick("grace_minutes")
    source, interval_text, confidence, anchor = "", "", None, first_run_at
    learned_early = timedelta(0)

    if duplicati_next is not None and last_run_at is not None and duplicati_next > last_run_at:
        source = "duplicati"
        interval_text = (
            configured_interval
            or (duplicati.interval if duplicati else "")
            or (learned.interval if learned else "")
        )
    elif configured_interval:
        source, interval_text = "configured", configured_interval
        origins["interval"] = "job" if job.interval else "server"
    elif duplicati is not None and _interval(duplicati.interval) is not None:
        source, interval_text, anchor = "duplicati", duplicati.interval, duplicati.anchor
        origins["interval"] = "its schedule"
        if job.weekdays is None and server.weekdays is None and duplicati.weekdays:
            weekdays = duplicati.weekdays
            origins["weekdays"] = "duplicati"
    elif learned is not None and adopt_learned and learned.confidence >= min_confidence:
        source, interval_text, confidence = "learned", learned.interval, learned.confidence
        anchor = learned.anchor
        learned_early = timedelta(minutes=learned.early_minutes)
        if job.weekdays is None and server.weekdays is None:
            weekdays = learned.weekdays
            origins["weekdays"] = "learned"
        if grace_minutes is None or origins.get("grace_minutes") == "global":
            if learned.grace_minutes is not None:
                grace_minutes = learned.grace_minutes
                origins["grace_minutes"] = "learned"
    elif defaults.interval:
        source, interval_text = "default", defaults.interval
        origins["interval"] = "global"
    elif fallback is not None:
        # Steps from the latest run (anchor None): a guess has no time of day to keep.
        source, interval_text, anchor = "fallback", fallback.interval, None
        if grace_minutes is None or origins.get("grace_minutes") == "global":
            grace_minutes = fallback.grace_minutes
            origins["grace_minutes"] = "fallback"

    interval = _interval(interval_text)
    if interval is None and source != "duplicati":
        source = ""
    if learned is not None and source != "learned":
        confidence = None
    reminder_minutes = pick("reminder_minutes")
    reminder = pick("reminder") or "daily"
    reminder_period = (
        timedelta(minutes=_bounded_minutes(reminder_minutes))
        if reminder_minutes
        else REMINDER_PERIODS.get(reminder, REMINDER_PERIODS["daily"])
    )
    escalation_minutes = pick("escalation_after_minutes")
    enabled = pick("monitoring_enabled")
    pauses = [p for p in (job.paused_until, server.paused_until) if p is not None]
    return Schedule(
        interval=interval,
        interval_text=interval_text if interval else "",
        weekdays=frozenset(int(d) for d in weekdays if 0 <= int(d) <= 6),
        tz=tz,
        grace=timedelta(
            minutes=DEFAULT_GRACE_MINUTES
            if grace_minutes is None
            else _bounded_minutes(grace_minutes)
        ),
        source=source,
        confidence=confidence,
        monitoring_enabled=True if enabled is None else bool(enabled),
        paused_until=max(pauses) if pauses else None,
        reminder_period=reminder_period,
        escalation_after=(
            timedelta(minutes=_bounded_minutes(escalation_minutes)) if escalation_minutes else None
        ),
        anchor=anchor,
        duplicati_next=duplicati_next,
        origins=origins,
        learned_early=learned_early,
    )


def _bounded_minutes(minutes: int) -> int:
    """A stored setting within what the settings form accepts: a row written before the
    bound, or by hand, must not overflow every page that shows the job's schedule."""
    return max(0, min(int(minutes), MAX_SETTING_MINUTES))


@lru_cache(maxsize=256)
def _interval(text: str) -> Interval | None:
    # Cached: a listing resolves thousands of schedules with a handful of distinct interval
    # texts, and an Interval is immutable, so schedules may share one.
    if not text:
        return None
    try:
        return parse_interval(text)
    except IntervalError:
        return None


def expected_after(schedule: Schedule, after: datetime | None) -> datetime | None:
    """The first expected run after `after` (the latest run, or the end of a pause)."""
    if schedule.source == "duplicati" and schedule.duplicati_next is not None:
        if after is None or schedule.duplicati_next > after:
            return schedule.duplicati_next
    if schedule.interval is None or after is None:
        return None
    return next_expected_at(
        reference=schedule.anchor or after,
        last_run_at=after,
        interval=schedule.interval,
        tz=schedule.tz,
        weekdays=schedule.weekdays,
        early_tolerance=schedule.early_tolerance,
    )


@dataclass(frozen=True)
class Watch:
    """A job's monitoring state as stored."""

    next_expected_at: datetime | None
    overdue_since: datetime | None
    last_reminder_at: datetime | None
    escalated_at: datetime | None


@dataclass(frozen=True)
class Decision:
    event: str | None  # overdue | reminder | escalation | None
    changes: dict[str, Any]  # column → new value, always including alert_after


def first_alert(schedule: Schedule, next_expected: datetime | None) -> datetime | None:
    """When the scanner must first look at a job that is not overdue."""
    if not schedule.monitoring_enabled or next_expected is None:
        return None
    due = next_expected + schedule.grace
    if schedule.paused_until is not None and due <= schedule.paused_until:
        return schedule.paused_until
    return due


def decide(
    schedule: Schedule, watch: Watch, *, now: datetime, last_run_at: datetime | None
) -> Decision:
    """What to do for a job whose alert time has come."""
    if not schedule.monitoring_enabled:
        return Decision(None, {"alert_after": None})
    if schedule.paused_until is not None and now < schedule.paused_until:
        return Decision(None, {"alert_after": schedule.paused_until})
    expected = watch.next_expected_at
    if expected is None:
        return Decision(None, {"alert_after": None})
    due = expected + schedule.grace

    if watch.overdue_since is None:
        if schedule.paused_until is not None and due <= schedule.paused_until <= now:
            # The slot passed during maintenance: expect the first one after the pause.
            expected = expected_after(schedule, max(schedule.paused_until, last_run_at or now))
            return Decision(
                None, {"next_expected_at": expected, "alert_after": first_alert(schedule, expected)}
            )
        if now < due:  # the schedule or grace changed since the alert time was set
            return Decision(None, {"alert_after": due})
        changes: dict[str, Any] = {
            "overdue_since": due,
            "last_reminder_at": now,
            "escalated_at": None,
        }
        changes["alert_after"] = _next_look(schedule, due, now, None)
        return Decision("overdue", changes)

    since = watch.overdue_since
    if (
        schedule.escalation_after is not None
        and watch.escalated_at is None
        and now >= since + schedule.escalation_after
    ):
        return Decision(
            "escalation",
            {
                "escalated_at": now,
                "alert_after": _next_look(schedule, since, watch.last_reminder_at or now, now),
            },
        )
    last = watch.last_reminder_at or since
    if schedule.reminder_period is not None and now >= last + schedule.reminder_period:
        return Decision(
            "reminder",
            {
                "last_reminder_at": now,
                "alert_after": _next_look(schedule, since, now, watch.escalated_at),
            },
        )
    return Decision(None, {"alert_after": _next_look(schedule, since, last, watch.escalated_at)})


def _next_look(
    schedule: Schedule,
    overdue_since: datetime,
    last_reminder: datetime,
    escalated_at: datetime | None,
) -> datetime | None:
    """The earliest of the next reminder and a pending escalation; None when neither."""
    times = []
    if schedule.reminder_period is not None:
        times.append(last_reminder + schedule.reminder_period)
    if schedule.escalation_after is not None and escalated_at is None:
        times.append(overdue_since + schedule.escalation_after)
    return min(times) if times else None


def state(schedule: Schedule, watch: Watch, *, now: datetime) -> JobState:
    return job_state(
        now=now,
        next_expected_at=watch.next_expected_at,
        grace=schedule.grace,
        paused_until=schedule.paused_until,
        monitoring_enabled=schedule.monitoring_enabled,
        overdue_since=watch.overdue_since,
    )
