"""backups/sqlrows.py stores and reads rows exactly as the ORM does, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from conftest import CORPUS
from duplistatus.backups import sqlrows
from duplistatus.backups.models import BackupJob, BackupRun, RawReport, Server
from duplistatus.ingest.parse import parse_body, resolve_identity
from duplistatus.ingest.store import Upload

pytestmark = pytest.mark.django_db

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def a_run(job: BackupJob, raw: RawReport, sha: str) -> dict:
    """A run's fields (attribute names), as ingest stores them."""
    body = V21.read_bytes()
    report = parse_body(body, "application/json", received_at=NOW)
    copied = [
        f.attname
        for f in BackupRun._meta.concrete_fields
        if not f.primary_key and hasattr(report, f.attname)
    ]
    return {
        **{name: getattr(report, name) for name in copied},
        **report.stats,
        "job_id": job.pk,
        "server_id": job.server_id,
        "raw_report_id": raw.pk,
        "body_sha256": sha,
        "received_at": NOW,
        "report_format": report.format,
    }


def test_created_rows_read_back_as_the_orm_would_have_stored_them():
    server = Server.objects.create(key="m1", name="nas", created_at=NOW, last_seen_at=NOW)
    job = BackupJob.objects.create(server=server, name="Photos", created_at=NOW)
    upload = Upload(V21.read_bytes(), "application/json", "a=1", "192.0.2.7", NOW)

    by_orm = RawReport.objects.create(**upload.raw_report_fields())
    by_rows = sqlrows.create(RawReport, upload.raw_report_fields())
    inserted = sqlrows.insert(RawReport, upload.raw_report_fields())
    assert len({by_orm.pk, by_rows.pk, inserted}) == 3
    stored = {r.pk: fields(r) for r in RawReport.objects.all()}
    assert {**stored[by_rows.pk], "id": None} == {**stored[by_orm.pk], "id": None}
    assert {**stored[inserted], "id": None} == {**stored[by_orm.pk], "id": None}

    run_orm = BackupRun.objects.create(**a_run(job, by_orm, "a" * 64))
    other_job = BackupJob.objects.create(server=server, name="Mail", created_at=NOW)
    run_rows = sqlrows.create(BackupRun, a_run(other_job, by_rows, "b" * 64))
    stored = {r.pk: fields(r) for r in BackupRun.objects.all()}
    differ = {"id", "job_id", "raw_report_id", "body_sha256"}
    assert {k: v for k, v in stored[run_rows.pk].items() if k not in differ} == {
        k: v for k, v in stored[run_orm.pk].items() if k not in differ
    }
    assert stored[run_rows.pk]["data"]["MainOperation"] == "Backup"
    # What create() returns is what was stored, as the ORM's create() returns it.
    assert fields(run_rows) == {**fields(run_orm), **{k: stored[run_rows.pk][k] for k in differ}}
    assert not run_rows._state.adding


def test_create_refuses_a_field_the_model_does_not_have():
    with pytest.raises(TypeError, match="no field"):
        sqlrows.create(RawReport, {"size": 1, "body": b"x"})


def test_fetched_rows_equal_what_the_orm_reads():
    server = Server.objects.create(
        key="m1", name="nas", created_at=NOW, last_seen_at=NOW, weekdays=[1, 2], grace_minutes=5
    )
    job = BackupJob.objects.create(
        server=server, name="Photos", created_at=NOW, learned_weekdays=[3], last_run_at=NOW
    )
    sqlrows.update(BackupJob, job.pk, {"run_count": 3, "needs_learning": True, "alert_after": NOW})
    q = connection.ops.quote_name
    for model, pk in ((Server, server.pk), (BackupJob, job.pk)):
        sql = f"SELECT {sqlrows.columns(model)} FROM {q(model._meta.db_table)} WHERE {q('id')} = %s"
        assert fields(sqlrows.fetch_one(model, sql, [pk])) == fields(model.objects.get(pk=pk))
    read = BackupJob.objects.get(pk=job.pk)
    assert (read.run_count, read.needs_learning, read.alert_after) == (3, True, NOW)


def test_upload_stores_identity_and_run_through_the_rows_path(client):
    body = V21.read_bytes()
    report = parse_body(body, "application/json", received_at=NOW)
    identity = resolve_identity(report, {}, "192.0.2.7")
    response = client.post("/api/upload", data=body, content_type="application/json")
    assert response.status_code == 200
    run = BackupRun.objects.select_related("job__server", "raw_report").get()
    assert run.job.last_run_id == run.pk and run.job.run_count == 1
    assert (run.job.server.key, run.job.name) == (identity.server_key, identity.job_name)
    assert run.raw_report.body == body
