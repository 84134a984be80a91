#!/usr/bin/env python
"""Ingest benchmark: how fast `duplistatus serve` takes Duplicati uploads, and what it costs.

    .venv/bin/python bench/ingest.py                 full: measure at ~1,000 and at 100,000 runs
    .venv/bin/python bench/ingest.py --small         CI: ~300 uploads, then at 5,000 runs
    .venv/bin/python bench/ingest.py --database-url postgres://postgres@127.0.0.1:5432/duplistatus_bench

It starts its own server (`python -m duplistatus serve`, fresh data dir, free port) and always
stops it. It PRINTS figures beside the targets and asserts nothing about speed; it exits
non-zero only when an upload that should have been stored was not (a non-200 answer).

The floor: bench/_floor.py, the least a Python server does to take an upload (stdlib HTTP
server, json, one SQLite row). Sequential uploads go to it and to duplistatus in alternating
rounds of 50 (each begun when both servers are idle, so duplistatus's worker pass after a burst
never runs in the floor's round), with the same client and bodies, after the same warm-up;
duplistatus's rate as a fraction of the floor's, the median over the pairs of rounds, is the
ingest figure (issue 17: >= 0.25; the original duplistatus 1.4.2 reaches 0.09). A busy
machine moves it less than either rate, but it does move it: other processes delay the floor's
short requests proportionally more, so the ratio rises with the load average
(bench/README.md): compare figures taken at similar loads.
--client stdlib shows the servers' own cost (httpx, the default, spends ~0.5-1 ms per request
in the client, which flatters the ratio).

Phases
  A  warm-up (one report per job), then sequential uploads (one keep-alive client, paired
     with the floor) and 4 concurrent clients, with ~1,200 runs stored (590 in --small);
     then the endpoints compatible with the original that dashboards poll.
  B  the database is brought to 100,000 runs (5,000 in --small) without HTTP, in this process,
     through the project's own models (see `prefill`), then the same measurements again.
Memory: summed RSS (and USS/PSS) of the serve process and all its children, idle after start,
after phase A and after phase B.

A PostgreSQL database whose name contains "bench" is dropped and created fresh by the benchmark
and dropped again at the end (unless --keep-db); any other database is used as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import zstandard
from _common import V21_REPORT, BenchDatabase, free_port, net_time, setup_django

HERE = Path(__file__).resolve().parent.parent  # the project this file belongs to
PROJECT = HERE  # the project benchmarked; --project changes it (e.g. a `git archive` snapshot)
PAYLOAD = V21_REPORT
N_SERVERS = 50
N_JOBS = 4
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
CONCURRENT_CLIENTS = 4
# Sequential uploads are also timed in rounds of this many; the fastest round is the figure
# least disturbed by whatever else the machine is running.
ROUND = 50

TARGETS = {
    # Sequential uploads/s as a fraction of the floor server's (bench/_floor.py) in the same
    # run with the same client: a figure a busy machine moves little. The original
    # duplistatus 1.4.2 reaches 0.09.
    "ratio_to_floor": 0.25,  # at least
    "seq_p99_ms": 5.0,  # below
    "slowdown_pct": 10.0,  # at most, 100,000 runs vs 1,000
    # At most: RSS of the serving process (the web worker; granian's parent process, ~30 MB
    # of which most is shared, is shown beside it), idle after phase A (~1,000 uploads).
    "idle_rss_mb": 100.0,
    "rss_growth_pct": 10.0,  # at most, the same idle after phase B vs after phase A
}

SIZES = {
    # warm-up, sequential, concurrent uploads per phase; runs stored before phase B. The
    # warm-up is one report per job: a job's first report creates its server and job rows
    # (several ms more, once in the job's life), which is not the upload rate being measured.
    "full": {"warmup": N_SERVERS * N_JOBS, "seq": 500, "conc": 500, "prefill_to": 100_000},
    "small": {"warmup": N_SERVERS * N_JOBS, "seq": 250, "conc": 140, "prefill_to": 5_000},
}


# --------------------------------------------------------------------------- payloads


class Payloads:
    """Upload bodies for run number i: 50 servers x 4 jobs, each with its own BeginTime.

    The corpus report is serialised once, minified as Duplicati sends it, with placeholders
    that are filled in per run, so making a body costs a few string replaces.
    """

    _MARKS = ("@@MID@@", "@@MNAME@@", "@@BNAME@@", "@@BID@@", "@@BEGIN@@", "@@END@@")

    def __init__(self, path: Path = PAYLOAD):
        doc = json.loads(path.read_text(encoding="utf-8"))
        begin = datetime.fromisoformat(doc["Data"]["BeginTime"])
        end = datetime.fromisoformat(doc["Data"]["EndTime"])
        self.duration = end - begin
        doc["Extra"].update(
            {
                "machine-id": "@@MID@@",
                "machine-name": "@@MNAME@@",
                "backup-name": "@@BNAME@@",
                "backup-id": "@@BID@@",
            }
        )
        doc["Data"]["BeginTime"] = "@@BEGIN@@"
        doc["Data"]["EndTime"] = "@@END@@"
        self.template = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        for mark in self._MARKS:
            assert self.template.count(mark) == 1, mark
        self.machine_ids = [
            hashlib.md5(f"duplistatus-bench-server-{s}".encode()).hexdigest()
            for s in range(N_SERVERS)
        ]

    @staticmethod
    def slot(i: int) -> tuple[int, int]:
        combo = i % (N_SERVERS * N_JOBS)
        return combo // N_JOBS, combo % N_JOBS

    def begin_time(self, i: int) -> datetime:
        return BASE_TIME + timedelta(seconds=i, microseconds=123456)

    def body(self, i: int) -> bytes:
        server, job = self.slot(i)
        begin = self.begin_time(i)
        text = (
            self.template.replace("@@MID@@", self.machine_ids[server])
            .replace("@@MNAME@@", f"bench-server-{server:02d}")
            .replace("@@BNAME@@", f"Bench Job {job}")
            .replace("@@BID@@", f"DB-{job + 1}")
            .replace("@@BEGIN@@", net_time(begin))
            .replace("@@END@@", net_time(begin + self.duration))
        )
        return text.encode("utf-8")


# --------------------------------------------------------------------------- the server


class ServeProcess:
    """`python -m duplistatus serve` in its own process group, so it can be stopped whole."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None,
        extra_args: list[str] | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        self.data_dir = data_dir
        self.database_url = database_url
        self.extra_args = extra_args or []
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    def start(self, timeout: float = 90.0) -> None:
        env = os.environ.copy()
        env["DUPLISTATUS_DATA_DIR"] = str(self.data_dir)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        else:
            env.pop("DATABASE_URL", None)
        env.update(self.extra_env)
        log = open(self.log_path, "ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "duplistatus",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.extra_args,
            ],
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = started + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {self.proc.returncode} before it was healthy:\n"
                        + self.log_tail()
                    )
                try:
                    if client.get(self.base_url + "/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.perf_counter() > deadline:
                    raise RuntimeError(
                        f"server not healthy after {timeout:.0f} s:\n" + self.log_tail()
                    )
                time.sleep(0.1)
        self.startup_seconds = time.perf_counter() - started

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the process group is the server's own
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def processes(self) -> list[psutil.Process]:
        assert self.proc is not None
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def memory(self) -> dict[str, float | None]:
        """Summed over the serve process and its children, in MB (10^6 bytes)."""
        rss = uss = pss = hwm = 0
        full = True
        procs = self.processes()
        for proc in procs:
            try:
                rss += proc.memory_info().rss
                try:
                    info = proc.memory_full_info()
                    uss += info.uss
                    pss += getattr(info, "pss", 0)
                except (psutil.AccessDenied, AttributeError):
                    full = False
                hwm += _vm_hwm(proc.pid)
            except psutil.NoSuchProcess:
                pass
        mb = 1e6
        return {
            "rss_mb": round(rss / mb, 1),
            "uss_mb": round(uss / mb, 1) if full else None,
            "pss_mb": round(pss / mb, 1) if full and pss else None,
            "peak_rss_mb": round(hwm / mb, 1) if hwm else None,
            "processes": len(procs),
        }

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total


class FloorProcess(ServeProcess):
    """bench/_floor.py: the stdlib + SQLite server duplistatus's rate is set against."""

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.log_path, "ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "bench" / "_floor.py"),
                str(self.port),
                str(self.data_dir / "floor.sqlite3"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        with httpx.Client(timeout=2.0) as client:
            while True:
                try:
                    if client.get(self.base_url + "/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None or time.perf_counter() > started + timeout:
                    raise RuntimeError("floor server did not start:\n" + self.log_tail())
                time.sleep(0.05)


def _vm_hwm(pid: int) -> int:
    """Peak RSS of a process (Linux); 0 where /proc does not say."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------- measurements


@dataclasses.dataclass
class Measurement:
    uploads: int
    seconds: float
    latencies: list[float]
    failures: list[str]
    server_cpu_seconds: float
    client_cpu_seconds: float
    best_round_per_s: float | None = None  # fastest run of ROUND consecutive uploads

    @property
    def per_second(self) -> float:
        return self.uploads / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in ms (linear interpolation between closest ranks)."""
        data = sorted(self.latencies)
        if not data:
            return float("nan")
        pos = (len(data) - 1) * q / 100
        lo = int(pos)
        hi = min(lo + 1, len(data) - 1)
        return (data[lo] + (data[hi] - data[lo]) * (pos - lo)) * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "uploads": self.uploads,
            "seconds": round(self.seconds, 3),
            "uploads_per_s": round(self.per_second, 1),
            "p50_ms": round(self.pct(50), 2),
            "p90_ms": round(self.pct(90), 2),
            "p99_ms": round(self.pct(99), 2),
            "max_ms": round(max(self.latencies) * 1000, 2) if self.latencies else None,
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2)
            if self.latencies
            else None,
            "server_cpu_ms_per_upload": round(self.server_cpu_seconds * 1000 / self.uploads, 2)
            if self.uploads
            else None,
            "client_cpu_ms_per_upload": round(self.client_cpu_seconds * 1000 / self.uploads, 2)
            if self.uploads
            else None,
            "best_round_uploads_per_s": round(self.best_round_per_s, 1)
            if self.best_round_per_s
            else None,
            "failures": len(self.failures),
        }


CLIENT = "httpx"  # --client: "httpx" (one httpx.Client per thread) or "stdlib" (http.client)


class _HttpxClient:
    """One keep-alive httpx.Client."""

    errors: tuple[type[Exception], ...] = (httpx.HTTPError,)

    def __init__(self, base_url: str):
        self.client = httpx.Client(
            base_url=base_url, timeout=30.0, headers={"Content-Type": "application/json"}
        )

    def post(self, path: str, body: bytes) -> tuple[int, str]:
        response = self.client.post(path, content=body)
        return response.status_code, response.text

    def get(self, path: str) -> int:
        return self.client.get(path).status_code

    def close(self) -> None:
        self.client.close()


class _StdlibClient:
    """One keep-alive http.client connection: a fraction of httpx's CPU per request, for
    telling the server's cost from the client's on a small machine."""

    errors = (OSError, http.client.HTTPException)

    def __init__(self, base_url: str):
        parts = urllib.parse.urlsplit(base_url)
        self.conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=30.0
        )

    def _send(self, method: str, path: str, body: bytes | None) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")

    def post(self, path: str, body: bytes) -> tuple[int, str]:
        return self._send("POST", path, body)

    def get(self, path: str) -> int:
        return self._send("GET", path, None)[0]

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def _client(base_url: str) -> Iterator[_HttpxClient | _StdlibClient]:
    client = (_StdlibClient if CLIENT == "stdlib" else _HttpxClient)(base_url)
    try:
        yield client
    finally:
        client.close()


