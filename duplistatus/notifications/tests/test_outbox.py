"""The outbox end to end: a report is uploaded, the worker turns its event into deliveries and
sends them to real receivers on 127.0.0.1; failures wait and retry on a test clock."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, time, timedelta

import pytest

from conftest import CORPUS
from duplistatus import clock
from duplistatus.backups.models import BackupJob, Event
from duplistatus.notifications import outbox
from duplistatus.notifications.channels.tests.peers import HttpPeer, Reply, free_port
from duplistatus.notifications.models import Channel, Delivery
from duplistatus.worker import Worker

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
TOKEN = "tk_very_secret_token_123"


def upload(client, *, status="Error", begin=T0, job="Photos") -> None:
    doc = json.loads(V21.read_text())
    doc["Extra"].update({"backup-name": job, "machine-name": "nas"})
    doc["Data"].update(BeginTime=begin.isoformat(), ParsedResult=status)
    response = client.post("/api/upload", data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 200, response.content


def add_ntfy(auth_client, url: str, **extra) -> dict:
    body = {
        "kind": "ntfy",
        "name": "phone",
        "config": {"server_url": url, "topic": "backups", "access_token": TOKEN},
        "rate_per_minute": 0,
        **extra,
    }
    response = auth_client.post("/api/v1/channels", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def run_worker() -> dict[str, int]:
    worker = Worker()
    worker.last_scan = clock.now()  # these tests are about sending, not scanning
    return worker.run_once()


def statuses() -> list[str]:
    return list(Delivery.objects.order_by("id").values_list("status", flat=True))


@pytest.fixture
def peer():
    server = HttpPeer()
    server.start()
    yield server
    server.stop()


def test_failed_backup_reaches_ntfy(client, auth_client, peer):
    clock.set(T0 + timedelta(minutes=5))
    add_ntfy(auth_client, peer.url)
    upload(client, status="Success", begin=T0 - timedelta(days=1))  # not sent by default
    upload(client, status="Fatal")
    assert run_worker()["sent"] == 1

    assert len(peer.received) == 1
    request = peer.received[0]
    published = request.json()
    assert request.method == "POST" and request.path == "/"
    assert published["topic"] == "backups"
    assert published["priority"] == 5
    assert "Photos" in published["title"] and "nas" in published["title"]
    assert "stopped with a fatal error" in published["message"]
    assert published["click"].endswith(f"/runs/{BackupJob.objects.get().last_run_id}")
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    delivery = Delivery.objects.get()
    assert request.header("X-Duplistatus-Delivery") == str(delivery.uid)
    assert delivery.status == "sent" and delivery.attempts == 1
    assert delivery.latency_ms is not None
    log = auth_client.get("/api/v1/deliveries?status=sent").json()
    assert [d["kind"] for d in log] == ["fatal"]
    health = auth_client.get("/api/v1/channels").json()[0]["health"]
    assert health["last_success_at"] and health["consecutive_failures"] == 0


def test_secrets_stay_secret(client, auth_client, peer, caplog):
    channel = add_ntfy(auth_client, peer.url)
    assert channel["secrets_set"] == ["access_token"]
    assert TOKEN not in json.dumps(channel)
    assert TOKEN not in json.dumps(auth_client.get("/api/v1/channels").json())
    assert TOKEN not in Channel.objects.get().secrets  # encrypted at rest
    assert TOKEN not in json.dumps(Channel.objects.get().config)

    # A receiver that rejects the token and echoes it back must not get it into logs.
    peer.reply_with(Reply(401, {"code": 40101, "http": 401, "error": f"bad token {TOKEN}"}))
    caplog.set_level(logging.DEBUG)
    clock.set(T0)
    upload(client)
    run_worker()
    delivery = Delivery.objects.get()
    assert delivery.status == "dead"
    assert "401" in delivery.last_error or "credentials" in delivery.last_error
    assert TOKEN not in delivery.last_error
    assert TOKEN not in caplog.text
    assert TOKEN not in json.dumps(auth_client.get("/api/v1/deliveries").json())


def test_patch_keeps_secrets_not_sent_again(auth_client, peer):
    channel = add_ntfy(auth_client, peer.url)
    response = auth_client.patch(
        f"/api/v1/channels/{channel['id']}",
        data={"config": {"topic": "other"}, "name": "desk"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["config"]["topic"] == "other"
    assert Channel.objects.get().full_config()["access_token"] == TOKEN


def test_bad_config_is_refused_clearly(auth_client):
    body = {
        "kind": "email",
        "name": "mail",
        "config": {
            "host": "smtp.example",
            "from_address": "x@example.com",
            "recipients": ["not an address"],
        },
    }
    response = auth_client.post("/api/v1/channels", data=body, content_type="application/json")
    assert response.status_code == 422
    assert "recipients" in response.json()["error"]
    body = {"kind": "carrier-pigeon", "name": "x"}
    response = auth_client.post("/api/v1/channels", data=body, content_type="application/json")
    assert response.status_code == 422


def test_receiver_down_then_up_is_delivered_once(client, auth_client):
    port = free_port()
    clock.set(T0)
    add_ntfy(auth_client, f"http://127.0.0.1:{port}/")
    upload(client)
    run_worker()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("retrying", 1)
    assert "connect" in delivery.last_error.lower() or "refused" in delivery.last_error.lower()
    first_wait = delivery.next_attempt_at - clock.now()
    assert timedelta(seconds=15) <= first_wait <= timedelta(seconds=30)

    for _ in range(4):  # still down: backoff grows
        clock.set(Delivery.objects.get().next_attempt_at + timedelta(seconds=1))
        run_worker()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("retrying", 5)
    assert delivery.next_attempt_at - clock.now() > first_wait

    receiver = HttpPeer(port=port)
    receiver.start()
    try:
        clock.set(delivery.next_attempt_at + timedelta(seconds=1))
        run_worker()
        clock.advance(timedelta(hours=2))
        run_worker()
        assert len(receiver.received) == 1
    finally:
        receiver.stop()
    assert statuses() == ["sent"]
    assert Channel.objects.get().consecutive_failures == 0


def test_transient_failures_die_at_the_horizon(client, auth_client, peer):
    peer.reply_with(Reply(503, "down for maintenance"))
    clock.set(T0)
    add_ntfy(auth_client, peer.url)
    upload(client)
    for _ in range(80):
        run_worker()
        delivery = Delivery.objects.get()
        if delivery.status == "dead":
            break
        clock.set(delivery.next_attempt_at)
    assert delivery.status == "dead"
    assert clock.now() - delivery.created_at <= timedelta(hours=24)
    assert delivery.attempts > 20  # exponential, capped at an hour between tries
    assert "503" in delivery.last_error


def test_permanent_failure_then_fix_and_retry(client, auth_client, peer):
    peer.reply_with(Reply(403, {"code": 40301, "http": 403, "error": "forbidden"}))
    clock.set(T0)
    channel = add_ntfy(auth_client, peer.url)
    upload(client)
    run_worker()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert auth_client.get("/api/v1/channels").json()[0]["health"]["dead"] == 1

    peer.reply_with(Reply(200, {"id": "ok"}))
    auth_client.patch(
        f"/api/v1/channels/{channel['id']}",
        data={"config": {"access_token": "new-token"}},
        content_type="application/json",
    )
    response = auth_client.post(f"/api/v1/deliveries/{delivery.pk}/retry")
    assert response.json()["status"] == "queued"
    run_worker()
    assert statuses() == ["sent"]
    assert peer.received[-1].header("Authorization") == "Bearer new-token"


def test_retry_after_is_honoured(client, auth_client, peer):
    peer.reply_with(
        Reply(429, {"code": 42901, "http": 429, "error": "limit reached"}, {"Retry-After": "600"})
    )
    clock.set(T0)
    add_ntfy(auth_client, peer.url)
    upload(client)
    run_worker()
    delivery = Delivery.objects.get()
    assert delivery.status == "retrying"
    assert delivery.next_attempt_at - T0 >= timedelta(seconds=600)


def test_rate_limit_and_priority_order(client, auth_client, peer):
    clock.set(T0)
    add_ntfy(auth_client, peer.url, rate_per_minute=6, burst=1, batch_threshold=0)
    upload(client, status="Warning", job="a")
    upload(client, status="Fatal", job="b")
    upload(client, status="Error", job="c")
    run_worker()
    assert [r.json()["priority"] for r in peer.received] == [5]  # the fatal one first
    clock.advance(timedelta(seconds=10))
    run_worker()
    assert [r.json()["priority"] for r in peer.received] == [5, 4]
    clock.advance(timedelta(seconds=10))
    run_worker()
    assert [r.json()["priority"] for r in peer.received] == [5, 4, 3]
    assert statuses() == ["sent", "sent", "sent"]


def test_many_due_at_once_become_one_digest(client, auth_client, peer):
    clock.set(T0)
    add_ntfy(auth_client, peer.url, batch_threshold=3)
    for name in "abcde":
        upload(client, status="Error", job=name)
    upload(client, status="Fatal", job="f")  # urgent: never folded into a digest
    run_worker()
    titles = sorted(r.json()["title"] for r in peer.received)
    assert len(titles) == 2
    assert "5 backup notifications" in titles
    digest = next(r.json() for r in peer.received if r.json()["title"].startswith("5 "))
    for name in "abcde":
        assert f"{name} on nas" in digest["message"]
    assert sorted(statuses()).count("batched") == 5


def test_quiet_hours_hold_non_urgent_until_the_window_ends(client, auth_client, peer):
    add_ntfy(
        auth_client,
        peer.url,
        quiet_start="22:00:00",
        quiet_end="07:00:00",
        timezone="Europe/Berlin",
    )
    clock.set(datetime(2026, 3, 2, 23, 30, tzinfo=UTC))  # 00:30 in Berlin
    upload(client, status="Error", job="quiet")
    upload(client, status="Fatal", job="urgent")
    run_worker()
    assert [r.json()["priority"] for r in peer.received] == [5]
    waiting = Delivery.objects.get(status="queued")
    assert waiting.next_attempt_at == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # 07:00 CET
    clock.set(datetime(2026, 3, 3, 6, 0, 1, tzinfo=UTC))
    run_worker()
    assert len(peer.received) == 2


def test_thousand_events_with_a_flaky_receiver_all_arrive(client, auth_client, peer):
    count = {"n": 0}

    def flaky(request):
        count["n"] += 1
        return Reply(503, "try later") if count["n"] % 2 else Reply(200, {"id": "ok"})

    peer.responder = flaky
    clock.set(T0)
    add_ntfy(auth_client, peer.url, batch_threshold=0)
    upload(client)
    job = BackupJob.objects.get()
    Event.objects.bulk_create(
        Event(kind="overdue", job=job, created_at=T0, details={"overdue_seconds": i})
        for i in range(999)
    )
    for _ in range(200):
        worker = Worker()
        worker.last_scan = clock.now()
        worker.run_once()
        if not outbox.due_deliveries(clock.now() + timedelta(days=1)).exists():
            break
        clock.advance(timedelta(minutes=2))
    assert Delivery.objects.filter(status="sent").count() == 1000
    delivered = {r.header("X-Duplistatus-Delivery") for r in peer.received if r is not None}
    assert len(delivered) == 1000  # every one arrived (some after a retry)


def test_test_button_returns_the_real_outcome(auth_client, peer):
    channel = add_ntfy(auth_client, peer.url)
    response = auth_client.post(f"/api/v1/channels/{channel['id']}/test")
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "sent"
    assert result["detail"]  # what ntfy answered
    assert peer.received[0].json()["title"] == "duplistatus test message"

    peer.reply_with(Reply(403, {"code": 40301, "http": 403, "error": "forbidden"}))
    failed = auth_client.post(f"/api/v1/channels/{channel['id']}/test").json()
    assert failed["status"] == "dead"
    assert "403" in failed["last_error"] or "forbidden" in failed["last_error"].lower()


def test_disabled_channel_gets_nothing(client, auth_client, peer):
    channel = add_ntfy(auth_client, peer.url)
    auth_client.patch(
        f"/api/v1/channels/{channel['id']}",
        data={"enabled": False},
        content_type="application/json",
    )
    clock.set(T0)
    upload(client)
    run_worker()
    assert peer.received == [] and statuses() == []


def test_channel_preference_filters_what_the_rules_send(client, auth_client, peer):
    auth_client.patch("/api/v1/rules", data={"event_level": "all"}, content_type="application/json")
    add_ntfy(auth_client, peer.url, event_kinds=["success"])
    clock.set(T0)
    upload(client, status="Error", job="x")
    upload(client, status="Success", job="y")
    run_worker()
    assert [r.json()["priority"] for r in peer.received] == [2]


def test_backlog(client, auth_client):
    clock.set(T0)
    add_ntfy(auth_client, f"http://127.0.0.1:{free_port()}/")
    upload(client)
    run_worker()
    clock.advance(timedelta(minutes=5))
    backlog = auth_client.get("/api/v1/deliveries/backlog").json()
    assert backlog["waiting"] == 1 and backlog["by_status"] == {"retrying": 1}
    assert backlog["oldest_waiting_seconds"] == 300


def test_quiet_window_math():
    from zoneinfo import ZoneInfo

    from duplistatus.notifications.flow import QuietHours

    quiet = QuietHours(time(22), time(7), ZoneInfo("Europe/Berlin"))
    assert quiet.ends_after(datetime(2026, 3, 2, 12, 0, tzinfo=UTC)) is None
    assert quiet.ends_after(datetime(2026, 3, 2, 21, 30, tzinfo=UTC)) == datetime(
        2026, 3, 3, 6, 0, tzinfo=UTC
    )
    # The night the clocks go forward, 07:00 CEST is 05:00 UTC.
    assert quiet.ends_after(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 5, 0, tzinfo=UTC
    )
