"""The anomaly detectors' settings on the rules forms: set on a job's page, they are saved,
shown with what each would inherit from where, and followed when the job's next odd run
arrives; wrong values are refused with the reason next to the field."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from duplistatus import clock
from duplistatus.accounts.models import AuditEntry
from duplistatus.anomaly.tests.test_check import (
    DAY10,
    T0,
    history,
    received,
    report,
    setup_channel,
    upload,
    work,
)
from duplistatus.backups.models import BackupJob, Event, MonitoringDefaults, Server

from .test_rules_pages import INHERIT_ALL

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


def slow_run(client, rng, job: str) -> None:
    """Day 10's run of `job`, three times as long as its usual ten minutes."""
    begin = T0 + timedelta(days=10)
    upload(
        client,
        report(
            10,
            rng,
            job=job,
            EndTime=(begin + timedelta(minutes=32)).isoformat(),
            Duration="00:32:00",
        ),
    )


def field(html: str, name: str) -> str:
    """The form field (label, input, help, error) of the input named `name`."""
    start = html.rindex('<div class="field">', 0, html.index(f'name="{name}"'))
    return html[start : html.index("</div>", start)]


def test_a_detector_muted_in_a_jobs_form_stays_quiet_for_that_job_only(
    client, auth_client, admin_client, http_peer
):
    setup_channel(auth_client, http_peer)
    clock.set(T0)
    photos_rng = history(client, job="Photos")
    mail_rng = history(client, job="Mail", seed=2)
    photos = BackupJob.objects.get(name="Photos")

    page = admin_client.get(f"/jobs/{photos.pk}").content.decode()
    assert "Anomaly detectors" in page
    assert '<option value="">inherit: on (built-in)</option>' in field(page, "det-slow_run-enabled")
    assert "empty: inherit (4, built-in)" in field(page, "det-slow_run-sensitivity")

    response = admin_client.post(
        f"/jobs/{photos.pk}/rules",
        {**INHERIT_ALL, "det-slow_run-enabled": "off", "det-change_burst-sensitivity": "5,5"},
    )
    assert response.status_code == 302
    photos.refresh_from_db()
    assert photos.anomaly_detectors == {
        "slow_run": {"enabled": False},
        "change_burst": {"sensitivity": 5.5},
    }
    entry = AuditEntry.objects.get(action="rules.change")
    assert entry.changes["anomaly_detectors"]["to"] == photos.anomaly_detectors
    page = admin_client.get(f"/jobs/{photos.pk}").content.decode()
    assert '<details class="detectors" open>' in page  # this job sets some
    assert '<option value="off" selected>' in field(page, "det-slow_run-enabled")
    assert 'value="5.5"' in field(page, "det-change_burst-sensitivity")

    # Both jobs' next run is three times as slow as usual: only Mail's is reported.
    slow_run(client, photos_rng, "Photos")
    slow_run(client, mail_rng, "Mail")
    work(DAY10)
    titles = [message["title"] for message in received(http_peer)]
    assert titles == ["🔍 Mail on nas: slow run"]
    assert not Event.objects.filter(job=photos, kind="anomaly").exists()

    # Emptied, the form inherits everything again.
    admin_client.post(f"/jobs/{photos.pk}/rules", INHERIT_ALL)
    photos.refresh_from_db()
    assert photos.anomaly_detectors is None


def test_each_setting_says_what_it_inherits_from_where(admin_client):
    now = clock.now()
    server = Server.objects.create(key="nas", name="nas", created_at=now, last_seen_at=now)
    job = BackupJob.objects.create(server=server, name="Photos", created_at=now)
    response = admin_client.post(
        "/settings/notifications/rules",
        {**INHERIT_ALL, "det-min_history": "10", "det-quota-horizon_days": "30"},
    )
    assert response.status_code == 302
    assert MonitoringDefaults.load().anomaly_detectors == {
        "min_history": 10,
        "quota": {"horizon_days": 30},
    }
    response = admin_client.post(
        f"/servers/{server.pk}/rules", {**INHERIT_ALL, "det-unverified-enabled": "off"}
    )
    assert response.status_code == 302
    page = admin_client.get(f"/jobs/{job.pk}").content.decode()
    assert "empty: inherit (10, global)" in field(page, "det-min_history")
    assert "empty: inherit (30, global)" in field(page, "det-quota-horizon_days")
    assert "inherit: muted (server)" in field(page, "det-unverified-enabled")
    assert "empty: inherit (14, built-in)" not in page
    assert '<details class="detectors">' in page  # the job sets none of its own


def test_wrong_values_are_refused_with_the_reason_next_to_the_field(admin_client):
    now = clock.now()
    server = Server.objects.create(key="nas", name="nas", created_at=now, last_seen_at=now)
    job = BackupJob.objects.create(server=server, name="Photos", created_at=now)
    response = admin_client.post(
        f"/jobs/{job.pk}/rules",
        {
            **INHERIT_ALL,
            "event_level": "all",
            "det-slow_run-sensitivity": "high",
            "det-source_vanished-drop": "1.5",
            "det-min_history": "0",
            "det-change_burst-factor": "12",
            "escalate_after_failures": "-1",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    # Every error at once: the other rules' in the message, the detectors' at their fields.
    assert (
        "Not saved: Escalate after this many failed runs in a row: must be greater than or "
        "equal to 0; see the anomaly detector settings marked below." in page
    )
    expected = {
        "det-slow_run-sensitivity": "Enter a number, such as 4.",
        "det-source_vanished-drop": "Enter a fraction between 0 and 1, such as 0.5 for half.",
        "det-min_history": "Enter a whole number of runs, at least 1.",
    }
    for name, message in expected.items():
        shown = field(page, name)
        assert re.search(rf'<small id="r-{name}-err" class="error" role="alert">{message}', shown)
        assert 'aria-invalid="true"' in shown
    # What was typed stays in the form, the right value too, and nothing was saved.
    assert 'value="high"' in field(page, "det-slow_run-sensitivity")
    assert 'value="12"' in field(page, "det-change_burst-factor")
    assert '<option value="all" selected>' in page
    job.refresh_from_db()
    assert (job.anomaly_detectors, job.event_level) == (None, "")
    assert not AuditEntry.objects.filter(action="rules.change").exists()
