"""Tests for monitoring.learn on generated run histories (seeded, so reproducible)."""

from __future__ import annotations

import random
from collections.abc import Set
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from duplistatus.monitoring.intervals import Interval, next_expected_at, resolve_local
from duplistatus.monitoring.learn import LearnedSchedule, fallback_schedule, learn_schedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")
MON_FRI = frozenset({1, 2, 3, 4, 5})
SEEDS = range(5)


def daily_runs(
    tz: ZoneInfo,
    start: date,
    days: int,
    at: time,
    rng: random.Random,
    *,
    jitter_minutes: float = 10,
    weekdays: Set[int] | None = None,
    missed: float = 0.0,
) -> list[datetime]:
    """A job scheduled daily at local `at` (only on `weekdays`, 0 = Sunday), started with
    ±jitter, each run missed with probability `missed`."""
    runs = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if weekdays is not None and (day.weekday() + 1) % 7 not in weekdays:
            continue
        if rng.random() < missed:
            continue
        slot = resolve_local(datetime.combine(day, at), tz)
        runs.append(slot + timedelta(minutes=rng.uniform(-jitter_minutes, jitter_minutes)))
    return runs


def with_manual_runs(runs: list[datetime], share: float, rng: random.Random) -> list[datetime]:
    """Add manual runs at uniformly random moments, `share` of the scheduled count."""
    first, last = min(runs), max(runs)
    span = (last - first).total_seconds()
    extra = [
        first + timedelta(seconds=rng.uniform(0, span)) for _ in range(round(share * len(runs)))
    ]
    return sorted(runs + extra)


def learn(runs: list[datetime], tz: ZoneInfo) -> LearnedSchedule:
    learned = learn_schedule(runs, tz, now=max(runs) + timedelta(hours=1))
    assert learned is not None
    return learned


def minutes_off(actual: time | None, expected: time) -> int:
    assert actual is not None
    return abs((actual.hour * 60 + actual.minute) - (expected.hour * 60 + expected.minute))


# --- daily, across DST ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("tz", "start"),
    [
        (BERLIN, date(2026, 3, 1)),  # spring forward on 2026-03-29
        (BERLIN, date(2026, 10, 1)),  # fall back on 2026-10-25
        (NEW_YORK, date(2026, 2, 15)),  # spring forward on 2026-03-08
        (NEW_YORK, date(2026, 10, 1)),  # fall back on 2026-11-01
    ],
)
def test_daily_0200_with_jitter_across_dst(tz: ZoneInfo, start: date, seed: int) -> None:
    rng = random.Random(seed)
    runs = daily_runs(tz, start, 60, time(2, 0), rng)
    learned = learn(runs, tz)
    assert learned.interval == Interval(days=1)
    assert learned.interval_text == "1D"
    assert minutes_off(learned.time_of_day, time(2, 0)) <= 5
    assert learned.weekdays == frozenset()
    assert learned.confidence >= 0.8
    assert learned.sample_size == 60
    assert learned.describe().startswith("daily at 0")
    # The learned schedule predicts the next run at ~02:00 local tomorrow.
    expected = learned.next_expected_at(runs[-1])
    assert expected > runs[-1]
    local = expected.astimezone(tz)
    assert local.date() == runs[-1].astimezone(tz).date() + timedelta(days=1)
    assert minutes_off(local.time(), time(2, 0)) <= 5


def test_clean_daily_history_learns_exactly() -> None:
    runs = daily_runs(BERLIN, date(2026, 3, 1), 60, time(2, 0), random.Random(0), jitter_minutes=0)
    learned = learn(runs, BERLIN)
    assert learned.time_of_day == time(2, 0)
    assert learned.describe() == "daily at 02:00"
    assert learned.confidence == 1.0
    assert learned.suggested_grace == timedelta(minutes=5)
    assert learned.early_tolerance == timedelta(0)
    assert learned.anchor == runs[-1]


def test_unsorted_and_duplicated_runs() -> None:
    runs = daily_runs(BERLIN, date(2026, 5, 1), 30, time(4, 15), random.Random(1), jitter_minutes=2)
    shuffled = runs + [run + timedelta(seconds=20) for run in runs[:10]]  # reported twice
    random.Random(2).shuffle(shuffled)
    learned = learn(shuffled, BERLIN)
    assert learned.sample_size == 30
    assert learned.interval_text == "1D"
    assert minutes_off(learned.time_of_day, time(4, 15)) <= 2


