#!/usr/bin/env python
"""Does an upload cost more when 100,000 runs are stored? Both sizes measured side by side.

    .venv/bin/python bench/growth.py              full: ~1,200 runs beside 100,000
    .venv/bin/python bench/growth.py --small      CI: ~1,200 beside 5,000

bench/ingest.py measures its two phases a minute apart, and on a shared machine the speed of
the machine itself moves more than that (the floor server's own rate moves ±10 % between
phases): its "slowdown at 100,000 runs" has swung from -14 % to +25 % over runs of the same
code. Here one process keeps two SQLite databases of the same deployment, a small one (~1,200
runs, as in ingest's phase A) and a large one (100,000 runs), and sends them alternating
rounds of uploads through the same code `serve` runs for POST /api/upload (duplistatus.wsgi,
no HTTP: that part does not depend on what is stored). Each round is preceded by a few uploads
that are not counted (the connection is reopened at each switch, so SQLite's page cache starts
cold, as it does for a request after the worker has written). What drifts, drifts for both.

Figures: CPU time of each upload (this thread's), its median per size and the ratio, and what
SQLite read and wrote per upload (read/write system calls of this process): what grows with
the database is the part of its indexes that no longer fits SQLite's page cache.
It PRINTS figures beside issue 17's target (at most 10 % slower) and asserts nothing about
speed; it exits non-zero only when an upload was not stored.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import ingest  # noqa: E402  (its payloads and its prefill: the same runs, written the same way)
from _common import setup_django  # noqa: E402

SIZES = {
    "full": {"before": 1_000, "large": 100_000, "pairs": 30, "round": 50, "warm": 5},
    "small": {"before": 1_000, "large": 5_000, "pairs": 12, "round": 40, "warm": 5},
}
TARGET_PCT = 10.0


def _io() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {key: int(value) for key, value in (line.split(":") for line in f)}


class Uploader:
    """POST /api/upload as serve's request threads make it, run number after run number."""

    def __init__(self, payloads: ingest.Payloads):
        from django.test import RequestFactory

        from duplistatus.wsgi import application

        self.application = application
        # Django's set-up above logged INFO to the console again: a line per upload.
        logging.getLogger().setLevel(logging.WARNING)
        self.factory = RequestFactory()
        self.payloads = payloads
        self.next_index = 0
        self.failures: list[str] = []

    def send(self, count: int) -> list[float]:
        """Upload the next `count` runs; the CPU seconds of each."""
        spent = []
        statuses: list[str] = []
        for _ in range(count):
            environ = self.factory.post(
                "/api/upload",
                data=self.payloads.body(self.next_index),
                content_type="application/json",
            ).environ
            self.next_index += 1
            cpu = time.thread_time()
            body = self.application(environ, lambda status, *_: statuses.append(status))
            content = b"".join(body)
            body.close()
            spent.append(time.thread_time() - cpu)
            if not statuses[-1].startswith("200"):
                self.failures.append(f"{statuses[-1]}: {content[:200]!r}")
        return spent


def use_database(path: Path) -> None:
    """Point the default connection at another database file (reconnects on next use)."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = str(path)


def checkpoint() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI size: 5,000 runs, 12 pairs")
    parser.add_argument("--runs", type=int, help="runs in the large database")
    parser.add_argument(
        "--project", type=Path, default=ingest.PROJECT, help="the duplistatus tree to measure"
    )
    args = parser.parse_args(argv)
    size = dict(SIZES["small" if args.small else "full"])
    if args.runs:
        size["large"] = args.runs
    ingest.PROJECT = project = args.project.resolve()

    data_dir = Path(tempfile.mkdtemp(prefix="duplistatus-growth-"))
    try:
        env = dict(os.environ, DUPLISTATUS_DATA_DIR=str(data_dir))
        env.pop("DATABASE_URL", None)
        subprocess.run(
            [sys.executable, "-m", "duplistatus", "manage", "migrate", "-v0"],
            cwd=project,
            env=env,
            check=True,
        )
        setup_django(project, data_dir, None)
        from django.db import connection

        large = Path(connection.settings_dict["NAME"])
        small = data_dir / "small.sqlite3"
        payloads = ingest.Payloads()
        uploader = Uploader(payloads)
        print(f"loadavg {os.getloadavg()}; filling ...", flush=True)
        # One report per job, then as many again as ingest's phase A has stored by its end.
        uploader.send(ingest.N_SERVERS * ingest.N_JOBS + size["before"])
        checkpoint()
        connection.close()
        shutil.copyfile(large, small)
        filled = ingest.prefill(
            payloads, data_dir, None, size["large"], uploader.next_index, "bulk"
        )
        uploader.next_index += filled["added_runs"]

        cpu: dict[Path, list[float]] = {small: [], large: []}
        medians: dict[Path, list[float]] = {small: [], large: []}
        reads: dict[Path, int] = {small: 0, large: 0}
        writes: dict[Path, int] = {small: 0, large: 0}
        load_before = os.getloadavg()
        for n in range(size["pairs"]):
            for db in (small, large) if n % 2 == 0 else (large, small):
                use_database(db)
                uploader.send(size["warm"])
                io0 = _io()
                spent = uploader.send(size["round"])
                io1 = _io()
                cpu[db] += spent
                medians[db].append(statistics.median(spent))
                reads[db] += io1["syscr"] - io0["syscr"]
                writes[db] += io1["syscw"] - io0["syscw"]
        load_after = os.getloadavg()
        use_database(large)
        from duplistatus.backups.models import BackupRun

        stored_large = BackupRun.objects.count()
        use_database(small)
        stored_small = BackupRun.objects.count()
        connection.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    count = size["pairs"] * size["round"]
    pairs = [b / a for a, b in zip(medians[small], medians[large], strict=True)]
    slower = (statistics.median(pairs) - 1) * 100
    print()
    print(
        f"upload cost at {stored_large:,} vs {stored_small:,} runs (SQLite, in-process, "
        f"{size['pairs']} alternating pairs of {size['round']} uploads; {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()})"
    )
    print(f"{'':34} {'small':>10} {'large':>10}")
    for label, q in (("CPU ms/upload p50", 0.5), ("CPU ms/upload p90", 0.9)):
        row = [sorted(cpu[db])[int(count * q)] * 1000 for db in (small, large)]
        print(f"{label:34} {row[0]:>10.3f} {row[1]:>10.3f}")
    print(
        f"{'CPU ms/upload mean':34} "
        + " ".join(f"{statistics.mean(cpu[db]) * 1000:>10.3f}" for db in (small, large))
    )
    print(
        f"{'read system calls/upload':34} "
        + " ".join(f"{reads[db] / count:>10.1f}" for db in (small, large))
    )
    print(
        f"{'write system calls/upload':34} "
        + " ".join(f"{writes[db] / count:>10.1f}" for db in (small, large))
    )
    verdict = "ok" if slower <= TARGET_PCT else "MISS"
    print(
        f"large vs small, median of the pairs' median CPU: {slower:+.1f} % [{verdict}, target "
        f"<= {TARGET_PCT:.0f} %] (pairs from {min(pairs) * 100 - 100:+.0f} % to "
        f"{max(pairs) * 100 - 100:+.0f} %)"
    )
    print(f"load average before {load_before}, after {load_after}; prefill {filled}")
    if uploader.failures:
        print(f"{len(uploader.failures)} uploads failed, first: {uploader.failures[0]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
