"""Who hears what, end to end: reports uploaded over HTTP, rules and devices set through the
API, the worker run at moments chosen by a test clock, and what real receivers got."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from conftest import CORPUS
from duplistatus import clock
from duplistatus.backups.models import BackupJob, Server
from duplistatus.monitoring import monitor
from duplistatus.notifications import summary
from duplistatus.notifications.channels.tests.peers import HttpPeer, Reply
from duplistatus.notifications.models import Delivery
from duplistatus.worker import Worker

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday


def upload(client, *, status="Error", job="Photos", server="nas", minutes=0, log=None):
    doc = json.loads(V21.read_text())
    doc["Extra"].update(
        {"backup-name": job, "machine-name": server, "machine-id": (server * 32)[:32]}
    )
    doc["Data"].update(
        BeginTime=(T0 + timedelta(minutes=minutes)).isoformat(),
        ParsedResult=status,
        ErrorsActualLength=1 if status == "Error" else 0,
    )
    if log:
        doc["LogLines"] = log
    response = client.post("/api/upload", data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 200, response.content


def channel(auth_client, peer: HttpPeer, name: str, **extra) -> int:
    body = {
        "kind": "ntfy",
        "name": name,
        "rate_per_minute": 0,
        "batch_threshold": 0,
        "config": {"server_url": peer.url, "topic": name},
        **extra,
    }
    response = auth_client.post("/api/v1/channels", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def patch(auth_client, path: str, **body) -> dict:
    response = auth_client.patch(path, data=body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def run_worker(scan: bool = False) -> None:
    worker = Worker()
    if not scan:
        worker.last_scan = clock.now()
    worker.run_once()


def titles(peer: HttpPeer) -> list[str]:
    return [r.json()["title"] for r in peer.received]


def test_levels_inherit_field_by_field(client, auth_client, peers):
    clock.set(T0 + timedelta(hours=1))
    peer = peers()
    channel(auth_client, peer, "phone")
    upload(client, status="Success", job="a", minutes=1)
    upload(client, status="Success", job="b", minutes=2)
    run_worker()  # under the built-in level (warnings): nothing to send
    assert peer.received == []
    a, b = BackupJob.objects.get(name="a"), BackupJob.objects.get(name="b")
    patch(auth_client, "/api/v1/rules", event_level="errors")
    patch(auth_client, f"/api/v1/servers/{a.server_id}/rules", event_level="warnings")
    rules_b = patch(auth_client, f"/api/v1/jobs/{b.pk}/rules", event_level="all")
    assert rules_b["origins"]["event_level"] == "job"
    rules_a = auth_client.get(f"/api/v1/jobs/{a.pk}/rules").json()
    assert (rules_a["effective"]["event_level"], rules_a["origins"]["event_level"]) == (
        "warnings",
        "server",
    )
    assert rules_a["origins"]["run_destinations"] == "default"

    upload(client, status="Success", job="a", minutes=10)  # warnings: not sent
    upload(client, status="Warning", job="a", minutes=11)  # sent
    upload(client, status="Success", job="b", minutes=12)  # all: sent
    run_worker()
    assert sorted(t.split(":")[0] for t in titles(peer)) == sorted(["✅ b on nas", "⚠️ a on nas"])


def test_run_and_overdue_destinations_differ(client, auth_client, peers):
    clock.set(T0)
    team, oncall = peers(), peers()
    team_id = channel(auth_client, team, "team")
    oncall_id = channel(auth_client, oncall, "oncall")
    patch(
        auth_client,
        "/api/v1/rules",
        run_destinations=[f"channel:{team_id}"],
        overdue_destinations=[f"channel:{oncall_id}"],
    )
    upload(client, status="Error")
    job = BackupJob.objects.get()
    patch(auth_client, f"/api/v1/jobs/{job.pk}", interval="1D", grace_minutes=0)
    run_worker()
    assert len(team.received) == 1 and oncall.received == []

    clock.set(T0 + timedelta(days=1, minutes=5))
    run_worker(scan=True)
    assert len(team.received) == 1
    assert [t.startswith("⏰") for t in titles(oncall)] == [True]


def test_extra_destination_with_its_own_level(client, auth_client, peers):
    clock.set(T0)
    main, boss = peers(), peers()
    main_id = channel(auth_client, main, "main")
    boss_id = channel(auth_client, boss, "boss")
    patch(auth_client, "/api/v1/rules", run_destinations=[f"channel:{main_id}"])
    upload(client, status="Warning", minutes=1)
    server = Server.objects.get()
    patch(
        auth_client,
        f"/api/v1/servers/{server.pk}/rules",
        extra_destinations=[{"destination": f"channel:{boss_id}", "level": "errors"}],
    )
    run_worker()
    upload(client, status="Warning", minutes=2)
    upload(client, status="Error", minutes=3)
    run_worker()
    assert len(main.received) == 3
    assert [r.json()["priority"] for r in boss.received] == [4]  # only the error


def test_escalation_after_consecutive_failures(client, auth_client, peers):
    clock.set(T0)
    team, manager = peers(), peers()
    team_id = channel(auth_client, team, "team")
    manager_id = channel(auth_client, manager, "manager")
    patch(
        auth_client,
        "/api/v1/rules",
        run_destinations=[f"channel:{team_id}"],
        escalation_destinations=[f"channel:{manager_id}"],
        escalate_after_failures=2,
    )
    upload(client, status="Error", minutes=1)
    run_worker()
    upload(client, status="Error", minutes=2)
    run_worker()
    assert [r.json()["priority"] for r in team.received] == [4, 5]  # raised on the second
    assert [r.json()["priority"] for r in manager.received] == [5]


def test_monitoring_escalation_and_recovery_switch(client, auth_client, peers):
    clock.set(T0)
    team, manager = peers(), peers()
    team_id = channel(auth_client, team, "team")
    manager_id = channel(auth_client, manager, "manager")
    patch(
        auth_client,
        "/api/v1/rules",
        overdue_destinations=[f"channel:{team_id}"],
        escalation_destinations=[f"channel:{manager_id}"],
        recovery_notifications=False,
    )
    upload(client, status="Success")
    job = BackupJob.objects.get()
    patch(
        auth_client,
        f"/api/v1/jobs/{job.pk}",
        interval="1D",
        grace_minutes=0,
        reminder="once",
        escalation_after_minutes=60,
    )
    clock.set(T0 + timedelta(days=1, minutes=1))
    run_worker(scan=True)
    clock.set(T0 + timedelta(days=1, minutes=62))
    run_worker(scan=True)
    assert [t[0] for t in titles(team)] == ["⏰"]
    assert [r.json()["priority"] for r in manager.received] == [5]
    upload(client, status="Success", minutes=60 * 24 + 70)
    run_worker()
    assert len(team.received) == 1  # recovery notices are off


def test_disable_enable_and_reset(client, auth_client, peers):
    clock.set(T0)
    peer = peers()
    channel(auth_client, peer, "phone")
    upload(client, status="Error", job="a", minutes=1)
    upload(client, status="Error", job="b", minutes=1)
    run_worker()
    assert len(peer.received) == 2

    def post(path: str, body: dict) -> dict:
        return auth_client.post(path, data=body, content_type="application/json").json()

    assert post("/api/v1/rules/disable-all", {}) == {"changed": 2}
    upload(client, status="Error", job="a", minutes=2)
    run_worker()
    assert len(peer.received) == 2
    a = BackupJob.objects.get(name="a")
    assert post("/api/v1/rules/enable-all", {"job_ids": [a.pk]}) == {"changed": 1}
    upload(client, status="Error", job="a", minutes=3)
    upload(client, status="Error", job="b", minutes=3)
    run_worker()
    assert len(peer.received) == 3
    assert post("/api/v1/rules/reset", {}) == {"changed": 2}
    assert auth_client.get(f"/api/v1/jobs/{a.pk}/rules").json()["own"] == {}


def test_failover_group(client, auth_client, peers):
    clock.set(T0)
    broken, backup = peers(Reply(503, "down")), peers()
    group = auth_client.post(
        "/api/v1/groups",
        data={"name": "admins", "mode": "failover"},
        content_type="application/json",
    ).json()
    channel(auth_client, broken, "alice-phone", group_id=group["id"], group_position=0)
    channel(auth_client, backup, "bob-phone", group_id=group["id"], group_position=1)
    patch(auth_client, "/api/v1/rules", run_destinations=[f"group:{group['id']}"])
    upload(client, status="Error")
    run_worker()
    assert len(broken.received) == 1 and backup.received == []
    clock.set(Delivery.objects.get().next_attempt_at + timedelta(seconds=1))
    run_worker()  # second failure: hand over to the next device
    run_worker()
    assert len(broken.received) == 2 and len(backup.received) == 1
    first, second = Delivery.objects.order_by("id")
    assert first.status == "dead" and "failed over to bob-phone" in first.last_error
    assert second.status == "sent" and second.failover_from_id == first.pk
    assert (second.title, second.tags) == (first.title, first.tags)  # the same message
    devices = auth_client.get("/api/v1/groups").json()[0]["devices"]
    assert [(d["name"], d["status"]) for d in devices] == [
        ("alice-phone", "failing"),
        ("bob-phone", "ok"),
    ]


def test_failover_to_a_private_device_sends_what_it_may_see(client, auth_client, peers):
    clock.set(T0)
    rejected, private = peers(Reply(403, {"error": "forbidden"})), peers()
    group = auth_client.post(
        "/api/v1/groups", data={"name": "g"}, content_type="application/json"
    ).json()
    channel(auth_client, rejected, "a", group_id=group["id"], group_position=0)
    channel(
        auth_client,
        private,
        "b",
        group_id=group["id"],
        group_position=1,
        use_server_alias=True,
        hide_log_text=True,
    )
    patch(auth_client, "/api/v1/rules", run_destinations=[f"group:{group['id']}"])
    upload(client, status="Fatal", server="basement-nas", log=["disk full at /srv/x"])
    Server.objects.update(alias="Office")
    run_worker()
    run_worker()
    assert "disk full" in json.dumps(rejected.received[0].json())
    [request] = private.received
    assert "disk full" not in json.dumps(request.json()) and "Office" in request.json()["title"]


def test_permanent_failure_fails_over_at_once(client, auth_client, peers):
    clock.set(T0)
    rejected, backup = peers(Reply(403, {"error": "forbidden"})), peers()
    group = auth_client.post(
        "/api/v1/groups", data={"name": "g"}, content_type="application/json"
    ).json()
    channel(auth_client, rejected, "a", group_id=group["id"], group_position=0)
    channel(auth_client, backup, "b", group_id=group["id"], group_position=1)
    patch(auth_client, "/api/v1/rules", run_destinations=[f"group:{group['id']}"])
    upload(client, status="Fatal")
    run_worker()
    run_worker()
    assert len(rejected.received) == 1 and len(backup.received) == 1


def test_rotation_picks_the_device_on_duty(client, auth_client, peers):
    devices = [peers() for _ in range(3)]
    group = auth_client.post(
        "/api/v1/groups",
        data={
            "name": "on-call",
            "mode": "rotation",
            "rotation_days": 7,
            "rotation_start": "2026-02-23",
            "timezone": "UTC",
        },
        content_type="application/json",
    ).json()
    for position, peer in enumerate(devices):
        channel(auth_client, peer, f"d{position}", group_id=group["id"], group_position=position)
    patch(auth_client, "/api/v1/rules", run_destinations=[f"group:{group['id']}"])
    clock.set(T0)  # 2026-03-02: the second week
    upload(client, status="Error")
    run_worker()
    clock.set(T0 + timedelta(days=7))  # the third week
    upload(client, status="Error", minutes=60 * 24 * 7)
    run_worker()
    assert [len(p.received) for p in devices] == [0, 1, 1]


def test_active_hours_and_minimum_priority(client, auth_client, peers):
    day_phone, night_phone = peers(), peers()
    group = auth_client.post(
        "/api/v1/groups", data={"name": "g", "timezone": "UTC"}, content_type="application/json"
    ).json()
    channel(
        auth_client,
        day_phone,
        "day",
        group_id=group["id"],
        group_position=0,
        active_start="08:00:00",
        active_end="20:00:00",
    )
    channel(
        auth_client, night_phone, "night", group_id=group["id"], group_position=1, min_priority=4
    )
    patch(
        auth_client, "/api/v1/rules", run_destinations=[f"group:{group['id']}"], event_level="all"
    )
    clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    upload(client, status="Error", job="night-error")
    upload(client, status="Warning", job="night-warning")
    run_worker()
    assert day_phone.received == []
    assert [r.json()["priority"] for r in night_phone.received] == [4]  # not the warning
    clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    upload(client, status="Warning", job="day-warning", minutes=60 * 24)
    run_worker()
    assert len(day_phone.received) == 1


def test_a_message_no_device_can_take_leaves_a_trace(
    client, auth_client, admin_client, peers, caplog
):
    """Every device outside its hours or above the message's priority: urgent kinds still go
    to the primary device, others are recorded as suppressed with the reason."""
    day_phone, night_phone = peers(), peers()
    group = auth_client.post(
        "/api/v1/groups", data={"name": "ops", "timezone": "UTC"}, content_type="application/json"
    ).json()
    channel(
        auth_client,
        day_phone,
        "day",
        group_id=group["id"],
        group_position=0,
        active_start="08:00:00",
        active_end="20:00:00",
    )
    channel(
        auth_client, night_phone, "night", group_id=group["id"], group_position=1, min_priority=4
    )
    patch(
        auth_client, "/api/v1/rules", run_destinations=[f"group:{group['id']}"], event_level="all"
    )
    clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    upload(client, status="Warning", job="night-warning")
    with caplog.at_level("INFO", logger="duplistatus.notifications.outbox"):
        run_worker()
    assert day_phone.received == [] and night_phone.received == []

    [row] = auth_client.get("/api/v1/deliveries").json()
    assert row["status"] == "suppressed"
    assert "day is outside its active hours (08:00–20:00)" in row["routing_note"]
    assert "night wants priority 4 or more, this is 3" in row["routing_note"]
    assert row["routing_note"] in caplog.text
    page = admin_client.get("/settings/notifications/deliveries?status=suppressed")
    assert row["routing_note"] in page.content.decode()

    # An urgent kind still reaches the group's primary device, saying why.
    auth_client.patch(
        f"/api/v1/channels/{night_phone_id(auth_client)}",
        data={"active_start": "06:00:00", "active_end": "07:00:00"},
        content_type="application/json",
    )
    upload(client, status="Fatal", job="night-fatal", minutes=1)
    run_worker()
    assert len(day_phone.received) == 1 and night_phone.received == []
    fatal = Delivery.objects.get(kind="fatal")
    assert fatal.status == "sent" and "sent to the primary device" in fatal.routing_note

    # Retry sends a suppressed message anyway.
    response = auth_client.post(f"/api/v1/deliveries/{row['id']}/retry")
    assert response.json()["status"] == "queued"
    run_worker()
    assert len(day_phone.received) == 2


def night_phone_id(auth_client) -> int:
    return next(c["id"] for c in auth_client.get("/api/v1/channels").json() if c["name"] == "night")


def test_privacy_per_destination(client, auth_client, peers):
    clock.set(T0)
    open_peer, private = peers(), peers()
    channel(auth_client, open_peer, "open")
    channel(auth_client, private, "private", hide_log_text=True, use_server_alias=True)
    paths_peer = peers()
    channel(auth_client, paths_peer, "paths", hide_paths=True)
    upload(
        client,
        status="Error",
        log=[
            "2026-03-02 03:00:01 +01 - [Error-Duplicati-Fail]: cannot read /home/ann/tax/2025.pdf"
        ],
    )
    Server.objects.update(alias="Office NAS")
    run_worker()
    full = open_peer.received[0].json()["message"]
    assert "/home/ann/tax/2025.pdf" in full
    hidden = private.received[0].json()
    assert "2025.pdf" not in hidden["message"] and "cannot read" not in hidden["message"]
    assert "Office NAS" in hidden["title"]
    redacted = paths_peer.received[0].json()["message"]
    assert "cannot read [path]" in redacted and "/home/ann" not in redacted


def test_daily_summary_report(client, auth_client, peers):
    peer = peers()
    clock.set(T0)
    channel(
        auth_client,
        peer,
        "summary",
        event_kinds=["summary"],
        summary_schedule="daily",
        summary_time="08:00:00",
        timezone="Europe/Berlin",
    )
    clock.set(T0)
    upload(client, status="Success", job="ok-job")
    upload(client, status="Error", job="broken-job")
    clock.set(datetime(2026, 3, 2, 6, 59, tzinfo=UTC))  # 07:59 in Berlin
    assert summary.send_due_summaries() == 0
    clock.set(datetime(2026, 3, 2, 7, 1, tzinfo=UTC))
    run_worker(scan=True)
    assert summary.send_due_summaries() == 0  # once per day
    [report] = [r.json() for r in peer.received]
    assert report["title"] == "Backups: 1 ok, 0 warning, 1 failed, 0 overdue"
    assert "broken-job" in report["message"] and "/jobs/" in report["message"]
    clock.set(datetime(2026, 3, 3, 7, 1, tzinfo=UTC))
    assert summary.send_due_summaries() == 1


def test_delivery_log_retention(client, auth_client, peers):
    peer = peers()
    channel(auth_client, peer, "phone", log_retention_days=7)
    clock.set(T0)
    upload(client, status="Error")
    run_worker()
    assert Delivery.objects.count() == 1
    clock.set(T0 + timedelta(days=8))
    assert summary.purge_delivery_log() == 1
    assert Delivery.objects.count() == 0


def test_rules_refuse_unknown_destinations(auth_client):
    response = auth_client.patch(
        "/api/v1/rules", data={"run_destinations": ["channel:999"]}, content_type="application/json"
    )
    assert response.status_code == 422
    assert "no such channel" in json.dumps(response.json())
    response = auth_client.patch(
        "/api/v1/rules", data={"run_destinations": ["email:x"]}, content_type="application/json"
    )
    assert response.status_code == 422


def test_reminders_reach_overdue_destinations(client, auth_client, peers):
    clock.set(T0)
    peer = peers()
    channel(auth_client, peer, "phone")
    upload(client, status="Success")
    job = BackupJob.objects.get()
    patch(auth_client, f"/api/v1/jobs/{job.pk}", interval="1D", grace_minutes=0, reminder="daily")
    clock.set(T0 + timedelta(days=1, minutes=1))
    monitor.scan()
    clock.set(T0 + timedelta(days=2, minutes=2))
    monitor.scan()
    run_worker()
    assert [t.split(" ")[0] for t in titles(peer)] == ["⏰", "⏰"]
    assert "Still overdue" in titles(peer)[1]
