"""Overdue monitoring end to end: reports uploaded over HTTP, settings changed through the
API, the scanner run at moments chosen by a test clock, events read back from the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import CORPUS
from duplistatus import clock
from duplistatus.backups.models import BackupJob, Event
from duplistatus.monitoring import monitor

pytestmark = pytest.mark.django_db

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday


def upload(
    client,
    begin: datetime,
    *,
    job="Photos",
    machine="a" * 32,
    status="Success",
    next_run: str | None = None,
) -> None:
    doc = json.loads(V21.read_text())
    doc["Extra"].update({"backup-name": job, "machine-id": machine, "machine-name": "nas"})
    if next_run:
        doc["Extra"]["next-scheduled-run"] = next_run
    doc["Data"].update(BeginTime=begin.isoformat(), ParsedResult=status)
    response = client.post("/api/upload", data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 200, response.content


def at(moment: datetime) -> None:
    clock.set(moment)


def job_api(auth_client, job_id: int | None = None) -> dict:
    job_id = job_id or BackupJob.objects.get().pk
    return auth_client.get(f"/api/v1/jobs/{job_id}").json()


def patch_job(auth_client, **fields) -> dict:
    job_id = BackupJob.objects.get().pk
    response = auth_client.patch(
        f"/api/v1/jobs/{job_id}", data=fields, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def kinds() -> list[str]:
    return list(
        Event.objects.exclude(kind="backup_result").order_by("id").values_list("kind", flat=True)
    )


def test_daily_job_goes_overdue_once_is_reminded_and_recovers(client, auth_client):
    at(T0 + timedelta(minutes=5))
    upload(client, T0)
    job = patch_job(auth_client, interval="1D", grace_minutes=60)
    assert job["schedule"]["source"] == "configured"
    assert job["next_expected_at"] == "2026-03-03T02:00:00Z"
    assert job["state"] == "ok"

    at(T0 + timedelta(days=1, minutes=30))
    assert monitor.scan().total == 0
    assert job_api(auth_client)["state"] == "late"

    at(T0 + timedelta(days=1, minutes=61))
    result = monitor.scan()
    assert result.events == {"overdue": [job["id"]]}
    assert monitor.scan().total == 0  # exactly once
    assert job_api(auth_client)["state"] == "overdue"
    assert client.get("/api/summary").json()["overdueBackupsCount"] == 1

    at(T0 + timedelta(days=2, minutes=62))  # a day after the overdue notice (daily default)
    assert monitor.scan().events == {"reminder": [job["id"]]}
    assert monitor.scan().total == 0

    at(T0 + timedelta(days=2, hours=2))
    upload(client, T0 + timedelta(days=2, hours=1, minutes=50))
    assert kinds() == ["overdue", "reminder", "recovered"]
    recovered = Event.objects.get(kind="recovered")
    # Overdue since 2026-03-03 03:00 (02:00 + 60 min grace) until the run at 03-04 03:50.
    assert recovered.details["overdue_seconds"] == int(
        timedelta(days=1, minutes=50).total_seconds()
    )
    state = job_api(auth_client)
    assert state["state"] == "ok"
    assert state["overdue_since"] is None
    assert state["next_expected_at"] == "2026-03-05T02:00:00Z"


def test_manual_run_does_not_move_the_schedule(client, auth_client):
    at(T0)
    upload(client, T0)
    patch_job(auth_client, interval="1D")
    at(T0 + timedelta(hours=20))
    upload(client, T0 + timedelta(hours=20))  # a manual run at 22:00
    assert job_api(auth_client)["next_expected_at"] == "2026-03-03T02:00:00Z"


def test_missed_runs_catch_up_to_the_next_slot(client, auth_client):
    at(T0)
    upload(client, T0)
    patch_job(auth_client, interval="1D", reminder="once")
    at(T0 + timedelta(days=3, hours=5))
    upload(client, T0 + timedelta(days=3, hours=4))
    assert job_api(auth_client)["next_expected_at"] == "2026-03-06T02:00:00Z"


def test_reminder_once_then_escalation(client, auth_client):
    at(T0)
    upload(client, T0)
    patch_job(
        auth_client, interval="1D", grace_minutes=0, reminder="once", escalation_after_minutes=120
    )
    at(T0 + timedelta(days=1, minutes=1))
    assert list(monitor.scan().events) == ["overdue"]
    at(T0 + timedelta(days=1, minutes=90))
    assert monitor.scan().total == 0
    at(T0 + timedelta(days=1, minutes=121))
    assert list(monitor.scan().events) == ["escalation"]
    at(T0 + timedelta(days=9))
    assert monitor.scan().total == 0
    assert kinds() == ["overdue", "escalation"]
    assert BackupJob.objects.get().alert_after is None  # nothing more to look at


def test_custom_reminder_period_and_reset(client, auth_client):
    at(T0)
    upload(client, T0)
    patch_job(auth_client, interval="1D", grace_minutes=0, reminder_minutes=60)
    at(T0 + timedelta(days=1, minutes=1))
    monitor.scan()
    at(T0 + timedelta(days=1, minutes=50))
    response = auth_client.post(
        "/api/v1/monitoring/reset-reminders", data={}, content_type="application/json"
    )
    assert response.json() == {"reset": 1}
    at(T0 + timedelta(days=1, minutes=62))
    assert monitor.scan().total == 0  # the period restarted at :50
    at(T0 + timedelta(days=1, minutes=111))
    assert list(monitor.scan().events) == ["reminder"]


def test_pause_holds_alerts_and_resumes_by_itself(client, auth_client):
    at(T0)
    upload(client, T0)
    job = patch_job(
        auth_client, interval="1D", grace_minutes=60, paused_until="2026-03-04T12:00:00Z"
    )
    assert job["state"] == "paused"
    at(T0 + timedelta(days=1, hours=5))
    assert monitor.scan().total == 0
    at(datetime(2026, 3, 4, 12, 1, tzinfo=UTC))
    assert monitor.scan().total == 0  # the slots passed during maintenance
    state = job_api(auth_client)
    assert state["state"] == "ok"
    assert state["next_expected_at"] == "2026-03-05T02:00:00Z"
    at(datetime(2026, 3, 5, 3, 1, tzinfo=UTC))
    assert list(monitor.scan().events) == ["overdue"]


def test_server_defaults_are_inherited_and_jobs_override(client, auth_client):
    at(T0)
    upload(client, T0, job="Photos")
    upload(client, T0, job="Docs")
    server_id = BackupJob.objects.first().server_id
    response = auth_client.patch(
        f"/api/v1/servers/{server_id}",
        data={"interval": "12h", "grace_minutes": 30},
        content_type="application/json",
    )
    assert response.status_code == 200
    docs = BackupJob.objects.get(name="Docs")
    auth_client.patch(
        f"/api/v1/jobs/{docs.pk}", data={"interval": "1D"}, content_type="application/json"
    )
    jobs = {j["name"]: j for j in auth_client.get("/api/v1/jobs").json()}
    assert jobs["Photos"]["schedule"]["interval"] == "12h"
    assert jobs["Photos"]["schedule"]["inherited_from"]["interval"] == "server"
    assert jobs["Photos"]["next_expected_at"] == "2026-03-02T14:00:00Z"
    assert jobs["Docs"]["schedule"]["interval"] == "1D"
    assert jobs["Docs"]["schedule"]["inherited_from"]["interval"] == "job"
    assert jobs["Docs"]["schedule"]["grace_minutes"] == 30  # still from the server

    # Pausing the server pauses its jobs.
    auth_client.patch(
        f"/api/v1/servers/{server_id}",
        data={"paused_until": "2026-03-10T00:00:00Z"},
        content_type="application/json",
    )
    assert {j["state"] for j in auth_client.get("/api/v1/jobs").json()} == {"paused"}
    at(T0 + timedelta(days=3))
    assert monitor.scan().total == 0


def test_monitoring_off_means_no_events(client, auth_client):
    at(T0)
    upload(client, T0)
    assert patch_job(auth_client, interval="1D", monitoring_enabled=False)["state"] == "disabled"
    at(T0 + timedelta(days=5))
    assert monitor.scan().total == 0
    assert kinds() == []


def test_duplicati_next_scheduled_run_is_authoritative(client, auth_client):
    at(T0)
    upload(client, T0, next_run="20260302T060000Z")
    job = job_api(auth_client)
    assert job["schedule"]["source"] == "duplicati"
    assert job["next_expected_at"] == "2026-03-02T06:00:00Z"
    at(datetime(2026, 3, 2, 8, 1, tzinfo=UTC))  # 06:00 + the default 2 h grace
    assert list(monitor.scan().events) == ["overdue"]


def test_no_schedule_means_unknown_and_no_alerts(client, auth_client):
    at(T0)
    upload(client, T0)
    job = job_api(auth_client)
    assert (job["state"], job["schedule"]["source"], job["next_expected_at"]) == (
        "unknown",
        None,
        None,
    )
    at(T0 + timedelta(days=30))
    assert monitor.scan().total == 0


def test_learned_schedule_is_adopted(client, auth_client):
    # Daily at 02:00 with a few minutes of jitter, plus one manual run.
    for day in range(21):
        jitter = timedelta(minutes=(day * 7) % 11 - 5)
        at(T0 + timedelta(days=day, hours=1))
        upload(client, T0 + timedelta(days=day) + jitter)
    upload(client, T0 + timedelta(days=10, hours=13))
    at(T0 + timedelta(days=20, hours=2))
    assert monitor.learn_pending() == 1
    job = job_api(auth_client)
    assert job["learned"]["interval"] == "1D"
    assert job["learned"]["confidence"] >= 0.8
    assert job["schedule"]["source"] == "learned"
    expected = datetime.fromisoformat(job["next_expected_at"])
    assert expected.date() == (T0 + timedelta(days=21)).date()
    assert abs(expected - (T0 + timedelta(days=21))) <= timedelta(minutes=10)


def test_scan_endpoint_learns_like_the_command_and_the_worker(client, auth_client):
    # It scanned without learning first: a history the worker (or `duplistatus scan`) would
    # have learned stayed unknown when the scan was asked for through the API.
    for day in range(21):
        at(T0 + timedelta(days=day, minutes=5))
        upload(client, T0 + timedelta(days=day))
    response = auth_client.post("/api/v1/monitoring/scan")
    assert response.json()["learned"] == 1
    job = job_api(auth_client)
    assert (job["schedule"]["source"], job["learned"]["interval"]) == ("learned", "1D")
    assert job["next_expected_at"] == "2026-03-23T02:00:00Z"


def test_daily_schedule_keeps_local_time_across_dst(client, auth_client):
    berlin = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 3, 27, 2, 0, tzinfo=berlin)  # the Friday before the change
    at(first.astimezone(UTC))
    upload(client, first.astimezone(UTC))
    patch_job(auth_client, interval="1D", timezone="Europe/Berlin")
    for day in (1, 2, 3):
        run = datetime(2026, 3, 27 + day, 2, 30, tzinfo=berlin).astimezone(UTC)
        at(run)
        upload(client, run)
    expected = datetime.fromisoformat(job_api(auth_client)["next_expected_at"])
    assert expected.astimezone(berlin).replace(tzinfo=None) == datetime(2026, 3, 31, 2, 0)
    assert expected == datetime(2026, 3, 31, 0, 0, tzinfo=UTC)  # CEST is UTC+2


def test_bad_settings_are_refused_with_the_reason(client, auth_client):
    at(T0)
    upload(client, T0)
    job_id = BackupJob.objects.get().pk
    for body, needle in (
        ({"interval": "1d"}, "unit"),
        ({"weekdays": [7]}, "weekdays"),
        ({"timezone": "Mars/Base"}, "time zone"),
        ({"grace_minutes": -1}, "greater than or equal"),
    ):
        response = auth_client.patch(
            f"/api/v1/jobs/{job_id}", data=body, content_type="application/json"
        )
        assert response.status_code == 422, body
        assert needle in json.dumps(response.json()), response.json()
    assert (
        auth_client.patch(
            "/api/v1/jobs/999999", data={}, content_type="application/json"
        ).status_code
        == 404
    )


def test_events_api_and_scan_endpoint(client, auth_client):
    at(T0)
    upload(client, T0)
    upload(client, T0, job="Docs")
    patch_job_id = BackupJob.objects.get(name="Photos").pk
    auth_client.patch(
        f"/api/v1/jobs/{patch_job_id}",
        data={"interval": "1h", "grace_minutes": 0},
        content_type="application/json",
    )
    at(T0 + timedelta(hours=1, minutes=1))
    response = auth_client.post("/api/v1/monitoring/scan")
    assert response.json()["events"] == {"overdue": [patch_job_id]}
    events = auth_client.get(f"/api/v1/events?job={patch_job_id}&kind=overdue").json()
    assert len(events) == 1
    assert events[0]["details"]["overdue_since"] == "2026-03-02T03:00:00+00:00"
    all_results = auth_client.get("/api/v1/events?kind=backup_result").json()
    assert len(all_results) == 2
    assert auth_client.get("/api/v1/jobs?state=overdue").json()[0]["id"] == patch_job_id
