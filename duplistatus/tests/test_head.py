"""HEAD is answered wherever GET is: every route of the site (pages and API), walked from the
URL configuration, answers HEAD with GET's status and headers and no body."""

from __future__ import annotations

import pytest

from duplistatus.tests.site import paths

pytestmark = pytest.mark.django_db


def test_every_route_answers_head_as_it_answers_get(admin_client, everything):
    answered = []
    for path in paths(everything):
        get = admin_client.get(path)
        head = admin_client.head(path)
        assert head.status_code == get.status_code, path
        body = b"".join(head.streaming_content) if head.streaming else head.content
        assert body == b"", path
        for header in ("Content-Type", "Content-Length", "Location", "Allow"):
            assert head.get(header) == get.get(header), (path, header)
        if get.status_code == 200:
            answered.append(path)
    assert "/api/health" in answered and "/api/v1/jobs" in answered and "/" in answered
    assert len(answered) >= 40, answered


def test_health_answers_head_without_a_session(client):
    response = client.head("/api/health")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert int(response["Content-Length"]) > 0 and response.content == b""
