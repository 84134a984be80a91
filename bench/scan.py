#!/usr/bin/env python
"""Scanner benchmark: how long `monitoring.monitor.scan(now)` takes over many jobs.

    .venv/bin/python bench/scan.py                  full: 100,000 jobs on 1,000 servers
    .venv/bin/python bench/scan.py --small          CI: 10,000 jobs on 1,000 servers
    .venv/bin/python bench/scan.py --database-url postgres://postgres@127.0.0.1:5432/postgres

Everything runs in this process against a fresh database: SQLite in a temp data dir, or, with
a PostgreSQL --database-url, a database `duplistatus_bench_scan` created on that server (the
URL's own database is only used to connect) and dropped at the end (unless --keep-db). The
schema comes from the project's migrations (`migrate`, in-process).

Data: every job has interval "1D" configured on itself, a latest run (one BackupRun row, so the
scanner's join to the latest run is real), a schedule anchor, and next_expected_at/alert_after
as ingest would have set them (grace: the global default, 120 min). Exactly 1 % of the jobs
are due (their alert_after is ~1 day in the past), the rest are due only tomorrow. A sample
of the rows is checked against `monitor.expectation_changes` before measuring.

Measurements, all with the real `monitor.scan(now)`:
  1  nothing due: a scan at a `now` before every alert_after (warm-up, then --quiet-scans
     times; p50/p99/max);
  2  1 % due: the scan that writes the overdue events, timed; it must write exactly one
     `overdue` event per due job, and a second scan right after must write none (also timed).
     Repeated --due-rounds times (the due jobs and their events are reset between rounds);
  3  the query plan of the scanner's due-jobs query (SQLite: EXPLAIN QUERY PLAN; PostgreSQL:
     EXPLAIN), which should use the partial index `job_alert_after`.

It PRINTS figures beside the targets and asserts nothing about speed; it exits non-zero only
when a scan wrote the wrong events. --profile adds a cProfile of one more 1 %-due scan.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import BenchDatabase, setup_django

HERE = Path(__file__).resolve().parent.parent
BENCH_DB = "duplistatus_bench_scan"
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # the `now` of the 1 %-due scan
QUIET_NOW = NOW - timedelta(days=3)  # before every job's alert_after
ANCHOR_DAY = datetime(2025, 1, 1, tzinfo=UTC)
GRACE = timedelta(minutes=120)  # MonitoringDefaults.load()'s default grace
DUE_EVERY = 100  # job i is due when i % 100 == 0: exactly 1 %
INSERT_BATCH = 2000

TARGETS = {
    "due_scan_s": 1.0,  # the 1 %-due scan, below
    "quiet_scan_ms": 10.0,  # the nothing-due scan, below (p50 and p99)
}

SIZES = {
    "full": {"servers": 1000, "jobs": 100_000},
    "small": {"servers": 1000, "jobs": 10_000},
}


# --------------------------------------------------------------------------- databases


def migrate() -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    return time.perf_counter() - started


# --------------------------------------------------------------------------- data


def job_times(i: int) -> dict[str, Any]:
    """Schedule columns of job i: a daily slot at its own time of day, run a few minutes
    late; due jobs (1 %) last ran two slots ago, so their alert time passed ~1 day ago."""
    anchor = ANCHOR_DAY + timedelta(minutes=(i * 37) % 1440)
    last_slot = anchor + timedelta(days=(NOW - anchor) // timedelta(days=1))  # <= NOW
    due = i % DUE_EVERY == 0
    slot = last_slot - timedelta(days=2) if due else last_slot
    last_run_at = slot + timedelta(minutes=i % 7, seconds=13)
    next_expected = slot + timedelta(days=1)
    return {
        "due": due,
        "schedule_anchor": anchor,
        "last_run_at": last_run_at,
        "next_expected_at": next_expected,
        "alert_after": next_expected + GRACE,
    }


def build(n_servers: int, n_jobs: int) -> dict[str, Any]:
    """Bulk-insert servers, jobs and one latest run per job, with explicit ids so each job
    and its run point at each other (the foreign keys are checked at commit)."""
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from duplistatus.backups.models import BackupJob, BackupRun, MonitoringDefaults, Server

    started = time.perf_counter()
    created = NOW - timedelta(days=200)
    MonitoringDefaults.load()
    per_server = -(-n_jobs // n_servers)
    with transaction.atomic():
        Server.objects.bulk_create(
            [
                Server(
                    id=s + 1,
                    key=f"bench-machine-{s:05d}",
                    name=f"bench-server-{s:05d}",
                    created_at=created,
                    last_seen_at=NOW - timedelta(hours=1),
                )
                for s in range(n_servers)
            ],
            batch_size=INSERT_BATCH,
        )
    due_ids = []
    for start in range(0, n_jobs, INSERT_BATCH):
        jobs, runs = [], []
        for i in range(start, min(start + INSERT_BATCH, n_jobs)):
            t = job_times(i)
            server_id = i // per_server + 1
            if t["due"]:
                due_ids.append(i + 1)
            jobs.append(
                BackupJob(
                    id=i + 1,
                    server_id=server_id,
                    name=f"job-{i % per_server:03d}",
                    backup_id=f"DB-{i % per_server + 1}",
                    created_at=created,
                    interval="1D",
                    run_count=1,
                    last_run_id=i + 1,
                    last_run_at=t["last_run_at"],
                    last_status="Success",
                    last_success_at=t["last_run_at"],
                    next_expected_at=t["next_expected_at"],
                    alert_after=t["alert_after"],
                    schedule_source="configured",
                    schedule_anchor=t["schedule_anchor"],
                )
            )
            runs.append(
                BackupRun(
                    id=i + 1,
                    job_id=i + 1,
                    server_id=server_id,
                    body_sha256=f"{i:064x}",
                    received_at=t["last_run_at"] + timedelta(minutes=5),
                    report_format="json",
                    status="Success",
                    parsed_result="Success",
                    begin_time=t["last_run_at"],
                    end_time=t["last_run_at"] + timedelta(minutes=4),
                    duration_seconds=240.0,
                )
            )
        with transaction.atomic():
            BackupJob.objects.bulk_create(jobs, batch_size=INSERT_BATCH)
            BackupRun.objects.bulk_create(runs, batch_size=INSERT_BATCH)
    insert_seconds = time.perf_counter() - started

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Server, BackupJob, BackupRun]):
            cursor.execute(sql)
        if connection.vendor == "sqlite":
            # A long-running deployment would have checkpointed the WAL the bulk load left.
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        elif connection.vendor == "postgresql":
            # Autovacuum would have analysed the tables of a deployment this big.
            cursor.execute("ANALYZE")
    return {
        "servers": n_servers,
        "jobs": n_jobs,
        "jobs_per_server": per_server,
        "due_ids": due_ids,
        "insert_seconds": round(insert_seconds, 2),
        "jobs_per_s": round(n_jobs / insert_seconds) if insert_seconds else None,
        "checkpoint_or_analyze_seconds": round(time.perf_counter() - started, 2),
        "database_mb": _database_mb(connection),
    }


def check_sample(n_jobs: int, sample: int = 200) -> int:
    """The stored schedule columns agree with what the project computes (expectation_changes)
    on a sample of due and not-due jobs; returns the number of mismatches."""
    from duplistatus.backups.models import BackupJob
    from duplistatus.monitoring import monitor

    step = max(1, n_jobs // sample)
    ids = sorted({i + 1 for i in range(0, n_jobs, step)} | {i + 1 for i in range(0, n_jobs, 997)})
    bad = 0
    for job, schedule in monitor.with_schedules(BackupJob.objects.filter(pk__in=ids)):
        changes = monitor.expectation_changes(job, schedule)
        if (changes["next_expected_at"], changes["alert_after"], changes["schedule_source"]) != (
            job.next_expected_at,
            job.alert_after,
            "configured",
        ):
            bad += 1
            if bad <= 3:
                print(
                    f"  job {job.pk}: stored next {job.next_expected_at} alert "
                    f"{job.alert_after}, computed {changes}",
                    file=sys.stderr,
                )
    return bad


def reset_due(due_ids: list[int]) -> None:
    """Put the due jobs back as built and delete the overdue events, for another round."""
    from django.db import transaction

    from duplistatus.backups.models import BackupJob, Event

    jobs = []
    for pk in due_ids:
        t = job_times(pk - 1)
        jobs.append(
            BackupJob(
                id=pk,
                alert_after=t["alert_after"],
                overdue_since=None,
                last_reminder_at=None,
                escalated_at=None,
            )
        )
    with transaction.atomic():
        BackupJob.objects.bulk_update(
            jobs,
            ["alert_after", "overdue_since", "last_reminder_at", "escalated_at"],
            batch_size=500,
        )
        Event.objects.filter(kind=Event.Kind.OVERDUE).delete()


def _database_mb(connection: Any) -> float | None:
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA page_count")
                pages = cursor.fetchone()[0]
                cursor.execute("PRAGMA page_size")
                return round(pages * cursor.fetchone()[0] / 1e6, 1)
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_database_size(current_database())")
                return round(int(cursor.fetchone()[0]) / 1e6, 1)
    except Exception:  # noqa: BLE001 - a figure for the report only
        pass
    return None


# --------------------------------------------------------------------------- measurements


class QueryCounter:
    """Counts the statements a scan runs and the time spent inside cursor.execute (driver and
    database; rows fetched later are not included)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.cpu = 0.0  # set by timed_scan

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def timed_scan(now: datetime) -> tuple[Any, float, QueryCounter]:
    """One monitor.scan(now): its result, wall seconds, and the statement counter (which
    also holds this process's CPU seconds for the scan, in `cpu`)."""
    from django.db import connection

    from duplistatus.monitoring import monitor

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        cpu = time.process_time()
        started = time.perf_counter()
        result = monitor.scan(now)
        elapsed = time.perf_counter() - started
        counter.cpu = time.process_time() - cpu
    return result, elapsed, counter


