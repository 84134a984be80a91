"""Every message kind sent to every channel kind, received by real peers (ntfy and webhook
receivers, an SMTP server, an Apprise json:// target), then checked the way a user would:
each link in a message opens its page, and what a private channel receives names neither
the server nor its machine id, nor carries log text or paths."""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pytest

from conftest import CORPUS
from duplistatus import clock
from duplistatus.backups.models import BackupJob, Event, Server
from duplistatus.notifications import messages, outbox, summary, watch
from duplistatus.notifications.channels.base import EVENT_KINDS
from duplistatus.notifications.channels.tests.peers import HttpPeer
from duplistatus.notifications.models import Channel, Delivery
from duplistatus.worker_health import Stopped

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SERVER_NAME = "basement-nas-7731"
MACHINE_ID = "5ca1ab1e0ddba11c0ffee0123456789a"
ALIAS = "Office"
LOG_TEXT = "could not read /home/ann/Photos/private-letter.jpg: disk full"
RUN_STATUSES = {"success": "Success", "warning": "Warning", "error": "Error", "fatal": "Fatal"}
_URL = re.compile(r"https?://[^\s<>\"'()\[\]\\]+")


def upload(client, status: str, job: str) -> None:
    doc = json.loads(V21.read_text())
    doc["Extra"].update({"backup-name": job, "machine-name": SERVER_NAME, "machine-id": MACHINE_ID})
    doc["Data"].update(BeginTime=T0.isoformat(), ParsedResult=status, ErrorsActualLength=1)
    doc["LogLines"] = [f"2026-03-02 03:00:01 +01 - [Error-Duplicati.Library.Main-Fail]: {LOG_TEXT}"]
    doc["Exception"] = f"System.IO.IOException: {LOG_TEXT}"
    response = client.post("/api/upload", data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 200, response.content


@dataclass
class Arrived:
    """What the receivers got, per channel kind, as text (headers and bodies)."""

    by_kind: dict[str, list[str]]

    def everything(self) -> str:
        return "\n".join(text for texts in self.by_kind.values() for text in texts)


@pytest.fixture
def receivers(smtp_server):
    peers = {"ntfy": HttpPeer(), "webhook": HttpPeer(), "apprise": HttpPeer()}
    for peer in peers.values():
        peer.start()
    mailbox, smtp_port = smtp_server()
    yield peers, mailbox, smtp_port
    for peer in peers.values():
        peer.stop()


def send_every_kind(client, auth_client, receivers, **privacy: bool) -> Arrived:
    """One message of every kind to one channel of every kind, through the outbox."""
    peers, mailbox, smtp_port = receivers
    configs = {
        "ntfy": {"server_url": peers["ntfy"].url, "topic": "backups"},
        "webhook": {"url": peers["webhook"].url + "hook", "secret": "whsec_" + "A" * 32},
        "apprise": {"url": f"json://127.0.0.1:{peers['apprise'].port}/notify"},
        "email": {
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "from_address": "duplistatus@example.com",
            "recipients": ["ops@example.com"],
        },
    }
    for kind, config in configs.items():
        body = {"kind": kind, "name": kind, "config": config, "rate_per_minute": 0}
        response = auth_client.post("/api/v1/channels", data=body, content_type="application/json")
        assert response.status_code == 201, response.content
    clock.set(T0 + timedelta(minutes=5))
    for kind, status in RUN_STATUSES.items():
        upload(client, status, job=f"{kind} job")
    Server.objects.update(alias=ALIAS if privacy.get("use_server_alias") else "")
    Channel.objects.update(
        batch_threshold=0,  # every message on its own, no digest
        summary_schedule="daily",
        summary_time=time(0, 0),
        created_at=T0 - timedelta(days=2),
        **privacy,
    )
    job = BackupJob.objects.get(name="error job")
    now = clock.now()
    for kind in ("overdue", "reminder", "escalation", "recovered"):
        Event.objects.create(
            kind=kind,
            job=job,
            run=job.last_run if kind == "recovered" else None,
            created_at=now,
            details={"overdue_since": (now - timedelta(hours=3)).isoformat(), "status": "Error"},
        )
    for kind, details in (
        (
            "anomaly",
            {
                "detector": "change_burst",
                "metric": "bytes_uploaded",
                "value": 40 << 30,
                "low": 80e6,
                "high": 1.1e9,
                "normal": 210e6,
                "severity": "critical",
                "message_type": "Anomaly",
            },
        ),
        (
            "storage",
            {
                "detector": "quota",
                "metric": "free_space",
                "value": 61 << 30,
                "low": None,
                "high": 1 << 40,
                "normal": None,
                "severity": "warning",
                "message_type": "Storage Warning",
                "days_left": 9.2,
            },
        ),
    ):
        Event.objects.create(kind=kind, job=job, run=job.last_run, created_at=now, details=details)
    channels = list(Channel.objects.all())
    events = Event.objects.select_related("job__server", "run").order_by("id")
    for event in events:
        values = messages.context(event, now=now)
        for channel in channels:
            outbox.build_delivery(
                channel, messages.message_kind(event), values, now, event=event
            ).save()
    events.update(processed_at=now)
    assert summary.send_due_summaries(now) == len(channels)
    # Messages about the monitor itself (watch.py), to every channel.
    watch._to_every_channel("channel_failing", lambda: watch.failing_values(channels[0], True), now)
    watch._to_every_channel("system_health", lambda: watch.health_values(now), now)
    stopped = Stopped(now - timedelta(minutes=20), never_ran=False)
    watch.report_resumed(stopped, "backup-monitor:4711", now)
    for channel in channels:
        assert outbox.send_test(channel).status == "sent"
    while outbox.send_due(now, limit=1000).total:
        pass
    sent = Delivery.objects.filter(status="sent")
    assert {(d.channel.kind, d.kind) for d in sent.select_related("channel")} == {
        (channel_kind, kind) for channel_kind in configs for kind in EVENT_KINDS
    }
    assert not Delivery.objects.exclude(status="sent").exists()

    by_kind: dict[str, list[str]] = {kind: [] for kind in configs}
    for kind, peer in peers.items():
        by_kind[kind] = [
            json.dumps(dict(r.headers)) + "\n" + json.dumps(r.json(), ensure_ascii=False)
            for r in peer.received
        ]
    for mail in mailbox.messages():
        headers = "\n".join(f"{name}: {value}" for name, value in mail.items())
        parts = [part.get_content() for part in mail.walk() if not part.is_multipart()]
        by_kind["email"].append(headers + "\n" + "\n".join(parts))
    assert all(len(texts) == len(EVENT_KINDS) for texts in by_kind.values()), {
        k: len(v) for k, v in by_kind.items()
    }
    return Arrived(by_kind)


def links_in(text: str) -> set[str]:
    return {url.rstrip(".,;:") for url in _URL.findall(text)}


def test_every_link_in_every_message_opens_its_page(
    client, auth_client, admin_client, receivers, monkeypatch
):
    # `serve --host 127.0.0.1 --port 9777`, no DUPLISTATUS_BASE_URL: links use that address.
    monkeypatch.delenv("DUPLISTATUS_BASE_URL", raising=False)
    monkeypatch.setenv("DUPLISTATUS_HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", "9777")
    arrived = send_every_kind(client, auth_client, receivers)

    base = "http://127.0.0.1:9777"
    followed: dict[str, int] = {}
    for texts in arrived.by_kind.values():
        for text in texts:
            for url in links_in(text):
                assert url.startswith(base + "/"), url
                if url not in followed:
                    path = urllib.parse.urlsplit(url).path
                    followed[url] = admin_client.get(path).status_code
    assert followed and all(status == 200 for status in followed.values()), followed
    paths = {urllib.parse.urlsplit(url).path for url in followed}
    assert "/" in paths
    assert any(p.startswith("/jobs/") for p in paths)
    assert any(p.startswith("/runs/") for p in paths)


def test_a_link_opened_signed_out_leads_to_its_page_after_sign_in(client, django_user_model):
    upload(client, "Error", job="Photos")
    job = BackupJob.objects.get()
    django_user_model.objects.create_user("ann", password="a long enough password 1")
    for url in (
        messages.page_url("web:job", job_id=job.pk),
        messages.page_url("web:run", run_id=job.last_run_id),
    ):
        path = urllib.parse.urlsplit(url).path
        response = client.get(path)
        assert response.status_code == 302
        login = response["Location"]
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(login).query)["next"] == [path]
        page = client.get(login)
        assert page.status_code == 200
        signed_in = client.post(
            login, {"username": "ann", "password": "a long enough password 1", "next": path}
        )
        assert (signed_in.status_code, signed_in["Location"]) == (302, path)
        assert client.get(path).status_code == 200
        client.logout()


