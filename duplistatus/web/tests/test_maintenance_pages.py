"""Maintenance from the pages: delete after a confirmation that names what goes, merge,
Settings → Maintenance (retention, dry run, clean-up, backups), server details, the log."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from duplistatus import clock
from duplistatus.accounts.models import AuditEntry
from duplistatus.backups.models import BackupJob, BackupRun, MaintenanceSettings, Server
from duplistatus.maintenance.tests.test_delete_merge import DAY, runs

pytestmark = pytest.mark.django_db


def test_deleting_a_job_confirms_what_goes(admin_client, client):
    runs(client, days=3)
    job = BackupJob.objects.get()
    page = admin_client.get(f"/jobs/{job.pk}").content.decode()
    assert f'href="/jobs/{job.pk}/delete"' in page

    confirm = admin_client.get(f"/jobs/{job.pk}/delete").content.decode()
    assert "<strong>3</strong> runs" in confirm and "<strong>3</strong> events" in confirm
    assert BackupJob.objects.exists()  # looking deletes nothing

    response = admin_client.post(f"/jobs/{job.pk}/delete")
    assert response.status_code == 302 and response["Location"] == f"/servers/{job.server_id}"
    assert not BackupJob.objects.exists() and not BackupRun.objects.exists()
    assert AuditEntry.objects.get(action="job.delete").actor == "admin"


def test_deleting_a_run_from_its_page(admin_client, client):
    runs(client, days=2, statuses={1: "Error"})
    job = BackupJob.objects.get()
    assert (
        f"/runs/{job.last_run_id}/delete"
        in admin_client.get(f"/runs/{job.last_run_id}").content.decode()
    )
    admin_client.post(f"/runs/{job.last_run_id}/delete")
    job.refresh_from_db()
    assert job.run_count == 1 and job.last_status == "Success"


def test_viewers_cannot_delete_or_merge(viewer_client, client):
    runs(client, days=1)
    job = BackupJob.objects.get()
    assert "/delete" not in viewer_client.get(f"/jobs/{job.pk}").content.decode()
    assert viewer_client.post(f"/jobs/{job.pk}/delete").status_code == 403
    assert viewer_client.post(f"/servers/{job.server_id}/delete").status_code == 403
    assert viewer_client.get(f"/servers/{job.server_id}/merge").status_code == 403
    assert BackupJob.objects.exists()


def test_merging_a_likely_duplicate_server(admin_client, client):
    runs(client, machine="old-id", server="nas", days=2)
    runs(client, machine="new-id", server="nas", days=2, start=DAY + timedelta(days=5))
    old, new = Server.objects.get(key="old-id"), Server.objects.get(key="new-id")

    maintenance = admin_client.get("/settings/maintenance").content.decode()
    assert "same name" in maintenance
    assert f"/servers/{old.pk}/merge?into={new.pk}" in maintenance

    preview = admin_client.get(f"/servers/{old.pk}/merge?into={new.pk}").content.decode()
    assert "likely the same: same name" in preview and "2 runs of 1 job move" in preview

    response = admin_client.post(f"/servers/{old.pk}/merge", {"into": new.pk, "name": ""})
    assert response["Location"] == f"/servers/{new.pk}"
    assert Server.objects.get().runs.count() == 4


def test_retention_settings_dry_run_and_clean_up(admin_client, client):
    runs(client, days=5)
    clock.set(DAY + timedelta(days=10))

    bad = admin_client.post(
        "/settings/maintenance", {"action": "save", "keep_runs_count": "0", "backups_kept": "7"}
    )
    assert bad.status_code == 400 and "At least 1" in bad.content.decode()

    admin_client.post(
        "/settings/maintenance", {"action": "save", "keep_runs_count": "2", "backups_kept": "3"}
    )
    assert MaintenanceSettings.load().keep_runs_count == 2

    preview = admin_client.post("/settings/maintenance", {"action": "preview"}).content.decode()
    assert "Would remove: <strong>3 runs" in preview
    assert BackupRun.objects.count() == 5

    admin_client.post("/settings/maintenance", {"action": "cleanup"})
    assert BackupRun.objects.count() == 2
    assert [e.action for e in AuditEntry.objects.order_by("id")] == [
        "maintenance.settings",
        "maintenance.cleanup",
    ]


def test_backup_now_and_download(admin_client, viewer_client, client, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    runs(client, days=1)
    admin_client.post("/settings/maintenance", {"action": "backup"})
    page = admin_client.get("/settings/maintenance").content.decode()
    name = page.split("/settings/maintenance/backups/")[1].split('"')[0]
    download = admin_client.get(f"/settings/maintenance/backups/{name}")
    assert download.status_code == 200 and len(b"".join(download.streaming_content)) > 1000
    assert viewer_client.get(f"/settings/maintenance/backups/{name}").status_code == 403
    assert admin_client.get("/settings/maintenance/backups/..%2Fsecret_key").status_code == 404


def test_open_duplicati_link(admin_client, client):
    runs(client, days=1)
    server = Server.objects.get()
    admin_client.post(
        f"/servers/{server.pk}/details",
        {"alias": "", "note": "rack 2", "url": "http://nas.lan:8200", "keep_runs_days": "30"},
    )
    server.refresh_from_db()
    assert (server.url, server.keep_runs_days) == ("http://nas.lan:8200", 30)
    assert (
        'href="http://nas.lan:8200"' in admin_client.get(f"/servers/{server.pk}").content.decode()
    )
    dashboard = admin_client.get("/").content.decode()
    assert 'href="http://nas.lan:8200"' in dashboard and 'title="rack 2"' in dashboard

    admin_client.post(f"/servers/{server.pk}/details", {"url": "javascript:alert(1)"})
    server.refresh_from_db()
    assert server.url == "http://nas.lan:8200"


def test_the_log_page_filters_and_never_shows_a_secret(admin_client, viewer_client, settings):
    from duplistatus import applog

    log = logging.getLogger("duplistatus.tests")
    log.warning("disk almost full on nas")
    log.info("channel sent with password=hunter2hunter2 to smtp://bob:s3cr3tpass@mail.lan")
    log.info("Authorization: Bearer dst_abcdefghijklmnopqrstuvwxyz and token=tk_live_1234567")
    try:
        raise ValueError('config {"access_token": "at_0123456789"} refused')
    except ValueError:
        log.exception("sending failed")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.flush()

    text = applog.log_file().read_text()
    for secret in (
        "hunter2hunter2",
        "s3cr3tpass",
        "dst_abcdef",
        "tk_live_1234567",
        "at_0123456789",
    ):
        assert secret not in text
    assert "[redacted]" in text and "sending failed" in text

    warnings = admin_client.get("/settings/log?level=WARNING").content.decode()
    assert "disk almost full" in warnings and "channel sent" not in warnings
    found = admin_client.get("/settings/log?q=smtp").content.decode()
    assert "channel sent" in found and "disk almost full" not in found
    assert admin_client.get("/settings/log/download").status_code == 200
    assert viewer_client.get("/settings/log").status_code == 403
