"""Every API error is JSON, including those Django and django-ninja answer by themselves."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_unknown_path_and_wrong_method_are_json(client, auth_client):
    missing = client.get("/api/no-such-thing")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not found"}

    wrong = auth_client.delete("/api/v1/jobs")
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "method not allowed"}
    assert "GET" in wrong["Allow"]


def test_pages_keep_their_html_errors(admin_client):
    assert admin_client.get("/jobs/999999")["Content-Type"].startswith("text/html")
