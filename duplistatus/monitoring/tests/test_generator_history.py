"""A history shaped like the original's test-data generator (scripts/generate-test-data.ts):
7 machines with 2 jobs each, every job daily for the last week, weekly before that (8 weeks
on odd machines, 26 on even ones) and monthly back to two years. The original, and we until
the fallback, left all 14 jobs `unknown` with no expected time, so a job that stopped went
unnoticed. Replayed through /api/upload, with the worker's pass every hour of the test clock.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime, timedelta

import pytest

from duplistatus import clock
from duplistatus.backups.models import BackupJob, Event
from duplistatus.monitoring import monitor

from .reports import upload

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 2, 14, 37, tzinfo=UTC)  # when the generator ran
JOB_TYPES = {"Files": 0, "Databases": 15, "System": 30, "Users": 45}  # its minute offsets
MACHINES = {
    f"Test Machine {i}": (("Files", "System") if i % 2 else ("Databases", "Users"))
    for i in range(1, 8)
}
DURATION = timedelta(minutes=7)


def generated_history(machine: int, job_type: str) -> list[datetime]:
    """The begin times the generator writes for one job."""
    latest = NOW - timedelta(days=1) + timedelta(minutes=JOB_TYPES[job_type])
    weeks = 8 if machine % 2 else 26
    times = [latest - timedelta(days=day) for day in range(7)]
    times += [latest - timedelta(weeks=week) for week in range(1, weeks + 1)]
    # Then monthly (a calendar month before the previous one) until two years ago.
    moment = latest - timedelta(weeks=weeks)
    while moment > NOW - timedelta(days=730):
        moment = month_before(moment)
        times.append(moment)
    return times


def month_before(moment: datetime) -> datetime:
    year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def test_every_generated_job_is_watched_and_a_stopped_one_is_flagged(client, auth_client):
    clock.set(NOW)
    jobs = {}
    for number, name in enumerate(MACHINES, start=1):
        for job_type in MACHINES[name]:
            history = generated_history(number, job_type)
            for begin in history:
                upload(client, begin, job=job_type, server=name, duration=DURATION)
            jobs[(name, job_type)] = max(history)
    assert sum(BackupJob.objects.values_list("run_count", flat=True)) == 616
    assert len(jobs) == 14
    monitor.check(NOW)

    listed = auth_client.get("/api/v1/jobs").json()
    assert len(listed) == 14
    for job in listed:
        assert job["next_expected_at"] is not None, job
        assert job["schedule"]["source"] in ("learned", "fallback"), job
        assert job["state"] == "ok", job

    # Every job keeps running daily at its time, but one stops after its run on day 10.
    stopped = ("Test Machine 3", "System")
    for hour in range(2, 24 * 13, 2):
        now = NOW + timedelta(hours=hour)
        clock.set(now)
        for (server, job_type), latest in jobs.items():
            begin = latest + timedelta(days=1)
            if begin + DURATION <= now and not (stopped == (server, job_type) and hour > 24 * 10):
                upload(client, begin, job=job_type, server=server, duration=DURATION)
                jobs[(server, job_type)] = begin
        monitor.check(now)
        if hour <= 24 * 10:
            assert not Event.objects.filter(kind="overdue").exists(), hour

    overdue = Event.objects.filter(kind="overdue")
    assert [(e.job.server.name, e.job.name) for e in overdue] == [stopped]
    # Noticed within a day and a half of the missed run (expected + grace).
    missed = jobs[stopped] + timedelta(days=1)
    assert overdue.get().details["overdue_since"] <= (missed + timedelta(hours=13)).isoformat()
    listed = {(j["server"]["name"], j["name"]): j for j in auth_client.get("/api/v1/jobs").json()}
    assert listed.pop(stopped)["state"] == "overdue"
    assert {j["state"] for j in listed.values()} == {"ok"}
    # Two weeks of daily runs: the new pace is learned and adopted.
    assert {(j["schedule"]["source"], j["schedule"]["interval"]) for j in listed.values()} == {
        ("learned", "1D")
    }