def _post_all(
    client: _HttpxClient | _StdlibClient,
    bodies: list[bytes],
    latencies: list[float],
    failures: list[str],
) -> None:
    for body in bodies:
        started = time.perf_counter()
        try:
            status, text = client.post("/api/upload", body)
        except client.errors as exc:
            latencies.append(time.perf_counter() - started)
            failures.append(f"{type(exc).__name__}: {exc}")
            continue
        latencies.append(time.perf_counter() - started)
        if status != 200:
            failures.append(f"HTTP {status}: {text[:200]}")


def _cpu_self() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def wait_until_idle(server: ServeProcess, quiet: float = 0.1, limit: float = 3.0) -> None:
    """Until the server has used no CPU for `quiet` seconds (at most `limit`): what uploads
    leave behind (the worker's pass after a burst, a WAL checkpoint) is done before the
    next round, and counted in the round that caused it."""
    deadline = time.perf_counter() + limit
    last = server.cpu_seconds()
    while time.perf_counter() < deadline:
        time.sleep(quiet)
        now = server.cpu_seconds()
        if now - last < 0.002:
            return
        last = now


def measure_sequential(
    server: ServeProcess, bodies: list[bytes], settle: bool = False
) -> Measurement:
    """`settle`: the server's CPU is read once it is idle again (see wait_until_idle); the
    rate and latencies are the uploads' own either way."""
    latencies: list[float] = []
    failures: list[str] = []
    with _client(server.base_url) as client:
        client.get("/api/health")  # open the keep-alive connection first
        cpu0, mine0 = server.cpu_seconds(), _cpu_self()
        started = time.perf_counter()
        _post_all(client, bodies, latencies, failures)
        elapsed = time.perf_counter() - started
        mine1 = _cpu_self()
        if settle:
            wait_until_idle(server)
        cpu1 = server.cpu_seconds()
    rounds = [sum(latencies[k : k + ROUND]) for k in range(0, len(latencies) - ROUND + 1, ROUND)]
    best = ROUND / min(rounds) if rounds else None
    return Measurement(len(bodies), elapsed, latencies, failures, cpu1 - cpu0, mine1 - mine0, best)


