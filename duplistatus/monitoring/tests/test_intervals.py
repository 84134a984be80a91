"""Tests for monitoring.intervals: parsing, stepping schedules through DST, job states."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duplistatus.monitoring.intervals import (
    DEFAULT_GRACE,
    GRACE_PRESETS_MINUTES,
    REMINDER_PERIODS,
    Interval,
    IntervalError,
    alert_after,
    format_interval,
    format_weekdays,
    job_state,
    next_expected_at,
    parse_duplicati_datetime,
    parse_interval,
    resolve_local,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DAILY = Interval(days=1)
MON_FRI = frozenset({1, 2, 3, 4, 5})


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(tz: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A local wall time in tz as a UTC instant (the first one when it happens twice)."""
    return resolve_local(datetime(year, month, day, hour, minute), tz)


def wall(moment: datetime, tz: ZoneInfo) -> tuple[int, int, int, int, int]:
    m = moment.astimezone(tz)
    return (m.year, m.month, m.day, m.hour, m.minute)


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1D", Interval(days=1)),
        ("2h30m", Interval(seconds=9000)),
        ("1W", Interval(days=7)),
        ("1M", Interval(months=1)),
        ("90m", Interval(seconds=5400)),
        ("1Y", Interval(months=12)),
        ("45s", Interval(seconds=45)),
        ("3600", Interval(seconds=3600)),
        ("  1D\n", Interval(days=1)),
        ("1D12h", Interval(seconds=43200, days=1)),
        ("1W2D", Interval(days=9)),
        ("1Y6M", Interval(months=18)),
    ],
)
def test_parse_valid(text: str, expected: Interval) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0", "greater than zero"),
        ("0h", "'0h'"),
        ("5x", "'x'"),
        ("1d", "did you mean '1D'"),
        ("1w", "did you mean '1W'"),
        ("1H", "did you mean '1h'"),
        ("-1h", "'-'"),
        ("1h30", "'30'"),
        ("h", "'h'"),
        ("1.5h", "'.'"),
        ("1 h", "' '"),
        ("2h30mx", "'x'"),
    ],
)
def test_parse_invalid_names_the_bad_part(text: str, names: str) -> None:
    with pytest.raises(IntervalError) as raised:
        parse_interval(text)
    assert names in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_parse_rejects_absurd_lengths_and_non_strings() -> None:
    with pytest.raises(IntervalError):
        parse_interval("1000Y")
    with pytest.raises(IntervalError):
        parse_interval(None)  # type: ignore[arg-type]


def test_interval_validates_its_fields() -> None:
    with pytest.raises(IntervalError):
        Interval()
    with pytest.raises(IntervalError):
        Interval(seconds=-1, days=1)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1D", "1D"),
        ("90m", "1h30m"),
        ("90", "1m30s"),
        ("7D", "1W"),
        ("12M", "1Y"),
        ("1Y2M3W4D5h6m7s", "1Y2M3W4D5h6m7s"),
        ("30m2h", "2h30m"),
    ],
)
def test_format_gives_canonical_text(text: str, canonical: str) -> None:
    assert format_interval(parse_interval(text)) == canonical
    assert str(parse_interval(text)) == canonical


@given(
    seconds=st.integers(0, 10**6),
    days=st.integers(0, 3000),
    months=st.integers(0, 600),
)
def test_format_round_trips(seconds: int, days: int, months: int) -> None:
    if seconds == days == months == 0:
        return
    interval = Interval(seconds=seconds, days=days, months=months)
    assert parse_interval(format_interval(interval)) == interval


def test_format_weekdays() -> None:
    assert format_weekdays(MON_FRI) == "Mon–Fri"
    assert format_weekdays({0, 6}) == "Sat, Sun"
    assert format_weekdays({1, 3, 5}) == "Mon, Wed, Fri"
    assert format_weekdays({5, 6, 0}) == "Fri–Sun"
    assert format_weekdays(set()) == ""
    assert format_weekdays(set(range(7))) == ""


# --- local time resolution ---------------------------------------------------------------------


