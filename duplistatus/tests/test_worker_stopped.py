"""A monitor that watches itself: when no worker completes a pass for five minutes, every
page says so, /api/health is degraded, and the first pass after it reports the time without
a worker through the channels, once, however many workers resume together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from conftest import CORPUS, subprocess_database_url
from duplistatus import clock, wakeup, worker
from duplistatus.backups.models import WorkerHeartbeat, WorkerOutage
from duplistatus.notifications.tests.test_watch import channel
from duplistatus.worker import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
STOPPED = "The worker has not completed a pass since"
NEVER_RAN = "No worker has run yet"


def beat(at: datetime, name: str = "old-host:99") -> None:
    """A worker's last completed pass, as worker.Worker.heartbeat writes it."""
    WorkerHeartbeat.objects.update_or_create(
        worker=name, defaults={"last_pass_at": at, "started_at": at - timedelta(hours=1)}
    )


def banner(client: Client, path: str = "/") -> str:
    """The page's worker banner ('' when there is none)."""
    html = client.get(path).content.decode()
    start = html.find('<div class="msg error worker-stopped" role="alert">')
    return "" if start < 0 else html[start : html.index("</div>", start)]


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_every_page_says_when_the_worker_stopped(admin_client):
    clock.set(T0)
    beat(T0)
    clock.set(T0 + timedelta(minutes=4, seconds=59))
    assert banner(admin_client) == ""
    clock.set(T0 + timedelta(minutes=20))
    for path in ("/", "/settings/monitoring", "/settings/notifications/rules"):
        shown = banner(admin_client, path)
        assert STOPPED in shown, path
        assert '<time datetime="2026-03-02T02:00:00+00:00" data-local>' in shown
        assert "20 min ago" in shown and "<code>duplistatus worker</code>" in shown
        assert 'href="/settings/log"' in shown
    Worker().run_pass()  # a worker runs again
    assert banner(admin_client) == ""


def test_a_new_install_shows_nothing_until_a_report_has_waited_five_minutes(client, admin_client):
    clock.set(T0)
    anonymous = Client()
    response = anonymous.post("/api/upload", data=V21.read_bytes(), content_type="application/json")
    assert response.status_code == 200
    clock.set(T0 + timedelta(minutes=4))  # no worker yet, but nothing has waited long
    assert banner(admin_client) == ""
    assert anonymous.get("/api/health").status_code == 200
    clock.set(T0 + timedelta(minutes=6))
    assert NEVER_RAN in banner(admin_client)
    assert anonymous.get("/api/health").status_code == 503
    Worker().run_pass()
    assert banner(admin_client) == ""
    assert anonymous.get("/api/health").json() == {"status": "ok", "database": "ok"}


def test_health_is_degraded_and_says_why_to_those_who_may_know(admin_client, api_token):
    clock.set(T0)
    beat(T0)
    clock.set(T0 + timedelta(minutes=20))
    anonymous = Client().get("/api/health")
    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "degraded", "database": "ok"}
    for caller in (admin_client, Client(headers={"Authorization": f"Bearer {api_token}"})):
        response = caller.get("/api/health")
        assert response.status_code == 503
        body = response.json()
        assert (body["status"], body["database"], body["worker"]) == ("degraded", "ok", "stopped")
        assert body["reason"].startswith(
            "no worker has completed a pass since 2026-03-02 02:00 UTC (20 minutes ago); "
            "start `duplistatus worker`"
        )
    beat(T0 + timedelta(minutes=20), name="new-host:1")
    assert Client().get("/api/health").json() == {"status": "ok", "database": "ok"}


def test_the_first_pass_after_a_stop_reports_it_once(auth_client, peers):
    phone = peers()
    channel(auth_client, phone, "phone")
    clock.set(T0)
    beat(T0)
    clock.set(T0 + timedelta(minutes=20))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"in_process": True})
    thread.start()
    try:
        assert wait_for(lambda: len(phone.received) == 1, 30)
        for _ in range(3):  # more passes, a minute apart: no second report
            clock.advance(timedelta(minutes=1))
            wakeup.wake()
            time.sleep(0.4)
    finally:
        stop.set()
        wakeup.wake()
        thread.join(10)
    Worker().run_pass()  # another worker starting now sees the running one's heartbeat
    assert len(phone.received) == 1
    message = phone.received[0].json()
    assert message["title"] == "⚠️ System Error: no worker ran for 20 minutes"
    assert message["priority"] == 4
    assert (
        "No duplistatus worker completed a pass from 2026-03-02 02:00 UTC to "
        "2026-03-02 02:20 UTC (20 minutes)." in message["message"]
    )
    assert "Checks resumed on " in message["message"]
    outage = WorkerOutage.objects.get()
    assert (outage.stopped_at, outage.resumed_at) == (T0, T0 + timedelta(minutes=20))


def test_two_worker_processes_resuming_together_report_it_once(auth_client, peers):
    """The cluster case: two `duplistatus worker` processes start at the same moment after
    a stop; both find the same last pass, and one message arrives."""
    phone = peers()
    channel(auth_client, phone, "phone")
    beat(datetime.now(UTC) - timedelta(minutes=20))  # the processes run on the real clock
    env = {**os.environ, "DATABASE_URL": subprocess_database_url()}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "duplistatus", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        assert wait_for(lambda: len(phone.received) >= 1, 60)
        # Both have completed passes (their own heartbeats), and had time to send a second.
        assert wait_for(lambda: WorkerHeartbeat.objects.count() == 3, 60)
        time.sleep(2)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
    assert len(phone.received) == 1
    assert json.loads(phone.received[0].body)["title"].startswith("⚠️ System Error")
    assert WorkerOutage.objects.count() == 1
