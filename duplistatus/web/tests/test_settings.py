"""Changing schedules from the pages: the same validation and apply path as the API
(monitoring.settings), the job's state follows, and every change is audited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from duplistatus import clock
from duplistatus.accounts.models import AuditEntry
from duplistatus.backups.models import BackupJob, MonitoringDefaults, Server

from .fleet import NOW

pytestmark = pytest.mark.django_db


def job(server: str, name: str) -> BackupJob:
    return BackupJob.objects.get(server__name=server, name=name)


def dashboard_state(client, job: BackupJob) -> str:
    html = client.get(f"/?q={job.server.name}+{job.name}").content.decode()
    row = html.split(f'href="/jobs/{job.pk}"')[0].rsplit("<tr", 1)[1]
    return row.split('data-state="')[1].split('"')[0]  # the schedule state, beside the health


def test_job_schedule_form(admin_client, loaded):
    photos = job("nas", "Photos")
    response = admin_client.post(
        f"/jobs/{photos.pk}/schedule",
        {
            "interval": "2D",
            "weekdays": ["1", "3"],
            "grace_minutes": "45",
            "monitoring_enabled": "on",
        },
    )
    assert response.status_code == 302
    photos.refresh_from_db()
    assert (photos.interval, photos.weekdays, photos.grace_minutes) == ("2D", [1, 3], 45)
    assert photos.schedule_source == "configured"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor) == ("job.schedule", "admin")
    assert entry.target == f"job {photos.pk} (nas / Photos)"
    assert entry.changes["interval"] == {"from": "", "to": "2D"}
    assert entry.changes["weekdays"] == {"from": None, "to": [1, 3]}
    assert entry.remote_addr == "127.0.0.1"

    # Empty fields inherit again.
    admin_client.post(f"/jobs/{photos.pk}/schedule", {})
    photos.refresh_from_db()
    assert (photos.interval, photos.weekdays, photos.grace_minutes) == ("", None, None)
    assert photos.schedule_source == "learned"


def test_invalid_values_are_shown_and_nothing_changes(admin_client, loaded):
    photos = job("nas", "Photos")
    response = admin_client.post(
        f"/jobs/{photos.pk}/schedule",
        {"interval": "every day", "timezone": "Mars/Olympus", "grace_minutes": "soon"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="every day"' in html  # the form comes back as it was sent
    assert "a whole number of minutes" in html
    response = admin_client.post(
        f"/jobs/{photos.pk}/schedule", {"interval": "every day", "timezone": "Mars/Olympus"}
    )
    html = response.content.decode()
    assert "unknown time zone" in html and "interval" in html
    photos.refresh_from_db()
    assert photos.interval == "" and photos.timezone == ""
    assert not AuditEntry.objects.exists()


def test_pause_and_resume_a_job(admin_client, loaded):
    system = job("office-pc", "System")
    assert dashboard_state(admin_client, system) == "overdue"
    admin_client.post(f"/jobs/{system.pk}/pause", {"pause": "1d"})
    system.refresh_from_db()
    assert system.paused_until == NOW + timedelta(days=1)
    assert dashboard_state(admin_client, system) == "paused"

    admin_client.post(f"/jobs/{system.pk}/pause", {"pause": "resume"})
    system.refresh_from_db()
    assert system.paused_until is None
    assert dashboard_state(admin_client, system) == "overdue"

    # "Until" is the browser's wall-clock time in the zone the page sends.
    admin_client.post(
        f"/jobs/{system.pk}/pause",
        {"pause": "until", "paused_until": "2026-03-20T08:00", "tz": "Europe/Berlin"},
    )
    system.refresh_from_db()
    assert system.paused_until.isoformat() == "2026-03-20T07:00:00+00:00"
    assert [e.action for e in AuditEntry.objects.order_by("id")] == ["job.pause"] * 3


def test_server_defaults_and_details(admin_client, loaded):
    office = Server.objects.get(name="office-pc")
    admin_client.post(f"/servers/{office.pk}/schedule", {"monitoring_enabled": "off"})
    for name in ("System", "Mail"):
        assert dashboard_state(admin_client, job("office-pc", name)) == "disabled"
    admin_client.post(
        f"/servers/{office.pk}/details", {"alias": "Office PC", "note": "under the desk"}
    )
    office.refresh_from_db()
    assert (office.alias, office.note) == ("Office PC", "under the desk")
    assert "Office PC" in admin_client.get("/").content.decode()
    assert [e.action for e in AuditEntry.objects.order_by("id")] == [
        "server.schedule",
        "server.details",
    ]


def test_global_defaults(admin_client, loaded):
    response = admin_client.post(
        "/settings/monitoring",
        {
            "grace_minutes": "30",
            "reminder": "weekly",
            "monitoring_enabled": "on",
            "min_learned_confidence": "95",
        },
    )
    assert response.status_code == 302
    defaults = MonitoringDefaults.load()
    assert (defaults.grace_minutes, defaults.reminder, defaults.adopt_learned) == (
        30,
        "weekly",
        False,
    )
    assert defaults.min_learned_confidence == pytest.approx(0.95)
    # Learned schedules are no longer adopted: a job without a schedule falls back to a guess
    # from its latest runs (it does not go unwatched).
    photos = job("nas", "Photos")
    assert (dashboard_state(admin_client, photos), photos.schedule_source) == ("ok", "fallback")
    page = admin_client.get(f"/jobs/{photos.pk}").content.decode()
    assert ">fallback" in page and "A guess from the gaps between the latest runs" in page
    entry = AuditEntry.objects.get()
    assert entry.action == "defaults.schedule"
    assert entry.changes["adopt_learned"] == {"from": True, "to": False}

    bad = admin_client.post("/settings/monitoring", {"min_learned_confidence": "150"})
    assert bad.status_code == 400


def test_bulk_edit_changes_only_ticked_fields_of_ticked_jobs(admin_client, loaded):
    photos, documents, mail = (
        job("nas", "Photos"),
        job("nas", "Documents"),
        job("office-pc", "Mail"),
    )
    mail.grace_minutes = 10
    mail.save()
    response = admin_client.post(
        "/settings/monitoring/jobs",
        {
            "job": [photos.pk, documents.pk],
            "change_interval": "on",
            "interval": "1D",
            "grace_minutes": "99",  # not ticked: left alone
            "back": "/settings/monitoring?q=nas",
        },
    )
    assert response["Location"] == "/settings/monitoring?q=nas"
    for row in (photos, documents):
        row.refresh_from_db()
        assert (row.interval, row.grace_minutes) == ("1D", None)
    mail.refresh_from_db()
    assert (mail.interval, mail.grace_minutes) == ("", 10)
    entry = AuditEntry.objects.get()
    assert entry.action == "jobs.schedule"
    assert entry.changes == {"jobs": sorted([photos.pk, documents.pk]), "set": {"interval": "1D"}}

    # Ticked with an empty value: inherit again.
    admin_client.post(
        "/settings/monitoring/jobs", {"job": [photos.pk], "change_interval": "on", "interval": ""}
    )
    photos.refresh_from_db()
    assert photos.interval == ""


def test_bulk_edit_refuses_off_site_redirects_and_empty_selections(admin_client, loaded):
    response = admin_client.post(
        "/settings/monitoring/jobs", {"job": [1], "back": "https://evil.example/"}
    )
    assert response["Location"] == "/settings/monitoring"
    assert not AuditEntry.objects.exists()


def test_settings_page_lists_schedules_in_force(admin_client, loaded):
    clock.set(NOW)
    html = admin_client.get("/settings/monitoring").content.decode()
    assert "Job schedules" in html and "Server defaults" in html
    assert html.count('name="job" value=') == 6
    assert "learned (100 %)" in html
    only_nas = admin_client.get("/settings/monitoring?q=nas").content.decode()
    assert only_nas.count('name="job" value=') == 2


def test_actions_over_all_jobs(admin_client, loaded):
    """Scan now, restart reminders, monitoring off and on for every job (not one page), and
    the global defaults back to what a new installation has."""
    from duplistatus.backups.models import FACTORY_DEFAULTS, BackupJob, MonitoringDefaults

    url = "/settings/monitoring/actions"
    page = admin_client.get("/settings/monitoring").content.decode()
    assert "Scan for overdue jobs now" in page and "Reset the global defaults" in page

    html = admin_client.post(url, {"action": "scan"}, follow=True).content.decode()
    assert re.search(r"Scanned \d+ jobs: \d+ new alert", html), html[html.find("msg") - 50 :][:400]
    html = admin_client.post(url, {"action": "reset_reminders"}, follow=True).content.decode()
    assert "Reminders restarted from now for 1 overdue job." in html

    admin_client.post(url, {"action": "disable_all"})
    assert set(BackupJob.objects.values_list("monitoring_enabled", flat=True)) == {False}
    admin_client.post(url, {"action": "enable_all"})
    assert set(BackupJob.objects.values_list("monitoring_enabled", flat=True)) == {True}

    changed = MonitoringDefaults.load()
    changed.grace_minutes, changed.interval, changed.reminder = 5, "2h", "never"
    changed.save()
    html = admin_client.post(url, {"action": "reset_defaults"}, follow=True).content.decode()
    assert "Global defaults reset." in html
    defaults = MonitoringDefaults.load()
    assert all(getattr(defaults, k) == v for k, v in FACTORY_DEFAULTS.items())
    assert defaults.interval == ""


def test_server_reset_to_the_global_defaults(admin_client, loaded):
    from duplistatus.backups.models import Server

    nas = Server.objects.get(name="nas")
    Server.objects.filter(pk=nas.pk).update(grace_minutes=90, interval="12h")
    assert "Reset to the global defaults" in admin_client.get(f"/servers/{nas.pk}").content.decode()
    response = admin_client.post(f"/servers/{nas.pk}/reset", follow=True)
    assert "Server defaults reset." in response.content.decode()
    nas.refresh_from_db()
    assert (nas.grace_minutes, nas.interval) == (None, "")


def test_viewers_cannot_run_the_actions(viewer_client):
    assert viewer_client.post("/settings/monitoring/actions", {"action": "scan"}).status_code == 403


def test_a_pause_in_the_past_is_refused_with_the_reason(admin_client, loaded):
    system = job("office-pc", "System")
    response = admin_client.post(
        f"/jobs/{system.pk}/pause",
        {"pause": "until", "paused_until": "2026-03-01T08:00", "tz": "UTC"},
        follow=True,
    )
    assert "Not paused: the pause must end in the future." in response.content.decode()
    system.refresh_from_db()
    assert system.paused_until is None
    assert not AuditEntry.objects.exists()


def test_schedule_errors_all_at_once_beside_their_fields_in_plain_words(admin_client, loaded):
    for path, form_url in (
        (f"/jobs/{job('nas', 'Photos').pk}", f"/jobs/{job('nas', 'Photos').pk}/schedule"),
        (
            f"/servers/{job('nas', 'Photos').server_id}",
            f"/servers/{job('nas', 'Photos').server_id}/schedule",
        ),
    ):
        response = admin_client.post(
            form_url, {"interval": "every day", "grace_minutes": "soon", "timezone": "Mars/Base"}
        )
        assert response.status_code == 400, path
        html = response.content.decode()
        assert "Not saved: see the fields marked below." in html
        assert "write a number and a unit, e.g. 1D" in html  # the interval
        assert "a whole number of minutes" in html  # the grace
        assert html.count('class="error" role="alert"') >= 3  # the time zone's too
        assert "position 1" not in html and "grace_minutes:" not in html
        assert 'value="every day"' in html  # what was typed stays
