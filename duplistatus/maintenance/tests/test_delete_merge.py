"""Delete and merge through the API: what goes, what moves, what is recomputed, the audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from duplistatus.accounts.models import AuditEntry
from duplistatus.backups.models import BackupJob, BackupRun, Event, RawReport, Server
from duplistatus.monitoring import monitor
from duplistatus.notifications.models import Channel, Delivery
from duplistatus.web.tests.fleet import replay

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def runs(client, *, machine="m1", server="nas", job="Photos", days=5, statuses=None, start=DAY):
    for day in range(days):
        status = (statuses or {}).get(day, "Success")
        replay(
            client,
            start + timedelta(days=day),
            machine=machine,
            server=server,
            job=job,
            status=status,
            uploaded=1000 * (day + 1),
        )


def a_delivery(job: BackupJob) -> Delivery:
    now = DAY
    channel = Channel.objects.create(kind="ntfy", name="p", created_at=now, updated_at=now)
    event = Event.objects.filter(job=job).first()
    return Delivery.objects.create(
        channel=channel,
        event=event,
        job=job,
        kind="error",
        title="t",
        body="b",
        created_at=now,
        next_attempt_at=now,
    )


def test_deleting_the_latest_run_recomputes_the_jobs_summary(client, auth_client):
    runs(client, days=4, statuses={2: "Error"})  # day 3 fails, day 4 is fine
    job = BackupJob.objects.get()
    latest = job.last_run
    assert job.run_count == 4 and job.last_status == "Success"
    raw_reports = RawReport.objects.count()

    response = auth_client.delete(f"/api/v1/runs/{latest.pk}")

    assert response.status_code == 200
    assert response.json()["deleted"]["runs"] == 1
    job.refresh_from_db()
    assert job.run_count == 3
    assert job.last_run_at == DAY + timedelta(days=2)
    assert job.last_status == "Error"
    assert job.consecutive_failures == 1
    assert job.last_success_at == DAY + timedelta(days=1)
    assert job.bytes_uploaded_total == 1000 + 2000 + 3000
    assert job.needs_learning  # the worker learns again from what is left
    assert RawReport.objects.count() == raw_reports - 1  # its body went with it
    entry = AuditEntry.objects.get(action="run.delete")
    assert entry.actor == "token:tests" and entry.changes == {"runs": 1, "events": 1}


def test_deleting_a_job_takes_its_runs_events_and_deliveries(client, auth_client):
    runs(client, job="Photos", days=3)
    runs(client, job="Mail", days=2)
    photos = BackupJob.objects.get(name="Photos")
    a_delivery(photos)

    response = auth_client.delete(f"/api/v1/jobs/{photos.pk}")

    assert response.json()["deleted"] == {"jobs": 1, "runs": 3, "events": 3, "deliveries": 1}
    assert list(BackupJob.objects.values_list("name", flat=True)) == ["Mail"]
    assert BackupRun.objects.count() == 2 and Event.objects.count() == 2
    assert not Delivery.objects.exists()
    assert RawReport.objects.count() == 2
    assert AuditEntry.objects.filter(action="job.delete").count() == 1


def test_deleting_a_server_and_a_later_report_creates_it_anew(client, auth_client):
    runs(client, server="test-box", machine="t1", days=2)
    runs(client, server="nas", machine="n1", days=1)
    server = Server.objects.get(name="test-box")

    response = auth_client.delete(f"/api/v1/servers/{server.pk}")

    assert response.json()["deleted"] == {"servers": 1, "jobs": 1, "runs": 2, "events": 2}
    assert list(Server.objects.values_list("name", flat=True)) == ["nas"]
    assert auth_client.delete(f"/api/v1/servers/{server.pk}").status_code == 404

    runs(client, server="test-box", machine="t1", days=1, start=DAY + timedelta(days=9))
    reborn = Server.objects.get(name="test-box")
    assert reborn.pk != server.pk and reborn.jobs.get().run_count == 1


def test_a_read_only_token_may_not_delete(client):
    from duplistatus.accounts.models import ApiToken

    runs(client, days=1)
    _, secret = ApiToken.create("reader", is_admin=False)
    response = client.delete(
        f"/api/v1/jobs/{BackupJob.objects.get().pk}", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 403
    assert BackupJob.objects.exists()


def test_merging_a_reinstalled_server(client, auth_client):
    # The old installation: four days of Photos and Mail. Reinstalled with a new machine-id
    # on day 4 under a new name; day 4's Photos run was also re-sent by the new install.
    runs(client, machine="old-id", server="nas", job="Photos", days=4)
    runs(client, machine="old-id", server="nas", job="Mail", days=2)
    runs(
        client, machine="new-id", server="nas2", job="Photos", days=3, start=DAY + timedelta(days=3)
    )
    old, new = Server.objects.get(key="old-id"), Server.objects.get(key="new-id")
    new.paused_until = DAY + timedelta(days=30)
    new.grace_minutes = 45
    new.save()

    response = auth_client.post(
        f"/api/v1/servers/{old.pk}/merge", {"into": new.pk}, content_type="application/json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "into": new.pk,
        "name": "nas2",  # the newer installation's name
        "moved_runs": 5,  # Photos days 1–3 and Mail's two
        "duplicate_runs": 1,  # Photos day 4, sent by both
        "moved_jobs": 1,
        "merged_jobs": 1,
    }
    assert list(Server.objects.values_list("key", flat=True)) == ["new-id"]
    new.refresh_from_db()
    assert new.grace_minutes == 45 and new.paused_until == DAY + timedelta(days=30)
    photos = BackupJob.objects.get(name="Photos")
    assert photos.server == new and photos.run_count == 6
    assert photos.last_run_at == DAY + timedelta(days=5)
    assert BackupRun.objects.filter(server=new).count() == 8
    # The machine's next report lands on the merged server.
    runs(client, machine="new-id", server="nas2", job="Mail", days=1, start=DAY + timedelta(days=9))
    assert BackupJob.objects.get(name="Mail").run_count == 3
    assert AuditEntry.objects.filter(action="server.merge").count() == 1


def test_merging_a_renamed_job_keeps_the_newer_name_unless_one_is_picked(client, auth_client):
    runs(client, job="Photos", days=3)
    runs(client, job="Pictures", days=2, start=DAY + timedelta(days=3))
    photos, pictures = BackupJob.objects.get(name="Photos"), BackupJob.objects.get(name="Pictures")
    monitor.learn_pending()

    response = auth_client.post(
        f"/api/v1/jobs/{photos.pk}/merge", {"into": pictures.pk}, content_type="application/json"
    )
    assert response.json()["name"] == "Pictures" and response.json()["moved_runs"] == 3
    pictures.refresh_from_db()
    assert pictures.run_count == 5 and pictures.last_run_at == DAY + timedelta(days=4)
    assert pictures.needs_learning

    runs(client, job="Old", days=1, start=DAY - timedelta(days=9))
    old = BackupJob.objects.get(name="Old")
    response = auth_client.post(
        f"/api/v1/jobs/{pictures.pk}/merge",
        {"into": old.pk, "name": "Photos"},
        content_type="application/json",
    )
    assert response.json()["name"] == "Photos"
    assert list(BackupJob.objects.values_list("name", "run_count")) == [("Photos", 6)]


def test_merge_refuses_what_cannot_be(client, auth_client):
    runs(client, days=1)
    job = BackupJob.objects.get()
    itself = auth_client.post(
        f"/api/v1/jobs/{job.pk}/merge", {"into": job.pk}, content_type="application/json"
    )
    assert itself.status_code == 400 and "itself" in itself.json()["error"]
    nowhere = auth_client.post(
        f"/api/v1/servers/{job.server_id}/merge", {"into": 999}, content_type="application/json"
    )
    assert nowhere.json() == {"error": "no server with id 999 to merge into"}
    assert nowhere.status_code == 400
    nowhere = auth_client.post(
        f"/api/v1/jobs/{job.pk}/merge", {"into": 999}, content_type="application/json"
    )
    assert (nowhere.status_code, nowhere.json()) == (
        400,
        {"error": "no job with id 999 to merge into"},
    )
    for kind in ("servers", "jobs"):
        gone = auth_client.post(
            f"/api/v1/{kind}/999/merge", {"into": job.pk}, content_type="application/json"
        )
        assert gone.status_code == 404


@pytest.mark.parametrize("name", ["a\x00b", "x" * 201])
def test_a_merged_name_that_cannot_be_stored_is_refused_and_nothing_moves(
    client, auth_client, name
):
    """A NUL character answered 500 on PostgreSQL; an over-long name was cut silently."""
    runs(client, job="Photos", days=2)
    runs(client, job="Pictures", days=1, start=DAY + timedelta(days=2))
    photos, pictures = BackupJob.objects.get(name="Photos"), BackupJob.objects.get(name="Pictures")
    for kind, source, target in (
        ("jobs", photos.pk, pictures.pk),
        ("servers", photos.server_id, pictures.server_id),
    ):
        response = auth_client.post(
            f"/api/v1/{kind}/{source}/merge",
            {"into": target, "name": name},
            content_type="application/json",
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][-1] == "name"
    assert BackupJob.objects.count() == 2


def test_server_details_through_the_api(client, auth_client):
    runs(client, days=1)
    server = Server.objects.get()
    response = auth_client.patch(
        f"/api/v1/servers/{server.pk}",
        {"alias": "Basement NAS", "url": "http://nas.lan:8200", "note": "UPS-backed"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["alias"], body["url"], body["note"]) == (
        "Basement NAS",
        "http://nas.lan:8200",
        "UPS-backed",
    )
    bad = auth_client.patch(
        f"/api/v1/servers/{server.pk}",
        {"url": "javascript:alert(1)"},
        content_type="application/json",
    )
    assert bad.status_code == 422 and "http://" in str(bad.json())
    server.refresh_from_db()
    assert server.url == "http://nas.lan:8200"
    assert AuditEntry.objects.get(action="server.details").changes["url"] == {
        "from": "",
        "to": "http://nas.lan:8200",
    }
    # Schedule defaults still go through the same PATCH.
    auth_client.patch(
        f"/api/v1/servers/{server.pk}", {"grace_minutes": 30}, content_type="application/json"
    )
    server.refresh_from_db()
    assert server.grace_minutes == 30 and server.alias == "Basement NAS"


def test_a_big_job_goes_in_batches(client, auth_client, monkeypatch):
    from duplistatus.maintenance import delete

    monkeypatch.setattr(delete, "BATCH_DELETE", 2)
    runs(client, days=5)
    runs(client, job="Mail", days=1)
    job = BackupJob.objects.get(name="Photos")
    response = auth_client.delete(f"/api/v1/jobs/{job.pk}")
    assert response.json()["deleted"] == {"jobs": 1, "runs": 5, "events": 5}
    assert list(BackupRun.objects.values_list("job__name", flat=True)) == ["Mail"]
    assert RawReport.objects.count() == 1


def test_likely_duplicates(client):
    from duplistatus.maintenance.merge import likely_duplicates

    runs(client, machine="old", server="nas", days=1)
    runs(client, machine="new", server="NAS", days=1, start=DAY + timedelta(days=3))
    runs(client, machine="other", server="office", days=1)
    found = [(d.older.key, d.newer.key, d.reason) for d in likely_duplicates()]
    # All three report from 127.0.0.1 (the test client): a shared address is no hint.
    assert found == [("old", "new", "same name")]
