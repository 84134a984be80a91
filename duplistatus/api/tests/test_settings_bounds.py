"""Schedule settings are bounded where they enter (the API and the pages share one model),
and a stored value out of range cannot break the pages that show it."""

from __future__ import annotations

import pytest

from duplistatus.backups.models import BackupJob, MonitoringDefaults, Server

from .test_v1 import load_corpus

pytestmark = pytest.mark.django_db
HUGE = 4804019282495046656


@pytest.mark.parametrize("field", ["reminder_minutes", "escalation_after_minutes"])
def test_a_huge_period_is_refused_and_not_stored(client, auth_client, field):
    """It answered 500, stored the value, and from then on every job page answered 500."""
    load_corpus(client)
    server = Server.objects.first()
    response = auth_client.patch(
        f"/api/v1/servers/{server.pk}", {field: HUGE}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    server.refresh_from_db()
    assert getattr(server, field) is None
    assert auth_client.get("/api/v1/jobs").status_code == 200

    job = BackupJob.objects.first()
    response = auth_client.patch(
        f"/api/v1/jobs/{job.pk}", {field: HUGE}, content_type="application/json"
    )
    assert response.status_code == 422


def test_the_settings_form_refuses_it_next_to_the_field(client, admin_client):
    load_corpus(client)
    server = Server.objects.first()
    response = admin_client.post(
        f"/servers/{server.pk}/schedule", {"reminder_minutes": str(HUGE)}, follow=True
    )
    assert response.status_code in (200, 400, 422)
    assert "less than or equal to 527040" in response.content.decode()
    server.refresh_from_db()
    assert server.reminder_minutes is None


def test_stored_values_out_of_range_do_not_break_any_page(client, auth_client, admin_client):
    """A row written before the bound (or by hand) is read as the longest allowed period."""
    load_corpus(client)
    far = 2_000_000_000  # fits PostgreSQL's integer column; ~3,800 years of minutes
    Server.objects.update(reminder_minutes=far, escalation_after_minutes=far, grace_minutes=far)
    BackupJob.objects.update(reminder_minutes=far)
    job = BackupJob.objects.first()

    jobs = auth_client.get("/api/v1/jobs")
    assert jobs.status_code == 200
    assert {j["schedule"]["reminder_minutes"] for j in jobs.json()} == {60 * 24 * 366}
    assert auth_client.get(f"/api/v1/jobs/{job.pk}").status_code == 200
    assert admin_client.get("/").status_code == 200
    assert admin_client.get(f"/jobs/{job.pk}").status_code == 200
    assert admin_client.get(f"/servers/{job.server_id}").status_code == 200
    assert auth_client.post("/api/v1/monitoring/scan").status_code == 200


def test_global_defaults_cannot_be_emptied(auth_client):
    """adopt_learned: null was a NOT NULL violation (500)."""
    for body in ({"adopt_learned": None}, {"min_learned_confidence": None}):
        response = auth_client.patch(
            "/api/v1/monitoring/defaults", body, content_type="application/json"
        )
        assert response.status_code == 422, body
        assert "cannot be empty" in str(response.json()["detail"])
    assert MonitoringDefaults.load().adopt_learned is True


def test_ids_too_large_for_any_row_are_a_422_not_a_500(auth_client):
    response = auth_client.post(
        "/api/v1/monitoring/reset-reminders",
        {"job_ids": [2**70]},
        content_type="application/json",
    )
    assert response.status_code in (200, 422)
    assert response["Content-Type"].startswith("application/json")
    assert auth_client.get(f"/api/v1/jobs/{2**70}").status_code in (404, 422)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("08:30:00Z", "08:30:00"), ("08:30+02:00", "06:30:00"), ("23:00", "23:00:00")],
)
def test_the_system_health_time_is_kept_in_utc(auth_client, sent, stored):
    """A time with a zone answered 500 (SQLite: "does not support timezone-aware times";
    PostgreSQL: "JSON can't represent timezone-aware times")."""
    response = auth_client.patch(
        "/api/v1/monitoring/defaults", {"system_health_time": sent}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["system_health_time"] == stored
    assert MonitoringDefaults.load().system_health_time.isoformat() == stored


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        ("2026-12-01T08:00:00-23:59", 200),  # PostgreSQL: "time zone displacement out of range"
        ("9999-12-31T23:59:59-23:59", 422),  # past datetime.max in UTC
    ],
)
def test_a_pause_with_any_offset_is_stored_in_utc_or_refused(auth_client, sent, answer):
    response = auth_client.patch(
        "/api/v1/monitoring/defaults", {"paused_until": sent}, content_type="application/json"
    )
    assert response.status_code == answer
    if answer == 200:
        assert response.json()["paused_until"] == "2026-12-02T07:59:00Z"
    else:
        assert response.json()["detail"][0]["loc"][-1] == "paused_until"
