"""Several reports stored in one transaction (`store.writing`, as collect/ does): the job's
summary is what storing them one by one would give, and a duplicate in the middle rolls back
only itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from duplistatus.backups.models import BackupJob, BackupRun
from duplistatus.ingest.parse import Identity, parse_body
from duplistatus.ingest.store import DuplicateReport, Upload, store_report, writing

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def report(day: int, status: str = "Success", job: str = "Docs"):
    begin = NOW - timedelta(days=day)
    body = json.dumps(
        {
            "Data": {
                "ParsedResult": status,
                "MainOperation": "Backup",
                "BeginTime": begin.isoformat(),
                "EndTime": (begin + timedelta(minutes=2)).isoformat(),
                "BackendStatistics": {"BytesUploaded": 10},
            },
            "Extra": {"machine-id": "m", "backup-name": job},
        }
    ).encode()
    parsed = parse_body(body, "application/json", received_at=NOW)
    return parsed, Identity("m", "nas", job, "DB-1"), Upload(body, "application/json", "", "", NOW)


def test_a_batch_keeps_the_jobs_summary_as_one_by_one_would():
    with writing():
        for day in (5, 1, 3):
            store_report(*report(day, "Error" if day == 1 else "Success"), notify=False)
        store_report(*report(2, job="Mail"), notify=False)
    job = BackupJob.objects.get(name="Docs")
    assert (job.run_count, job.bytes_uploaded_total) == (3, 30)
    assert job.last_run_at == NOW - timedelta(days=1)
    assert (job.last_status, job.consecutive_failures) == ("Error", 1)
    assert job.last_success_at == NOW - timedelta(days=5)
    assert BackupJob.objects.get(name="Mail").run_count == 1


def test_a_duplicate_in_a_batch_rolls_back_only_itself():
    store_report(*report(4))
    with writing():
        store_report(*report(3), notify=False)
        with pytest.raises(DuplicateReport):
            store_report(*report(4), notify=False)
        store_report(*report(2), notify=False)
        # A new job whose first report is refused is rolled back with it; the batch then
        # creates it afresh.
        parsed, _, upload = report(2)
        with pytest.raises(DuplicateReport):  # the body of a stored run, under a new job
            store_report(parsed, Identity("m", "nas", "New", "DB-9"), upload)
        store_report(*report(1), notify=False)
        store_report(*report(6, job="New"), notify=False)
    job = BackupJob.objects.get(name="Docs")
    assert job.run_count == 4 == BackupRun.objects.filter(job=job).count()
    assert job.last_run_at == NOW - timedelta(days=1)
    assert BackupJob.objects.get(name="New").run_count == 1
