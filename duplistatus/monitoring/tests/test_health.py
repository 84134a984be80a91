"""Health: schedule state and last results in one word; failing is never ok."""

from __future__ import annotations

import pytest

from duplistatus.monitoring.health import HEALTHS, health, worst


@pytest.mark.parametrize(
    ("state", "last_status", "failures", "expected"),
    [
        ("ok", "Success", 0, "ok"),
        ("ok", "Error", 1, "failing"),  # on time, but the last run failed
        ("ok", "Fatal", 3, "failing"),
        ("ok", "Warning", 0, "warning"),
        ("overdue", "Error", 2, "overdue"),  # nothing arrives at all: the most urgent
        ("late", "Success", 0, "late"),
        ("late", "Error", 1, "failing"),
        ("paused", "Error", 1, "failing"),  # a pause silences the schedule, not the results
        ("paused", "Success", 0, "paused"),
        ("disabled", "Success", 0, "paused"),
        ("unknown", "Success", 0, "unknown"),
        ("unknown", "", 0, "unknown"),
        ("unknown", "Fatal", 1, "failing"),
    ],
)
def test_health(state, last_status, failures, expected):
    assert health(state, last_status, failures) == expected


def test_no_failing_job_is_ok():
    for state in ("ok", "late", "paused", "disabled", "unknown"):
        for status in ("Error", "Fatal"):
            assert health(state, status, 1) not in ("ok", "paused", "unknown")


def test_worst():
    assert worst({"ok", "paused", "failing"}) == "failing"
    assert worst({"ok", "paused"}) == "ok"
    assert worst(set()) == "unknown"
    assert HEALTHS[0] == "overdue"
