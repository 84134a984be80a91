"""Our own API under /api/v1: token required, servers and jobs listed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from conftest import corpus_body
from duplistatus import clock
from duplistatus.accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def load_corpus(client) -> None:
    for name, query in (
        ("v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json", ""),
        ("v2.0.6.3_backup_fatal_json_rafamunoz-photos-mega.json", "?server=nas"),
        ("v2.0.6.3_backup_success_json_rafamunoz-photos.json", "?server=nas"),
    ):
        body, content_type = corpus_body(name)
        assert (
            client.post("/api/upload" + query, data=body, content_type=content_type).status_code
            == 200
        )


def test_token_is_required(client):
    for path in ("/api/v1/servers", "/api/v1/jobs"):
        response = client.get(path)
        assert response.status_code == 401
        assert "Bearer" in response.json()["error"]
        assert client.get(path, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_revoked_token_stops_working(client):
    row, secret = ApiToken.create("ci")
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    row.revoked_at = clock.now()
    row.save()
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_servers_and_jobs(client, auth_client):
    load_corpus(client)
    servers = auth_client.get("/api/v1/servers").json()
    assert [(s["name"], s["job_count"]) for s in servers] == [("nas", 1), ("test-machine-name", 1)]
    jobs = auth_client.get("/api/v1/jobs").json()
    photos = next(j for j in jobs if j["name"] == "Photos")
    assert photos["server"]["name"] == "nas"
    assert photos["run_count"] == 2
    # The fatal run (15:11:40) is newer than the success (15:10:05).
    assert photos["last_status"] == "Fatal"
    assert photos["last_run_at"].startswith("2023-01-26T15:11:40")
    nas = next(s for s in servers if s["name"] == "nas")
    only_nas = auth_client.get(f"/api/v1/jobs?server={nas['id']}").json()
    assert [j["name"] for j in only_nas] == ["Photos"]


def test_token_last_used_is_recorded(client):
    row, secret = ApiToken.create("dash")
    assert row.last_used_at is None
    client.get("/api/v1/servers", HTTP_AUTHORIZATION=f"Bearer {secret}")
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_read_only_token_cannot_change_anything(client):
    _, secret = ApiToken.create("dashboard", is_admin=False)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get("/api/v1/jobs", **auth).status_code == 200
    response = client.patch(
        "/api/v1/monitoring/defaults",
        data={"grace_minutes": 5},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 403
    assert "read" in response.json()["error"]


def test_a_job_on_time_whose_last_run_failed_has_failing_health(client, auth_client):
    """`state` is the schedule alone; `health` also reads the results, so a job on
    schedule whose last run failed is failing, not ok."""
    load_corpus(client)
    photos = next(j for j in auth_client.get("/api/v1/jobs").json() if j["name"] == "Photos")
    last_run_at = datetime.fromisoformat(photos["last_run_at"].replace("Z", "+00:00"))
    with clock.frozen(last_run_at + timedelta(hours=1)):
        response = auth_client.patch(
            f"/api/v1/jobs/{photos['id']}", data={"interval": "1D"}, content_type="application/json"
        )
        assert response.status_code == 200
        assert (response.json()["state"], response.json()["health"]) == ("ok", "failing")
        failing = auth_client.get("/api/v1/jobs?health=failing").json()
        assert [j["name"] for j in failing] == ["Photos"]
        assert auth_client.get("/api/v1/jobs?health=ok").json() == []
        wrong = auth_client.get("/api/v1/jobs?health=red")
        assert wrong.status_code == 400 and "failing" in wrong.json()["error"]


def test_events_filter_by_a_kind_that_exists(client, auth_client):
    """A kind with a NUL character answered 500 on PostgreSQL; an unknown one an empty list
    that looked like "no such events yet"."""
    load_corpus(client)
    assert auth_client.get("/api/v1/events?kind=backup_result").status_code == 200
    for kind in ("a%00b", "backup-result"):
        response = auth_client.get(f"/api/v1/events?kind={kind}")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][-1] == "kind"
