"""Watching the watcher: a failing channel is reported through the others, once, and the daily
System Health message; real receivers, the worker on the test clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from conftest import CORPUS
from duplistatus import clock
from duplistatus.notifications.channels.tests.peers import HttpPeer, Reply
from duplistatus.notifications.models import Channel
from duplistatus.worker import Worker

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def channel(auth_client, peer: HttpPeer, name: str) -> int:
    body = {
        "kind": "ntfy",
        "name": name,
        "rate_per_minute": 0,
        "batch_threshold": 0,
        "config": {"server_url": peer.url, "topic": name},
    }
    response = auth_client.post("/api/v1/channels", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def failed_run(client, minutes: int) -> None:
    doc = json.loads(V21.read_text())
    doc["Data"].update(
        BeginTime=(T0 + timedelta(minutes=minutes)).isoformat(),
        ParsedResult="Error",
        ErrorsActualLength=1,
    )
    response = client.post("/api/upload", data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 200


def work(at: datetime) -> None:
    clock.set(at)
    Worker().run_once()


def test_a_dead_delivery_is_reported_through_the_other_channels_once(client, auth_client, peers):
    broken = peers(Reply(status=400, body=b'{"error": "topic not allowed"}'))
    good = peers()
    broken_id = channel(auth_client, broken, "phone")
    channel(auth_client, good, "mail")
    clock.set(T0)
    failed_run(client, 0)
    work(T0 + timedelta(minutes=1))  # the run's message: dead at once on the phone (400)
    work(T0 + timedelta(minutes=2))  # the watcher sees the dead delivery
    titles = [r.json()["title"] for r in good.received]
    assert titles[1:] == ["📡 Connection Error: channel phone is failing"]
    text = good.received[1].json()["message"]
    assert "a message could not be delivered at all" in text and "topic not allowed" in text
    assert len(broken.received) == 1  # the report is not sent through the failing channel
    # A second dead delivery is the same outage: no second report.
    failed_run(client, 10)
    work(T0 + timedelta(minutes=11))
    work(T0 + timedelta(minutes=12))
    assert [r.json()["title"] for r in good.received].count(titles[1]) == 1
    # Once it delivers again, a new outage is reported again.
    broken.reply_with(Reply(status=200))
    failed_run(client, 20)
    work(T0 + timedelta(minutes=21))
    work(T0 + timedelta(minutes=22))
    assert Channel.objects.get(pk=broken_id).failing_reported_at is None
    broken.reply_with(Reply(status=400))
    failed_run(client, 30)
    work(T0 + timedelta(minutes=31))
    work(T0 + timedelta(minutes=32))
    assert [r.json()["title"] for r in good.received].count(titles[1]) == 2


def test_daily_system_health(client, auth_client, peers):
    good = peers()
    channel(auth_client, good, "mail")
    clock.set(T0)
    failed_run(client, 0)
    work(T0 + timedelta(minutes=1))
    titles = [r.json()["title"] for r in good.received]
    assert not any("Health" in t for t in titles), titles  # none unless set up
    response = auth_client.patch(
        "/api/v1/monitoring/defaults",
        data={"system_health_time": "08:00"},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["system_health_time"] == "08:00:00"
    work(T0 + timedelta(hours=5))  # 07:00: not yet
    assert len(good.received) == 1
    work(T0 + timedelta(hours=6, minutes=1))
    health = good.received[1].json()
    assert health["title"].startswith("🩺 System Health: 0 overdue, 0 waiting, 0 dead")
    assert "Latest report: 6 hours 1 minute ago" in health["message"]
    work(T0 + timedelta(hours=7))  # once a day
    assert len(good.received) == 2
    work(T0 + timedelta(days=1, hours=6, minutes=1))
    assert len(good.received) == 3