# --- other shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_every_six_hours_in_absolute_time(seed: int) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 3, 20, tzinfo=UTC)  # crosses Berlin's spring forward
    runs = [start + timedelta(hours=6 * i, minutes=rng.uniform(-5, 5)) for i in range(120)]
    learned = learn(runs, BERLIN)
    assert learned.interval == Interval(seconds=6 * 3600)
    assert learned.time_of_day is None
    assert learned.weekdays == frozenset()
    assert learned.confidence >= 0.8
    assert learned.describe() == "every 6 h"
    nxt = learned.next_expected_at(runs[-1])
    assert timedelta(hours=5) < nxt - runs[-1] < timedelta(hours=7)


def test_every_six_hours_kept_in_local_time_across_dst() -> None:
    # A scheduler that keeps local hours (00/06/12/18 local) looks shifted by an hour in UTC
    # after the change; the wall-clock fold still recognises it.
    rng = random.Random(3)
    start = datetime(2026, 3, 20)
    runs = [
        resolve_local(start + timedelta(hours=6 * i), BERLIN)
        + timedelta(minutes=rng.uniform(-5, 5))
        for i in range(120)
    ]
    learned = learn(runs, BERLIN)
    assert learned.interval_text == "6h"
    assert learned.confidence >= 0.8


def test_every_fifteen_minutes() -> None:
    rng = random.Random(4)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    runs = [start + timedelta(minutes=15 * i + rng.uniform(-1, 1)) for i in range(300)]
    learned = learn(runs, BERLIN)
    assert learned.interval_text == "15m"
    assert learned.sample_size == 200  # only the most recent runs count
    assert learned.describe() == "every 15 min"
    assert learned.confidence >= 0.8


@pytest.mark.parametrize("seed", SEEDS)
def test_weekdays_only(seed: int) -> None:
    rng = random.Random(seed)
    runs = daily_runs(BERLIN, date(2026, 3, 1), 63, time(21, 30), rng, weekdays=MON_FRI)
    learned = learn(runs, BERLIN)
    assert learned.interval_text == "1D"
    assert learned.weekdays == MON_FRI
    assert minutes_off(learned.time_of_day, time(21, 30)) <= 5
    assert learned.confidence >= 0.8
    assert learned.describe().endswith(" Mon–Fri")
    # After Friday's run, the next one is expected on Monday.
    friday = max(run for run in runs if run.astimezone(BERLIN).weekday() == 4)
    monday = learned.next_expected_at(friday).astimezone(BERLIN)
    assert monday.weekday() == 0
    assert monday.date() == friday.astimezone(BERLIN).date() + timedelta(days=3)


def test_weekdays_only_describes_exactly_when_clean() -> None:
    rng = random.Random(0)
    runs = daily_runs(BERLIN, date(2026, 3, 1), 63, time(2, 0), rng, jitter_minutes=0.5)
    runs = [run for run in runs if run.astimezone(BERLIN).weekday() < 5]
    assert learn(runs, BERLIN).describe() == "daily at 02:00 Mon–Fri"


@pytest.mark.parametrize("seed", SEEDS)
def test_weekly_on_sundays(seed: int) -> None:
    rng = random.Random(seed)
    runs = daily_runs(BERLIN, date(2026, 3, 1), 70, time(3, 0), rng, weekdays={0})
    learned = learn(runs, BERLIN)
    assert learned.interval == Interval(days=7)
    assert learned.weekdays == frozenset({0})
    assert minutes_off(learned.time_of_day, time(3, 0)) <= 5
    assert learned.confidence >= 0.8
    assert learned.describe().startswith("weekly on Sun at 0")


def test_monthly_on_the_first() -> None:
    rng = random.Random(5)
    runs = [
        resolve_local(datetime(2025 + (m > 12), (m - 1) % 12 + 1, 1, 3, 0), BERLIN)
        + timedelta(seconds=rng.uniform(0, 50))
        for m in range(3, 15)
    ]
    learned = learn(runs, BERLIN)
    assert learned.interval == Interval(months=1)
    assert learned.describe() == "monthly on day 1 at 03:00"
    assert learned.confidence >= 0.8
    nxt = learned.next_expected_at(runs[-1]).astimezone(BERLIN)
    assert (nxt.month, nxt.day, nxt.hour, nxt.minute) == (3, 1, 3, 0)