def test_base_url_follows_serve_unless_set(monkeypatch):
    monkeypatch.delenv("DUPLISTATUS_BASE_URL", raising=False)
    monkeypatch.setenv("DUPLISTATUS_HOST", "192.0.2.10")
    monkeypatch.setenv("PORT", "8080")
    assert messages.base_url() == "http://192.0.2.10:8080"
    assert not messages.base_url_is_guessed()
    monkeypatch.setenv("DUPLISTATUS_HOST", "::1")
    assert messages.base_url() == "http://[::1]:8080"
    monkeypatch.setenv("DUPLISTATUS_HOST", "0.0.0.0")
    assert messages.base_url_is_guessed()
    assert messages.base_url().endswith(":8080") and "0.0.0.0" not in messages.base_url()
    monkeypatch.setenv("DUPLISTATUS_BASE_URL", "https://backups.example.com/")
    assert messages.base_url() == "https://backups.example.com"
    assert not messages.base_url_is_guessed()
    assert messages.page_url("web:run", run_id=3) == "https://backups.example.com/runs/3"


def test_channels_page_says_when_the_link_address_is_a_guess(admin_client, monkeypatch):
    monkeypatch.delenv("DUPLISTATUS_BASE_URL", raising=False)
    monkeypatch.setenv("DUPLISTATUS_HOST", "0.0.0.0")
    html = admin_client.get("/settings/notifications").content.decode()
    assert "This address is a guess" in html and "DUPLISTATUS_BASE_URL" in html
    monkeypatch.setenv("DUPLISTATUS_BASE_URL", "https://backups.example.com")
    html = admin_client.get("/settings/notifications").content.decode()
    assert "https://backups.example.com" in html and "This address is a guess" not in html


