"""The parser on every verbatim corpus report and on the edge cases of the wire format."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from conftest import CORPUS, corpus_body
from duplistatus.ingest.parse import (
    ParseError,
    available_versions,
    parse_body,
    redact_url,
    resolve_identity,
)

RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def parse(name: str, **kwargs):
    body, content_type = corpus_body(name)
    return parse_body(body, content_type, received_at=RECEIVED, **kwargs)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# file, job (backup name), status, begin, duration s, examined files, size examined,
# uploaded bytes, warnings, errors
CORPUS_EXPECTATIONS = [
    (
        "v2.0.2.x_backup_success_form-raw-crlf_base33-centralstation.txt",
        "test",
        "Success",
        utc(2018, 1, 8, 22, 9, 16),
        0.2339903,
        6,
        13919,
        0,
        0,
        0,
    ),
    (
        "v2.0.2.x_backup_fatal_form-raw-crlf_base33-centralstation.txt",
        "test",
        "Fatal",
        RECEIVED,
        None,
        0,
        0,
        0,
        0,
        1,
    ),
    (
        "v2.0.2.x_backup_success_text-decoded_clete2-macbook.txt",
        "Clete MacBook Pro (IL)",
        "Success",
        utc(2017, 10, 14, 20, 4, 9),
        349.385648,
        379431,
        383365106814,
        0,
        0,
        0,
    ),
    (
        "v2.0.4.5_backup_success_form-value-no-prefix_adenau-devtest.txt",
        "DevTest",
        "Success",
        utc(2019, 9, 13, 16, 48, 54),
        1.016474,
        3,
        324925,
        0,
        0,
        0,
    ),
    (
        "v2.0.4.5_backup_fatal_form-value-no-prefix_adenau-devtest.txt",
        "DevTest",
        "Fatal",
        utc(2019, 9, 13, 16, 50, 36),
        None,
        0,
        0,
        0,
        4,
        2,
    ),
    (
        "v2.0.4.5_backup_success_form-parsed-to-json_idx48973422738-testing.json",
        "Testing",
        "Success",
        utc(2019, 2, 17, 6, 23, 50),
        0.1900598,
        1,
        10,
        0,
        0,
        0,
    ),
    (
        "v2.0.4.5_backup_fatal_form-parsed-to-json_idx48973422738-testing.json",
        "Testing",
        "Fatal",
        utc(2019, 2, 17, 7, 15, 11),
        None,
        0,
        0,
        0,
        17,
        2,
    ),
    (
        "v2.0.6.3_backup_success_json_rafamunoz-photos.json",
        "Photos",
        "Success",
        utc(2023, 1, 26, 15, 10, 5, 565256),
        5.828414,
        437,
        2025219,
        0,
        0,
        0,
    ),
    (
        "v2.0.6.3_backup_fatal_json_rafamunoz-photos-mega.json",
        "Photos",
        "Fatal",
        utc(2023, 1, 26, 15, 11, 40),
        None,
        0,
        0,
        0,
        0,
        1,
    ),
    (
        "v2.0.6.3_backup_success_json_faceslog-test.json",
        "Test",
        "Success",
        utc(2022, 11, 22, 21, 41, 28, 746893),
        2.529542,
        420,
        328245716,
        1346151,
        0,
        0,
    ),
    (
        "v2.0.7.1_backup_success_json-minified_maxencea4-2023-08-17.json",
        "default",
        "Success",
        utc(2023, 8, 17, 11, 23, 0, 20563),
        4.7830837,
        4141,
        1801763747,
        0,
        0,
        0,
    ),
    (
        "v2.0.7.1_backup_success_json-minified_maxencea4-2023-08-21.json",
        "default",
        "Success",
        utc(2023, 8, 21, 8, 56, 47, 511119),
        10.2025841,
        4143,
        1801872033,
        0,
        0,
        0,
    ),
    (
        "v2.0.7.1_backup_success_json_wchorski-backup2.json",
        "backup2",
        "Success",
        utc(2023, 9, 6, 15, 36, 9, 16983),
        0.181802,
        0,
        0,
        1698,
        0,
        0,
    ),
    (
        "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json",
        "Test Backup Name",
        "Success",
        utc(2025, 3, 23, 22, 28, 9, 374094),
        49.6596191,
        504,
        7714963409,
        1834,
        0,
        0,
    ),
]


def test_every_verbatim_payload_is_covered():
    on_disk = sorted(p.name for p in (CORPUS / "payloads").iterdir())
    assert on_disk == sorted(row[0] for row in CORPUS_EXPECTATIONS)


@pytest.mark.parametrize(
    "name, job, status, begin, duration, examined, size, uploaded, warnings, errors",
    CORPUS_EXPECTATIONS,
    ids=[row[0] for row in CORPUS_EXPECTATIONS],
)
def test_corpus_report(
    name, job, status, begin, duration, examined, size, uploaded, warnings, errors
):
    report = parse(name)
    identity = resolve_identity(report, {}, "192.0.2.7")
    assert identity.job_name == job
    assert report.operation == "Backup"
    assert report.status == status
    assert report.begin_time == begin
    assert report.begin_time_estimated == (status == "Fatal")
    if duration is None:
        assert report.duration_seconds is None
    else:
        assert report.duration_seconds == pytest.approx(duration)
    assert report.stats["examined_files"] == examined
    assert report.stats["size_of_examined_files"] == size
    assert report.stats["bytes_uploaded"] == uploaded
    assert report.warnings_count == warnings
    assert report.errors_count == errors
    if status == "Fatal":
        assert report.exception  # the exception text is kept for the run page


def test_json_keeps_nested_results_and_backend_statistics():
    report = parse("v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json")
    assert report.format == "json"
    assert report.version == "2.1.0.5 (2.1.0.5_stable_2025-03-04)"
    assert report.data["CompactResults"]["DeletedFileSize"] == 1834
    assert report.data["BackendStatistics"]["TotalQuotaSpace"] == 1104880336896
    assert report.stats["known_file_size"] == 7736156915
    assert report.backup_list_count == 3
    # LastBackupDate is the sender's local time with an offset.
    assert report.last_backup_date == utc(2025, 1, 26, 5, 30)
    assert report.end_time == utc(2025, 3, 23, 22, 28, 59, 33713)


def test_v21_json_identity_comes_from_extra():
    report = parse("v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json")
    identity = resolve_identity(report, {"server": "ignored"}, "192.0.2.7")
    assert identity.server_key == "634b6d05688a4168887ff40d86fff940"
    assert identity.server_name == "test-machine-name"
    assert identity.backup_id == "DB-3"
    assert identity.source == "extra"


def test_old_report_identity_order_query_then_header_then_address():
    report = parse("v2.0.4.5_backup_success_form-value-no-prefix_adenau-devtest.txt")
    by_query = resolve_identity(report, {"server": "NAS", "job": "Photos"}, "192.0.2.7")
    assert (by_query.server_key, by_query.server_name, by_query.job_name) == (
        "name:NAS",
        "NAS",
        "Photos",
    )
    by_header = resolve_identity(report, {}, "192.0.2.7")
    assert (by_header.server_key, by_header.job_name) == ("addr:192.0.2.7", "DevTest")
    assert by_header.source == "address"


def test_text_header_with_machine_id_suffix():
    text = (
        "Duplicati Backup report for TEST (de061ef940dc4e2d98e397383be75bb8, DB-1, fedora)\n\n"
        "ExaminedFiles: 276\nMainOperation: Backup\nParsedResult: Success\n"
        "BeginTime: 4/21/2025 11:45:46 PM (1745279146)\nDuration: 00:00:51.3856057\n"
    )
    body = b"message=" + urllib.parse.quote(text, safe="").encode()
    report = parse_body(body, "application/x-www-form-urlencoded")
    identity = resolve_identity(report, {}, "192.0.2.7")
    assert identity.server_key == "de061ef940dc4e2d98e397383be75bb8"
    assert identity.server_name == "fedora"
    assert identity.job_name == "TEST"
    assert identity.backup_id == "DB-1"
    assert report.begin_time == utc(2025, 4, 21, 23, 45, 46)


def test_backup_name_with_parentheses_is_not_taken_for_the_suffix():
    report = parse("v2.0.2.x_backup_success_text-decoded_clete2-macbook.txt")
    assert report.header == {"operation": "Backup", "backup-name": "Clete MacBook Pro (IL)"}


def test_pre_203_text_lists_messages_warnings_errors():
    report = parse("v2.0.2.x_backup_success_form-raw-crlf_base33-centralstation.txt")
    assert report.messages[0] == "No remote filesets were deleted"
    assert len(report.messages) == 3
    assert report.warnings == [] and report.errors == []


def test_local_dates_without_unix_time_use_the_given_zone():
    report = parse(
        "v2.0.2.x_backup_success_text-decoded_clete2-macbook.txt",
        local_tz=ZoneInfo("America/Chicago"),
    )
    assert report.begin_time == utc(2017, 10, 15, 1, 4, 9)  # 20:04:09 CDT


def test_fatal_log_lines_are_split_by_entry_and_level():
    report = parse("v2.0.4.5_backup_fatal_form-value-no-prefix_adenau-devtest.txt")
    assert len(report.log_lines) == 6
    assert len(report.warnings) == 4 and len(report.errors) == 2
    assert report.errors[-1].startswith("2019-09-13 12:50:36 -04 - [Error-")
    assert "UserInformationException" in report.errors[-1]  # the exception stays with its line
    assert report.exception.startswith("Duplicati.Library.Interface.UserInformationException")


def test_exception_as_data_keeps_the_message():
    report = parse("v2.0.6.3_backup_fatal_json_rafamunoz-photos-mega.json")
    assert "API response: BadArguments" in report.exception
    assert report.data["ApiResultCode"]  # the serialised exception is kept as sent


def test_success_with_warnings_becomes_warning():
    doc = json.loads(
        (
            CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
        ).read_text()
    )
    doc["Data"]["WarningsActualLength"] = 2
    report = parse_body(json.dumps(doc).encode(), "application/json")
    assert report.parsed_result == "Success"
    assert report.status == "Warning"


def test_duration_with_days_counts_the_days():
    doc = {
        "Data": {
            "ParsedResult": "Success",
            "BeginTime": "2025-01-01T00:00:00Z",
            "Duration": "1.02:03:04.5000000",
        },
        "Extra": {},
    }
    report = parse_body(json.dumps(doc).encode())
    assert report.duration_seconds == pytest.approx(86400 + 2 * 3600 + 3 * 60 + 4.5)


def test_next_scheduled_run_is_read():
    doc = {
        "Data": {
            "ParsedResult": "Success",
            "BeginTime": "2025-01-01T00:00:00Z",
            "Duration": "00:00:01",
        },
        "Extra": {"next-scheduled-run": "20260101T020000Z", "machine-id": None},
    }
    report = parse_body(json.dumps(doc).encode())
    assert report.next_scheduled_run == utc(2026, 1, 1, 2)
    assert report.extra["machine-id"] is None


def test_available_versions_minus_deleted():
    lines = [
        "2025-03-23 23:28:30 +01 - [Information-Duplicati.Library.Main.Operation.DeleteHandler:"
        "RetentionPolicy-BackupsToConsider]: Backups to consider: 23/03/2025 23:28:09, "
        "22/03/2025 23:28:09, 01/01/2025 23:28:09",
        "2025-03-23 23:28:30 +01 - [Information-Duplicati.Library.Main.Operation.DeleteHandler-"
        "AllBackupsToDelete]: All backups to delete: 01/01/2025 23:28:09",
    ]
    assert available_versions(lines) == ["23/03/2025 23:28:09", "22/03/2025 23:28:09"]


def test_remote_url_credentials_are_redacted():
    assert redact_url("s3://AKIA:supersecret@bucket/path?auth-password=x&region=eu") == (
        "s3://AKIA:***@bucket/path?auth-password=***&region=eu"
    )
    doc = {
        "Data": {
            "ParsedResult": "Success",
            "BeginTime": "2025-01-01T00:00:00Z",
            "Duration": "00:00:01",
        },
        "Extra": {"RemoteUrl": "ftp://u:pw@host/"},
    }
    assert parse_body(json.dumps(doc).encode()).extra["RemoteUrl"] == "ftp://u:***@host/"


def test_any_form_field_name_and_extra_parameters():
    text = (
        "Duplicati Backup report for Docs\n\nParsedResult: Success\nBeginTime: 2025-01-01 "
        "10:00:00 AM (1735725600)\nDuration: 00:00:02"
    )
    body = ("server=NAS&report=" + urllib.parse.quote(text, safe="") + "&job=Docs2").encode()
    report = parse_body(body, "application/x-www-form-urlencoded")
    assert report.form_fields == {"server": "NAS", "job": "Docs2"}
    identity = resolve_identity(report, {}, "192.0.2.7")
    assert identity.server_key == "name:NAS"
    assert identity.job_name == "Docs2"  # a sender's explicit parameter beats the header


def test_plus_encoded_spaces_are_accepted():
    text = (
        "Duplicati Backup report for My Job\n\nParsedResult: Warning\n"
        "BeginTime: 2025-01-01 10:00:00 AM (1735725600)\nDuration: 00:00:02"
    )
    body = ("message=" + urllib.parse.quote_plus(text)).encode()
    report = parse_body(body, "application/x-www-form-urlencoded")
    assert report.header["backup-name"] == "My Job"
    assert report.status == "Warning"


@pytest.mark.parametrize(
    "body, message, missing",
    [
        (b"", "empty body", ()),
        (b"{not json", "invalid JSON", ()),
        (b"[1, 2]", "JSON object", ("Data",)),
        (b'{"Extra": {}}', "Data must be", ("Data",)),
        (b'{"Data": "x"}', "Data must be", ("Data",)),
        (b'{"Data": {}, "Extra": []}', "Extra must be", ("Extra",)),
        (b'{"Data": {"ParsedResult": "Success"}}', "BeginTime", ("Data.BeginTime",)),
        (
            b'{"Data": {"BeginTime": "2025-01-01T00:00:00Z"}}',
            "ParsedResult",
            ("Data.ParsedResult",),
        ),
        (b'{"Data": {"ParsedResult": NaN}}', "invalid JSON", ()),
        (b"hello world", "not a Duplicati report", ()),
        (b"a=1&b=2", "no form field holds", ()),
    ],
)
def test_bad_input_names_the_problem(body, message, missing):
    with pytest.raises(ParseError) as caught:
        parse_body(body, "application/json")
    assert message in caught.value.message
    assert caught.value.missing_fields == missing


def test_database_hostile_text_is_cleaned():
    doc = {
        "Data": {
            "ParsedResult": "Success",
            "BeginTime": "2025-01-01T00:00:00Z",
            "Duration": "00:00:01",
            "Note": "nul\u0000 and \ud800 surrogate",
            "Huge": 10**30,
        },
        "Extra": {"backup-name": "a\u0000b"},
    }
    body = json.dumps(doc).encode()  # json.dumps escapes the lone surrogate as \ud800
    report = parse_body(body)
    assert report.data["Note"] == "nul and ? surrogate"
    assert report.data["Huge"] == str(10**30)
    assert report.extra["backup-name"] == "ab"


def test_deep_nesting_is_refused_cleanly():
    body = b'{"Data": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(ParseError):
        parse_body(body)
