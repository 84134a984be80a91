"""`duplistatus collect`, the collect API, and key rotation of the stored password."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from duplistatus import clock, crypto
from duplistatus.accounts.models import ApiToken
from duplistatus.backups.models import BackupRun, Server
from duplistatus.cli import main
from duplistatus.collect import queue

from .fixtures import SUCCESS_MESSAGE, log_message

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def with_runs(fake, name: str, days: int) -> None:
    backup = fake.add_backup(str(len(fake.backups) + 1), name)
    base = json.loads(log_message(SUCCESS_MESSAGE))
    for day in range(days):
        begin = NOW - timedelta(days=day + 1)
        backup.add_result(
            json.dumps({**base, "BeginTime": begin.isoformat().replace("+00:00", "Z")}),
            int(begin.timestamp()),
        )


def linked(fake, *, password: str | None = None) -> Server:
    return Server.objects.create(
        key=fake.machine_id,
        name=fake.machine_name,
        created_at=NOW,
        last_seen_at=NOW,
        duplicati_url=f"http://{fake.address}",
        duplicati_secret=crypto.encrypt({"password": password or fake.password}),
    )


@pytest.mark.django_db(transaction=True)
def test_cli_collects_all_servers_in_parallel(start_duplicati, capsys):
    one = start_duplicati(machine_id="one", machine_name="one")
    with_runs(one, "Docs", 5)
    two = start_duplicati(machine_id="two", machine_name="two", generation="legacy")
    with_runs(two, "Mail", 3)
    linked(one)
    linked(two, password="wrong")

    assert main(["collect"]) == 1  # one failed
    out = capsys.readouterr().out
    assert "one: done, 5 runs added" in out
    assert "two: FAILED (wrong_password): Wrong password" in out
    assert "wrong" not in out.replace("wrong_password", "").replace("Wrong password", "")

    assert main(["collect", "one"]) == 0
    assert "one: done, 0 runs added, 5 already there" in capsys.readouterr().out
    assert main(["collect", "nobody"]) == 2
    assert BackupRun.objects.count() == 5


@pytest.mark.django_db
def test_api_links_collects_and_reports_status(client, start_duplicati):
    fake = start_duplicati(machine_id="api-1")
    with_runs(fake, "Docs", 4)
    server = Server.objects.create(key="api-1", name="x", created_at=NOW, last_seen_at=NOW)
    _, secret = ApiToken.create("ci")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    refused = client.put(
        f"/api/v1/servers/{server.pk}/duplicati",
        {"address": fake.address, "password": "nope"},
        content_type="application/json",
        **auth,
    )
    assert refused.status_code == 400 and refused.json()["code"] == "wrong_password"
    assert client.post(f"/api/v1/servers/{server.pk}/collect", **auth).status_code == 400

    linked_ = client.put(
        f"/api/v1/servers/{server.pk}/duplicati",
        {"address": fake.address, "password": fake.password, "collect_every": "daily"},
        content_type="application/json",
        **auth,
    )
    assert linked_.status_code == 200, linked_.content
    assert linked_.json()["generation"] == "2.1+" and fake.password not in linked_.content.decode()

    started = client.post(f"/api/v1/servers/{server.pk}/collect", **auth)
    assert started.status_code == 202 and started.json()["state"] == "queued"
    assert client.post("/api/v1/collect", **auth).json()[0]["id"] == started.json()["id"]
    queue.run_pending()
    done = client.get(f"/api/v1/collections/{started.json()['id']}", **auth).json()
    assert (done["state"], done["runs_added"]) == ("done", 4)
    listed = client.get(f"/api/v1/collections?server={server.pk}", **auth).json()
    assert [c["id"] for c in listed] == [done["id"]]
    server.refresh_from_db()
    assert server.collect_every == "daily"


@pytest.mark.django_db
def test_an_address_that_cannot_be_right_is_a_400_not_a_503(client, monkeypatch):
    """An invalid host name answered 500 (httpx.InvalidURL), and an unknown one 503, as if
    trying again later could help; the caller must change the address."""
    import socket

    real_getaddrinfo = socket.getaddrinfo

    def resolver(host, *args, **kwargs):  # the DNS answer, without leaving the machine
        if host == "nas.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    server = Server.objects.create(key="addr-1", name="x", created_at=NOW, last_seen_at=NOW)
    _, secret = ApiToken.create("ci")
    for address in ("_\u008d*u\u00ba+.", "nas.invalid"):
        response = client.put(
            f"/api/v1/servers/{server.pk}/duplicati",
            {"address": address},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
        assert response.status_code == 400, address
        assert response.json()["code"] == "bad_address"
    server.refresh_from_db()
    assert server.duplicati_url == ""


@pytest.mark.django_db
def test_rotate_key_keeps_the_duplicati_password(start_duplicati, capsys):
    fake = start_duplicati()
    server = linked(fake)
    before = server.duplicati_secret
    assert main(["rotate-key"]) == 0
    assert "1 Duplicati server password" in capsys.readouterr().out
    server.refresh_from_db()
    assert server.duplicati_secret != before
    assert crypto.decrypt(server.duplicati_secret) == {"password": fake.password}


@pytest.fixture(autouse=True)
def _clock():
    clock.set(NOW)
    yield
    clock.reset()
