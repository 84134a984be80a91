"""What the notification tests do through the API more than once."""

from __future__ import annotations


def add_channel(auth_client, kind: str, config: dict, **extra) -> dict:
    """A channel made through POST /api/v1/channels (no rate limit), as the API returns it."""
    body = {"kind": kind, "name": kind, "config": config, "rate_per_minute": 0, **extra}
    response = auth_client.post("/api/v1/channels", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()