# --- robustness -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_manual_runs_are_outliers(seed: int) -> None:
    rng = random.Random(seed)
    runs = with_manual_runs(daily_runs(BERLIN, date(2026, 3, 1), 60, time(2, 0), rng), 0.1, rng)
    learned = learn(runs, BERLIN)
    assert learned.interval_text == "1D"
    assert minutes_off(learned.time_of_day, time(2, 0)) <= 5
    assert learned.weekdays == frozenset()
    assert learned.confidence >= 0.8


@pytest.mark.parametrize("seed", SEEDS)
def test_missed_runs(seed: int) -> None:
    rng = random.Random(seed)
    runs = daily_runs(BERLIN, date(2026, 3, 1), 60, time(2, 0), rng, missed=0.2)
    learned = learn(runs, BERLIN)
    assert learned.interval_text == "1D"
    assert learned.weekdays == frozenset()
    assert minutes_off(learned.time_of_day, time(2, 0)) <= 5
    assert learned.confidence >= 0.8


def test_weekdays_with_missed_and_manual_runs() -> None:
    rng = random.Random(7)
    runs = daily_runs(BERLIN, date(2026, 3, 1), 63, time(21, 30), rng, weekdays=MON_FRI, missed=0.2)
    learned = learn(with_manual_runs(runs, 0.1, rng), BERLIN)
    assert (learned.interval_text, learned.weekdays) == ("1D", MON_FRI)
    assert learned.confidence >= 0.6


