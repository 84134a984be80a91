"""Duplicati's `Schedule` (from `GET /api/v1/backups`) → the job's `duplicati` schedule.
Pure: a dict in, the job's three columns out.

Duplicati's `Repeat` uses the interval syntax our intervals take (`1D`, `12h`, `1W`, `1M`);
`Time` is the next run it planned and `LastRun` the last scheduled start: they anchor the
steps (keeping its time of day);
`AllowedDays` names the weekdays it may run on (`Rule` says the same as
`AllowedWeekDays=Monday,…`).
"""

from __future__ import annotations

from typing import Any

from duplistatus.monitoring.intervals import (
    IntervalError,
    format_interval,
    parse_duplicati_datetime,
    parse_interval,
)

_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
CLEARED: dict[str, Any] = {
    "duplicati_interval": "",
    "duplicati_weekdays": None,
    "duplicati_anchor": None,
}


def job_columns(schedule: Any) -> dict[str, Any]:
    """The job's duplicati_* columns for a backup's Schedule (None: the backup has none)."""
    if not isinstance(schedule, dict):
        return dict(CLEARED)
    next_run = parse_duplicati_datetime(_text(schedule.get("Time")))
    last_run = parse_duplicati_datetime(_text(schedule.get("LastRun")))
    # Intervals step forward from their anchor, so anchor on the last scheduled start when
    # Duplicati has one (a job that stopped running is then overdue, not expected at the
    # next planned time); "0001-01-01" means it never ran on schedule.
    anchor = (
        last_run
        if last_run and next_run and 2000 < last_run.year and last_run <= next_run
        else next_run
    )
    try:
        interval = format_interval(parse_interval(_text(schedule.get("Repeat"))))
    except IntervalError:
        return dict(CLEARED)
    if anchor is None:
        return dict(CLEARED)
    days = schedule.get("AllowedDays")
    if not isinstance(days, list) or not days:
        rule = _text(schedule.get("Rule"))
        days = (
            rule.partition("AllowedWeekDays=")[2].split(",") if "AllowedWeekDays=" in rule else []
        )
    weekdays = sorted(
        {_DAYS[d] for d in (_text(x).strip()[:3].lower() for x in days) if d in _DAYS}
    )
    return {
        "duplicati_interval": interval,
        # All seven days is the same as no restriction.
        "duplicati_weekdays": weekdays if 0 < len(weekdays) < 7 else None,
        "duplicati_anchor": anchor,
    }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
