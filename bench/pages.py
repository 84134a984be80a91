#!/usr/bin/env python
"""Page benchmark: how fast the dashboard and the other pages render, and what a first visit
of the dashboard transfers.

    .venv/bin/python bench/pages.py            full: 1,000 jobs and 1,000,000 runs
    .venv/bin/python bench/pages.py --small    CI: 1,000 jobs and 20,000 runs, well under a minute
    .venv/bin/python bench/pages.py --database-url postgres://postgres@127.0.0.1:5432/duplistatus_bench

Targets (issue: "Fast on a phone and on a large screen"): the dashboard renders server-side in
under 150 ms at the median, and its first load (HTML, CSS, scripts, icon, compressed as served)
transfers under 300 KB. The script PRINTS figures beside the targets; it asserts nothing about
speed and exits non-zero only when a page does not answer 200.

How: a fresh data dir (and a fresh PostgreSQL database when the URL's name contains "bench";
it is dropped at the end), `duplistatus setup` steps in this process (migrations, collectstatic),
then the data, written directly (ingest itself is measured by bench/ingest.py):
  - the runs, a day apart per job, with executemany;
  - each job's summary columns as ingest keeps them, and a learned daily schedule as the
    worker would have learned it; the project's own `monitor.refresh` then computes each
    job's expectation, and the scanner runs once;
  - so that the dashboard shows every state: every 50th job stopped reporting 4 days ago
    (overdue), every 20th failed last, every 10th warned, every 100th is paused.
Pages are requested in process through Django's test client, signed in as an admin: that is
the server-side time (middleware, view, queries, template, gzip), without the network.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import BenchDatabase, setup_django

HERE = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
JOBS_PER_SERVER = 4
SIZES = {
    "full": {"jobs": 1_000, "runs": 1_000_000, "repeat": 40},
    "small": {"jobs": 1_000, "runs": 20_000, "repeat": 7},
}
TARGETS = {"dashboard_p50_ms": 150.0, "first_load_kb": 300.0}


def setup(data_dir: Path, database_url: str | None) -> None:
    setup_django(HERE, data_dir, database_url)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


# --------------------------------------------------------------------------- data


def fill(jobs: int, runs: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from duplistatus import clock
    from duplistatus.backups.models import BackupJob, BackupRun, Server
    from duplistatus.monitoring import monitor

    per_job = max(2, runs // jobs)
    started = time.perf_counter()
    servers = Server.objects.bulk_create(
        Server(key=f"bench-{s:04d}", name=f"server-{s:04d}", created_at=NOW, last_seen_at=NOW)
        for s in range(jobs // JOBS_PER_SERVER)
    )
    names = ("Photos", "Documents", "System", "Mail")
    all_jobs = BackupJob.objects.bulk_create(
        BackupJob(server=server, name=name, created_at=NOW - timedelta(days=per_job + 5))
        for server in servers
        for name in names
    )

    def newest(index: int) -> datetime:
        stopped = timedelta(days=4) if index % 50 == 0 else timedelta(0)
        return NOW.replace(hour=2, minute=index % 60) - stopped

    def status(index: int) -> str:
        return "Error" if index % 20 == 1 else "Warning" if index % 10 == 2 else "Success"

    # Runs, a day apart, written with executemany: a row template made by Django once, with
    # the columns that differ per run filled in (datetimes adapted as Django adapts them).
    fields = [f for f in BackupRun._meta.concrete_fields if not f.primary_key]
    template = BackupRun(report_format="json", operation="Backup", known_file_count=159)
    base = [f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields]
    at = {f.attname: i for i, f in enumerate(fields)}
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        connection.ops.quote_name(BackupRun._meta.db_table),
        ", ".join(connection.ops.quote_name(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    adapt = connection.ops.adapt_datetimefield_value
    rows: list[list[Any]] = []
    for index, job in enumerate(all_jobs):
        last = newest(index)
        for back in range(per_job - 1, -1, -1):
            begin = last - timedelta(days=back)
            row = base.copy()
            row[at["job_id"]] = job.pk
            row[at["server_id"]] = job.server_id
            row[at["body_sha256"]] = f"{job.pk:08d}-{back:010d}"
            row[at["received_at"]] = adapt(begin + timedelta(minutes=5))
            row[at["begin_time"]] = adapt(begin)
            row[at["end_time"]] = adapt(begin + timedelta(minutes=4))
            row[at["status"]] = row[at["parsed_result"]] = status(index) if not back else "Success"
            row[at["duration_seconds"]] = 240.0 + back % 30
            row[at["examined_files"]] = 500 + back % 7
            row[at["size_of_examined_files"]] = 7_700_000_000 + back * 1000
            row[at["bytes_uploaded"]] = (back % 9 + 1) * 10_000_000
            row[at["known_file_size"]] = 7_736_000_000 - back * 5000
            row[at["backup_list_count"]] = min(per_job - back, 30)
            rows.append(row)
        if len(rows) >= 20_000 or index == len(all_jobs) - 1:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, rows)
            rows = []
    bulk_seconds = time.perf_counter() - started

    # Each job's summary columns, as ingest keeps them, and a learned daily schedule, as the
    # worker would have learned it; then the project's own code computes every expectation
    # (monitor.refresh) and the scanner runs once.
    started = time.perf_counter()
    latest = dict(
        BackupRun.objects.filter(body_sha256__endswith="-" + "0" * 10).values_list("job_id", "id")
    )
    for index, job in enumerate(all_jobs):
        last = newest(index)
        failed = status(index) == "Error"
        job.run_count = per_job
        job.last_run_id = latest[job.pk]
        job.last_run_at = last
        job.last_status = status(index)
        job.last_success_at = last - timedelta(days=1) if failed else last
        job.consecutive_failures = int(failed)
        job.bytes_uploaded_total = per_job * 50_000_000
        job.schedule_anchor = last - timedelta(days=per_job - 1)
        job.learned_interval = "1D"
        job.learned_weekdays = []
        job.learned_time_of_day = last.time()
        job.learned_anchor = last
        job.learned_confidence = 0.97
        job.learned_grace_minutes = 30
        job.learned_description = f"daily at {last:%H:%M}"
        if index % 100 == 3:
            job.paused_until = NOW + timedelta(days=2)
    BackupJob.objects.bulk_update(
        all_jobs,
        [
            "run_count", "last_run_id", "last_run_at", "last_status", "last_success_at",
            "consecutive_failures", "bytes_uploaded_total", "schedule_anchor",
            "learned_interval", "learned_weekdays", "learned_time_of_day", "learned_anchor",
            "learned_confidence", "learned_grace_minutes", "learned_description", "paused_until",
        ],
        batch_size=500,
    )  # fmt: skip
    clock.set(NOW)
    # What monitor.refresh does per job, for all jobs in two queries and one bulk update.
    refreshed = []
    for job, schedule in monitor.with_schedules(BackupJob.objects.all()):
        for name, value in monitor.expectation_changes(job, schedule).items():
            setattr(job, name, value)
        refreshed.append(job)
    BackupJob.objects.bulk_update(
        refreshed, ["next_expected_at", "alert_after", "schedule_source"], batch_size=500
    )
    scan = monitor.scan(NOW)
    summary_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "postgresql" else "PRAGMA optimize")
    return {
        "jobs": len(all_jobs),
        "runs": BackupRun.objects.count(),
        "bulk_seconds": round(bulk_seconds, 1),
        "summary_seconds": round(summary_seconds, 1),
        "overdue_events": len(scan.events.get("overdue", [])),
    }


# --------------------------------------------------------------------------- measuring


def timed(client: Any, path: str, repeat: int, **headers: str) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, cpu = [], []
    for attempt in range(repeat + 2):
        started, started_cpu = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path, **headers)
            body = response.content
        elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        if attempt >= 2:  # the first two warm caches
            times.append(elapsed * 1000)
            cpu.append(elapsed_cpu * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        # CPU time of this process: the same figure on a busy machine (the database's own
        # time counts only for SQLite, which runs in this process).
        "cpu_p50_ms": round(statistics.median(cpu), 1),
        "queries": len(queries),
        "bytes": len(body),
    }


def first_load(client: Any) -> dict[str, int]:
    """The dashboard and every asset it loads, compressed as a browser asks for them."""
    encoding = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}
    page = client.get("/", **encoding)
    sizes = {"/ (html)": len(page.content)}
    html = page.content
    if page.get("Content-Encoding") == "gzip":
        import gzip

        html = gzip.decompress(page.content)
    for url in re.findall(rb'(?:href|src)="(/static/[^"]+)"', html):
        asset = client.get(url.decode(), **encoding)
        if asset.status_code != 200:
            raise SystemExit(f"{url.decode()}: HTTP {asset.status_code}")
        content = b"".join(asset.streaming_content) if asset.streaming else asset.content
        sizes[url.decode()] = len(content)
    return sizes


def measure(repeat: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from duplistatus.backups.models import BackupJob

    admin = get_user_model().objects.create_superuser("bench", password="not used here")
    client = Client()
    client.force_login(admin)
    job = BackupJob.objects.order_by("id").first()
    assert job is not None and job.last_run_id is not None
    pages = {
        "dashboard": ("/", {}),
        "dashboard, gzip": ("/", {"HTTP_ACCEPT_ENCODING": "gzip"}),
        "dashboard, htmx refresh": ("/", {"HTTP_HX_REQUEST": "true"}),
        "dashboard, cards": ("/?view=cards", {}),
        "dashboard, search": ("/?q=server-04", {}),
        "dashboard, overdue": ("/?state=overdue", {}),
        "server": (f"/servers/{job.server_id}", {}),
        "job": (f"/jobs/{job.pk}", {}),
        "job, page 20 of history": (f"/jobs/{job.pk}?page=20", {}),
        "job metrics, 1y": (f"/jobs/{job.pk}/metrics?range=1y", {}),
        "server metrics, 90d": (f"/servers/{job.server_id}/metrics?range=90d", {}),
        "run": (f"/runs/{job.last_run_id}", {}),
        "settings, monitoring": ("/settings/monitoring", {}),
        "settings, rules": ("/settings/notifications/rules", {}),
        "settings, templates": ("/settings/notifications/templates", {}),
        "template editor": ("/settings/notifications/templates/error/email", {}),
        "delivery log": ("/settings/notifications/deliveries", {}),
    }
    results = {
        name: timed(client, path, repeat, **headers) for name, (path, headers) in pages.items()
    }
    return {"pages": results, "first_load": first_load(client)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI size: 20,000 runs")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    size = SIZES["small" if args.small else "full"]
    database = BenchDatabase(args.database_url) if args.database_url else None
    if database:
        database.create()
    try:
        with tempfile.TemporaryDirectory(prefix="duplistatus-pages-") as data_dir:
            started = time.perf_counter()
            setup(Path(data_dir), args.database_url)
            from django.db import connection

            print(f"pages benchmark ({'small' if args.small else 'full'}), {connection.vendor}")
            data = fill(size["jobs"], size["runs"])
            print(
                f"data: {data['jobs']:,} jobs, {data['runs']:,} runs "
                f"(runs written in {data['bulk_seconds']} s, job summaries and schedules in "
                f"{data['summary_seconds']} s; {data['overdue_events']} jobs overdue)"
            )
            result = measure(size["repeat"])
            connection.close()
            print(
                f"\n{'page':30} {'p50 ms':>8} {'p95 ms':>8} {'CPU p50':>8} {'queries':>8} "
                f"{'bytes':>9}"
            )
            for name, row in result["pages"].items():
                print(
                    f"{name:30} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} {row['cpu_p50_ms']:8.1f} "
                    f"{row['queries']:8d} {row['bytes']:9,d}"
                )
            total = sum(result["first_load"].values())
            print("\nfirst load of the dashboard (as transferred, compressed):")
            for url, length in result["first_load"].items():
                print(f"  {length:9,d}  {url}")
            print(f"  {total:9,d}  total")
            dashboard = result["pages"]["dashboard, gzip"]
            print(
                f"\ndashboard p50 {dashboard['p50_ms']} ms, CPU {dashboard['cpu_p50_ms']} ms "
                f"(target < {TARGETS['dashboard_p50_ms']:.0f}); load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
                f"first load {total / 1024:.0f} KB (target < {TARGETS['first_load_kb']:.0f}); "
                f"{time.perf_counter() - started:.0f} s in all"
            )
    finally:
        if database:
            database.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
