""" "Retry" on a dead delivery sends it at once: the retry wakes a sleeping worker, in its own
process (serve's worker thread) and in another process (`duplistatus worker`, by PostgreSQL
NOTIFY), instead of leaving the message until the worker's next scan up to a minute later."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from conftest import subprocess_database_url
from duplistatus import wakeup, worker
from duplistatus.notifications.channels.tests.peers import HttpPeer, Reply
from duplistatus.notifications.models import Delivery
from duplistatus.notifications.tests.test_outbox import add_ntfy, upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

# Far below the worker's sleep without a wake-up (a minute), far above a woken pass.
PROMPT_SECONDS = 5.0


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def dead_delivery(peer: HttpPeer) -> Delivery:
    """The worker under test sends the first attempt, which the receiver refuses for good."""
    assert wait_for(lambda: Delivery.objects.filter(status="dead").exists(), 30)
    assert len(peer.received) == 1
    peer.reply_with(Reply(200, {"id": "ok"}))
    return Delivery.objects.get()


@pytest.fixture
def refusing_peer():
    peer = HttpPeer()
    peer.reply_with(Reply(403, {"code": 40301, "http": 403, "error": "forbidden"}))
    peer.start()
    yield peer
    peer.stop()


def test_retry_button_wakes_the_worker_thread(client, admin_client, auth_client, refusing_peer):
    add_ntfy(auth_client, refusing_peer.url)
    upload(client)
    wakeup.event.clear()
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"in_process": True})
    thread.start()
    try:
        delivery = dead_delivery(refusing_peer)
        response = admin_client.post(
            f"/settings/notifications/deliveries/{delivery.pk}/retry", follow=True
        )
        assert response.status_code == 200
        assert wait_for(lambda: len(refusing_peer.received) == 2, PROMPT_SECONDS)
        assert wait_for(lambda: Delivery.objects.get().status == "sent", PROMPT_SECONDS)
    finally:
        stop.set()
        wakeup.wake()
        thread.join(10)


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="across processes the wake-up is PostgreSQL NOTIFY (on SQLite the worker polls)",
)
def test_api_retry_wakes_a_worker_in_another_process(client, auth_client, refusing_peer):
    add_ntfy(auth_client, refusing_peer.url)
    upload(client)
    process = subprocess.Popen(
        [sys.executable, "-m", "duplistatus", "worker"],
        env={**os.environ, "DATABASE_URL": subprocess_database_url()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        delivery = dead_delivery(refusing_peer)
        response = auth_client.post(f"/api/v1/deliveries/{delivery.pk}/retry")
        assert response.json()["status"] == "queued"
        assert wait_for(lambda: len(refusing_peer.received) == 2, PROMPT_SECONDS)
    finally:
        process.terminate()
        process.wait(10)
