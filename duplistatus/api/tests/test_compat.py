"""The original duplistatus read endpoints, as dashboards such as Homepage call them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from conftest import CORPUS, corpus_body
from duplistatus import clock

pytestmark = pytest.mark.django_db

V21 = "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
MACHINE = "634b6d05688a4168887ff40d86fff940"


def upload(client, doc: dict) -> None:
    response = client.post(
        "/api/upload", data=json.dumps(doc).encode(), content_type="application/json"
    )
    assert response.status_code == 200, response.content


def v21(
    job: str = "Test Backup Name",
    begin: str = "2025-03-23T22:28:09.3740947Z",
    machine: str = MACHINE,
    name: str = "test-machine-name",
    **data,
) -> dict:
    doc = json.loads((CORPUS / "payloads" / V21).read_text())
    doc["Extra"].update({"backup-name": job, "machine-id": machine, "machine-name": name})
    doc["Data"].update(BeginTime=begin, **data)
    return doc


def test_summary_totals(client):
    clock.set(datetime(2025, 3, 24, 0, 0, tzinfo=UTC))
    upload(client, v21(begin="2025-03-22T22:28:09Z"))
    upload(client, v21())
    upload(client, v21(job="Photos", begin="2025-03-23T20:00:00Z"))
    upload(client, v21(job="Docs", machine="f" * 32, name="other", begin="2025-03-23T21:00:00Z"))
    response = client.get("/api/summary")
    assert response["Cache-Control"].startswith("no-store")
    assert response.json() == {
        "totalServers": 2,
        "totalBackupsRuns": 4,
        "totalBackups": 3,
        "totalUploadedSize": 4 * 1834,
        "totalStorageUsed": 3 * 7736156915,
        "totalBackupSize": 3 * 7714963409,
        "overdueBackupsCount": 0,
        # The newest run began 2025-03-23 22:28:09.374 UTC.
        "secondsSinceLastBackup": int(
            (clock.now() - datetime(2025, 3, 23, 22, 28, 9, 374094, tzinfo=UTC)).total_seconds()
        ),
    }


def test_summary_when_empty(client):
    data = client.get("/api/summary").json()
    assert data["totalServers"] == 0
    assert data["secondsSinceLastBackup"] is None


def test_lastbackup_by_machine_id_and_by_name(client):
    upload(client, v21(begin="2025-03-22T22:28:09Z"))
    upload(client, v21(WarningsActualLength=1))
    for identifier in (MACHINE, "test-machine-name"):
        response = client.get(f"/api/lastbackup/{identifier}")
        assert response.status_code == 200
        assert response["Cache-Control"].startswith("no-store")
        data = response.json()
        assert data["status"] == 200
        assert data["server"]["id"] == MACHINE
        assert data["server"]["name"] == "test-machine-name"
        assert data["server"]["backup_name"] == "Test Backup Name"
        assert data["server"]["backup_id"] == "DB-3"
        latest = data["latest_backup"]
        assert latest["date"] == "2025-03-23T22:28:09.374094+00:00"
        assert latest["status"] == "Warning"
        assert latest["warnings"] == 1 and latest["errors"] == 0
        assert latest["fileCount"] == 504
        assert latest["fileSize"] == 7714963409
        assert latest["uploadedSize"] == 1834
        # 49.66 s: whole seconds truncated, as the original prints them (not 00:00:50).
        assert latest["duration"] == "00:00:49"
        assert latest["duration_seconds"] == pytest.approx(49.6596191)
        assert latest["durationInMinutes"] == pytest.approx(49.6596191 / 60)
        assert latest["knownFileSize"] == 7736156915
        assert latest["backup_list_count"] == 3
        assert latest["available_backups"] == []
        assert latest["server_id"] == MACHINE


def test_lastbackup_arrays_are_json_text_as_in_the_original(client):
    body, content_type = corpus_body(
        "v2.0.4.5_backup_fatal_form-value-no-prefix_adenau-devtest.txt"
    )
    client.post("/api/upload?server=mac", data=body, content_type=content_type)
    latest = client.get("/api/lastbackup/mac").json()["latest_backup"]
    assert latest["status"] == "Fatal"
    warnings = json.loads(latest["warnings_array"])
    assert len(warnings) == 4 and "Missing file" in warnings[1]
    assert len(json.loads(latest["errors_array"])) == 2


def test_fatal_exception_is_in_errors_array_when_the_report_has_no_errors(client):
    # A 2.0.2 fatal text report: no Errors lines, only the exception that stopped the run.
    body, content_type = corpus_body(
        "v2.0.2.x_backup_fatal_form-raw-crlf_base33-centralstation.txt"
    )
    response = client.post("/api/upload?server=win", data=body, content_type=content_type)
    assert response.status_code == 200, response.content
    for path in ("/api/lastbackup/win", "/api/lastbackups/win"):
        data = client.get(path).json()
        latest = data.get("latest_backup") or data["latest_backups"][0]
        assert latest["status"] == "Fatal"
        [error] = json.loads(latest["errors_array"])
        assert error.startswith("Amazon.S3.AmazonS3Exception: The AWS Access Key Id you provided")


def test_fatal_exception_is_not_repeated_when_the_report_has_errors(client):
    body, content_type = corpus_body(
        "v2.0.4.5_backup_fatal_form-value-no-prefix_adenau-devtest.txt"
    )
    client.post("/api/upload?server=mac", data=body, content_type=content_type)
    errors = json.loads(client.get("/api/lastbackup/mac").json()["latest_backup"]["errors_array"])
    assert len(errors) == 2 and "Fatal error" in errors[1]


def test_lastbackups_one_per_job(client):
    upload(client, v21(begin="2025-03-22T22:28:09Z"))
    upload(client, v21())
    upload(client, v21(job="Photos", begin="2025-03-21T20:00:00Z", ParsedResult="Error"))
    data = client.get(f"/api/lastbackups/{MACHINE}").json()
    assert data["backup_jobs_count"] == 2
    assert data["backup_names"] == ["Photos", "Test Backup Name"]
    by_name = {b["name"]: b for b in data["latest_backups"]}
    assert by_name["Photos"]["status"] == "Error"
    assert by_name["Test Backup Name"]["date"].startswith("2025-03-23T22:28:09")
    assert data["server"]["backup_name"] == "Test Backup Name"  # the newest across jobs


def test_unknown_server_is_404_json(client):
    response = client.get("/api/lastbackup/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "Server not found"
    assert client.get("/api/lastbackups/nope").status_code == 404


def test_ambiguous_name_asks_for_the_id(client):
    upload(client, v21(machine="a" * 32, name="twin"))
    upload(client, v21(machine="b" * 32, name="twin"))
    response = client.get("/api/lastbackup/twin")
    assert response.status_code == 400
    assert {s["id"] for s in response.json()["duplicate_servers"]} == {"a" * 32, "b" * 32}


def test_server_without_backups_has_null_latest(client):
    doc = v21(MainOperation="Restore")
    doc["Extra"]["OperationName"] = "Restore"
    upload(client, doc)
    data = client.get(f"/api/lastbackup/{MACHINE}").json()
    assert data["latest_backup"] is None
    assert client.get(f"/api/lastbackups/{MACHINE}").json()["latest_backups"] == []


def test_health(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db(transaction=True)
def test_health_tells_anonymous_callers_nothing_about_the_database(client):
    from django.db import connection

    name = connection.settings_dict["NAME"]
    missing = "ds_no_such_database" if connection.vendor == "postgresql" else "/nonexistent/x.db"
    connection.close()
    connection.settings_dict["NAME"] = missing
    try:
        response = client.get("/api/health")
    finally:
        connection.close()
        connection.settings_dict["NAME"] = name
    assert response.status_code == 503
    # Once: {"status": "error", "database": "connection to server at \"db\" (10.0.0.5), port
    # 5432 failed: FATAL: database \"…\" does not exist"}.
    assert response.json() == {"status": "degraded", "database": "unavailable"}


def test_openapi_docs_list_the_endpoints(client):
    assert client.get("/api/docs").status_code == 200
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/upload",
        "/api/summary",
        "/api/lastbackup/{server}",
        "/api/lastbackups/{server}",
        "/api/health",
        "/api/v1/servers",
        "/api/v1/jobs",
    ):
        assert path in paths


def test_seconds_since_last_backup_moves_with_the_clock(client):
    upload(client, v21(begin="2025-03-23T22:00:00Z"))
    clock.set(datetime(2025, 3, 23, 22, 0, tzinfo=UTC) + timedelta(hours=2))
    assert client.get("/api/summary").json()["secondsSinceLastBackup"] == 7200