def test_a_private_channel_receives_no_server_name_machine_id_log_or_path(
    client, auth_client, receivers
):
    arrived = send_every_kind(
        client, auth_client, receivers, use_server_alias=True, hide_log_text=True, hide_paths=True
    )
    for channel_kind, texts in arrived.by_kind.items():
        for text in texts:
            for secret in (SERVER_NAME, MACHINE_ID, "disk full", "/home/ann", "private-letter"):
                assert secret not in text, (
                    f"{secret!r} reached the {channel_kind} receiver:\n{text}"
                )
    assert ALIAS in arrived.everything()
    webhook = [json.loads(text.split("\n", 1)[1]) for text in arrived.by_kind["webhook"]]
    servers = [doc["server"] for doc in webhook if doc.get("server")]
    assert servers and all(s["name"] == ALIAS for s in servers)


def test_a_channel_without_privacy_receives_the_facts(client, auth_client, receivers):
    arrived = send_every_kind(client, auth_client, receivers)
    for channel_kind in ("ntfy", "email", "apprise", "webhook"):
        assert SERVER_NAME in "\n".join(arrived.by_kind[channel_kind]), channel_kind
    assert "disk full" in arrived.everything()
    assert MACHINE_ID in "\n".join(arrived.by_kind["webhook"])
