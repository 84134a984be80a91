"""The dashboard reads jobs as plain values (board.ListedJob) where other pages read models:
both must give every job the same columns, schedule and state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from duplistatus import clock
from duplistatus.backups.models import BackupJob, MonitoringDefaults, Server
from duplistatus.web import board

pytestmark = pytest.mark.django_db


def test_listed_rows_match_model_rows(loaded):
    # Settings on every level, so that each job's schedule inherits something different.
    now = clock.now()
    Server.objects.filter(name="nas").update(grace_minutes=90, timezone="Europe/Berlin")
    Server.objects.filter(name="rafamunoz").update(paused_until=now + timedelta(hours=2))
    BackupJob.objects.filter(name="Documents").update(interval="12h", weekdays=[1, 2, 3])
    BackupJob.objects.filter(name="DevTest").update(monitoring_enabled=False)
    MonitoringDefaults.objects.update(reminder="weekly", escalation_after_minutes=600)

    models = {row.job.pk: row for row in board.rows(BackupJob.objects.all(), now)}
    listed = {row.job.pk: row for row in board.listed_rows(BackupJob.objects.all(), now)}

    assert listed.keys() == models.keys() and len(listed) >= 6
    for pk, row in listed.items():
        model = models[pk]
        for name in board.LISTED_COLUMNS:
            assert getattr(row.job, name) == getattr(model.job, name, None), name
        assert row.server == model.server and str(row.server) == str(model.server)
        assert row.schedule == model.schedule
        assert (row.state, row.failing, row.attention) == (
            model.state,
            model.failing,
            model.attention,
        )
    assert {row.state for row in listed.values()} >= {"ok", "overdue", "paused", "disabled"}


def test_recent_runs_are_each_jobs_last_runs_oldest_first(loaded, django_assert_num_queries):
    jobs = list(BackupJob.objects.order_by("pk"))
    with django_assert_num_queries(1):
        recent = board.recent_runs([job.pk for job in jobs], count=5)
    for job in jobs:
        expected = list(job.runs.order_by("-begin_time", "-id")[:5])[::-1]
        got = recent[job.pk]
        assert [run.pk for run in got] == [run.pk for run in expected]
        assert [run.begin_time for run in got] == [run.begin_time for run in expected]
        assert [run.status for run in got] == [run.status for run in expected]
        assert all(run.begin_time.tzinfo is not None for run in got)
    assert board.recent_runs([]) == {}
