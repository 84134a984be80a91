"""Links in notifications point where `serve` listens: a real `serve --host 127.0.0.1
--port P`, without DUPLISTATUS_BASE_URL, sends a test message whose link opens http://127.0.0.1:P."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from duplistatus.notifications.channels.tests.peers import HttpPeer
from duplistatus.tests.test_service import service, service_env  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(120)


def test_links_use_the_address_serve_listens_on(service):  # noqa: F811
    url, env = service
    created = subprocess.run(
        [sys.executable, "-m", "duplistatus", "token", "create", "links"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = created.stdout.strip().splitlines()[-1]
    ntfy = HttpPeer()
    ntfy.start()
    try:
        with httpx.Client(
            base_url=url, timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            channel = http.post(
                "/api/v1/channels",
                json={
                    "kind": "ntfy",
                    "name": "phone",
                    "config": {"server_url": ntfy.url, "topic": "t"},
                },
            ).json()
            result = http.post(f"/api/v1/channels/{channel['id']}/test").json()
    finally:
        ntfy.stop()
    assert result["status"] == "sent", result
    assert ntfy.received[0].json()["click"] == url + "/"
