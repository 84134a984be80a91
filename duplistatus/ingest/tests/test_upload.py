"""POST /api/upload end to end: HTTP in, rows in a real database out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS, corpus_body
from duplistatus.backups.models import BackupJob, BackupRun, Event, RawReport, Server

from .test_parse import CORPUS_EXPECTATIONS

pytestmark = pytest.mark.django_db

V21 = "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"


def post(client, body: bytes, content_type: str = "application/json", query: str = ""):
    return client.post(
        "/api/upload" + query, data=body, content_type=content_type, REMOTE_ADDR="192.0.2.7"
    )


def v21_doc(**data_changes) -> dict:
    doc = json.loads((CORPUS / "payloads" / V21).read_text())
    doc["Data"].update(data_changes)
    return doc


@pytest.mark.parametrize(
    "name, job, status, begin, duration, examined, size, uploaded, warnings, errors",
    CORPUS_EXPECTATIONS,
    ids=[row[0] for row in CORPUS_EXPECTATIONS],
)
def test_every_corpus_report_is_stored(
    client, name, job, status, begin, duration, examined, size, uploaded, warnings, errors
):
    body, content_type = corpus_body(name)
    response = post(client, body, content_type)
    assert response.status_code == 200, response.content
    assert response.json()["success"] is True

    run = BackupRun.objects.select_related("job__server", "raw_report").get()
    assert run.job.name == job
    assert run.status == status
    if not run.begin_time_estimated:
        assert run.begin_time == begin
    assert run.examined_files == examined
    assert run.size_of_examined_files == size
    assert run.bytes_uploaded == uploaded
    assert (run.warnings_count, run.errors_count) == (warnings, errors)
    # Lossless: the exact bytes are kept beside the parsed run.
    assert run.raw_report.body == body
    assert run.raw_report.parse_error == ""
    # The job summary and the event for the worker are written with the run.
    job_row = BackupJob.objects.get()
    assert (job_row.run_count, job_row.last_run_id, job_row.last_status) == (1, run.pk, status)
    event = Event.objects.get()
    assert (event.kind, event.run_id, event.processed_at) == ("backup_result", run.pk, None)


def test_the_whole_corpus_lands_in_one_database(client):
    for row in CORPUS_EXPECTATIONS:
        body, content_type = corpus_body(row[0])
        assert post(client, body, content_type).status_code == 200, row[0]
    assert BackupRun.objects.count() == len(CORPUS_EXPECTATIONS)
    assert Event.objects.count() == len(CORPUS_EXPECTATIONS)
    v21 = BackupRun.objects.get(job__server__key="634b6d05688a4168887ff40d86fff940")
    assert v21.job.server.name == "test-machine-name"
    assert v21.data["BackendStatistics"]["BackupListCount"] == 3
    assert v21.backup_list_count == 3


def test_resend_is_ignored_with_409_and_writes_nothing(client):
    body, _ = corpus_body(V21)
    assert post(client, body).status_code == 200
    for _ in range(4):  # Duplicati resends up to 4 times
        response = post(client, body)
        assert response.status_code == 409
        assert response.json() == {"error": "ignored, duplicated data"}
    assert BackupRun.objects.count() == 1
    assert Event.objects.count() == 1
    assert BackupJob.objects.get().run_count == 1


def test_same_run_in_another_encoding_is_a_duplicate(client):
    doc = v21_doc()
    assert post(client, json.dumps(doc).encode()).status_code == 200
    assert post(client, json.dumps(doc, indent=2).encode()).status_code == 409
    assert BackupRun.objects.count() == 1


def test_missing_fields_are_named(client):
    doc = v21_doc()
    del doc["Data"]["BeginTime"]
    response = post(client, json.dumps(doc).encode())
    assert response.status_code == 400
    assert response.json()["missingFields"] == ["Data.BeginTime"]
    assert BackupRun.objects.count() == 0


def test_unparseable_body_is_kept_with_its_error(client):
    response = post(client, b'{"Data": {"ParsedResult": "Suc', "application/json")
    assert response.status_code == 400
    assert "invalid JSON" in response.json()["error"]
    raw = RawReport.objects.get()
    assert raw.body == b'{"Data": {"ParsedResult": "Suc'
    assert "invalid JSON" in raw.parse_error
    assert raw.remote_addr == "192.0.2.7"


def test_oversized_body_gets_413(client, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    body, _ = corpus_body(V21)
    response = post(client, body)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    assert BackupRun.objects.count() == 0


def test_identity_from_query_for_old_versions(client):
    body, content_type = corpus_body(
        "v2.0.4.5_backup_success_form-value-no-prefix_adenau-devtest.txt"
    )
    assert post(client, body, content_type, "?server=NAS&job=Photos").status_code == 200
    run = BackupRun.objects.select_related("job__server").get()
    assert (run.job.server.key, run.job.server.name, run.job.name) == ("name:NAS", "NAS", "Photos")


def test_without_any_identity_the_sender_address_names_the_server(client):
    body, content_type = corpus_body(
        "v2.0.7.1_backup_success_json-minified_maxencea4-2023-08-17.json"
    )
    assert post(client, body, content_type).status_code == 200
    server = Server.objects.get()
    assert (server.key, server.name) == ("addr:192.0.2.7", "192.0.2.7")


def test_late_older_run_counts_but_does_not_replace_the_latest(client):
    newer = v21_doc(BeginTime="2025-03-24T22:28:09Z")
    older = v21_doc(BeginTime="2025-03-22T22:28:09Z", ParsedResult="Error")
    assert post(client, json.dumps(newer).encode()).status_code == 200
    assert post(client, json.dumps(older).encode()).status_code == 200
    job = BackupJob.objects.get()
    assert job.run_count == 2
    assert job.last_run_at == datetime(2025, 3, 24, 22, 28, 9, tzinfo=UTC)
    assert job.last_status == "Success"
    assert job.consecutive_failures == 0


def test_failures_are_counted_until_a_success(client):
    for day, result in ((20, "Error"), (21, "Fatal"), (22, "Error")):
        doc = v21_doc(BeginTime=f"2025-03-{day}T22:28:09Z", ParsedResult=result)
        assert post(client, json.dumps(doc).encode()).status_code == 200
    assert BackupJob.objects.get().consecutive_failures == 3
    doc = v21_doc(BeginTime="2025-03-23T22:28:09Z")
    post(client, json.dumps(doc).encode())
    job = BackupJob.objects.get()
    assert (job.consecutive_failures, job.last_status) == (0, "Success")
    assert job.last_success_at == datetime(2025, 3, 23, 22, 28, 9, tzinfo=UTC)


def test_other_operations_are_stored_but_not_counted_as_backups(client):
    doc = v21_doc(MainOperation="Restore")
    doc["Extra"]["OperationName"] = "Restore"
    assert post(client, json.dumps(doc).encode()).status_code == 200
    run = BackupRun.objects.get()
    assert run.operation == "Restore"
    job = BackupJob.objects.get()
    assert (job.run_count, job.last_run_id) == (0, None)
    assert Event.objects.count() == 0


# ----------------------------------------------------------------------------- fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
report_like = st.fixed_dictionaries(
    {
        "Data": st.dictionaries(
            st.sampled_from(
                [
                    "ParsedResult",
                    "BeginTime",
                    "EndTime",
                    "Duration",
                    "MainOperation",
                    "WarningsActualLength",
                    "ExaminedFiles",
                    "BackendStatistics",
                    "Message",
                    "StackTrace",
                    "Version",
                    "Interrupted",
                ]
            ),
            json_values
            | st.sampled_from(
                [
                    "Success",
                    "Fatal",
                    "2025-01-01T00:00:00Z",
                    "00:00:01",
                    "1.00:00:00",
                    "0001-01-01T00:00:00",
                    "9999-12-31T23:59:59Z",
                    "99999999.00:00:00",
                ]
            ),
        )
    },
    optional={
        "Extra": json_values
        | st.dictionaries(
            st.sampled_from(["next-scheduled-run", "machine-id", "machine-name", "backup-name"]),
            st.text()
            | st.sampled_from(
                ["9999-12-31T23:59:59Z", "99991231T235959Z", "00010101T000000Z", "a\x00b"]
            ),
        ),
        "LogLines": json_values,
        "Exception": json_values,
    },
)
ALLOWED = {200, 400, 409, 413}


def assert_answered(response) -> None:
    """A status Duplicati does not retry for ever, and JSON saying what happened."""
    assert response.status_code in ALLOWED, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
)
def test_fuzz_random_bytes_never_500(client, body, content_type):
    assert_answered(post(client, body, content_type))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(doc=report_like, server=st.none() | st.text(max_size=20))
def test_fuzz_report_shaped_json_never_500(client, doc, server):
    import urllib.parse

    query = "" if server is None else "?server=" + urllib.parse.quote(server)
    response = post(client, json.dumps(doc).encode(), query=query)
    assert_answered(response)
    if response.status_code == 400:
        assert response.json()["error"]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lines=st.lists(
        st.text(max_size=80)
        | st.sampled_from(
            [
                "ParsedResult: Success",
                "BeginTime: 1/8/2018 10:09:16 PM",
                "Duration: 99:99:99",
                "BeginTime: x (99999999999999)",
                "Failed: boom",
                "Details: x",
                "Log data:",
                "Messages: [",
                "]",
                "Duplicati Backup report for X (0123456789abcdef0123456789abcdef, DB-1, h)",
            ]
        ),
        max_size=12,
    ),
    field=st.sampled_from(["message", "m", "x[]", "a%00b"]),
    other_fields=st.lists(st.text(max_size=10), max_size=3)
    | st.sampled_from([[f"f{n}" for n in range(10_001)]]),
)
def test_fuzz_text_reports_never_500(client, lines, field, other_fields):
    import urllib.parse

    body = (field + "=" + urllib.parse.quote("\n".join(lines), safe="")).encode()
    for name in other_fields:
        body += b"&" + urllib.parse.quote(name).encode() + b"=1"
    assert_answered(post(client, body, "application/x-www-form-urlencoded"))


def test_raw_bodies_are_compressed_correctly_by_many_threads_at_once():
    """The web server runs uploads in several threads; one shared zstd compressor made
    concurrent uploads fail with 500 ("cannot compress") or crash the process."""
    import os
    import threading

    from duplistatus.ingest.store import Upload

    bodies = [os.urandom(2_000) + bytes([n]) * 50_000 for n in range(8)]
    wrong: list[str] = []

    def upload_many(body: bytes) -> None:
        upload = Upload(body, "application/json", "", "127.0.0.1", datetime.now(UTC))
        for _ in range(100):
            if upload.raw_report().body != body:
                wrong.append("a body came back different")
                return

    threads = [threading.Thread(target=upload_many, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