def pct(values: list[float], q: float) -> float:
    """Percentile (linear interpolation between closest ranks)."""
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def measure_quiet(count: int, warmup: int = 5) -> dict[str, Any]:
    times, cpu, queries, wrong = [], [], 0, 0
    for k in range(warmup + count):
        result, elapsed, counter = timed_scan(QUIET_NOW)
        wrong += result.total + result.examined
        if k >= warmup:
            times.append(elapsed * 1000)
            cpu.append(counter.cpu * 1000)
            queries = counter.count
    return {
        "scans": count,
        "p50_ms": round(pct(times, 50), 3),
        "p99_ms": round(pct(times, 99), 3),
        "max_ms": round(max(times), 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "cpu_p50_ms": round(pct(cpu, 50), 3),  # this process's CPU time
        "queries": queries,
        "wrong": wrong,  # events written or jobs examined: must be 0
    }


def measure_due_round(due_ids: list[int]) -> tuple[dict[str, Any], list[str]]:
    from duplistatus.backups.models import Event

    problems: list[str] = []
    result, elapsed, counter = timed_scan(NOW)
    overdue_ids = sorted(result.events.get("overdue", []))
    stored = Event.objects.filter(kind=Event.Kind.OVERDUE, created_at=NOW).count()
    if overdue_ids != due_ids:
        problems.append(
            f"scan reported {len(overdue_ids)} overdue jobs, expected the {len(due_ids)} due ones"
        )
    if set(result.events) - {"overdue"}:
        kinds = {k: len(v) for k, v in result.events.items()}
        problems.append(f"scan wrote other events: {kinds}")
    if stored != len(due_ids):
        problems.append(f"{stored} overdue events stored, expected {len(due_ids)}")
    if Event.objects.count() != stored:
        problems.append(f"{Event.objects.count() - stored} unexpected events in the table")

    again, again_elapsed, again_counter = timed_scan(NOW)
    if again.total or again.examined:
        problems.append(
            f"second scan examined {again.examined} jobs and wrote {again.total} "
            "events, expected none"
        )
    if Event.objects.count() != stored:
        problems.append("second scan changed the events table")
    return {
        "seconds": round(elapsed, 4),
        "cpu_seconds": round(counter.cpu, 4),  # this process's CPU time (Python + driver)
        "examined": result.examined,
        "overdue_events": len(overdue_ids),
        "events_stored": stored,
        "queries": counter.count,
        "in_execute_s": round(counter.seconds, 4),
        "ms_per_due_job": round(elapsed * 1000 / max(1, result.examined), 3),
        "second_scan_ms": round(again_elapsed * 1000, 3),
        "second_scan_queries": again_counter.count,
        "second_scan_events": again.total,
    }, problems


def query_plans() -> dict[str, str]:
    """EXPLAIN of the scanner's due-ids query (at the due `now` and the quiet one) and of its
    per-batch job fetch. Django's QuerySet.explain() is EXPLAIN QUERY PLAN on SQLite and
    EXPLAIN on PostgreSQL."""
    from duplistatus.backups.models import BackupJob
    from duplistatus.monitoring import monitor

    def due(now: datetime) -> Any:  # as in monitor.scan
        return (
            BackupJob.objects.filter(alert_after__lte=now)
            .order_by("alert_after")
            .values_list("pk", flat=True)[:10_000]
        )

    batch = list(due(NOW)[: monitor.SCAN_BATCH])
    fetch = monitor.with_schedule_inputs(
        BackupJob.objects.filter(pk__in=batch, alert_after__lte=NOW)
    )
    return {
        "due_ids": due(NOW).explain(),
        "due_ids_quiet": due(QUIET_NOW).explain(),
        "batch_fetch": fetch.explain(),
    }


def profile_due(due_ids: list[int], top: int = 30) -> str:
    from duplistatus.monitoring import monitor

    reset_due(due_ids)
    profiler = cProfile.Profile()
    profiler.enable()
    monitor.scan(NOW)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------- report


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def print_report(result: dict[str, Any]) -> None:
    d, q, rounds = result["data"], result["quiet"], result["due_rounds"]
    quiet_target, due_target = TARGETS["quiet_scan_ms"], TARGETS["due_scan_s"] * 1000

    def row(label: str, ms: float, digits: int, ok: bool | None = None, note: str = "") -> None:
        verdict = "" if ok is None else _verdict(ok)
        print(f"{label:44} {ms:>9.{digits}f} ms  {verdict:4}  {note}")

    print()
    print(
        f"duplistatus scan benchmark ({result['mode']}, {result['database']} "
        f"{result['database_version']}, {result['host']['cpus']} CPUs, "
        f"Python {result['host']['python']}, load avg before {result['host']['loadavg_before']})"
    )
    print(
        f"{d['jobs']:,} jobs on {d['servers']:,} servers, {len(d['due_ids']):,} due (1 %); "
        f"migrate {result['migrate_seconds']:.1f} s, insert {d['insert_seconds']:.1f} s "
        f"({d['jobs_per_s']:,} jobs+runs/s), database {d['database_mb']} MB; "
        f"sample check: {result['sample_mismatches']} mismatches"
    )
    print()
    print(f"{'':44} {'figure':>12}        target")
    print("-" * 80)
    row(
        "nothing due: scan p50",
        q["p50_ms"],
        3,
        q["p50_ms"] < quiet_target,
        f"< {quiet_target:.0f} ms",
    )
    row(
        "nothing due: scan p99",
        q["p99_ms"],
        3,
        q["p99_ms"] < quiet_target,
        f"< {quiet_target:.0f} ms",
    )
    row(
        "nothing due: scan max",
        q["max_ms"],
        3,
        None,
        f"mean {q['mean_ms']:.3f} ms, CPU p50 {q['cpu_p50_ms']:.3f} ms, {q['scans']} scans, "
        f"{q['queries']} queries each",
    )
    for k, r in enumerate(rounds, 1):
        row(
            f"1 % due: scan, round {k} ({r['overdue_events']:,} events)",
            r["seconds"] * 1000,
            1,
            r["seconds"] * 1000 < due_target,
            f"< {due_target:.0f} ms   (CPU {r['cpu_seconds'] * 1000:.0f} ms)",
        )
    secs = [r["seconds"] * 1000 for r in rounds]
    row("1 % due: median over rounds", statistics.median(secs), 1, None, f"max {max(secs):.1f} ms")
    r1 = rounds[0]
    row(
        "1 % due: per due job (round 1)",
        r1["ms_per_due_job"],
        3,
        None,
        f"{r1['queries']:,} queries, {r1['in_execute_s'] * 1000:.0f} ms inside "
        f"cursor.execute, {r1['cpu_seconds'] * 1000:.0f} ms CPU",
    )
    seconds = [r["second_scan_ms"] for r in rounds]
    row(
        "second scan right after (max over rounds)",
        max(seconds),
        3,
        max(seconds) < quiet_target,
        f"< {quiet_target:.0f} ms, {sum(r['second_scan_events'] for r in rounds)} events "
        "(must be 0)",
    )
    print()
    explain = "EXPLAIN QUERY PLAN" if result["database"] == "sqlite" else "EXPLAIN"
    print(
        f"query plan of the due-jobs query ({explain}), "
        f"uses job_alert_after: {result['uses_partial_index']}"
    )
    labels = {
        "due_ids": f"due ids, now = {NOW:%Y-%m-%d %H:%M} (1 % due)",
        "due_ids_quiet": f"due ids, now = {QUIET_NOW:%Y-%m-%d %H:%M} (nothing due)",
        "batch_fetch": "per-batch fetch (pk IN ... with server and latest run)",
    }
    plans = result["plans"]
    for name, label in labels.items():
        print(f"  {label}:")
        for line in plans[name].splitlines():
            print(f"    {line}")
    if result["problems"]:
        print("\nWRONG EVENTS:")
        for line in result["problems"]:
            print("  " + line)
    print(f"\nload avg after {result['host']['loadavg_after']}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="CI size: 10,000 jobs")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server to create the database "
        f"{BENCH_DB!r} on (default: SQLite in a fresh temp dir)",
    )
    parser.add_argument(
        "--quiet-scans",
        type=int,
        default=50,
        help="timed nothing-due scans (after 5 warm-up scans); default 50",
    )
    parser.add_argument(
        "--due-rounds",
        type=int,
        default=3,
        help="1 %%-due scans, the due jobs reset between them; default 3",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of one more 1 %%-due scan"
    )
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help=f"do not drop the PostgreSQL database {BENCH_DB!r} at the end",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the temp data dir (the SQLite file)"
    )
    args = parser.parse_args(argv)
    if args.database_url and not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a postgres:// URL (SQLite is the default)")
    if args.quiet_scans < 1 or args.due_rounds < 1:
        parser.error("--quiet-scans and --due-rounds must be at least 1")

    mode = "small" if args.small else "full"
    size = SIZES[mode]
    pg = (
        BenchDatabase(args.database_url, args.keep_db, name=BENCH_DB) if args.database_url else None
    )
    data_dir = Path(tempfile.mkdtemp(prefix="duplistatus-bench-scan-"))
    result: dict[str, Any] = {
        "mode": mode,
        "database": "postgresql" if pg else "sqlite",
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "targets": TARGETS,
        "sizes": size,
        "now": NOW.isoformat(),
        "quiet_now": QUIET_NOW.isoformat(),
    }
    problems: list[str] = []
    profile_text = ""
    try:
        if pg is not None:
            pg.create()
            result["database_version"] = pg.server_version()
        print(f"preparing {mode} run on {result['database']} ...", flush=True)
        os.environ["TZ"] = "UTC"  # schedules without a time zone use TZ; keep data exact
        setup_django(HERE, data_dir, pg.url if pg else None)
        if pg is None:
            import sqlite3

            result["database_version"] = sqlite3.sqlite_version
        result["migrate_seconds"] = round(migrate(), 2)
        print(f"inserting {size['jobs']:,} jobs on {size['servers']:,} servers ...", flush=True)
        data = build(size["servers"], size["jobs"])
        result["data"] = data
        result["sample_mismatches"] = check_sample(size["jobs"])
        if result["sample_mismatches"]:
            print(
                f"warning: {result['sample_mismatches']} sampled jobs disagree with "
                "expectation_changes (see above)",
                file=sys.stderr,
            )
        result["plans"] = query_plans()
        result["uses_partial_index"] = all(
            "job_alert_after" in result["plans"][k] for k in ("due_ids", "due_ids_quiet")
        )
        print(f"inserted in {data['insert_seconds']} s; nothing-due scans ...", flush=True)

        quiet = measure_quiet(args.quiet_scans)
        result["quiet"] = quiet
        if quiet["wrong"]:
            problems.append(f"nothing-due scans examined/wrote {quiet['wrong']} jobs/events")
        print(f"nothing due: p50 {quiet['p50_ms']} ms; 1 % due scans ...", flush=True)

        rounds = []
        for k in range(args.due_rounds):
            if k:
                reset_due(data["due_ids"])
            round_result, round_problems = measure_due_round(data["due_ids"])
            rounds.append(round_result)
            problems.extend(f"round {k + 1}: {p}" for p in round_problems)
            print(
                f"round {k + 1}: {round_result['seconds'] * 1000:.1f} ms, "
                f"{round_result['overdue_events']} events",
                flush=True,
            )
        result["due_rounds"] = rounds
        if args.profile:
            profile_text = profile_due(data["due_ids"])
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up if we failed early
            pass
        if pg is not None:
            pg.drop()
        if args.keep_data:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
        result["host"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]

    result["problems"] = problems
    rounds = result["due_rounds"]
    result["meets_targets"] = {
        "due_scan_s": max(r["seconds"] for r in rounds) < TARGETS["due_scan_s"],
        "quiet_scan_ms": result["quiet"]["p99_ms"] < TARGETS["quiet_scan_ms"],
        "second_scan_ms": max(r["second_scan_ms"] for r in rounds) < TARGETS["quiet_scan_ms"],
    }
    print_report(result)
    if profile_text:
        print("\ncProfile of one more 1 % due scan:\n" + profile_text)
    summary = {**result, "data": {**result["data"], "due_ids": len(result["data"]["due_ids"])}}
    print("RESULT " + json.dumps(summary, separators=(",", ":")), flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