def test_too_few_runs() -> None:
    runs = daily_runs(BERLIN, date(2026, 3, 1), 4, time(2, 0), random.Random(0))
    assert learn_schedule(runs, BERLIN, now=runs[-1] + timedelta(hours=1)) is None
    assert learn_schedule([], BERLIN, now=datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_few_runs_give_low_confidence() -> None:
    runs = daily_runs(BERLIN, date(2026, 3, 1), 5, time(2, 0), random.Random(0))
    learned = learn(runs, BERLIN)
    assert learned.interval_text == "1D"
    assert learned.confidence < 0.8


def test_future_and_ancient_runs_are_ignored() -> None:
    runs = daily_runs(BERLIN, date(2026, 3, 1), 8, time(2, 0), random.Random(0))
    now = runs[3] + timedelta(hours=1)
    assert learn_schedule(runs, BERLIN, now=now) is None  # only 4 runs are in the past
    now = runs[-1] + timedelta(days=500)
    assert learn_schedule(runs, BERLIN, now=now) is None  # all outside the history window


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize(("count", "days"), [(60, 60), (15, 60), (300, 10)])
def test_random_noise_has_low_confidence(seed: int, count: int, days: int) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    runs = [start + timedelta(seconds=rng.uniform(0, days * 86400)) for _ in range(count)]
    learned = learn_schedule(runs, BERLIN, now=start + timedelta(days=days))
    assert learned is None or learned.confidence < 0.5


def test_requires_aware_datetimes() -> None:
    naive = [datetime(2026, 3, d, 2, 0) for d in range(1, 10)]
    with pytest.raises(ValueError):
        learn_schedule(naive, BERLIN, now=datetime(2026, 4, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        learn_schedule([], BERLIN, now=datetime(2026, 4, 1))


# --- grace and next expectation ---------------------------------------------------------------


def test_grace_covers_observed_lateness() -> None:
    rng = random.Random(11)
    start = date(2026, 4, 1)
    runs = [
        resolve_local(datetime.combine(start + timedelta(days=i), time(1, 0)), BERLIN)
        + timedelta(minutes=rng.uniform(0, 40))
        for i in range(60)
    ]
    learned = learn(runs, BERLIN)
    # Runs start 01:00–01:40; the learned time is the typical start (~01:20), so starts are up
    # to ~20 min late against it (+ margin → the 30 min preset) and up to ~20 min early.
    assert minutes_off(learned.time_of_day, time(1, 20)) <= 5
    assert learned.suggested_grace == timedelta(minutes=30)
    assert timedelta(minutes=15) <= learned.early_tolerance <= timedelta(minutes=30)
    # Stepping the learned schedule through the history: every run counts for its own day's
    # slot (none too early to count, none late enough to be overdue).
    assert learned.time_of_day is not None
    reference = resolve_local(datetime.combine(start, learned.time_of_day), BERLIN)
    previous = runs[0] - timedelta(days=1)
    for run in runs:
        slot = next_expected_at(
            reference=reference,
            last_run_at=previous,
            interval=learned.interval,
            tz=BERLIN,
            early_tolerance=learned.early_tolerance,
        )
        assert slot - learned.early_tolerance <= run <= slot + learned.suggested_grace
        previous = run
    with_duration = learn_schedule(
        runs, BERLIN, now=runs[-1] + timedelta(hours=2), typical_duration=timedelta(hours=1)
    )
    assert with_duration is not None
    assert with_duration.suggested_grace == timedelta(hours=2)


def test_learned_schedule_feeds_next_expected_at() -> None:
    rng = random.Random(12)
    runs = daily_runs(NEW_YORK, date(2026, 2, 20), 30, time(23, 45), rng, jitter_minutes=3)
    learned = learn(runs, NEW_YORK)
    manual = runs[-1] + timedelta(hours=5)  # a manual run does not move the schedule
    direct = next_expected_at(
        reference=learned.anchor,
        last_run_at=manual,
        interval=learned.interval,
        tz=NEW_YORK,
        weekdays=learned.weekdays,
    )
    assert direct == learned.next_expected_at(manual)
    local = direct.astimezone(NEW_YORK)
    assert local.date() == runs[-1].astimezone(NEW_YORK).date() + timedelta(days=1)
    assert minutes_off(local.time(), time(23, 45)) <= 3


def test_anchor_avoids_a_slot_inside_the_spring_forward_gap() -> None:
    # Daily at 02:30 in Berlin; the latest run is on 2026-03-29, when 02:30 does not exist and
    # the run came at 03:00+. Stepping from that slot would keep the schedule at 03:00.
    runs = daily_runs(
        BERLIN, date(2026, 2, 1), 57, time(2, 30), random.Random(13), jitter_minutes=1
    )
    assert runs[-1].astimezone(BERLIN).date() == date(2026, 3, 29)
    learned = learn(runs, BERLIN)
    assert learned.time_of_day == time(2, 30)
    assert learned.anchor.astimezone(BERLIN).time() == time(2, 30)
    nxt = learned.next_expected_at(runs[-1]).astimezone(BERLIN)
    assert (nxt.month, nxt.day, nxt.hour, nxt.minute) == (3, 30, 2, 30)


def test_describe_variants() -> None:
    def schedule(text: str, interval: Interval, at: time | None, days: frozenset[int]) -> str:
        return LearnedSchedule(
            interval=interval,
            interval_text=text,
            time_of_day=at,
            weekdays=days,
            confidence=1.0,
            suggested_grace=timedelta(minutes=15),
            sample_size=10,
            anchor=datetime(2026, 3, 1, 2, 0, tzinfo=UTC),  # a Sunday
            tz=ZoneInfo("UTC"),
        ).describe()

    assert schedule("1D", Interval(days=1), time(2, 0), MON_FRI) == "daily at 02:00 Mon–Fri"
    assert schedule("1h", Interval(seconds=3600), None, frozenset()) == "hourly"
    assert schedule("30m", Interval(seconds=1800), None, MON_FRI) == "every 30 min Mon–Fri"
    assert schedule("2D", Interval(days=2), time(5, 0), frozenset()) == "every 2 days at 05:00"
    assert schedule("1W", Interval(days=7), time(2, 0), frozenset({0})) == "weekly on Sun at 02:00"
    assert (
        schedule("1M", Interval(months=1), time(2, 0), frozenset()) == "monthly on day 1 at 02:00"
    )
    assert schedule("90s", Interval(seconds=90), None, frozenset()) == "every 1m30s"


# --- defects a new user hits (issue 10) ---------------------------------------------------------


@pytest.mark.parametrize("late_seconds", [0.2, 30])
@pytest.mark.parametrize("seed", range(10))
def test_runs_just_after_midnight_count_for_their_own_day(late_seconds: float, seed: int) -> None:
    # Duplicati starts a 00:00 job at 00:00 and a few seconds; float noise in those seconds
    # put some runs on the day before, which read as "no run on that weekday" (e.g.
    # "Mon–Fri, Sun"). Which runs it hit depended on the times, hence the many histories.
    rng = random.Random(seed)
    runs = [
        resolve_local(datetime.combine(date(2026, 4, 1) + timedelta(days=i), time(0, 0)), BERLIN)
        + timedelta(seconds=rng.uniform(0, late_seconds))
        for i in range(28)
    ]
    learned = learn(runs, BERLIN)
    assert learned.describe() == "daily at 00:00"
    assert learned.weekdays == frozenset()


def test_monthly_job_is_trusted_after_a_few_months() -> None:
    # Six clean monthly runs: 0.75 with the daily job's bar of 8 slots, so the learned schedule
    # was not adopted (0.8) and a monthly job waited 8 months to be watched.
    runs = [resolve_local(datetime(2026, month, 4, 3, 0), BERLIN) for month in range(1, 7)]
    learned = learn(runs, BERLIN)
    assert learned.describe() == "monthly on day 4 at 03:00"
    assert learned.confidence >= 0.8


SUNDAY_0300 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def test_a_job_that_turns_from_weekly_to_daily_is_learned_daily_within_a_few_runs() -> None:
    weekly = [SUNDAY_0300 + timedelta(weeks=week) for week in range(20)]
    daily = [weekly[-1] + timedelta(days=day) for day in range(1, 4)]
    learned = learn(weekly + daily, UTC_ZONE)
    assert (learned.interval_text, learned.time_of_day) == ("1D", time(3, 0))
    # A full week at the new pace leaves no weekday out.
    week = [weekly[-1] + timedelta(days=day) for day in range(1, 8)]
    assert learn(weekly + week, UTC_ZONE).describe() == "daily at 03:00"


def test_a_daily_job_that_turns_weekly_is_no_longer_trusted_as_daily() -> None:
    # Still trusted as daily, it would be overdue every day of the week.
    daily = [SUNDAY_0300 + timedelta(days=day) for day in range(40)]
    learned = learn(daily + [daily[-1] + timedelta(weeks=1)], UTC_ZONE)
    assert learned.interval_text != "1D" or learned.confidence < 0.8


# --- the fallback ---------------------------------------------------------------------------


def test_fallback_needs_two_runs() -> None:
    assert fallback_schedule([SUNDAY_0300], now=SUNDAY_0300 + timedelta(hours=1)) is None
    two = fallback_schedule(
        [SUNDAY_0300, SUNDAY_0300 + timedelta(days=1)], now=SUNDAY_0300 + timedelta(days=2)
    )
    assert two is not None
    assert (two.interval_text, two.grace, two.describe()) == (
        "1D",
        timedelta(hours=12),
        "about daily",
    )


def test_fallback_grace_covers_the_longest_recent_gap() -> None:
    runs = daily_runs(
        BERLIN, date(2026, 3, 2), 14, time(21, 30), random.Random(0), weekdays=MON_FRI
    )
    fallback = fallback_schedule(runs, now=runs[-1] + timedelta(hours=1))
    assert fallback is not None
    # Typically a day; the weekend's three days must not be overdue: 2 days beyond, plus half.
    assert fallback.interval_text == "1D"
    assert timedelta(days=2, hours=12) <= fallback.grace <= timedelta(days=2, hours=13)


def test_fallback_follows_longer_paces_and_never_expects_sooner_than_a_day() -> None:
    monthly = [resolve_local(datetime(2026, month, 4, 3, 0), BERLIN) for month in range(1, 5)]
    fallback = fallback_schedule(monthly, now=monthly[-1])
    assert fallback is not None
    assert fallback.describe() == "about every 31 days"  # 31, 28 and 31 days apart
    assert fallback.grace == timedelta(days=15, hours=12)
    minutes_apart = [SUNDAY_0300, SUNDAY_0300 + timedelta(minutes=5)]
    fallback = fallback_schedule(minutes_apart, now=SUNDAY_0300 + timedelta(hours=1))
    assert fallback is not None
    assert (fallback.interval_text, fallback.grace) == ("1D", timedelta(hours=12))
