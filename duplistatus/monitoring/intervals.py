"""Schedule arithmetic for backup jobs: when is the next run due, and is the job late?

This module decides; it never acts. Every function is pure: no I/O, no database, no clock.
Anything that depends on time takes it as an argument (`now`, `reference`, ...), and every
datetime going in or out is timezone-aware UTC. Local time only exists inside the functions
that step a calendar schedule in the job's time zone.

The interval syntax and the "next expected run" rule follow the original duplistatus
(see docs/compatibility.md, "Monitoring semantics"):

* intervals are concatenated ``<int><unit>`` tokens with case-sensitive units
  ``s m h D W M Y`` (``1D``, ``2h30m``, ``1W``, ``1M``); a bare integer means seconds;
* the next expected run keeps the schedule's time of day: step from the previous expectation
  by whole intervals until the result is after the latest run.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Final, Literal
from zoneinfo import ZoneInfo

from django.utils.dates import WEEKDAYS_ABBR

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_GRACE_MINUTES",
    "DEFAULT_REMINDER",
    "GRACE_PRESETS_MINUTES",
    "REMINDER_PERIODS",
    "Interval",
    "IntervalError",
    "JobState",
    "alert_after",
    "format_interval",
    "format_weekdays",
    "job_state",
    "next_expected_at",
    "parse_duplicati_datetime",
    "parse_interval",
    "resolve_local",
]

# Overdue tolerance presets of the original, in minutes (0 min … 1 day); 2 h is the default.
GRACE_PRESETS_MINUTES: Final[tuple[int, ...]] = (0, 5, 15, 30, 60, 120, 240, 360, 720, 1440)
DEFAULT_GRACE_MINUTES: Final = 120
DEFAULT_GRACE: Final = timedelta(minutes=DEFAULT_GRACE_MINUTES)

# How often to remind while a job stays overdue; None means "only once".
REMINDER_PERIODS: Final[Mapping[str, timedelta | None]] = MappingProxyType(
    {
        "once": None,
        "daily": timedelta(days=1),
        "weekly": timedelta(weeks=1),
        "monthly": timedelta(days=30),
    }
)
DEFAULT_REMINDER: Final = "daily"

JobState = Literal["ok", "late", "overdue", "paused", "disabled", "unknown"]

_SECONDS_PER_UNIT: Final[Mapping[str, int]] = MappingProxyType({"s": 1, "m": 60, "h": 3600})
_UNITS: Final = "smhDWMY"
_TOKEN: Final = re.compile(r"([0-9]+)([smhDWMY])")
_BAD_TOKEN: Final = re.compile(r"([0-9]*)(.?)", re.DOTALL)
_AVERAGE_MONTH_SECONDS: Final = 365.2425 / 12 * 86400
# Far beyond any backup schedule, and keeps every step well inside datetime's range.
_MAX_INTERVAL_SECONDS: Final = 100 * 366 * 86400
# Bound on "step again, the weekday is not allowed" before falling back to the next allowed day.
_MAX_WEEKDAY_STEPS: Final = 100


class IntervalError(ValueError):
    """An interval string or value that does not describe a positive schedule interval."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A schedule interval, split by how it is stepped.

    `seconds` is the fixed part (from ``s``, ``m``, ``h``): it is added in absolute time.
    `days` (``D``, and ``W`` as 7 days) and `months` (``M``, and ``Y`` as 12 months) are the
    calendar part: they are added to the local wall-clock time in the job's time zone.
    """

    seconds: int = 0
    days: int = 0
    months: int = 0

    def __post_init__(self) -> None:
        for name in ("seconds", "days", "months"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise IntervalError(
                    f"interval {name} must be a non-negative integer, got {value!r}"
                )
        if self.seconds == 0 and self.days == 0 and self.months == 0:
            raise IntervalError("interval must be greater than zero")
        if self.approx_seconds > _MAX_INTERVAL_SECONDS:
            raise IntervalError("interval is longer than 100 years")

    @property
    def fixed(self) -> timedelta:
        """The part stepped in absolute time."""
        return timedelta(seconds=self.seconds)

    @property
    def is_calendar(self) -> bool:
        """True when part of the interval is stepped in local wall-clock time."""
        return self.days > 0 or self.months > 0

    @property
    def approx_seconds(self) -> float:
        """Typical length in seconds (a month counts as an average month); for estimates only."""
        return self.seconds + self.days * 86400 + self.months * _AVERAGE_MONTH_SECONDS

    def __str__(self) -> str:
        return format_interval(self)


def parse_interval(text: str) -> Interval:
    """Parse the original duplistatus interval syntax, e.g. ``"1D"``, ``"2h30m"``, ``"90"``.

    Raises IntervalError (a ValueError) naming the part that could not be understood.
    """
    if not isinstance(text, str):
        raise IntervalError(f"interval must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise IntervalError("interval is empty; expected e.g. '1D', '2h30m' or '1W'")
    if re.fullmatch(r"[0-9]+", stripped):
        if int(stripped) == 0:
            raise IntervalError(f"interval {stripped!r} must be greater than zero")
        return _checked(stripped, seconds=int(stripped))

    seconds = days = months = 0
    pos = 0
    while pos < len(stripped):
        token = _TOKEN.match(stripped, pos)
        if token is None:
            raise IntervalError(_explain_bad_token(stripped, pos))
        value, unit = int(token.group(1)), token.group(2)
        if value == 0:
            raise IntervalError(
                f"{token.group(0)!r} in interval {stripped!r} must be greater than zero"
            )
        if unit in _SECONDS_PER_UNIT:
            seconds += value * _SECONDS_PER_UNIT[unit]
        elif unit == "D":
            days += value
        elif unit == "W":
            days += 7 * value
        elif unit == "M":
            months += value
        else:  # "Y"
            months += 12 * value
        pos = token.end()
    return _checked(stripped, seconds=seconds, days=days, months=months)


def _checked(text: str, *, seconds: int = 0, days: int = 0, months: int = 0) -> Interval:
    try:
        return Interval(seconds=seconds, days=days, months=months)
    except IntervalError as exc:
        raise IntervalError(f"interval {text!r}: {exc}") from None


def _explain_bad_token(text: str, pos: int) -> str:
    bad = _BAD_TOKEN.match(text, pos)
    digits, char = (bad.group(1), bad.group(2)) if bad else ("", text[pos])
    if not digits:
        return (
            f"interval {text!r}: unexpected {char!r} at position {pos + 1}; "
            "expected a number followed by a unit (s m h D W M Y)"
        )
    if not char:
        return f"interval {text!r}: the number {digits!r} at the end has no unit (s m h D W M Y)"
    hint = ""
    for other in (char.upper(), char.lower()):
        if other != char and other in _UNITS:
            hint = f"; did you mean {digits + other!r}?"
            break
    return (
        f"interval {text!r}: unknown unit {char!r} in {digits + char!r}; "
        f"units are case-sensitive: s m h D W M Y{hint}"
    )


def format_interval(interval: Interval) -> str:
    """The canonical text of an interval (largest units first); `parse_interval` reads it back."""
    years, months = divmod(interval.months, 12)
    weeks, days = divmod(interval.days, 7)
    hours, rest = divmod(interval.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = (
        (years, "Y"),
        (months, "M"),
        (weeks, "W"),
        (days, "D"),
        (hours, "h"),
        (minutes, "m"),
        (seconds, "s"),
    )
    return "".join(f"{value}{unit}" for value, unit in parts if value)


def weekday_abbr(day: int) -> str:
    """A weekday (0 = Sunday) abbreviated in the active language ("Mon", "Mo", "lun", …),
    from Django's own catalogue (its table starts on Monday)."""
    return str(WEEKDAYS_ABBR[(day - 1) % 7])


