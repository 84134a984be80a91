"""The whole site, for tests that walk it: every route of the URL configuration, and one of
each thing a route can name (made through the API as a user would). Used by the HEAD check and
the translation checks."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import CORPUS

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


def routes(patterns=None, prefix: str = "") -> list[str]:
    """Every URL pattern as a path with <parameters> left in."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        text = str(entry.pattern).lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            found += routes(entry.url_patterns, prefix + text)
        elif isinstance(entry, URLPattern):
            found.append(prefix + text)
    return sorted(set(found))


def paths(everything: dict[str, object]) -> list[str]:
    """Every route with its parameters filled in from `everything`."""
    return ["/" + PARAMETER.sub(lambda m: str(everything[m.group(2)]), r) for r in routes()]


@pytest.fixture
def everything(client, admin_client, api_token) -> dict[str, object]:
    """One of each thing a route can name, made through the API as a user would."""
    from duplistatus.accounts.models import ApiToken
    from duplistatus.backups.models import BackupRun
    from duplistatus.notifications.models import Delivery, DeviceGroup

    response = client.post("/api/upload", data=V21.read_bytes(), content_type="application/json")
    assert response.status_code == 200, response.content
    run = BackupRun.objects.select_related("job__server").order_by("-pk").first()
    assert run is not None
    admin_client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_token}"

    def post(path: str, body: dict) -> dict:
        made = admin_client.post(path, data=json.dumps(body), content_type="application/json")
        assert made.status_code == 201, made.content
        return made.json()

    channel = post(
        "/api/v1/channels",
        {"kind": "ntfy", "name": "phone", "config": {"server_url": "http://127.0.0.1:9/"}},
    )
    template = post(
        "/api/v1/templates", {"kind": "error", "title": "{backup_name}", "body": "{status}"}
    )
    post("/api/v1/groups", {"name": "phones"})
    return {
        "server": run.job.server.key,
        "server_id": run.job.server_id,
        "job_id": run.job_id,
        "pk": run.job_id,
        "run_id": run.pk,
        "channel_id": channel["id"],
        "template_id": template["id"],
        "group_id": DeviceGroup.objects.get().pk,
        "delivery_id": Delivery.objects.values_list("pk", flat=True).first() or 1,
        "event_id": 1,
        "token_id": ApiToken.objects.get().pk,
        "user_id": admin_client.session["_auth_user_id"],
        "language": "en",
        "kind": "error",
        "channel_kind": "email",
        # No collection or backup file exists: GET and HEAD must agree on the 404 too.
        "collection_id": 1,
        "name": "duplistatus-backup-none.sqlite3",
    }
