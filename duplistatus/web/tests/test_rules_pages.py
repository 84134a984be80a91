"""The notification rules and device group pages: rules set in the forms at each level,
shown with where each value comes from, and followed when a real report arrives; device
groups with their devices; viewers only look."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from duplistatus import clock
from duplistatus.accounts.models import AuditEntry
from duplistatus.backups.models import BackupJob, MonitoringDefaults, Server
from duplistatus.notifications.models import Channel, DeviceGroup
from duplistatus.worker import Worker

from . import fleet

pytestmark = pytest.mark.django_db

INHERIT_ALL = {
    "run_destinations__mode": "inherit",
    "overdue_destinations__mode": "inherit",
    "escalation_destinations__mode": "inherit",
    "extra_destinations__mode": "inherit",
}


def ntfy(http_peer, name: str, **fields) -> Channel:
    channel = Channel(kind="ntfy", name=name, created_at=clock.now(), updated_at=clock.now())
    channel.set_config({"server_url": http_peer.url, "topic": name.lower()})
    channel.rate_per_minute = 0
    for key, value in fields.items():
        setattr(channel, key, value)
    channel.save()
    return channel


def deliver() -> None:
    worker = Worker()
    worker.last_scan = clock.now()  # about sending, not scanning
    worker.run_once()


def test_job_rule_set_in_the_form_is_followed_when_a_report_arrives(admin_client, http_peer):
    with clock.frozen(fleet.NOW):
        fleet.build(admin_client)
        deliver()  # the fleet's own events, before there was anyone to tell
        phone = ntfy(http_peer, "Phone")
        pager = ntfy(http_peer, "Pager")
        photos = BackupJob.objects.get(server__name="nas", name="Photos")
        page = admin_client.get(f"/jobs/{photos.pk}").content.decode()
        assert "Notification rules of this job" in page
        assert "inherit: warnings and errors (built-in)" in page

        # Photos: every run, to the pager only; everything else inherits.
        response = admin_client.post(
            f"/jobs/{photos.pk}/rules",
            {
                **INHERIT_ALL,
                "event_level": "all",
                "run_destinations__mode": "set",
                "run_destinations": [f"channel:{pager.pk}"],
            },
        )
        assert response.status_code == 302
        photos.refresh_from_db()
        assert (photos.event_level, photos.run_destinations) == ("all", [f"channel:{pager.pk}"])
        entry = AuditEntry.objects.get(action="rules.change")
        assert entry.changes["event_level"] == {"from": None, "to": "all"}

        table = admin_client.get("/settings/notifications/rules?q=Photos").content.decode()
        assert 'every run <span class="tag">job</span>' in table
        assert 'Pager (ntfy) <span class="tag">job</span>' in table
        assert 'warnings and errors <span class="tag">default</span>' in table  # rafamunoz

        clock.advance(timedelta(hours=17))  # Photos' next daily run, a success
        fleet.replay(
            admin_client,
            clock.now(),
            machine="a" * 32,
            server="nas",
            job="Photos",
        )
        deliver()
    topics = [r.json()["topic"] for r in http_peer.received]
    assert topics == ["pager"], "a success notifies only where the job's rule says"
    assert "Photos" in http_peer.received[0].json()["title"]
    assert phone.deliveries.count() == 0


def test_global_rules_and_inheriting_again(admin_client, http_peer):
    phone = ntfy(http_peer, "Phone")
    response = admin_client.post(
        "/settings/notifications/rules",
        {
            **INHERIT_ALL,
            "event_level": "errors",
            "recovery_notifications": "off",
            "escalate_after_failures": "3",
            "extra_destinations__mode": "set",
            f"extra:channel:{phone.pk}": "all",
        },
    )
    assert response.status_code == 302
    defaults = MonitoringDefaults.load()
    assert defaults.event_level == "errors"
    assert defaults.recovery_notifications is False
    assert defaults.escalate_after_failures == 3
    assert defaults.extra_destinations == [{"destination": f"channel:{phone.pk}", "level": "all"}]
    html = admin_client.get("/settings/notifications/rules").content.decode()
    assert '<option value="errors" selected>' in html
    assert f'name="extra:channel:{phone.pk}"' in html and '<option value="all" selected>' in html

    # A server below shows the global value as what it inherits.
    now = clock.now()
    server = Server.objects.create(key="nas", name="nas", created_at=now, last_seen_at=now)
    page = admin_client.get(f"/servers/{server.pk}").content.decode()
    assert "inherit: errors only (global)" in page
    assert "empty: inherit (after 3 failures, global)" in page

    admin_client.post("/settings/notifications/rules", {**INHERIT_ALL, "event_level": ""})
    defaults = MonitoringDefaults.load()
    assert defaults.event_level == "" and defaults.extra_destinations is None
    assert defaults.recovery_notifications is None
    assert AuditEntry.objects.filter(action="rules.change").count() == 2


def test_unknown_destination_is_refused_and_nothing_changes(admin_client):
    response = admin_client.post(
        "/settings/notifications/rules",
        {
            **INHERIT_ALL,
            "event_level": "all",
            "run_destinations__mode": "set",
            "run_destinations": ["channel:999"],
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Not saved: Run results go to:" in html and "no such channel" in html
    assert MonitoringDefaults.load().event_level == ""
    response = admin_client.post(
        "/settings/notifications/rules",
        {**INHERIT_ALL, "escalate_after_failures": "-1"},
        follow=True,
    )
    assert "greater than or equal to 0" in response.content.decode()
    assert not AuditEntry.objects.filter(action="rules.change").exists()


def test_bulk_turn_off_and_reset(admin_client):
    with clock.frozen(fleet.NOW):
        fleet.build(admin_client)
    nas = list(BackupJob.objects.filter(server__name="nas").values_list("pk", flat=True))
    response = admin_client.post(
        "/settings/notifications/rules/jobs", {"job": nas, "action": "off"}, follow=True
    )
    assert "2 jobs notify: off." in response.content.decode()
    assert set(BackupJob.objects.filter(pk__in=nas).values_list("event_level", flat=True)) == {
        "off"
    }
    assert BackupJob.objects.exclude(pk__in=nas).filter(event_level="off").count() == 0

    admin_client.post("/settings/notifications/rules/jobs", {"job": nas, "action": "reset"})
    assert set(BackupJob.objects.values_list("event_level", flat=True)) == {""}
    response = admin_client.post(
        "/settings/notifications/rules/jobs", {"action": "off"}, follow=True
    )
    assert "Tick at least one job" in response.content.decode()


def test_device_group_with_rotation(admin_client, http_peer):
    with clock.frozen(fleet.NOW):  # a Monday
        response = admin_client.post(
            "/settings/notifications/groups",
            {
                "name": "On call",
                "mode": "rotation",
                "rotation_days": "1",
                "rotation_start": "2026-03-15",
                "timezone": "Europe/Berlin",
            },
        )
        group = DeviceGroup.objects.get()
        assert response.status_code == 302 and response["Location"].endswith(f"/{group.pk}")
        assert (group.mode, group.rotation_days, str(group.rotation_start)) == (
            "rotation",
            1,
            "2026-03-15",
        )
        alice, bob = ntfy(http_peer, "Alice"), ntfy(http_peer, "Bob")
        for position, channel in enumerate((alice, bob)):
            response = admin_client.post(
                f"/settings/notifications/channels/{channel.pk}",
                {
                    "kind": "ntfy",
                    "name": channel.name,
                    "enabled": "on",
                    "server_url": http_peer.url,
                    "topic": channel.name.lower(),
                    "group_id": str(group.pk),
                    "group_position": str(position),
                    "min_priority": "1",
                    "active_start": "",
                    "active_end": "",
                },
            )
            assert response.status_code == 302, response.content.decode()
        page = admin_client.get(f"/settings/notifications/groups/{group.pk}").content.decode()
        # Day 1 of the rotation (counted from Sunday the 15th): the second device.
        assert "now goes to <strong>Bob</strong>" in page
        listing = admin_client.get("/settings/notifications/groups").content.decode()
        assert "every 1 day" in listing and "Alice</a>, <a" in listing

        # Bob is only active 08:00-09:00 Berlin time; at 10:30 the group skips him.
        admin_client.post(
            f"/settings/notifications/channels/{bob.pk}",
            {
                "kind": "ntfy",
                "name": "Bob",
                "enabled": "on",
                "server_url": http_peer.url,
                "topic": "bob",
                "group_id": str(group.pk),
                "group_position": "1",
                "min_priority": "1",
                "active_start": "08:00",
                "active_end": "09:00",
            },
        )
        bob.refresh_from_db()
        assert str(bob.active_start) == "08:00:00"
        page = admin_client.get(f"/settings/notifications/groups/{group.pk}").content.decode()
        assert "now goes to <strong>Alice</strong>" in page and "08:00–09:00" in page

    admin_client.post(f"/settings/notifications/groups/{group.pk}/delete")
    assert not DeviceGroup.objects.exists()
    assert Channel.objects.filter(group__isnull=True).count() == 2  # the devices are kept
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"group.add", "group.delete", "channel.change"} <= actions


def test_bad_group_and_device_settings_say_why(admin_client, http_peer):
    response = admin_client.post(
        "/settings/notifications/groups", {"name": "x", "timezone": "Mars/Base"}, follow=True
    )
    assert "unknown time zone &#x27;Mars/Base&#x27;" in response.content.decode()
    assert not DeviceGroup.objects.exists()
    phone = ntfy(http_peer, "Phone")
    response = admin_client.post(
        f"/settings/notifications/channels/{phone.pk}",
        {
            "kind": "ntfy",
            "name": "Phone",
            "server_url": http_peer.url,
            "topic": "phone",
            "min_priority": "1",
            "quiet_start": "25:99",
        },
    )
    assert response.status_code == 400
    assert "Quiet hours from:" in response.content.decode()
    phone.refresh_from_db()
    assert phone.quiet_start is None


def test_viewer_sees_rules_and_groups_but_cannot_change(viewer_client):
    group = DeviceGroup.objects.create(name="On call")
    for path in (
        "/settings/notifications/rules",
        "/settings/notifications/groups",
        f"/settings/notifications/groups/{group.pk}",
    ):
        response = viewer_client.get(path)
        assert response.status_code == 200
        assert '<fieldset class="plain" disabled>' in response.content.decode() or (
            "Add group" not in response.content.decode()
        )
    denied = [
        viewer_client.post("/settings/notifications/rules", {"event_level": "off"}),
        viewer_client.post("/settings/notifications/rules/jobs", {"job": [1], "action": "off"}),
        viewer_client.post("/settings/notifications/groups", {"name": "x"}),
        viewer_client.post(f"/settings/notifications/groups/{group.pk}/delete"),
    ]
    assert [r.status_code for r in denied] == [403] * 4
    assert MonitoringDefaults.load().event_level == ""
    assert json.loads(json.dumps(list(DeviceGroup.objects.values_list("name", flat=True)))) == [
        "On call"
    ]
