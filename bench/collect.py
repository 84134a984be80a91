#!/usr/bin/env python
"""Collect benchmark: how fast a Duplicati server's history is pulled over its REST API, and
what a running collection does to the dashboard.

    .venv/bin/python bench/collect.py            full: 5,000 log entries; dashboard of 1,000 jobs
    .venv/bin/python bench/collect.py --small    CI: 1,000 log entries, about 30 s
    .venv/bin/python bench/collect.py --database-url postgres://postgres@127.0.0.1:5432/duplistatus_bench

Targets (issue 14): collecting 5,000 log entries from one server takes under 10 s, and the
dashboard stays under its 150 ms p50 while a collection runs. The script PRINTS figures beside
the targets; it asserts nothing about speed and exits non-zero only when a collection fails
or stores another number of runs than the server has.

How: a fresh data dir (and a fresh PostgreSQL database when the URL's name contains "bench"),
migrations, then the fake Duplicati server of the tests (duplistatus/collect/tests/, a real
HTTP server on 127.0.0.1) serving the real log message of the corpus, one run a day per
backup. The collection is the project's own path, as the worker runs it (claim, collect,
parse, store), in this thread. Then again (nothing new: every run is skipped). Then the
dashboard of bench/pages.py's fleet is timed in this process (Django's test client, signed
in), first idle, then while a second server (its fake in a process of its own) is collected
the way the worker does it: in a child process (collect/queue.py's Pool).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import BenchDatabase, setup_django

HERE = Path(__file__).resolve().parent.parent
SIZES = {
    "full": {"entries": 5_000, "backups": 5, "jobs": 1_000, "runs": 20_000},
    "small": {"entries": 1_000, "backups": 4, "jobs": 1_000, "runs": 5_000},
}
TARGETS = {"collect_5000_seconds": 10.0, "dashboard_p50_ms": 150.0}
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def fake_server(machine_id: str, entries: int, backups: int) -> Any:
    from duplistatus.collect.tests.fake_duplicati import FakeDuplicati, schedule_dto
    from duplistatus.collect.tests.fixtures import SUCCESS_MESSAGE, log_message

    fake = FakeDuplicati(machine_id=machine_id, machine_name=machine_id).start()
    result = json.loads(log_message(SUCCESS_MESSAGE))
    per_backup = entries // backups
    for b in range(backups):
        backup = fake.add_backup(
            str(b + 1), f"Backup {b + 1}", schedule_dto(str(b + 1), "1D", NOW + timedelta(hours=14))
        )
        for day in range(per_backup, 0, -1):
            begin = NOW.replace(hour=2, minute=b) - timedelta(days=day)
            result["BeginTime"] = begin.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            result["EndTime"] = (begin + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            backup.add_result(json.dumps(result), int(begin.timestamp()))
    return fake


def linked(fake: Any) -> Any:
    from duplistatus import crypto
    from duplistatus.backups.models import Server

    return Server.objects.create(
        key=fake.machine_id,
        name=fake.machine_name,
        created_at=NOW,
        last_seen_at=NOW,
        duplicati_url=f"http://{fake.address}",
        duplicati_secret=crypto.encrypt({"password": fake.password}),
    )


def collect(server: Any) -> tuple[Any, float, float]:
    """One collection in this thread: it, its wall time and its CPU time (this thread's:
    parsing, storing and, for SQLite, the database; not the fake server's threads)."""
    from duplistatus.collect import queue

    started, started_cpu = time.perf_counter(), time.thread_time()
    collection = queue.claim(pk=queue.request(server, "bench").pk)
    done = queue.run(collection)
    return done, time.perf_counter() - started, time.thread_time() - started_cpu


class FakeProcess:
    """The fake Duplicati server in a child process (this script with --serve-fake)."""

    def __init__(self, size: dict[str, int]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake", str(size["entries"]), str(size["backups"])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.address, self.password = self.process.stdout.readline().rstrip("\n").split(" ", 1)

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


def serve_fake(entries: int, backups: int) -> int:
    fake = fake_server("bench-collect-2", entries, backups)
    print(fake.address, fake.password, flush=True)
    sys.stdin.read()  # until the benchmark closes it
    fake.stop()
    return 0


def collect_in_child(address: str, size: dict[str, int]) -> dict[str, Any]:
    """Link a server at `address` and let a worker pool (child processes) collect it; a
    thread waits for the end and sets `stop`."""
    from duplistatus import crypto
    from duplistatus.backups.models import Collection, Server
    from duplistatus.collect import queue

    server = Server.objects.create(
        key="bench-collect-2",
        name="bench-collect-2",
        created_at=NOW,
        last_seen_at=NOW,
        duplicati_url=f"http://{address}",
        duplicati_secret=crypto.encrypt({"password": "duplicati password"}),
    )
    collection = queue.request(server, "bench")
    pool = queue.Pool()
    outcome: dict[str, Any] = {"stop": threading.Event()}

    def wait() -> None:
        try:
            started = time.perf_counter()
            pool.start_due(clock_now())
            pool.wait()
            outcome["seconds"] = time.perf_counter() - started
            outcome["done"] = Collection.objects.get(pk=collection.pk)
        finally:
            outcome["stop"].set()

    outcome["thread"] = threading.Thread(target=wait)
    outcome["thread"].start()
    return outcome


def clock_now() -> datetime:
    from duplistatus import clock

    return clock.now()


def dashboard_times(
    client: Any, stop: threading.Event | None, repeat: int
) -> tuple[list[float], list[float]]:
    """Dashboard render times and their CPU time (this thread's) in ms: `repeat` of them, or
    until `stop` is set. On a shared machine the CPU time shows whether a collection makes
    the page do more work, or only leaves it less of the processor."""
    times, cpu = [], []
    while (stop is None and len(times) < repeat) or (stop is not None and not stop.is_set()):
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = client.get("/", HTTP_ACCEPT_ENCODING="gzip")
        if response.status_code != 200:
            raise SystemExit(f"dashboard: HTTP {response.status_code}")
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    return times, cpu


def main() -> int:
    if sys.argv[1:2] == ["--serve-fake"]:
        sys.path.insert(0, str(HERE))
        return serve_fake(int(sys.argv[2]), int(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI size: 1,000 log entries")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    size = SIZES["small" if args.small else "full"]
    database = BenchDatabase(args.database_url) if args.database_url else None
    if database:
        database.create()
    failures = 0
    try:
        with tempfile.TemporaryDirectory(prefix="duplistatus-collect-") as data_dir:
            started_all = time.perf_counter()
            setup_django(HERE, Path(data_dir), args.database_url)
            from django.core.management import call_command

            call_command("migrate", interactive=False, verbosity=0)
            from django.contrib.auth import get_user_model
            from django.db import connection
            from django.test import Client

            from duplistatus import clock
            from duplistatus.backups.models import BackupRun

            sys.path.insert(0, str(HERE / "bench"))
            from pages import fill

            print(f"collect benchmark ({'small' if args.small else 'full'}), {connection.vendor}")
            clock.set(NOW)
            first = fake_server("bench-collect-1", size["entries"], size["backups"])
            second = FakeProcess(size)
            second_address = second.address
            try:
                server = linked(first)
                done, seconds, cpu = collect(server)
                stored = BackupRun.objects.filter(server=server).count()
                print(
                    f"first collection: {done.entries_seen:,} log entries from "
                    f"{done.backups_total} backups in {seconds:.1f} s, CPU {cpu:.1f} s "
                    f"({done.entries_seen / seconds:,.0f}/s): {done.runs_added:,} runs added, "
                    f"{done.runs_skipped} skipped, state {done.state} {done.error}"
                )
                if done.state != "done" or stored != size["entries"]:
                    failures += 1
                again, again_seconds, again_cpu = collect(server)
                print(
                    f"second collection: {again.runs_added} added, {again.runs_skipped:,} "
                    f"skipped in {again_seconds:.1f} s, CPU {again_cpu:.1f} s"
                )
                if again.runs_added or again.state != "done":
                    failures += 1
                per_5000 = seconds * 5000 / max(1, done.entries_seen)
                cpu_per_5000 = cpu * 5000 / max(1, done.entries_seen)

                data = fill(size["jobs"], size["runs"])
                clock.set(NOW)
                print(f"dashboard data: {data['jobs']:,} jobs, {data['runs']:,} runs")
                admin = get_user_model().objects.create_superuser("bench", password="unused")
                client = Client()
                client.force_login(admin)
                dashboard_times(client, None, 2)  # warm caches
                idle, idle_cpu = dashboard_times(client, None, 15)

                # The worker's way: a child process runs the collection; the fake server
                # runs in a process of its own too, as a real Duplicati would.
                outcome = collect_in_child(second_address, size)
                busy, busy_cpu = dashboard_times(client, outcome["stop"], 0)
                outcome["thread"].join()
                during = outcome.get("done")
                if during is None or during.state != "done":
                    failures += 1
                connection.close()
            finally:
                first.stop()
                second.stop()
            idle_p50 = statistics.median(idle)
            print(
                f"second server, collected by a worker's child process while the dashboard was "
                f"timed: {during.entries_seen if during else 0:,} entries in "
                f"{outcome.get('seconds', 0):.1f} s"
            )
            busy_p50 = statistics.median(busy) if busy else float("nan")
            print(
                f"dashboard p50 idle {idle_p50:.1f} ms (CPU {statistics.median(idle_cpu):.1f}); "
                f"during a collection {busy_p50:.1f} ms "
                f"(CPU {statistics.median(busy_cpu) if busy_cpu else 0:.1f}) over {len(busy)} "
                f"requests (max {max(busy, default=0):.0f} ms)"
            )
            print(
                f"\ncollect {done.entries_seen:,} entries: {seconds:.1f} s, i.e. "
                f"{per_5000:.1f} s per 5,000, CPU {cpu_per_5000:.1f} s "
                f"(target < {TARGETS['collect_5000_seconds']:.0f}); "
                f"dashboard p50 during a collection {busy_p50:.1f} ms "
                f"(target < {TARGETS['dashboard_p50_ms']:.0f}); load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
                f"{time.perf_counter() - started_all:.0f} s in all"
            )
    finally:
        if database:
            database.drop()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
