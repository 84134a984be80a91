#!/usr/bin/env python
"""Retention benchmark: how fast old runs are purged, and what a purge costs uploads.

    .venv/bin/python bench/purge.py                 full: purge 1,000,000 runs
    .venv/bin/python bench/purge.py --small         CI: purge 10,000 runs
    .venv/bin/python bench/purge.py --database-url postgres://postgres@127.0.0.1:5432/duplistatus_bench

It starts `python -m duplistatus serve --no-worker` (fresh data dir, free port), fills the
database with runs without HTTP (bench/ingest.py's bulk prefill: a raw body, a run and an
event per run, as an upload writes them), then:

  A  sequential uploads with nothing else going on: upload latency without a purge;
  B  retention set to "keep the last run of each job" and `retention.purge()` run in this
     process (as the worker runs it: batches of maintenance.retention.BATCH rows, each its
     own transaction) while the same client keeps uploading until the purge is done.

It prints rows purged per second and upload p50/p99 with and without the purge. It asserts
nothing about speed; it exits non-zero when an upload failed or a run that should stay went.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import BenchDatabase
from ingest import Measurement, Payloads, ServeProcess, _client, prefill

SIZES = {
    "full": {"runs": 1_000_000, "baseline_uploads": 500},
    "small": {"runs": 10_000, "baseline_uploads": 200},
}


def uploads_while(
    server: ServeProcess, payloads: Payloads, first: int, running: Any
) -> Measurement:
    """Sequential uploads, one keep-alive client, for as long as `running()` says."""
    latencies: list[float] = []
    failures: list[str] = []
    i = first
    started = time.perf_counter()
    with _client(server.base_url) as client:
        client.get("/api/health")
        while running():
            t0 = time.perf_counter()
            status, text = client.post("/api/upload", payloads.body(i))
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                failures.append(f"HTTP {status}: {text[:200]}")
            i += 1
    return Measurement(len(latencies), time.perf_counter() - started, latencies, failures, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="CI size: 10,000 runs")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--runs", type=int, default=None, help="purge this many runs instead")
    args = parser.parse_args(argv)
    size = dict(SIZES["small" if args.small else "full"])
    if args.runs:
        size["runs"] = args.runs

    pg = None
    if args.database_url and args.database_url.startswith(("postgres://", "postgresql://")):
        pg = BenchDatabase(args.database_url, args.keep_db)
        pg.create()
    data_dir = Path(tempfile.mkdtemp(prefix="duplistatus-bench-purge-"))
    server = ServeProcess(data_dir, args.database_url, ["--no-worker"])
    payloads = Payloads()
    result: dict[str, Any] = {"database": "postgresql" if pg else "sqlite", "sizes": size}
    ok = True
    try:
        server.start(timeout=600)  # `setup` collects the static files first
        result["prefill"] = prefill(payloads, data_dir, args.database_url, size["runs"], 0, "bulk")
        stored = result["prefill"]["total_runs"]

        # A: uploads alone.
        done = {"n": 0}

        def first_n() -> bool:
            done["n"] += 1
            return done["n"] <= size["baseline_uploads"]

        baseline = uploads_while(server, payloads, stored, first_n)
        next_index = stored + baseline.uploads

        # B: the purge, with uploads going on.
        from django.db import close_old_connections

        from duplistatus.backups.models import BackupJob, BackupRun, MaintenanceSettings
        from duplistatus.maintenance import retention

        MaintenanceSettings.objects.update_or_create(pk=1, defaults={"keep_runs_count": 1})
        before = BackupRun.objects.count()
        purge_result: dict[str, Any] = {}

        def purge() -> None:
            t0 = time.perf_counter()
            try:
                purge_result["plan"] = retention.purge()
            finally:
                purge_result["seconds"] = time.perf_counter() - t0
                close_old_connections()

        worker = threading.Thread(target=purge)
        worker.start()
        during = uploads_while(server, payloads, next_index, worker.is_alive)
        worker.join()
        purged = purge_result["plan"].runs
        after = BackupRun.objects.count()
        jobs = BackupJob.objects.count()
        # What must stay: the latest run of every job (and what arrived after the purge
        # looked at a job).
        ok = after >= jobs and not baseline.failures and not during.failures
        result.update(
            runs_before=before,
            runs_after=after,
            jobs=jobs,
            purged_runs=purged,
            purge_seconds=round(purge_result["seconds"], 2),
            purged_per_s=round(purged / purge_result["seconds"], 1),
            uploads_without_purge=baseline.summary(),
            uploads_during_purge=during.summary(),
        )
    finally:
        server.stop()
        if pg:
            pg.drop()
    print(json.dumps(result, indent=2, default=str))
    a, b = result.get("uploads_without_purge", {}), result.get("uploads_during_purge", {})
    print(
        f"\npurged {result.get('purged_runs', 0):,} runs in {result.get('purge_seconds')} s "
        f"= {result.get('purged_per_s')} runs/s ({result['database']})\n"
        f"upload p50/p99 without purge: {a.get('p50_ms')} / {a.get('p99_ms')} ms "
        f"({a.get('uploads')} uploads)\n"
        f"upload p50/p99 during purge:  {b.get('p50_ms')} / {b.get('p99_ms')} ms "
        f"({b.get('uploads')} uploads)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