def test_resolve_local_gap_moves_to_end_of_gap() -> None:
    # 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST (01:00 UTC).
    assert resolve_local(datetime(2026, 3, 29, 2, 0), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert resolve_local(datetime(2026, 3, 29, 2, 45), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert resolve_local(datetime(2026, 3, 29, 3, 0), BERLIN) == utc(2026, 3, 29, 1, 0)


def test_resolve_local_ambiguous_takes_first_occurrence() -> None:
    # 2026-10-25: Berlin goes from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    assert resolve_local(datetime(2026, 10, 25, 2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)


def test_resolve_local_rejects_aware_input() -> None:
    with pytest.raises(ValueError):
        resolve_local(utc(2026, 1, 1), BERLIN)


# --- next expected run -------------------------------------------------------------------------


def test_new_job_expects_one_interval_after_first_run() -> None:
    first = utc(2026, 5, 4, 14, 0)
    nxt = next_expected_at(reference=first, last_run_at=first, interval=DAILY, tz=BERLIN)
    assert nxt == utc(2026, 5, 5, 14, 0)


def test_late_manual_run_keeps_time_of_day() -> None:
    expected = local(BERLIN, 2026, 5, 4, 14, 0)
    manual = local(BERLIN, 2026, 5, 4, 22, 0)
    nxt = next_expected_at(reference=expected, last_run_at=manual, interval=DAILY, tz=BERLIN)
    assert wall(nxt, BERLIN) == (2026, 5, 5, 14, 0)


def test_manual_run_before_expectation_does_not_move_it() -> None:
    expected = local(BERLIN, 2026, 5, 5, 14, 0)
    manual = local(BERLIN, 2026, 5, 4, 22, 0)
    nxt = next_expected_at(reference=expected, last_run_at=manual, interval=DAILY, tz=BERLIN)
    assert nxt == expected


def test_catches_up_over_missed_runs() -> None:
    reference = utc(2026, 5, 1, 14, 0)
    last = utc(2026, 5, 8, 14, 5)  # a week of missed runs, then one a little late
    nxt = next_expected_at(reference=reference, last_run_at=last, interval=DAILY, tz=UTC_ZONE)
    assert nxt == utc(2026, 5, 9, 14, 0)


UTC_ZONE = ZoneInfo("UTC")


def test_early_tolerance_lets_a_slightly_early_run_count() -> None:
    expected = utc(2026, 5, 5, 14, 0)
    early = utc(2026, 5, 5, 13, 55)

    def nxt(tolerance: timedelta) -> datetime:
        return next_expected_at(
            reference=expected,
            last_run_at=early,
            interval=DAILY,
            tz=UTC_ZONE,
            early_tolerance=tolerance,
        )

    assert nxt(timedelta(0)) == expected
    assert nxt(timedelta(minutes=10)) == utc(2026, 5, 6, 14, 0)
    with pytest.raises(ValueError):
        nxt(timedelta(hours=13))  # must stay under half the interval
    with pytest.raises(ValueError):
        nxt(timedelta(minutes=-1))


def test_weekdays_skip_to_next_allowed_day() -> None:
    friday = local(BERLIN, 2026, 5, 8, 2, 0)
    nxt = next_expected_at(
        reference=friday, last_run_at=friday, interval=DAILY, tz=BERLIN, weekdays=MON_FRI
    )
    assert wall(nxt, BERLIN) == (2026, 5, 11, 2, 0)  # Monday


def test_weekdays_are_evaluated_in_the_job_time_zone() -> None:
    # 23:30 UTC on Sunday is already Monday 01:30 in Berlin: allowed for a Mon–Fri job.
    reference = utc(2026, 5, 9, 23, 30)  # Saturday in UTC, Sunday 01:30 in Berlin
    nxt = next_expected_at(
        reference=reference, last_run_at=reference, interval=DAILY, tz=BERLIN, weekdays=MON_FRI
    )
    assert nxt == utc(2026, 5, 10, 23, 30)
    assert wall(nxt, BERLIN) == (2026, 5, 11, 1, 30)


def test_weekdays_with_sub_day_interval_keep_the_phase() -> None:
    friday_evening = local(BERLIN, 2026, 5, 8, 18, 0)
    nxt = next_expected_at(
        reference=local(BERLIN, 2026, 5, 4, 0, 0),
        last_run_at=friday_evening,
        interval=parse_interval("6h"),
        tz=BERLIN,
        weekdays=MON_FRI,
    )
    assert wall(nxt, BERLIN) == (2026, 5, 11, 0, 0)


def test_weekdays_never_hit_by_the_interval_fall_back_to_next_allowed_day() -> None:
    saturday = local(BERLIN, 2026, 5, 9, 9, 15)
    nxt = next_expected_at(
        reference=saturday,
        last_run_at=saturday,
        interval=parse_interval("1W"),
        tz=BERLIN,
        weekdays=MON_FRI,
    )
    assert wall(nxt, BERLIN) == (2026, 5, 18, 9, 15)  # the Monday after next Saturday


def test_all_weekdays_means_unrestricted_and_bad_weekdays_are_rejected() -> None:
    start = utc(2026, 5, 9, 2, 0)
    every = next_expected_at(
        reference=start, last_run_at=start, interval=DAILY, tz=UTC_ZONE, weekdays=set(range(7))
    )
    assert every == utc(2026, 5, 10, 2, 0)
    with pytest.raises(ValueError):
        next_expected_at(
            reference=start, last_run_at=start, interval=DAILY, tz=UTC_ZONE, weekdays={7}
        )


def test_daily_0200_through_berlin_spring_forward() -> None:
    saturday = local(BERLIN, 2026, 3, 28, 2, 0)
    sunday = next_expected_at(reference=saturday, last_run_at=saturday, interval=DAILY, tz=BERLIN)
    # 02:00 does not exist on 2026-03-29: the run is expected when the clock jumps to 03:00.
    assert sunday == utc(2026, 3, 29, 1, 0)
    assert wall(sunday, BERLIN) == (2026, 3, 29, 3, 0)
    # Stepping from the anchor (Saturday 02:00), not from 03:00, brings it back to 02:00.
    monday = next_expected_at(reference=saturday, last_run_at=sunday, interval=DAILY, tz=BERLIN)
    assert wall(monday, BERLIN) == (2026, 3, 30, 2, 0)
    assert monday == utc(2026, 3, 30, 0, 0)


def test_daily_0200_through_berlin_fall_back() -> None:
    saturday = local(BERLIN, 2026, 10, 24, 2, 0)
    sunday = next_expected_at(reference=saturday, last_run_at=saturday, interval=DAILY, tz=BERLIN)
    # 02:00 happens twice on 2026-10-25; the first one (still CEST, 00:00 UTC) is expected.
    assert sunday == utc(2026, 10, 25, 0, 0)
    assert wall(sunday, BERLIN) == (2026, 10, 25, 2, 0)
    monday = next_expected_at(reference=sunday, last_run_at=sunday, interval=DAILY, tz=BERLIN)
    assert monday == utc(2026, 10, 26, 1, 0)  # 02:00 CET
    assert monday - sunday == timedelta(hours=25)


def test_daily_through_new_york_spring_forward() -> None:
    saturday = local(NEW_YORK, 2026, 3, 7, 2, 30)
    sunday = next_expected_at(reference=saturday, last_run_at=saturday, interval=DAILY, tz=NEW_YORK)
    assert wall(sunday, NEW_YORK) == (2026, 3, 8, 3, 0)
    monday = next_expected_at(reference=saturday, last_run_at=sunday, interval=DAILY, tz=NEW_YORK)
    assert wall(monday, NEW_YORK) == (2026, 3, 9, 2, 30)


def test_weekly_keeps_local_time_across_dst() -> None:
    before = local(BERLIN, 2026, 3, 22, 4, 0)
    after = next_expected_at(
        reference=before, last_run_at=before, interval=parse_interval("1W"), tz=BERLIN
    )
    assert wall(after, BERLIN) == (2026, 3, 29, 4, 0)
    assert after - before == timedelta(days=7) - timedelta(hours=1)


def test_sub_day_intervals_step_in_absolute_time_across_dst() -> None:
    reference = utc(2026, 3, 28, 0, 0)  # 01:00 CET
    nxt = next_expected_at(
        reference=reference,
        last_run_at=utc(2026, 3, 29, 0, 30),
        interval=parse_interval("6h"),
        tz=BERLIN,
    )
    assert nxt == utc(2026, 3, 29, 6, 0)
    assert wall(nxt, BERLIN) == (2026, 3, 29, 8, 0)  # was 07:00 local before the change
    hourly = parse_interval("1h")
    first = next_expected_at(
        reference=reference, last_run_at=utc(2026, 10, 25, 0, 30), interval=hourly, tz=BERLIN
    )
    second = next_expected_at(reference=reference, last_run_at=first, interval=hourly, tz=BERLIN)
    assert (first, second - first) == (utc(2026, 10, 25, 1, 0), timedelta(hours=1))


def test_monthly_clamps_but_keeps_the_anchor_day() -> None:
    monthly = parse_interval("1M")
    anchor = utc(2026, 1, 31, 10, 0)
    expectations = []
    last = anchor
    for _ in range(4):
        last = next_expected_at(reference=anchor, last_run_at=last, interval=monthly, tz=UTC_ZONE)
        expectations.append(last)
    assert expectations == [
        utc(2026, 2, 28, 10, 0),
        utc(2026, 3, 31, 10, 0),
        utc(2026, 4, 30, 10, 0),
        utc(2026, 5, 31, 10, 0),
    ]
    leap = utc(2028, 1, 31, 10, 0)
    assert next_expected_at(reference=leap, last_run_at=leap, interval=monthly, tz=UTC_ZONE) == utc(
        2028, 2, 29, 10, 0
    )


def test_yearly_from_leap_day() -> None:
    leap = utc(2028, 2, 29, 3, 0)
    yearly = parse_interval("1Y")
    assert next_expected_at(reference=leap, last_run_at=leap, interval=yearly, tz=UTC_ZONE) == utc(
        2029, 2, 28, 3, 0
    )
    assert next_expected_at(
        reference=leap, last_run_at=utc(2031, 6, 1), interval=yearly, tz=UTC_ZONE
    ) == utc(2032, 2, 29, 3, 0)


def test_mixed_calendar_and_fixed_interval() -> None:
    reference = local(BERLIN, 2026, 3, 28, 12, 0)
    nxt = next_expected_at(
        reference=reference, last_run_at=reference, interval=parse_interval("1D12h"), tz=BERLIN
    )
    # One local day (to 12:00 CEST on the 29th, only 23 h later), then 12 absolute hours;
    # 36 absolute hours would have given 01:00.
    assert wall(nxt, BERLIN) == (2026, 3, 30, 0, 0)


@pytest.mark.parametrize(
    ("text", "tz"),
    [("1D", BERLIN), ("15m", BERLIN), ("1M", NEW_YORK), ("1W", NEW_YORK), ("7s", UTC_ZONE)],
)
def test_reference_years_in_the_past_is_computed_not_iterated(text: str, tz: ZoneInfo) -> None:
    interval = parse_interval(text)
    reference = local(tz, 2016, 1, 31, 2, 0)
    last_run = utc(2026, 7, 14, 9, 41, 13)
    nxt = next_expected_at(reference=reference, last_run_at=last_run, interval=interval, tz=tz)
    assert nxt > last_run
    if interval.is_calendar:
        assert nxt.astimezone(tz).time() == time(2, 0)
        assert nxt - last_run <= timedelta(days=31)
    else:
        assert (nxt - reference) % interval.fixed == timedelta(0)
        assert nxt - interval.fixed <= last_run
    if text == "1M":
        assert nxt.astimezone(tz).day == 31  # July has 31 days: back on the anchor day
    if text == "1D":
        assert wall(nxt, tz) == (2026, 7, 15, 2, 0)


def test_requires_aware_datetimes() -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError):
        next_expected_at(reference=naive, last_run_at=utc(2026, 1, 1), interval=DAILY, tz=BERLIN)


# --- grace, reminders, states ------------------------------------------------------------------


def test_presets_and_alert_after() -> None:
    assert GRACE_PRESETS_MINUTES == (0, 5, 15, 30, 60, 120, 240, 360, 720, 1440)
    assert DEFAULT_GRACE == timedelta(minutes=120)
    assert REMINDER_PERIODS == {
        "once": None,
        "daily": timedelta(days=1),
        "weekly": timedelta(days=7),
        "monthly": timedelta(days=30),
    }
    assert alert_after(utc(2026, 1, 1, 2, 0), DEFAULT_GRACE) == utc(2026, 1, 1, 4, 0)


EXPECTED = utc(2026, 1, 1, 2, 0)


def state(
    now: datetime,
    *,
    expected: datetime | None = EXPECTED,
    grace: timedelta = DEFAULT_GRACE,
    paused_until: datetime | None = None,
    enabled: bool = True,
    overdue_since: datetime | None = None,
) -> str:
    return job_state(
        now=now,
        next_expected_at=expected,
        grace=grace,
        paused_until=paused_until,
        monitoring_enabled=enabled,
        overdue_since=overdue_since,
    )


def test_job_state_ok_late_overdue() -> None:
    assert state(utc(2026, 1, 1, 1, 0)) == "ok"
    assert state(EXPECTED) == "ok"
    assert state(utc(2026, 1, 1, 3, 0)) == "late"
    assert state(utc(2026, 1, 1, 4, 0)) == "late"  # overdue only once past expected + grace
    assert state(utc(2026, 1, 1, 4, 0, 1)) == "overdue"
    assert state(utc(2026, 1, 1, 2, 1), grace=timedelta(0)) == "overdue"


def test_job_state_overdue_since() -> None:
    # Declared overdue for this expectation: stays overdue even if grace was raised since.
    assert state(utc(2026, 1, 1, 3, 0), overdue_since=utc(2026, 1, 1, 2, 30)) == "overdue"
    # An overdue_since from an older expectation says nothing about the current one.
    assert state(utc(2026, 1, 1, 1, 0), overdue_since=utc(2025, 12, 31, 4, 30)) == "ok"


def test_job_state_disabled_paused_unknown() -> None:
    late_night = utc(2026, 1, 2, 0, 0)
    assert state(late_night, enabled=False) == "disabled"
    assert state(late_night, enabled=False, expected=None) == "disabled"
    assert state(late_night, paused_until=utc(2026, 1, 3)) == "paused"
    assert state(late_night, paused_until=utc(2026, 1, 1, 23, 0)) == "overdue"  # pause is over
    assert state(late_night, expected=None) == "unknown"
    assert state(late_night, expected=None, paused_until=utc(2026, 1, 3)) == "paused"


# --- Duplicati timestamps ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260101T020000Z", utc(2026, 1, 1, 2, 0)),
        ("20260101T020000", utc(2026, 1, 1, 2, 0)),
        ("20260101T020000+02:00", utc(2026, 1, 1, 0, 0)),
        ("20260101T020000-0130", utc(2026, 1, 1, 3, 30)),
        (" 20250421T234546Z ", utc(2025, 4, 21, 23, 45, 46)),
        ("2026-01-01T02:00:00Z", utc(2026, 1, 1, 2, 0)),
        ("2026-01-01T03:00:00+01:00", utc(2026, 1, 1, 2, 0)),
        ("2026-01-01T02:00:00.250", utc(2026, 1, 1, 2, 0) + timedelta(milliseconds=250)),
        (None, None),
        ("", None),
        ("soon", None),
        ("20261301T000000Z", None),
        ("20260101T250000Z", None),
        ("20260101T020000+25:00", None),
    ],
)
def test_parse_duplicati_datetime(text: str | None, expected: datetime | None) -> None:
    parsed = parse_duplicati_datetime(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC
