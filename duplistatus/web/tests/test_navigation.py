"""Every page is reachable from the navigation: starting at the dashboard and following only
links, a signed-in admin reaches every page the app has (with data in it)."""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from duplistatus import clock
from duplistatus.notifications.models import Channel, DeviceGroup
from duplistatus.notifications.template_store import TemplateIn, create

from . import fleet

pytestmark = pytest.mark.django_db

HREF = re.compile(r'href="([^"#]*)"')
# Not pages: form targets (POST only), data for the charts, the preview frame, sign-out,
# the short /settings/ alias; the sign-in page is checked signed out.
NOT_PAGES = {
    "accounts:login",
    "web:settings",
    "accounts:logout",
    "accounts:user-change",
    "accounts:token-revoke",
    "web:job-metrics",
    "web:server-metrics",
    "web:job-schedule",
    "web:job-pause",
    "web:anomaly-expected",  # a form on a run page (a fleet has no flagged run)
    "web:job-rules",
    "web:server-schedule",
    "web:server-pause",
    "web:server-rules",
    "web:server-details",
    "web:server-connection",
    "web:server-collect",
    "web:collect-all",
    # Fragments htmx polls for a collection's live progress.
    "web:server-collect-status",
    "web:collect-all-status",
    "web:server-reset",
    "web:settings-bulk",
    "web:settings-channel-delete",
    "web:settings-channel-test",
    "web:settings-channel-test-all",
    "web:settings-monitoring-action",
    "web:settings-delivery-retry",
    "web:settings-rules-bulk",
    "web:settings-group-delete",
    "web:settings-template-preview",
    "web:settings-template-frame",
    "web:settings-templates-import",
    "web:settings-templates-library",
    "web:settings-backup-download",  # a file, linked once a backup exists
    "web:settings-log-download",  # a file
}


def page_names() -> set[str]:
    names = set()
    for namespace in get_resolver().url_patterns:
        if isinstance(namespace, URLResolver) and namespace.namespace in ("web", "accounts"):
            for pattern in namespace.url_patterns:
                assert isinstance(pattern, URLPattern)
                names.add(f"{namespace.namespace}:{pattern.name}")
    return names


def test_signed_out_everything_leads_to_the_sign_in_page(client):
    response = client.get("/settings/notifications/rules")
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")
    assert client.get(response["Location"]).status_code == 200


def test_every_page_is_linked_from_the_dashboard(admin_client, http_peer):
    with clock.frozen(fleet.NOW):
        fleet.build(admin_client)
    group = DeviceGroup.objects.create(name="On call")
    channel = Channel(kind="ntfy", name="Phone", created_at=clock.now(), updated_at=clock.now())
    channel.set_config({"server_url": http_peer.url, "topic": "t"})
    channel.group = group
    channel.save()
    admin_client.post(f"/settings/notifications/channels/{channel.pk}/test")  # a delivery
    create(TemplateIn(kind="error", title="{backup_name}", body="{status}"))  # a version

    seen: set[str] = set()
    reached: set[str] = set()
    queue = deque(["/"])
    while queue:
        path = queue.popleft()
        try:
            match = resolve(urlsplit(path).path)
        except Resolver404:
            continue
        if match.namespace not in ("web", "accounts"):
            continue
        response = admin_client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        reached.add(match.view_name)
        if "html" not in response["Content-Type"]:
            continue
        for href in HREF.findall(response.content.decode()):
            target = urljoin(path, href.replace("&amp;", "&"))
            key = urlsplit(target).path
            # One visit per page, not per filter or page number, keeps the crawl short.
            if target.startswith("/") and key not in seen and not key.startswith("/static"):
                seen.add(key)
                queue.append(target)
    missing = page_names() - NOT_PAGES - reached
    assert not missing, f"pages no link leads to: {sorted(missing)}"
    assert "/api/docs" in seen  # the API documentation is one link away too