def format_weekdays(weekdays: Set[int]) -> str:
    """Short text for a set of weekdays (0 = Sunday): "Mon–Fri", "Sat, Sun", "" for all days."""
    allowed = _checked_weekdays(weekdays)
    if not allowed:
        return ""
    monday_first = [day for day in (1, 2, 3, 4, 5, 6, 0) if day in allowed]
    order = (1, 2, 3, 4, 5, 6, 0)
    groups: list[list[int]] = []
    for day in monday_first:
        if groups and order.index(day) == order.index(groups[-1][-1]) + 1:
            groups[-1].append(day)
        else:
            groups.append([day])
    parts: list[str] = []
    for group in groups:
        if len(group) >= 3:
            parts.append(f"{weekday_abbr(group[0])}–{weekday_abbr(group[-1])}")
        else:
            parts.extend(weekday_abbr(day) for day in group)
    return ", ".join(parts)


def resolve_local(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the clocks in `tz` show the naive wall time `wall`.

    DST makes this a partial function, and both traps are decided here once:

    * A wall time inside the spring-forward gap (02:30 in Europe/Berlin on the last Sunday in
      March) never happens; we return the next time that does exist, the end of the gap
      (03:00), so a backup scheduled in the gap is expected as soon as the clock jumps.
    * A wall time inside the fall-back overlap (02:30 on the last Sunday in October) happens
      twice; we take the first occurrence (fold=0), the earlier instant.
    """
    if wall.tzinfo is not None:
        raise ValueError("resolve_local needs a naive wall-clock time")
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == wall:
        return first
    # In a gap, fold=0 reads the wall time with the offset from before the transition, which
    # lands after the transition; fold=1 uses the offset from after it and lands before. The
    # transition instant lies in between: bisect for the first instant whose wall time is
    # past `wall` (transitions are whole seconds, so the microsecond floor is exact).
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = first
    tick = timedelta(microseconds=1)
    while after - before > tick:
        middle = before + (after - before) // 2
        if _wall(middle, tz) >= wall:
            after = middle
        else:
            before = middle
    return after


def next_expected_at(
    *,
    reference: datetime,
    last_run_at: datetime,
    interval: Interval,
    tz: ZoneInfo,
    weekdays: Set[int] = frozenset(),
    early_tolerance: timedelta = timedelta(0),
) -> datetime:
    """When the next scheduled run is expected (UTC).

    Starting at `reference`, step by whole intervals until the result is strictly after
    `last_run_at`; the result may be `reference` itself. Stepping keeps the schedule's time of
    day, so a manual run at 22:00 does not move a 14:00 daily schedule, and a job that missed
    several runs catches up in one call. If `weekdays` (0 = Sunday … 6 = Saturday, evaluated
    in `tz`; empty means every day) is given, keep stepping until the run falls on an
    allowed day.

    Calendar parts step in `tz` wall-clock time; each step k is computed from `reference`
    directly (reference + k intervals), so month clamping does not accumulate (Jan 31 + 1M is
    Feb 28/29, + 2M is Mar 31). Pass the same anchor every time (the first run's time, or
    the first expectation) to keep this property across calls: a previous expectation that
    was clamped (Feb 28) or moved out of a DST gap (03:00) would carry that shift forward.
    The anchor may be years in the past; the step count is computed, not iterated.

    `early_tolerance` (default 0, the original rule) lets a run that started up to that long
    before an expected time count for it; this absorbs clock skew between the Duplicati host
    and us, and runs a little early against a learned (median) time of day.
    """
    reference = _as_utc(reference, "reference")
    threshold = _as_utc(last_run_at, "last_run_at") + early_tolerance
    allowed = _checked_weekdays(weekdays)
    if early_tolerance < timedelta(0) or early_tolerance.total_seconds() * 2 >= (
        interval.approx_seconds
    ):
        raise ValueError("early_tolerance must be >= 0 and shorter than half the interval")
    stepper = _Stepper(reference, interval, tz)

    k = stepper.first_index_after(threshold, strict=True)
    candidate = stepper.at(k)
    if not allowed:
        return candidate
    first_candidate = candidate
    for _ in range(_MAX_WEEKDAY_STEPS):
        local = candidate.astimezone(tz)
        if _sunday_based(local) in allowed:
            return candidate
        # Every step before the next allowed day would also fall on a forbidden day, so jump
        # straight to the first step on or after that day's local midnight. For a daily
        # schedule this is plain stepping; for "15m" it skips a weekend in one go.
        day_start = resolve_local(
            datetime.combine(_next_allowed_date(local.date(), allowed), time()), tz
        )
        k = max(k + 1, stepper.first_index_after(day_start, strict=False))
        candidate = stepper.at(k)
    # The interval keeps missing the allowed days (e.g. "1W" anchored on a Saturday with
    # Mon–Fri allowed): run on the next allowed day at the schedule's time of day instead.
    local = first_candidate.astimezone(tz)
    wall = datetime.combine(_next_allowed_date(local.date(), allowed), local.time())
    return resolve_local(wall, tz)


def alert_after(next_expected: datetime, grace: timedelta) -> datetime:
    """The moment a job that has not run by then becomes overdue."""
    return next_expected + grace


def job_state(
    *,
    now: datetime,
    next_expected_at: datetime | None,
    grace: timedelta,
    paused_until: datetime | None,
    monitoring_enabled: bool,
    overdue_since: datetime | None,
) -> JobState:
    """The monitoring state of a job at `now`.

    * "disabled": monitoring is off for this job;
    * "paused": paused until a moment still in the future;
    * "unknown": there is no expectation yet (no run seen, no schedule known);
    * "overdue": past the expected time plus grace, or already declared overdue for the
      current expectation (`overdue_since` at or after it: the checker ran with the grace in
      force then, and a later change of grace does not silently clear the alert);
    * "late": past the expected time but still within grace;
    * "ok": otherwise.
    """
    if not monitoring_enabled:
        return "disabled"
    if paused_until is not None and now < paused_until:
        return "paused"
    if next_expected_at is None:
        return "unknown"
    # An overdue_since from before the current expectation belongs to an older expectation
    # that a new run has since satisfied; it no longer says anything.
    if overdue_since is not None and overdue_since >= next_expected_at:
        return "overdue"
    if now > alert_after(next_expected_at, grace):
        return "overdue"
    if now > next_expected_at:
        return "late"
    return "ok"


_DUPLICATI_DATETIME: Final = re.compile(
    r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def parse_duplicati_datetime(text: str | None) -> datetime | None:
    """Parse Duplicati's ``yyyyMMdd'T'HHmmssK`` (``20260101T020000Z``) or ISO-8601, into UTC.

    A missing offset means UTC (Duplicati serialises in UTC). None or anything unparsable
    gives None: the value comes from reports we do not control.
    """
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    match = _DUPLICATI_DATETIME.fullmatch(stripped)
    try:
        if match:
            year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
            parsed = datetime(year, month, day, hour, minute, second)
            suffix = match.group(7)
            offset: timezone = UTC
            if suffix and suffix != "Z":
                sign = -1 if suffix[0] == "-" else 1
                digits = suffix[1:].replace(":", "")
                offset = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
            return parsed.replace(tzinfo=offset).astimezone(UTC)
        parsed = datetime.fromisoformat(stripped)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


class _Stepper:
    """Computes reference + k intervals, the k-th step of a schedule, for any k >= 0."""

    def __init__(self, reference: datetime, interval: Interval, tz: ZoneInfo) -> None:
        self.reference = reference
        self.interval = interval
        self.tz = tz
        self.wall = _wall(reference, tz)

    def at(self, k: int) -> datetime:
        interval = self.interval
        base = self.reference
        if interval.is_calendar:
            # Calendar steps move the local wall clock, so a daily 02:00 backup stays at 02:00
            # local through DST although its UTC time moves by an hour. Each step starts from
            # the reference (not from the previous step) so month clamping does not stick.
            wall = _add_months(self.wall, k * interval.months) + timedelta(days=k * interval.days)
            base = resolve_local(wall, self.tz)
        return base + k * interval.fixed

    def first_index_after(self, threshold: datetime, *, strict: bool) -> int:
        """The smallest k >= 0 with at(k) > threshold (or >= when not strict)."""

        def reached(k: int) -> bool:
            moment = self.at(k)
            return moment > threshold if strict else moment >= threshold

        if reached(0):
            return 0
        interval = self.interval
        if not interval.is_calendar:
            # Pure absolute steps: exact integer arithmetic, no iteration.
            delta_us = (threshold - self.reference) // timedelta(microseconds=1)
            step_us = interval.seconds * 1_000_000
            k = delta_us // step_us + 1 if strict else -(-delta_us // step_us)
        else:
            # Jump to an estimate from the average interval length; months of 28–31 days and
            # DST hours make it off by at most a step or two, which the loops below fix.
            elapsed = (threshold - self.reference).total_seconds()
            k = int(elapsed // interval.approx_seconds)
        k = max(k, 1)
        while k > 1 and reached(k - 1):
            k -= 1
        while not reached(k):
            k += 1
        return k


def _add_months(wall: datetime, months: int) -> datetime:
    """Add calendar months, clamping the day to the target month's length (Jan 31 → Feb 28)."""
    if months == 0:
        return wall
    year, month_index = divmod(wall.month - 1 + months, 12)
    year += wall.year
    day = min(wall.day, calendar.monthrange(year, month_index + 1)[1])
    return wall.replace(year=year, month=month_index + 1, day=day)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock time of an instant in `tz`."""
    return instant.astimezone(tz).replace(tzinfo=None)


def _as_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def _checked_weekdays(weekdays: Set[int]) -> frozenset[int]:
    """Validate a weekday set; returns an empty set when every day is allowed."""
    allowed = frozenset(weekdays)
    for day in allowed:
        if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6:
            raise ValueError(f"weekday must be an integer 0 (Sunday) … 6 (Saturday), got {day!r}")
    return frozenset() if len(allowed) == 7 else allowed


def _sunday_based(moment: date) -> int:
    """Weekday with 0 = Sunday … 6 = Saturday, as the original and JavaScript count."""
    return (moment.weekday() + 1) % 7


def _next_allowed_date(day: date, allowed: frozenset[int]) -> date:
    """The first date after `day` whose weekday is allowed (allowed must not be empty)."""
    for offset in range(1, 8):
        candidate = day + timedelta(days=offset)
        if _sunday_based(candidate) in allowed:
            return candidate
    raise ValueError("no allowed weekday")  # unreachable for a non-empty set of 0..6
