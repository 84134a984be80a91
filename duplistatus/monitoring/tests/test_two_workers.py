"""Two real worker processes scanning one database write each overdue event exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from conftest import subprocess_database_url
from duplistatus import clock
from duplistatus.backups.models import BackupJob, Event, Server

JOBS = 400

# Each process loads Django, says "ready", waits for "go" so both scan at the same moment,
# then scans until a pass finds nothing.
WORKER = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "duplistatus.settings"
import django
django.setup()
from duplistatus.monitoring import monitor
from duplistatus.backups.models import BackupJob
BackupJob.objects.exists()  # connect before the race starts
print("ready", flush=True)
sys.stdin.readline()
mine = []
while True:
    found = monitor.scan().events.get("overdue", [])
    if not found:
        break
    mine += found
print(json.dumps(mine), flush=True)
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_two_processes_never_double_fire():
    now = clock.now()
    server = Server.objects.create(key="m" * 32, name="nas", created_at=now, last_seen_at=now)
    BackupJob.objects.bulk_create(
        BackupJob(
            server=server,
            name=f"job{i}",
            created_at=now,
            interval="1D",
            last_run_at=now - timedelta(days=2),
            schedule_anchor=now - timedelta(days=2),
            next_expected_at=now - timedelta(days=1),
            alert_after=now - timedelta(hours=1),
        )
        for i in range(JOBS)
    )
    env = {**os.environ, "DATABASE_URL": subprocess_database_url()}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    claimed = []
    for worker in workers:
        out, err = worker.communicate(timeout=90)
        assert worker.returncode == 0, err
        claimed.append(json.loads(out.strip().splitlines()[-1]))

    overdue = list(Event.objects.filter(kind="overdue").values_list("job_id", flat=True))
    assert len(overdue) == JOBS
    assert len(set(overdue)) == JOBS  # each job once
    assert sorted(claimed[0] + claimed[1]) == sorted(overdue)
    assert not set(claimed[0]) & set(claimed[1])


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="row locks are PostgreSQL's (SQLite locks the whole database)",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_refreshing_a_job_does_not_wait_for_its_servers_row():
    """An upload locks its server's row, then its job's. Refreshing a job's schedule (the
    worker does it after learning) locked the job's row and then the server's: the two
    deadlocked under load (bench/cluster.py). It must lock the job's row only."""
    import psycopg

    from duplistatus.monitoring import monitor

    now = clock.now()
    server = Server.objects.create(key="m" * 32, name="nas", created_at=now, last_seen_at=now)
    job = BackupJob.objects.create(server=server, name="Photos", created_at=now, interval="1D")
    with psycopg.connect(subprocess_database_url()) as upload:  # an upload, mid-transaction
        upload.execute("UPDATE backups_server SET last_seen_at = now() WHERE id = %s", [server.pk])
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        try:
            monitor.refresh(job)  # raised "canceling statement due to lock timeout"
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
        upload.rollback()
