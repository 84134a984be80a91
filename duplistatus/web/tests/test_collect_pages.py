"""Adding a Duplicati server in the UI, collecting, and seeing its history and schedule."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from duplistatus import clock, crypto
from duplistatus.accounts.models import AuditEntry
from duplistatus.backups.models import BackupJob, Server
from duplistatus.collect import queue
from duplistatus.collect.client import fetch_certificate
from duplistatus.collect.tests.fake_duplicati import schedule_dto
from duplistatus.collect.tests.fixtures import SUCCESS_MESSAGE, log_message

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    clock.set(NOW)
    yield
    clock.reset()


def with_history(fake, days: int = 40):
    backup = fake.add_backup(
        "1", "Photos", schedule_dto("1", "1D", NOW.replace(hour=2) + timedelta(days=1))
    )
    base = json.loads(log_message(SUCCESS_MESSAGE))
    for day in range(days, 0, -1):
        begin = NOW.replace(hour=2, minute=0) - timedelta(days=day)
        backup.add_result(
            json.dumps({**base, "BeginTime": begin.isoformat().replace("+00:00", "Z")}),
            int(begin.timestamp()),
        )
    return backup


def test_newcomer_adds_a_server_collects_and_sees_history_and_schedule(
    admin_client, start_duplicati
):
    fake = start_duplicati(machine_id="m-1", machine_name="nas")
    with_history(fake)
    page = admin_client.get("/")
    assert 'href="/servers/add"' in page.content.decode()

    response = admin_client.post(
        "/servers/add",
        {"address": fake.address, "password": fake.password, "action": "save"},
    )
    server = Server.objects.get(key="m-1")
    assert response.status_code == 302 and response["Location"] == f"/servers/{server.pk}"
    queue.run_pending()  # what the worker does

    page = admin_client.get(f"/servers/{server.pk}").content.decode()
    assert "Collect now" in page and "done" in page
    assert re.search(r'<td class="num">40</td>', page)  # runs added
    job = BackupJob.objects.get(server=server, name="Photos")
    assert job.run_count == 40
    job_page = admin_client.get(f"/jobs/{job.pk}").content.decode()
    assert "1D" in job_page
    assert 'title="where the interval comes from">Duplicati' in job_page
    # The password is stored encrypted, never shown, never in the audit log.
    server.refresh_from_db()
    assert crypto.decrypt(server.duplicati_secret) == {"password": fake.password}
    assert fake.password not in page
    assert fake.password not in json.dumps(list(AuditEntry.objects.values()), default=str)


def test_wrong_password_is_said_next_to_the_field(admin_client, start_duplicati):
    fake = start_duplicati()
    response = admin_client.post(
        "/servers/add", {"address": fake.address, "password": "nope", "action": "save"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="d-password-err"' in page and "Wrong password" in page
    assert not Server.objects.exists()


def test_unreachable_is_said_next_to_the_address(admin_client, closed_port):
    page = admin_client.post(
        "/servers/add", {"address": f"127.0.0.1:{closed_port}", "password": "x"}
    ).content.decode()
    assert 'id="d-address-err"' in page and "Cannot reach" in page


def test_self_signed_certificate_is_trusted_only_when_asked(
    admin_client,
    start_duplicati,
    self_signed,
):
    fake = start_duplicati(tls=self_signed.context())
    form = {"address": fake.address, "password": fake.password, "action": "save"}
    page = admin_client.post("/servers/add", form).content.decode()
    fingerprint = fetch_certificate(f"https://{fake.address}").sha256
    assert "not trusted" in page and f'name="trust" value="{fingerprint}"' in page
    assert not Server.objects.exists()

    response = admin_client.post("/servers/add", {**form, "trust": fingerprint})
    assert response.status_code == 302
    server = Server.objects.get()
    assert server.duplicati_fingerprint == fingerprint
    assert server.duplicati_url == f"https://{fake.address}"


def test_test_connection_saves_nothing(admin_client, start_duplicati):
    fake = start_duplicati()
    with_history(fake, 2)
    page = admin_client.post(
        "/servers/add", {"address": fake.address, "password": fake.password, "action": "test"}
    ).content.decode()
    assert "Connected to Duplicati" in page and "1 backup." in page
    assert not Server.objects.exists()


def test_collect_all_shows_each_server_and_its_outcome(admin_client, start_duplicati):
    good = start_duplicati(machine_id="good", machine_name="good")
    with_history(good, 3)
    bad = start_duplicati(machine_id="bad", machine_name="bad")
    for fake in (good, bad):
        admin_client.post("/servers/add", {"address": fake.address, "password": fake.password})
    queue.run_pending()
    Server.objects.filter(key="bad").update(duplicati_secret=crypto.encrypt({"password": "old"}))
    response = admin_client.post("/collect", HTTP_HX_REQUEST="true")
    assert (
        "queued" in response.content.decode()
        and 'hx-trigger="every 1s"' in response.content.decode()
    )
    queue.run_pending()
    status = admin_client.get("/collect/status").content.decode()
    assert "Wrong password" in status and "hx-trigger" not in status
    assert status.count('data-state="done"') == 1 and status.count('data-state="failed"') == 1


def test_viewer_sees_but_cannot_collect(viewer_client, start_duplicati):
    fake = start_duplicati()
    server = Server.objects.create(
        key="k", name="n", created_at=NOW, last_seen_at=NOW, duplicati_url=f"http://{fake.address}"
    )
    assert viewer_client.post(f"/servers/{server.pk}/collect").status_code == 403
    assert viewer_client.post("/collect").status_code == 403
    assert viewer_client.get("/servers/add").status_code == 403
    page = viewer_client.get(f"/servers/{server.pk}").content.decode()
    assert "Collect now" not in page and "d-password" not in page
