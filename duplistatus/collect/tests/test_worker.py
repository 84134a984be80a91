"""The worker runs queued collections: in child processes (the default), or in threads."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from conftest import subprocess_database_url
from duplistatus import clock, crypto
from duplistatus.backups.models import BackupRun, Collection, Server
from duplistatus.collect import queue

from .fixtures import SUCCESS_MESSAGE, log_message


def server_with_runs(start_duplicati, name: str, runs: int) -> Server:
    fake = start_duplicati(machine_id=name, machine_name=name)
    backup = fake.add_backup("1", "Docs")
    base = json.loads(log_message(SUCCESS_MESSAGE))
    for day in range(runs):
        begin = clock.now() - timedelta(days=day + 1)
        backup.add_result(
            json.dumps({**base, "BeginTime": begin.isoformat().replace("+00:00", "Z")}),
            int(begin.timestamp()),
        )
    now = clock.now()
    return Server.objects.create(
        key=name,
        name=name,
        created_at=now,
        last_seen_at=now,
        duplicati_url=f"http://{fake.address}",
        duplicati_secret=crypto.encrypt({"password": fake.password}),
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_worker_collects_servers_in_parallel_child_processes(start_duplicati):
    servers = [server_with_runs(start_duplicati, f"nas{i}", 20 + i) for i in range(3)]
    queue.request_all("test")
    pool = queue.Pool(env={**os.environ, "DATABASE_URL": subprocess_database_url()})

    assert pool.start_due(clock.now()) == 3  # all at once
    assert Collection.objects.filter(state="running").count() == 3
    pool.wait(100)

    assert list(Collection.objects.order_by("server__name").values_list("state", "runs_added")) == [
        ("done", 20),
        ("done", 21),
        ("done", 22),
    ]
    assert BackupRun.objects.filter(server__in=servers).count() == 63


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_worker_can_collect_in_threads_and_honours_its_parallelism(start_duplicati):
    for i in range(3):
        server_with_runs(start_duplicati, f"nas{i}", 5)
    queue.request_all("test")
    pool = queue.Pool(parallel=2, processes=False)
    assert pool.start_due(clock.now()) == 2
    pool.wait(50)
    assert pool.start_due(clock.now()) == 1
    pool.wait(50)
    assert set(Collection.objects.values_list("state", flat=True)) == {"done"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_the_worker_loop_collects_periodically(start_duplicati):
    from duplistatus.worker import Worker

    server = server_with_runs(start_duplicati, "nas", 3)
    server.collect_every = "hourly"
    server.save()
    worker = Worker()
    worker.collectors = queue.Pool(processes=False)

    assert worker.run_once()["collections_started"] == 1
    worker.collectors.wait(50)
    assert Collection.objects.get().runs_added == 3
    clock.advance(timedelta(minutes=30))
    assert worker.run_once()["collections_started"] == 0
    clock.advance(timedelta(minutes=31))
    assert worker.run_once()["collections_started"] == 1
    worker.collectors.wait(50)
    assert list(Collection.objects.values_list("requested_by", "runs_skipped")) == [
        ("schedule", 3),
        ("schedule", 0),
    ]