def measure_paired(
    server: ServeProcess, floor: ServeProcess, bodies: list[bytes]
) -> tuple[Measurement, Measurement, list[float]]:
    """Sequential uploads to duplistatus and to the floor server in alternating rounds of
    ROUND, the same bodies to each, so whatever else the machine does weighs on both alike.
    Which server goes first alternates too, and each round starts when both are idle: the
    worker pass that follows a burst of uploads to duplistatus must not run during the
    floor's round (which would flatter the ratio), and is counted in duplistatus's CPU.
    Returns both servers' totals and, per pair of rounds, duplistatus's rate over the floor's.
    """
    ours: list[Measurement] = []
    theirs: list[Measurement] = []
    for n, k in enumerate(range(0, len(bodies), ROUND)):
        chunk = bodies[k : k + ROUND]
        if n % 2 == 0:
            ours.append(measure_sequential(server, chunk, settle=True))
            theirs.append(measure_sequential(floor, chunk, settle=True))
        else:
            theirs.append(measure_sequential(floor, chunk, settle=True))
            ours.append(measure_sequential(server, chunk, settle=True))
    pairs = [
        mine.per_second / other.per_second
        for mine, other in zip(ours, theirs, strict=True)
        if mine.uploads == ROUND and other.per_second
    ]
    return _merged(ours), _merged(theirs), pairs


def _merged(parts: list[Measurement]) -> Measurement:
    rounds = [m.uploads / m.seconds for m in parts if m.uploads == ROUND and m.seconds]
    return Measurement(
        sum(m.uploads for m in parts),
        sum(m.seconds for m in parts),
        [x for m in parts for x in m.latencies],
        [x for m in parts for x in m.failures],
        sum(m.server_cpu_seconds for m in parts),
        sum(m.client_cpu_seconds for m in parts),
        max(rounds, default=None),
    )


