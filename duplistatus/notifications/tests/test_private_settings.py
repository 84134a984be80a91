"""Settings that work as credentials (a Discord or Slack webhook URL, an ntfy topic) are
shown to admins only: viewers and read-only tokens see them masked, in the pages and the API.
They were shown in full to anyone signed in."""

from __future__ import annotations

import pytest

from duplistatus import clock
from duplistatus.accounts.models import ApiToken
from duplistatus.notifications.channel_settings import apply_channel
from duplistatus.notifications.models import Channel

pytestmark = pytest.mark.django_db

HOOK = "https://discord.com/api/webhooks/1234567890/s3cr3t-t0ken_abc"
TOPIC = "backups-k7QpX2vN9mZr"


@pytest.fixture
def channels():
    made = []
    for kind, config in (
        ("webhook", {"url": HOOK}),
        ("ntfy", {"server_url": "https://ntfy.sh", "topic": TOPIC}),
    ):
        channel = Channel(kind=kind, created_at=clock.now(), event_kinds=[])
        apply_channel(channel, {"name": kind, "config": config}, new=True)
        made.append(channel)
    return made


def api_get(client, path: str, *, admin: bool) -> str:
    secret = ApiToken.create("t", is_admin=admin)[1]
    response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    return response.content.decode()


def test_read_only_tokens_see_them_masked_admin_tokens_in_full(client, channels):
    hook, ntfy = channels
    listed = api_get(client, "/api/v1/channels", admin=False)
    assert "s3cr3t" not in listed and TOPIC not in listed
    one = client.get(
        f"/api/v1/channels/{hook.pk}",
        HTTP_AUTHORIZATION=f"Bearer {ApiToken.create('r', is_admin=False)[1]}",
    ).json()
    assert one["config"]["url"] == "https://discord.com/***"
    for path in ("/api/v1/channels", f"/api/v1/channels/{hook.pk}"):
        assert HOOK in api_get(client, path, admin=True)
    assert TOPIC in api_get(client, f"/api/v1/channels/{ntfy.pk}", admin=True)


def test_viewers_see_them_masked_admins_in_full(client, admin_user, django_user_model, channels):
    hook, ntfy = channels
    pages = [
        "/settings/notifications",
        f"/settings/notifications/channels/{hook.pk}",
        f"/settings/notifications/channels/{ntfy.pk}",
    ]
    vera = django_user_model.objects.create_user("vera", password="a viewer's password")
    client.force_login(vera)
    for page in pages:
        html = client.get(page).content.decode()
        assert "s3cr3t" not in html and TOPIC not in html, page
    assert "https://discord.com/***" in client.get(pages[1]).content.decode()

    client.force_login(admin_user)
    assert HOOK in client.get(pages[1]).content.decode()
    assert TOPIC in client.get(pages[0]).content.decode()  # the subscribe link and QR code
    assert TOPIC in client.get(pages[2]).content.decode()
