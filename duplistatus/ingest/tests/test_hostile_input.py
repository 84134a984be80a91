"""Hostile or odd uploads must get a clear JSON answer and lose nothing; unparseable bodies,
which anyone may send, must not fill the disk; a database outage is a 503, nothing else is."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from datetime import timedelta

import pytest
from django.db import connection

from duplistatus import clock
from duplistatus.backups.models import BackupRun, RawReport, Server
from duplistatus.ingest import store
from duplistatus.worker import Worker

from .test_upload import post, v21_doc

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


def anonymous_doc() -> dict:
    """A report that names neither its server nor its job (as Duplicati < 2.1 sends)."""
    doc = v21_doc()
    for key in ("machine-id", "machine-name", "backup-name", "backup-id"):
        doc["Extra"].pop(key, None)
    return doc


# ------------------------------------------------------------------ answered, not 5xx


def test_next_run_at_the_end_of_time_is_stored_without_a_duplicati_schedule(client):
    """.NET's DateTime.MaxValue: adding the grace period to it overflowed (500)."""
    doc = v21_doc()
    doc["Extra"]["next-scheduled-run"] = "9999-12-31T23:59:59Z"
    response = post(client, json.dumps(doc).encode())
    assert response.status_code == 200, response.content
    assert BackupRun.objects.get().next_scheduled_run is None


def test_dates_and_durations_out_of_any_range_do_not_overflow(client):
    doc = v21_doc(Duration="99999999.00:00:00", EndTime="9999-12-31T23:59:59Z")
    response = post(client, json.dumps(doc).encode())
    assert response.status_code == 200, response.content
    run = BackupRun.objects.get()
    assert run.duration_seconds is None and run.end_time is None

    far = v21_doc(BeginTime="9999-12-31T23:59:59Z")
    response = post(client, json.dumps(far).encode())
    assert response.status_code == 400
    assert response.json()["missingFields"] == ["Data.BeginTime"]


def test_a_form_with_too_many_fields_is_refused_and_kept(client):
    body = b"&".join(b"f%d=x" % n for n in range(10_001))
    response = post(client, body, FORM)
    assert response.status_code == 400
    assert "more than 10,000 fields" in response.json()["error"]
    raw = RawReport.objects.get()
    assert raw.body == body and "10,000" in raw.parse_error


def test_a_url_with_too_many_parameters_is_refused_and_kept(client):
    query = "?" + "&".join(f"p{n}=x" for n in range(10_001))
    response = post(client, json.dumps(v21_doc()).encode(), query=query)
    assert response.status_code == 400
    assert "query parameters" in response.json()["error"]
    assert RawReport.objects.get().size > 0
    assert BackupRun.objects.count() == 0


def test_nul_in_the_server_parameter_is_dropped_not_a_database_error(client):
    """PostgreSQL refuses NUL in text; that was a 503 the sender retried for ever."""
    response = post(client, json.dumps(anonymous_doc()).encode(), query="?server=N%00AS")
    assert response.status_code == 200, response.content
    assert Server.objects.get().name == "NAS"


def test_nul_in_a_form_field_name_gets_a_clear_400(client):
    response = post(client, b"a%00b=1&c=2", FORM)
    assert response.status_code == 400
    assert response.json()["error"] == "no form field holds a Duplicati report (fields: ab, c)"
    assert RawReport.objects.get().parse_error == response.json()["error"]


# ------------------------------------------------------------------ database outage


@contextlib.contextmanager
def database_down():
    """The database stops answering for real: the connection is closed and the next one is
    made to where nothing is (a closed port for PostgreSQL, a missing directory for SQLite)."""
    from duplistatus.notifications.channels.tests.fixtures import free_port

    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent/duplistatus/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = free_port()
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_during_a_database_outage_the_api_answers_503_json(client):
    with database_down():
        answers = {
            "report": post(client, json.dumps(v21_doc()).encode()),
            "unparseable": post(client, b"not a report", "text/plain"),
            "summary": client.get("/api/summary"),
            "lastbackups": client.get("/api/lastbackups/x"),
            "v1": client.get("/api/v1/jobs", HTTP_AUTHORIZATION="Bearer dst_x"),
        }
    for name, response in answers.items():
        assert response.status_code == 503, name
        assert response["Content-Type"] == "application/json", name
        assert response.json()["error"] == "database unavailable, try again later", name
    # Back up: the same report is stored when Duplicati sends it again.
    assert post(client, json.dumps(v21_doc()).encode()).status_code == 200


# ------------------------------------------------------------------ unparsed bodies bounded


def test_unparsed_bodies_keep_a_prefix_within_a_quota(client, settings):
    """Unauthenticated, three 45 MB random bodies were kept whole (223 MB on disk)."""
    settings.UNPARSED_KEEP_BYTES = 4096
    settings.UNPARSED_QUOTA_BYTES = 3 * 6000  # ~5,200 each, with the row's overhead
    bodies = [os.urandom(200_000) for _ in range(4)]
    for body in bodies:
        response = post(client, body, "application/octet-stream")
        assert response.status_code == 400
        assert response.json()["error"]

    kept = list(RawReport.objects.order_by("id"))
    assert len(kept) == 3  # the fourth did not fit
    for raw, body in zip(kept, bodies, strict=False):
        assert raw.body == body[:4096]
        assert raw.size == len(body)
        assert raw.sha256 == store.Upload(body, "", "", "", clock.now()).sha256
    assert store.unparsed_bytes() <= settings.UNPARSED_QUOTA_BYTES

    # A report that parses is kept whole, quota or not.
    report = json.dumps(v21_doc()).encode()
    assert post(client, report).status_code == 200
    assert BackupRun.objects.get().raw_report.body == report


def test_the_worker_drops_old_unparsed_bodies_and_keeps_parsed_reports(client, settings):
    settings.UNPARSED_RETENTION_DAYS = 7
    start = clock.now()
    clock.set(start)
    report = json.dumps(v21_doc()).encode()
    assert post(client, report).status_code == 200
    assert post(client, b"garbage one", "text/plain").status_code == 400
    clock.set(start + timedelta(days=5))
    assert post(client, b"garbage two", "text/plain").status_code == 400

    clock.set(start + timedelta(days=8))
    Worker().run_once()
    assert sorted(bytes(raw.body) for raw in RawReport.objects.all()) == [b"garbage two", report]
    assert BackupRun.objects.get().raw_report.body == report


def test_a_form_body_too_long_to_keep_whole_keeps_its_start(client, settings):
    settings.UNPARSED_KEEP_BYTES = 10
    body = b"x=" + urllib.parse.quote("no report here " * 100).encode()
    assert post(client, body, FORM).status_code == 400
    assert RawReport.objects.get().body == body[:10]