def measure_concurrent(
    server: ServeProcess, bodies: list[bytes], clients: int = CONCURRENT_CLIENTS
) -> Measurement:
    shares = [bodies[k::clients] for k in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[list[str]] = [[] for _ in range(clients)]
    gate = threading.Barrier(clients + 1)

    def work(k: int) -> None:
        with _client(server.base_url) as client:
            client.get("/api/health")
            gate.wait()
            _post_all(client, shares[k], latencies[k], failures[k])

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    cpu0, mine0 = server.cpu_seconds(), _cpu_self()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu1, mine1 = server.cpu_seconds(), _cpu_self()
    return Measurement(
        len(bodies),
        elapsed,
        [x for part in latencies for x in part],
        [x for part in failures for x in part],
        cpu1 - cpu0,
        mine1 - mine0,
    )


def measure_health(server: ServeProcess, count: int = 100) -> tuple[float, float]:
    """GET /api/health: p50 latency and server CPU per request, in ms. The fixed cost of any
    request (client, granian, Django, a database connection, one trivial query), to set
    beside the upload's."""
    times = []
    with _client(server.base_url) as client:
        client.get("/api/health")
        cpu0 = server.cpu_seconds()
        for _ in range(count):
            started = time.perf_counter()
            client.get("/api/health")
            times.append(time.perf_counter() - started)
        cpu = server.cpu_seconds() - cpu0
    return statistics.median(times) * 1000, cpu * 1000 / count


# --------------------------------------------------------------------------- prefill


def prefill(
    payloads: Payloads,
    data_dir: Path,
    database_url: str | None,
    target: int,
    first_index: int,
    mode: str,
) -> dict[str, Any]:
    """Bring the database to `target` runs without HTTP, in this process.

    `store`: the project's own parse_body + resolve_identity + store_report per run, in
    transactions of 500 (exactly what an upload stores, but several ms per run).
    `bulk`: parse the corpus report once per job and write the rows store_report would write,
    with `executemany`: a RawReport (the body, compressed) and a BackupRun per run, with every
    column store_report sets, plus its backup_result Event (marked processed, as if the
    notification worker had kept up); then each job's summary columns and each server's
    last_seen_at. The server must be idle meanwhile (it is: the phases run one after another).
    The last run of each job (the newest 200) goes through store_report after that.
    """
    setup_django(PROJECT, data_dir, database_url)
    from django.db import connection

    from duplistatus.backups.models import BackupRun

    existing = BackupRun.objects.count()
    need = max(0, target - existing)
    started = time.perf_counter()
    if mode == "store":
        _prefill_store(payloads, first_index, need)
    else:
        # The newest run of each job goes through store_report itself, so the job's latest-run
        # and schedule columns are whatever the project's own code makes of them.
        bulk = max(0, need - N_SERVERS * N_JOBS)
        _prefill_bulk(payloads, first_index, bulk)
        _prefill_store(payloads, first_index + bulk, need - bulk)
    fill_seconds = time.perf_counter() - started
    total = BackupRun.objects.count()

    # What the worker's scan once a minute does after new runs (learn each job's schedule,
    # look for anomalies), done here, as a deployment's worker would have by then: else the
    # server's next scan does it for all 200 jobs at once, in the middle of phase B.
    started = time.perf_counter()
    from duplistatus.anomaly import check as anomaly
    from duplistatus.monitoring import monitor

    monitor.check()
    while anomaly.check_pending():
        pass
    scan_seconds = time.perf_counter() - started

    started = time.perf_counter()
    if connection.vendor == "sqlite":
        # The bulk writes leave a large WAL; a long-running deployment would have checkpointed.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    elif connection.vendor == "postgresql":
        # Autovacuum would have analysed the tables of a deployment that grew this big.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    after_seconds = time.perf_counter() - started
    db_bytes = _database_bytes(connection)
    connection.close()
    return {
        "mode": mode,
        "existing_runs": existing,
        "added_runs": need,
        "total_runs": total,
        "seconds": round(fill_seconds, 1),
        "runs_per_s": round(need / fill_seconds, 1) if fill_seconds and need else None,
        "scan_seconds": round(scan_seconds, 1),
        "checkpoint_or_analyze_seconds": round(after_seconds, 1),
        "database_mb": round(db_bytes / 1e6, 1) if db_bytes else None,
    }


def _database_bytes(connection: Any) -> int:
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA page_count")
                pages = cursor.fetchone()[0]
                cursor.execute("PRAGMA page_size")
                return pages * cursor.fetchone()[0]
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_database_size(current_database())")
                return int(cursor.fetchone()[0])
    except Exception:  # noqa: BLE001 - a figure for the report only
        pass
    return 0


def _prefill_store(payloads: Payloads, first_index: int, count: int, batch: int = 500) -> None:
    from django.db import transaction

    from duplistatus.ingest.parse import parse_body, resolve_identity
    from duplistatus.ingest.store import Upload, store_report

    for start in range(first_index, first_index + count, batch):
        with transaction.atomic():
            for i in range(start, min(start + batch, first_index + count)):
                body = payloads.body(i)
                now = datetime.now(UTC)
                report = parse_body(body, "application/json", received_at=now)
                identity = resolve_identity(report, {}, "127.0.0.1")
                store_report(
                    report, identity, Upload(body, "application/json", "", "127.0.0.1", now)
                )


class _RowWriter:
    """INSERTs of one model with `executemany`: every column is converted for the database
    once, from a template instance, and per row only the columns that differ, so 100,000 rows
    cost little more than the database's own work. Primary keys are given explicitly (the
    caller holds the write lock and numbers them from MAX(id)); `reset_sequence` puts a
    PostgreSQL identity back in step afterwards."""

    def __init__(self, model: Any, template: Any, varying: list[str]):
        from django.db import DEFAULT_DB_ALIAS, connections

        self.model = model
        self.connection = connections[DEFAULT_DB_ALIAS]  # the wrapper, not the thread proxy
        self.fields = list(model._meta.concrete_fields)
        quote = self.connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        self.sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"
        self.template = [self._prep(f, getattr(template, f.attname)) for f in self.fields]
        by_name = {f.attname: k for k, f in enumerate(self.fields)}
        self.varying = [(by_name[name], self.fields[by_name[name]]) for name in varying]

    def _prep(self, field: Any, value: Any) -> Any:
        return field.get_db_prep_save(value, connection=self.connection)

    def row(self, values: dict[str, Any]) -> list[Any]:
        out = list(self.template)
        for index, field in self.varying:
            out[index] = self._prep(field, values[field.attname])
        return out

    def next_id(self) -> int:
        table = self.connection.ops.quote_name(self.model._meta.db_table)
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            return int(cursor.fetchone()[0]) + 1

    def write(self, rows: list[list[Any]]) -> None:
        with self.connection.cursor() as cursor:
            cursor.executemany(self.sql, rows)

    def reset_sequence(self) -> None:
        from django.core.management.color import no_style

        statements = self.connection.ops.sequence_reset_sql(no_style(), [self.model])
        with self.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def _prefill_bulk(payloads: Payloads, first_index: int, count: int, batch: int = 2000) -> None:
    from django.db import transaction
    from django.db.models import F

    from duplistatus.backups.models import BackupJob, BackupRun, Event, RawReport, Server
    from duplistatus.ingest.parse import parse_body, resolve_identity
    from duplistatus.ingest.store import Upload

    if count <= 0:
        return
    now = datetime.now(UTC)
    # One parsed report per job: identity and all the figures; per run only the times differ.
    templates: dict[tuple[int, int], Any] = {}
    jobs: dict[tuple[int, int], BackupJob] = {}
    for i in range(first_index, first_index + N_SERVERS * N_JOBS):
        slot = payloads.slot(i)
        report = parse_body(payloads.body(i), "application/json", received_at=now)
        identity = resolve_identity(report, {}, "127.0.0.1")
        server, _ = Server.objects.get_or_create(
            key=identity.server_key,
            defaults={"name": identity.server_name, "created_at": now, "last_seen_at": now},
        )
        job, _ = BackupJob.objects.get_or_create(
            server=server,
            name=identity.job_name,
            defaults={"backup_id": identity.backup_id, "created_at": now},
        )
        templates[slot] = report
        jobs[slot] = job

    def run_for(i: int) -> tuple[dict[str, Any], bytes]:
        """The columns store_report would give run i that differ from run to run (plain
        values: making 100,000 model instances would cost more than writing them)."""
        slot = payloads.slot(i)
        template = templates[slot]
        begin = payloads.begin_time(i)
        end = begin + payloads.duration
        data = dict(template.data)
        data["BeginTime"] = net_time(begin)
        data["EndTime"] = net_time(end)
        body = payloads.body(i)
        job = jobs[slot]
        run = {
            "job_id": job.pk,
            "server_id": job.server_id,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "begin_time": begin,
            "end_time": end,
            "data": data,
            "extra": template.extra,
            "status": template.status,
            "operation": template.operation,
            "bytes_uploaded": template.stats["bytes_uploaded"],
        }
        return run, body

    # The template run: every column exactly as store_report's BackupRun.objects.create sets it.
    template_report = templates[payloads.slot(first_index)]
    copied = [
        f.attname
        for f in BackupRun._meta.concrete_fields
        if not f.primary_key and hasattr(template_report, f.attname)
    ]
    first_job = jobs[payloads.slot(first_index)]
    first_upload = Upload(payloads.body(first_index), "application/json", "", "127.0.0.1", now)
    template_run = BackupRun(
        **{name: getattr(template_report, name) for name in copied},
        **template_report.stats,
        job_id=first_job.pk,
        server_id=first_job.server_id,
        raw_report_id=1,
        body_sha256=first_upload.sha256,
        received_at=now,
        report_format=template_report.format,
    )
    run_writer = _RowWriter(
        BackupRun,
        template_run,
        [
            "id",
            "job_id",
            "server_id",
            "raw_report_id",
            "body_sha256",
            "begin_time",
            "end_time",
            "data",
            "extra",
            "status",
            "operation",
        ],
    )
    raw_writer = _RowWriter(
        RawReport, first_upload.raw_report(), ["id", "size", "sha256", "body_zstd"]
    )
    event_template = Event(
        kind=Event.Kind.BACKUP_RESULT,
        job_id=first_job.pk,
        run_id=1,
        created_at=now,
        claimed_at=now,
        processed_at=now,
        details={},
    )
    event_writer = _RowWriter(Event, event_template, ["id", "job_id", "run_id", "details"])
    compressor = zstandard.ZstdCompressor(level=3)  # as store.Upload.raw_report
    summary: dict[int, dict[str, Any]] = {}

    for start in range(first_index, first_index + count, batch):
        made = [run_for(i) for i in range(start, min(start + batch, first_index + count))]
        with transaction.atomic():
            raw_id, run_id, event_id = (
                raw_writer.next_id(),
                run_writer.next_id(),
                event_writer.next_id(),
            )
            raw_rows, run_rows, event_rows = [], [], []
            for run, body in made:
                raw_rows.append(
                    raw_writer.row(
                        {
                            "id": raw_id,
                            "size": len(body),
                            "sha256": run["body_sha256"],
                            "body_zstd": compressor.compress(body),
                        }
                    )
                )
                run["id"], run["raw_report_id"] = run_id, raw_id
                run_rows.append(run_writer.row(run))
                if run["operation"] == "Backup":
                    event_rows.append(
                        event_writer.row(
                            {
                                "id": event_id,
                                "job_id": run["job_id"],
                                "run_id": run_id,
                                "details": {"status": run["status"], "server_id": run["server_id"]},
                            }
                        )
                    )
                    event_id += 1
                raw_id, run_id = raw_id + 1, run_id + 1
            raw_writer.write(raw_rows)
            run_writer.write(run_rows)
            event_writer.write(event_rows)
        for run, _ in made:
            if run["operation"] != "Backup":
                continue
            s = summary.setdefault(run["job_id"], {"count": 0, "bytes": 0})
            s["count"] += 1
            s["bytes"] += run["bytes_uploaded"]

    with transaction.atomic():
        for writer in (raw_writer, run_writer, event_writer):
            writer.reset_sequence()
        # Counts and totals here; the latest-run columns (and the schedule state of versions
        # that keep one) are set by the store_report calls for the newest runs that follow.
        for job_id, s in summary.items():
            BackupJob.objects.filter(pk=job_id).update(
                run_count=F("run_count") + s["count"],
                bytes_uploaded_total=F("bytes_uploaded_total") + s["bytes"],
            )
        Server.objects.filter(jobs__in=list(summary)).update(last_seen_at=now)


# --------------------------------------------------------------------------- PostgreSQL


# --------------------------------------------------------------------------- report


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISS")


def _slowdown(a: float | None, b: float | None) -> float | None:
    """How much slower B is than A, in % of A's rate (positive: slower)."""
    return round((a - b) / a * 100, 1) if a and b is not None else None


def _growth(a: float | None, b: float | None) -> float | None:
    """How much larger B is than A, in % (for latencies and CPU: positive = slower)."""
    return round((b - a) / a * 100, 1) if a and b is not None else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def print_report(result: dict[str, Any]) -> None:
    a, b = result["phase_a"], result["phase_b"]
    mem = result["memory"]
    t = TARGETS
    runs_a, runs_b = a["runs_stored"], b["runs_stored"]
    print()
    print(
        f"duplistatus ingest benchmark ({result['mode']}, {result['database']}, "
        f"{result['host']['cpus']} CPUs, load avg before {result['host']['loadavg_before']})"
    )
    print(
        f"payload {result['payload']['name']} ({result['payload']['bytes']:,} bytes), "
        f"{N_SERVERS} servers x {N_JOBS} jobs; server start {result['startup_seconds']:.1f} s; "
        f"client {result['client']}"
    )
    if result["serve_args"] or result["serve_env"]:
        print(f"serve extra args {result['serve_args']} env {result['serve_env']}")
    if result["project"] != str(HERE):
        print(f"project benchmarked: {result['project']}")
    print()
    label_a, label_b = f"A: {runs_a:,} runs", f"B: {runs_b:,} runs"
    head = f"{'':34} {label_a:>16} {label_b:>17} {'B vs A':>9}   target"
    print(head)
    print("-" * len(head) + "-" * 12)

    def row(
        label: str,
        key: str,
        group: str,
        unit: str,
        target: str = "",
        ok_a: bool | None = None,
        ok_b: bool | None = None,
        digits: int = 1,
    ) -> None:
        va, vb = a[group][key], b[group][key]
        change = ""
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va:
            pct = (vb - va) / va * 100
            change = f"{pct:+.1f}%"
        cells = (
            f"{_fmt(va, unit, digits):>12} {_verdict(ok_a):>4} "
            f"{_fmt(vb, unit, digits):>12} {_verdict(ok_b):>4}"
        )
        print(f"{label:34} {cells} {change:>9}   {target}")

    seq_a, seq_b = a["sequential"], b["sequential"]
    row("sequential uploads/s", "uploads_per_s", "sequential", "")
    row("  floor server uploads/s", "uploads_per_s", "floor", "")
    ratio_a, ratio_b = a["ratio_to_floor"], b["ratio_to_floor"]
    want = t["ratio_to_floor"]
    print(
        f"{'  ratio to the floor (median pair)':34} {_fmt(ratio_a, '', 3):>12} "
        f"{_verdict(ratio_a is not None and ratio_a >= want):>4} {_fmt(ratio_b, '', 3):>12} "
        f"{_verdict(ratio_b is not None and ratio_b >= want):>4} {'':>9}   >= {want}"
    )
    print(
        f"{'  ratio of the totals':34} {_fmt(a['ratio_of_totals'], '', 3):>12}      "
        f"{_fmt(b['ratio_of_totals'], '', 3):>12}"
    )
    row("  floor server CPU/upload", "server_cpu_ms_per_upload", "floor", " ms", digits=2)
    row("  floor latency p50", "p50_ms", "floor", " ms", digits=2)
    row("  floor latency p99", "p99_ms", "floor", " ms", digits=2)
    row(f"  best round of {ROUND}", "best_round_uploads_per_s", "sequential", "")
    for p in ("p50", "p90"):
        row(f"sequential latency {p}", f"{p}_ms", "sequential", " ms", digits=2)
    row(
        "sequential latency p99",
        "p99_ms",
        "sequential",
        " ms",
        f"< {t['seq_p99_ms']:.0f} ms",
        seq_a["p99_ms"] < t["seq_p99_ms"],
        seq_b["p99_ms"] < t["seq_p99_ms"],
        digits=2,
    )
    row("sequential latency max", "max_ms", "sequential", " ms", digits=2)
    row("sequential server CPU/upload", "server_cpu_ms_per_upload", "sequential", " ms", digits=2)
    row("sequential client CPU/upload", "client_cpu_ms_per_upload", "sequential", " ms", digits=2)
    row(f"{CONCURRENT_CLIENTS} clients uploads/s", "uploads_per_s", "concurrent", "")
    row(f"{CONCURRENT_CLIENTS} clients latency p50", "p50_ms", "concurrent", " ms", digits=2)
    row(f"{CONCURRENT_CLIENTS} clients latency p99", "p99_ms", "concurrent", " ms", digits=2)
    row(
        f"{CONCURRENT_CLIENTS} clients server CPU/upload",
        "server_cpu_ms_per_upload",
        "concurrent",
        " ms",
        digits=2,
    )
    for label, key in (
        ("GET /api/health p50 (fixed cost)", "health_p50_ms"),
        ("GET /api/health server CPU/request", "health_server_cpu_ms"),
    ):
        print(f"{label:34} {_fmt(a[key], ' ms', 2):>12}      {_fmt(b[key], ' ms', 2):>12}")
    for name, path in READS.items():
        ra, rb = a["reads"][name], b["reads"][name]
        label = "GET " + path.replace("bench-server-00", "{name}")
        print(
            f"{label + ' p50':34} {_fmt(ra['p50_ms'], ' ms', 2):>12}      "
            f"{_fmt(rb['p50_ms'], ' ms', 2):>12}"
        )
        print(
            f"{'  server CPU/request':34} {_fmt(ra['server_cpu_ms'], ' ms', 2):>12}      "
            f"{_fmt(rb['server_cpu_ms'], ' ms', 2):>12}"
        )
    for key in ("loadavg_before", "loadavg_after"):
        print(f"{'load average ' + key[8:] + ' the phase':34} {str(a[key]):>17} {str(b[key]):>17}")
    print()
    s = result["slowdown_pct"]
    ok = result["meets_targets"]["slowdown_pct"]
    print(
        f"slowdown at {runs_b:,} vs {runs_a:,} runs: sequential {_pct(s['sequential'])} "
        f"[{_verdict(ok)}, target <= {t['slowdown_pct']:.0f}%], "
        f"best round {_pct(s['sequential_best_round'])}, "
        f"{CONCURRENT_CLIENTS} clients {_pct(s['concurrent'])}, "
        f"p99 {_pct(s['sequential_p99'])}, p50 {_pct(s['sequential_p50'])}, "
        f"server CPU/upload {_pct(s['server_cpu'])} (positive = slower)"
    )
    if a["ratio_to_floor"] and b["ratio_to_floor"]:
        # The phases are a minute apart and the machine's own speed drifts in between (the
        # floor's rate with it); the ratio to the floor cancels that drift, and
        # bench/growth.py measures both sizes side by side.
        print(
            "  against the floor (ratio B / ratio A): "
            f"{_pct((a['ratio_to_floor'] / b['ratio_to_floor'] - 1) * 100)} slower; "
            "side by side: bench/growth.py"
        )
    pf = result["prefill"]
    print(
        f"prefill ({pf['mode']}): {pf['added_runs']:,} runs in {pf['seconds']} s "
        f"({_fmt(pf['runs_per_s'], '/s')}), database {_fmt(pf['database_mb'], ' MB')}"
    )
    print()
    print(
        f"{'serve memory (all processes)':34} {'RSS':>10} {'USS':>10} {'PSS':>10} {'peak RSS':>10}"
    )
    for label, key in (
        ("idle after start", "idle"),
        ("idle after phase A", "after_a"),
        ("idle after phase B", "after_b"),
    ):
        m = mem[key]
        extra = ""
        if key == "after_a":
            served = _serving_rss(mem, key)
            ok = served <= t["idle_rss_mb"]
            extra = (
                f"   serving process RSS {served} MB "
                f"[{_verdict(ok)}, target <= {t['idle_rss_mb']:.0f} MB]"
            )
        if key == "after_b":
            served = _serving_rss(mem, key)
            growth = _growth(_serving_rss(mem, "after_a"), served)
            ok = growth is not None and growth <= t["rss_growth_pct"]
            extra = (
                f"   serving process RSS {served} MB [{_verdict(ok)}, {_pct(growth)}, "
                f"target <= +{t['rss_growth_pct']:.0f}%]"
            )
        print(
            f"{label + ' (' + str(m['processes']) + ' procs)':34} {_fmt(m['rss_mb'], ' MB'):>10} "
            f"{_fmt(m['uss_mb'], ' MB'):>10} {_fmt(m['pss_mb'], ' MB'):>10} "
            f"{_fmt(m['peak_rss_mb'], ' MB'):>10}{extra}"
        )
    per = mem.get("idle_per_process")
    if per:
        print(
            "  idle per process: "
            + ", ".join(
                f"{p['role']} pid {p['pid']} RSS {p['rss_mb']} MB USS {p['uss_mb']} MB" for p in per
            )
        )
    print(
        f"\nload avg after {result['host']['loadavg_after']}; uploads failed: {result['failures']}"
    )


def _serving_rss(memory: dict[str, Any], key: str) -> float:
    """RSS of the process that serves requests (the largest: granian's web worker)."""
    return max(p["rss_mb"] for p in memory[key + "_per_process"])


def _per_process(server: ServeProcess) -> list[dict[str, Any]]:
    out = []
    for k, proc in enumerate(server.processes()):
        try:
            info = proc.memory_full_info()
            out.append(
                {
                    "role": "main" if k == 0 else "child",
                    "pid": proc.pid,
                    "rss_mb": round(info.rss / 1e6, 1),
                    "uss_mb": round(info.uss / 1e6, 1),
                }
            )
        except (psutil.Error, AttributeError):
            pass
    return out


# --------------------------------------------------------------------------- main


def run_phase(
    server: ServeProcess,
    floor: ServeProcess,
    payloads: Payloads,
    next_index: int,
    size: dict[str, int],
    failures: list[str],
) -> tuple[dict[str, Any], int]:
    def take(n: int) -> list[bytes]:
        nonlocal next_index
        bodies = [payloads.body(i) for i in range(next_index, next_index + n)]
        next_index += n
        return bodies

    warm, seq, conc = take(size["warmup"]), take(size["seq"]), take(size["conc"])
    warm_result = measure_sequential(server, warm, settle=True)
    failures.extend(warm_result.failures)
    measure_sequential(floor, warm, settle=True)
    loadavg = [round(x, 2) for x in os.getloadavg()]
    health, health_cpu = measure_health(server)
    sequential, floor_seq, pair_ratios = measure_paired(server, floor, seq)
    failures.extend(sequential.failures)
    concurrent = measure_concurrent(server, conc)
    failures.extend(concurrent.failures)
    return {
        "sequential": sequential.summary(),
        "floor": floor_seq.summary(),
        # The median of the paired rounds' ratios: a round that met other work (the worker's
        # scan once a minute, another process on the machine) moves it least.
        "ratio_to_floor": round(statistics.median(pair_ratios), 3) if pair_ratios else None,
        "paired_rounds": len(pair_ratios),
        "ratio_of_totals": round(sequential.per_second / floor_seq.per_second, 3)
        if floor_seq.per_second
        else None,
        "concurrent": concurrent.summary(),
        "health_p50_ms": round(health, 2),
        "health_server_cpu_ms": round(health_cpu, 2),
        "reads": measure_reads(server),
        "warmup_uploads": size["warmup"],
        "loadavg_before": loadavg,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }, next_index


READS = {
    # The endpoints compatible with the original that dashboards (Homepage) poll.
    "summary": "/api/summary",
    "lastbackup": "/api/lastbackup/bench-server-00",
    "lastbackups": "/api/lastbackups/bench-server-00",
}


def measure_reads(server: ServeProcess, count: int = 60) -> dict[str, dict[str, float]]:
    """p50 latency and server CPU per request of each of READS, in ms."""
    out = {}
    with _client(server.base_url) as client:
        for name, path in READS.items():
            for _ in range(5):
                client.get(path)
            times = []
            cpu0 = server.cpu_seconds()
            for _ in range(count):
                started = time.perf_counter()
                status = client.get(path)
                times.append(time.perf_counter() - started)
                assert status == 200, (path, status)
            cpu = server.cpu_seconds() - cpu0
            out[name] = {
                "p50_ms": round(statistics.median(times) * 1000, 2),
                "server_cpu_ms": round(cpu * 1000 / count, 2),
            }
    return out


def _runs_stored(server: ServeProcess) -> int | None:
    try:
        response = httpx.get(server.base_url + "/api/summary", timeout=30)
        return int(response.json()["totalBackupsRuns"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--small", action="store_true", help="CI size: ~300 uploads, phase B at 5,000 runs"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="DATABASE_URL for the server and the prefill (default: SQLite in a fresh temp dir)",
    )
    parser.add_argument(
        "--prefill",
        choices=("bulk", "store"),
        default="bulk",
        help="how phase B's runs are written: bulk rows (default, fast) or "
        "store_report per run (exact, several ms per run)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="runs stored before phase B (default 100,000; 5,000 with --small)",
    )
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="do not drop the PostgreSQL bench database at the end",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the temp data dir (SQLite file, serve.log)"
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="benchmark the duplistatus package in this directory instead "
        "(e.g. a `git archive HEAD` snapshot); default: this checkout",
    )
    parser.add_argument(
        "--client",
        choices=("httpx", "stdlib"),
        default="httpx",
        help="HTTP client: httpx (default) or http.client, which costs the "
        "benchmark far less CPU per request (the server's share shows)",
    )
    parser.add_argument(
        "--serve-threads",
        type=int,
        default=None,
        help="pass --threads N to `duplistatus serve` (default: its own)",
    )
    parser.add_argument(
        "--serve-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server (repeatable), for experiments",
    )
    args = parser.parse_args(argv)
    global CLIENT
    CLIENT = args.client
    if args.project is not None:
        global PROJECT
        PROJECT = args.project.resolve()
        if not (PROJECT / "duplistatus" / "__init__.py").is_file():
            parser.error(f"{PROJECT} holds no duplistatus package")

    mode = "small" if args.small else "full"
    size = dict(SIZES[mode])
    if args.runs:
        size["prefill_to"] = args.runs
    payloads = Payloads()
    print(f"preparing {mode} run ...", flush=True)

    pg: BenchDatabase | None = None
    if args.database_url and args.database_url.startswith(("postgres://", "postgresql://")):
        pg = BenchDatabase(args.database_url, args.keep_db)
        pg.create()
    data_dir = Path(tempfile.mkdtemp(prefix="duplistatus-bench-"))
    serve_args = ["--threads", str(args.serve_threads)] if args.serve_threads else []
    serve_env = dict(item.split("=", 1) for item in args.serve_env)
    server = ServeProcess(data_dir, args.database_url, serve_args, serve_env)
    floor_dir = data_dir / "floor"
    floor_dir.mkdir()
    floor = FloorProcess(floor_dir, None)
    failures: list[str] = []
    result: dict[str, Any] = {
        "mode": mode,
        "database": (
            "postgresql"
            if pg
            else "sqlite"
            if not args.database_url
            else args.database_url.split(":", 1)[0]
        ),
        "project": str(PROJECT),
        "payload": {"name": PAYLOAD.name, "bytes": len(payloads.body(0))},
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
            "pythondontwritebytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
        },
        "targets": TARGETS,
        "sizes": size,
        "client": args.client,
        "serve_args": serve_args,
        "serve_env": serve_env,
    }
    try:
        floor.start()
        server.start()
        result["startup_seconds"] = round(server.startup_seconds, 2)
        # Until what follows start-up is done (the in-process worker's first pass, which
        # imports and checks much): the figures are of a service that has settled.
        wait_until_idle(server, quiet=1.5, limit=60.0)
        time.sleep(2.0)
        memory: dict[str, Any] = {"idle": server.memory()}
        memory["idle_per_process"] = _per_process(server)
        print(
            f"server up on port {server.port} in {server.startup_seconds:.1f} s; "
            f"idle RSS {memory['idle']['rss_mb']} MB; phase A ...",
            flush=True,
        )

        phase_a, next_index = run_phase(server, floor, payloads, 0, size, failures)
        phase_a["runs_stored"] = _runs_stored(server)
        time.sleep(2.0)
        memory["after_a"] = server.memory()
        memory["after_a_per_process"] = _per_process(server)
        print(
            f"phase A: {phase_a['sequential']['uploads_per_s']} uploads/s sequential; "
            f"prefill to {size['prefill_to']:,} runs ({args.prefill}) ...",
            flush=True,
        )

        prefill_info = prefill(
            payloads, data_dir, args.database_url, size["prefill_to"], next_index, args.prefill
        )
        next_index += prefill_info["added_runs"]
        result["prefill"] = prefill_info
        print(
            f"prefill: {prefill_info['added_runs']:,} runs in {prefill_info['seconds']} s; "
            "phase B ...",
            flush=True,
        )

        phase_b, next_index = run_phase(server, floor, payloads, next_index, size, failures)
        phase_b["runs_stored"] = _runs_stored(server)
        time.sleep(2.0)
        memory["after_b"] = server.memory()
        memory["after_b_per_process"] = _per_process(server)
        result.update(phase_a=phase_a, phase_b=phase_b, memory=memory)
        seq_a, seq_b = phase_a["sequential"], phase_b["sequential"]
        result["slowdown_pct"] = {
            "sequential": _slowdown(seq_a["uploads_per_s"], seq_b["uploads_per_s"]),
            "concurrent": _slowdown(
                phase_a["concurrent"]["uploads_per_s"], phase_b["concurrent"]["uploads_per_s"]
            ),
            "sequential_best_round": _slowdown(
                seq_a["best_round_uploads_per_s"], seq_b["best_round_uploads_per_s"]
            ),
            "sequential_p99": _growth(seq_a["p99_ms"], seq_b["p99_ms"]),
            "sequential_p50": _growth(seq_a["p50_ms"], seq_b["p50_ms"]),
            # CPU time is the figure least moved by other load on the machine.
            "server_cpu": _growth(
                seq_a["server_cpu_ms_per_upload"], seq_b["server_cpu_ms_per_upload"]
            ),
        }
    finally:
        server.stop()
        floor.stop()
        result["host"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        if failures:
            print(f"\n{len(failures)} upload(s) failed; first ones:", file=sys.stderr)
            for line in failures[:5]:
                print("  " + line, file=sys.stderr)
            print("server log tail:\n" + server.log_tail(), file=sys.stderr)
        if pg is not None:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: BLE001 - Django may not be set up if we failed early
                pass
            pg.drop()
        if args.keep_data:
            print(f"data dir kept: {data_dir}")
        else:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)

    result["failures"] = len(failures)
    s = result["slowdown_pct"]
    a, b = result["phase_a"], result["phase_b"]
    mem = result["memory"]
    result["meets_targets"] = {
        "ratio_to_floor": min(a["ratio_to_floor"] or 0, b["ratio_to_floor"] or 0)
        >= TARGETS["ratio_to_floor"],
        "seq_p99_ms": max(a["sequential"]["p99_ms"], b["sequential"]["p99_ms"])
        < TARGETS["seq_p99_ms"],
        "slowdown_pct": s["sequential"] is not None and s["sequential"] <= TARGETS["slowdown_pct"],
        "idle_rss_mb": _serving_rss(mem, "after_a") <= TARGETS["idle_rss_mb"],
        "rss_growth_pct": (_growth(_serving_rss(mem, "after_a"), _serving_rss(mem, "after_b")) or 0)
        <= TARGETS["rss_growth_pct"],
    }
    print_report(result)
    print("RESULT " + json.dumps(result, separators=(",", ":")), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
