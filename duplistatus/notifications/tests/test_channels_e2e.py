"""Each channel kind configured through the API and fed by an uploaded report, received by a
real peer: an SMTP server with STARTTLS and AUTH, a webhook receiver that verifies the
Standard Webhooks signature, an Apprise json:// target. Plus a worker killed mid-send and
key rotation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from conftest import CORPUS, subprocess_database_url
from duplistatus import clock, crypto
from duplistatus.notifications.channels.tests.peers import PASSWORD, USER, HttpPeer, Reply
from duplistatus.notifications.models import Channel, Delivery
from duplistatus.notifications.tests.api import add_channel
from duplistatus.worker import Worker

pytestmark = [pytest.mark.timeout(120)]

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def upload(client, *, status="Error", job="Photos") -> None:
    doc = json.loads(V21.read_text())
    doc["Extra"].update({"backup-name": job, "machine-name": "nas"})
    doc["Data"].update(BeginTime=T0.isoformat(), ParsedResult=status, ErrorsActualLength=2)
    doc["LogLines"] = ["2026-03-02 03:00:01 +01 - [Error-Duplicati.Library.Main-Fail]: disk full"]
    response = client.post("/api/upload", data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 200, response.content


def run_worker() -> None:
    worker = Worker()
    worker.last_scan = clock.now()
    worker.run_once()


@pytest.mark.django_db
def test_email_with_starttls_and_auth(client, auth_client, smtp_server, pki):
    from duplistatus.notifications.channels.tests.peers import authenticator

    mailbox, port = smtp_server(
        tls_context=pki.server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    channel = add_channel(
        auth_client,
        "email",
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "starttls",
            "ca_file": str(pki.ca_file),
            "auth": True,
            "username": USER,
            "password": PASSWORD,
            "from_address": "duplistatus@example.com",
            "recipients": ["ops@example.com"],
        },
    )
    assert PASSWORD not in json.dumps(channel)
    clock.set(T0 + timedelta(minutes=2))
    upload(client)
    run_worker()

    [mail] = mailbox.messages()
    assert mail["To"] == "ops@example.com"
    assert mail["From"] == "duplistatus <duplistatus@example.com>"
    assert "Photos" in mail["Subject"] and "Error" in mail["Subject"]
    delivery = Delivery.objects.get()
    assert mail["Message-ID"].startswith(f"<{delivery.uid}")
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "disk full" in text and "2 error(s)" in text
    assert "<a href=" in html
    assert delivery.status == "sent"
    assert delivery.detail.startswith("250")  # the server's reply, in the delivery log

    # The test button reports the server's answer too.
    result = auth_client.post(f"/api/v1/channels/{channel['id']}/test").json()
    assert result["status"] == "sent" and result["detail"].startswith("250")


@pytest.mark.django_db
def test_email_wrong_password_is_dead_and_says_why(auth_client, smtp_server, pki):
    from duplistatus.notifications.channels.tests.peers import authenticator

    _, port = smtp_server(
        tls_context=pki.server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    channel = add_channel(
        auth_client,
        "email",
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "starttls",
            "ca_file": str(pki.ca_file),
            "auth": True,
            "username": USER,
            "password": "wrong-password-xyz",
            "from_address": "duplistatus@example.com",
            "recipients": ["ops@example.com"],
        },
    )
    result = auth_client.post(f"/api/v1/channels/{channel['id']}/test").json()
    assert result["status"] == "dead"
    assert "wrong-password-xyz" not in json.dumps(result)
    assert "auth" in result["last_error"].lower() or "535" in result["last_error"]


@pytest.mark.django_db
def test_signed_webhook(client, auth_client):
    seen = []
    secret_holder = {}

    def verify(request):
        hook = Webhook(secret_holder["secret"])
        seen.append(hook.verify(request.body, request.headers))
        return Reply(204)

    peer = HttpPeer()
    peer.responder = verify
    peer.start()
    try:
        secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        secret_holder["secret"] = secret
        channel = add_channel(
            auth_client,
            "webhook",
            {"url": peer.url + "hooks/backup", "secret": secret, "headers": {"X-Team": "ops"}},
        )
        assert secret not in json.dumps(channel)
        clock.set(T0 + timedelta(minutes=2))
        upload(client, status="Fatal")
        run_worker()
    finally:
        peer.stop()
    [request] = peer.received
    assert request.path == "/hooks/backup"
    assert request.header("X-Team") == "ops"
    [document] = seen  # the signature verified
    assert document["type"] == "fatal"
    assert document["job"]["name"] == "Photos"
    assert document["server"]["name"] == "nas"
    assert document["run"]["status"] == "Fatal"
    assert document["links"]["run"].endswith(f"/runs/{document['run']['id']}")
    assert request.header("webhook-id") == str(Delivery.objects.get().uid)


@pytest.mark.django_db
def test_apprise_json_target(auth_client):
    peer = HttpPeer()
    peer.start()
    try:
        url = f"json://127.0.0.1:{peer.port}/notify"
        channel = add_channel(auth_client, "apprise", {"url": url})
        assert url not in json.dumps(channel)
        result = auth_client.post(f"/api/v1/channels/{channel['id']}/test").json()
    finally:
        peer.stop()
    assert result["status"] == "sent", result
    assert peer.received[0].json()["title"] == "duplistatus test message"


@pytest.mark.django_db
def test_rotate_key_keeps_secrets_readable(auth_client, capsys):
    from duplistatus.cli import main

    add_channel(
        auth_client,
        "ntfy",
        {"server_url": "http://127.0.0.1:9/", "topic": "t", "access_token": "tok-123"},
    )
    before_keys = crypto.key_file().read_bytes()
    before_secret = Channel.objects.get().secrets
    assert main(["rotate-key"]) == 0
    assert "1 channel" in capsys.readouterr().out
    assert crypto.key_file().read_bytes() != before_keys
    assert len(crypto.key_file().read_bytes().split()) == 1  # the old key is gone
    channel = Channel.objects.get()
    assert channel.secrets != before_secret
    assert channel.full_config()["access_token"] == "tok-123"
    assert oct(crypto.key_file().stat().st_mode & 0o777) == "0o600"


WORKER = """
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "duplistatus.settings"
import django
django.setup()
from duplistatus.notifications import outbox
outbox.send_due()
"""


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_send_loses_nothing(client, auth_client):
    """A sender that dies holding a claim: the claim expires and the delivery goes out, with
    the same id, so the receiver can drop the duplicate."""
    arrived = threading.Event()
    first = {"done": False}

    def hang_first(request):
        if not first["done"]:
            first["done"] = True
            arrived.set()
            return Reply(200, {"id": "late"}, delay=60)  # never answers in time
        return Reply(200, {"id": "ok"})

    peer = HttpPeer()
    peer.responder = hang_first
    peer.start()
    try:
        add_channel(auth_client, "ntfy", {"server_url": peer.url, "topic": "t"})
        upload(client)
        from duplistatus.notifications import outbox

        outbox.enqueue_events()
        env = {
            **os.environ,
            "DATABASE_URL": subprocess_database_url(),
            "DUPLISTATUS_DATA_DIR": os.environ["DUPLISTATUS_DATA_DIR"],
        }
        process = subprocess.Popen([sys.executable, "-c", WORKER], env=env)
        assert arrived.wait(60), "the worker never reached the receiver"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

        delivery = Delivery.objects.get()
        assert delivery.status == "sending"  # claimed by the dead worker
        clock.set(delivery.claimed_until + timedelta(seconds=1))
        report = outbox.send_due()
        assert report.sent == 1
    finally:
        peer.stop()
    ids = [r.header("X-Duplistatus-Delivery") for r in peer.received]
    assert ids == [str(delivery.uid)] * 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
