"""Retention: what goes, what never goes, the dry run, the per-server override, batches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from duplistatus import clock
from duplistatus.backups.models import BackupJob, BackupRun, MaintenanceSettings, RawReport, Server
from duplistatus.maintenance import retention

from .test_delete_merge import DAY, runs

pytestmark = pytest.mark.django_db


def settings(**values) -> None:
    MaintenanceSettings.objects.update_or_create(pk=1, defaults=values)


def kept(job: str, server: str = "nas") -> list[int]:
    """Day numbers (from DAY) of the runs a job still has."""
    begins = BackupRun.objects.filter(job__name=job, server__name=server).order_by("begin_time")
    return [(run.begin_time - DAY).days for run in begins]


def test_keeping_n_days_and_the_dry_run(client):
    runs(client, job="Photos", days=10)
    runs(client, job="Stopped", days=2)  # stopped running long ago: its latest run stays
    now = DAY + timedelta(days=9, hours=12)
    settings(keep_runs_days=3)

    dry = retention.plan(now)
    assert dry.runs == 7 + 1  # Photos days 0–6, Stopped day 0
    assert BackupRun.objects.count() == 12  # a dry run removes nothing

    done = retention.purge(now)

    assert done.runs == dry.runs
    assert kept("Photos") == [7, 8, 9]
    assert kept("Stopped") == [1]  # the latest run of a job is never purged
    photos = BackupJob.objects.get(name="Photos")
    assert photos.run_count == 3 and photos.last_run_at == DAY + timedelta(days=9)
    assert retention.plan(now).total == 0


def test_keeping_the_last_n_runs_with_a_servers_own_setting(client):
    runs(client, job="Photos", days=6)
    runs(client, machine="m2", server="office", job="Mail", days=6)
    settings(keep_runs_count=2)
    Server.objects.filter(name="office").update(keep_runs_count=4)

    retention.purge(DAY + timedelta(days=30))

    assert kept("Photos") == [4, 5]
    assert kept("Mail", server="office") == [2, 3, 4, 5]


def test_raw_bodies_go_sooner_than_their_runs(client):
    runs(client, days=5)
    clock.set(DAY + timedelta(days=10))
    settings(keep_raw_days=7)
    # Received at the end of each run (+ a few seconds): days 0–2 are older than 7 days.
    assert retention.plan(clock.now()).raw_reports == 3
    done = retention.purge(clock.now())
    assert done.raw_reports == 3 and done.runs == 0
    assert BackupRun.objects.count() == 5
    assert BackupRun.objects.filter(raw_report=None).count() == 3
    assert RawReport.objects.count() == 2


def test_purges_in_batches_and_stops_at_its_budget(client, monkeypatch):
    runs(client, days=12)
    settings(keep_runs_count=1)
    monkeypatch.setattr(retention, "BATCH", 3)
    now = DAY + timedelta(days=30)

    first = retention.purge(now, budget_seconds=0)  # budget spent at once: nothing yet
    assert first.runs == 0 and MaintenanceSettings.load().last_purge_at is None

    done = retention.purge(now)
    assert done.runs == 11 and kept("Photos") == [11]
    assert MaintenanceSettings.load().last_purge_at == now
    # The worker purges at most hourly once a purge finished.
    assert retention.purge_due(now + timedelta(minutes=5)).total == 0


def test_the_worker_purges_hourly_and_backs_up_daily(client, settings, tmp_path):
    from duplistatus.maintenance import backup
    from duplistatus.worker import Worker

    settings.DATA_DIR = tmp_path
    runs(client, days=5)
    MaintenanceSettings.objects.update_or_create(
        pk=1, defaults={"keep_runs_count": 2, "backups_kept": 2}
    )
    worker = Worker()
    clock.set(DAY + timedelta(days=10))

    done = worker.run_once()
    assert done["retention"] == 3 and kept("Photos") == [3, 4]
    assert done["backups"] == 0  # the first a day after the service first looked

    for day in (1, 2, 3):
        clock.set(DAY + timedelta(days=10 + day, minutes=1))
        assert worker.run_once()["backups"] == 1
    assert len(backup.backup_files()) == 2  # the newest two kept


def test_retention_through_the_api(client, auth_client):
    runs(client, days=4)
    clock.set(DAY + timedelta(days=10))
    changed = auth_client.patch(
        "/api/v1/maintenance/retention", {"keep_runs_count": 1}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["keep_runs_count"] == 1
    assert changed.json()["backups_kept"] == 7  # what was not sent stays
    bad = auth_client.patch(
        "/api/v1/maintenance/retention", {"keep_runs_days": 0}, content_type="application/json"
    )
    assert bad.status_code == 422

    dry = auth_client.post("/api/v1/maintenance/cleanup?dry_run=true").json()
    assert dry["dry_run"] and dry["runs"] == 3 and BackupRun.objects.count() == 4
    assert auth_client.post("/api/v1/maintenance/cleanup").json()["runs"] == 3
    assert kept("Photos") == [3]
    from duplistatus.accounts.models import AuditEntry

    assert [e.action for e in AuditEntry.objects.order_by("id")] == [
        "maintenance.settings",
        "maintenance.cleanup",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"audit_retention_days": 2**63},  # SQLite cannot bind it; the request's transaction broke
        {"keep_runs_days": 2**31},  # over PostgreSQL's integer column
        {"keep_raw_days": 10**9},  # fits the column; `now - timedelta(days=…)` overflows
        {"keep_runs_count": 2**31},
        {"backups_kept": 2**31},
        {"backups_kept": None},  # NOT NULL
    ],
)
def test_retention_out_of_range_is_refused_naming_the_field(auth_client, body):
    """It answered 500, and on SQLite every later request of the same transaction too."""
    response = auth_client.patch(
        "/api/v1/maintenance/retention", body, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == next(iter(body))
    assert auth_client.get("/api/v1/maintenance/retention").json()["backups_kept"] == 7


def test_days_and_count_together_count_each_run_once(client):
    runs(client, days=10)
    settings(keep_runs_days=5, keep_runs_count=3)
    now = DAY + timedelta(days=9, hours=12)
    # Older than 5 days: days 0–4; beyond the last 3: days 0–6. Either way: days 0–6.
    assert retention.plan(now).runs == 7
    assert retention.purge(now).runs == 7
    assert kept("Photos") == [7, 8, 9]
