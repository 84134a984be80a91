"""A deployment of several processes on one PostgreSQL, run for real and checked from outside.

Two `duplistatus serve --no-worker` web processes and two `duplistatus worker` processes share
one database. Clients upload reports alternating between the web processes, each report sent
one to four times as Duplicati resends; a webhook receiver fails every third request; one
worker is killed (SIGKILL) halfway and started again. Afterwards every report must be stored
once, and every notification must have reached the receiver (by its `webhook-id`, which stays
the same on every retry, so a receiver drops a repeat).

Used by `test_cluster.py` (CI, small) and `bench/cluster.py` (the figures, full size).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

PROJECT = Path(__file__).resolve().parent.parent.parent
CLIENTS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FlakyReceiver:
    """A webhook receiver on 127.0.0.1 that fails a third of all requests: the first attempt of
    every second message gets 503 (so each of those is retried once, after the outbox's
    backoff). It records every webhook-id it accepted and how often one came again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.failed = 0
        self.seen: set[str] = set()  # webhook-ids that arrived at least once
        self.accepted: set[str] = set()  # webhook-ids answered 200 at least once
        self.repeats = 0  # arrived again after an acceptance (a resend after a crash)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                msg_id = self.headers.get("webhook-id", "")
                with receiver.lock:
                    receiver.requests += 1
                    fail = msg_id not in receiver.seen and len(receiver.seen) % 2 == 1
                    receiver.seen.add(msg_id)
                    if fail:
                        receiver.failed += 1
                    elif msg_id in receiver.accepted:
                        receiver.repeats += 1
                    else:
                        receiver.accepted.add(msg_id)
                self.send_response(503 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Result:
    reports: int
    sends: int
    upload_seconds: float
    answers: dict[int, int] = field(default_factory=dict)  # HTTP status → count
    runs_stored: int = 0
    runs_distinct: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    repeats: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # run stored → sent, seconds
    drain_seconds: float = 0.0
    receiver_requests: int = 0
    receiver_failed: int = 0
    web_warnings: list[str] = field(default_factory=list)  # the web processes' own words

    @property
    def uploads_per_second(self) -> float:
        return self.sends / self.upload_seconds

    def percentile(self, q: float) -> float:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(len(data) * q / 100))] if data else float("nan")

    def summary(self) -> str:
        lat = self.latencies
        return (
            f"{self.reports} reports in {self.sends} sends over {self.upload_seconds:.1f} s "
            f"({self.uploads_per_second:.0f} sends/s; "
            f"answers {dict(sorted(self.answers.items()))}); "
            f"runs stored {self.runs_stored} (distinct {self.runs_distinct}); "
            f"notifications delivered {self.delivered}/{self.reports}, repeats dropped by id "
            f"{self.repeats}, receiver requests {self.receiver_requests} "
            f"({self.receiver_failed} answered 503); "
            f"delivery latency p50 {statistics.median(lat) if lat else float('nan'):.2f} s, "
            f"p95 {self.percentile(95):.2f} s, p99 {self.percentile(99):.2f} s, "
            f"max {max(lat) if lat else float('nan'):.2f} s; "
            f"queue drained {self.drain_seconds:.1f} s after the last upload"
        )


class Cluster:
    """The processes of one deployment on a fresh PostgreSQL database and data dir."""

    def __init__(self, database_url: str) -> None:
        parts = urllib.parse.urlsplit(database_url)
        self.dbname = "duplistatus_cluster_" + uuid.uuid4().hex[:8]
        self.admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
        self.url = urllib.parse.urlunsplit(parts._replace(path="/" + self.dbname))
        self.data_dir = Path(tempfile.mkdtemp(prefix="duplistatus-cluster-"))
        self.web_ports = [free_port(), free_port()]
        self.web: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUPLISTATUS_")}
        env.update(
            DATABASE_URL=self.url,
            DUPLISTATUS_DATA_DIR=str(self.data_dir),
            DUPLISTATUS_LOG_LEVEL="WARNING",
            # A worker killed mid-send leaves its claim; the message is sent again once the
            # claim expires (300 s by default, longer than a run here waits).
            DUPLISTATUS_CLAIM_LEASE_SECONDS="30",
        )
        return env

    def command(self, *args: str, log: str | None = None) -> subprocess.Popen[bytes]:
        out = open(self.data_dir / log, "ab") if log else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, "-m", "duplistatus", *args],
            cwd=PROJECT,
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        # Migrate once, before the processes race to.
        setup = subprocess.run(
            [sys.executable, "-m", "duplistatus", "setup", "--quiet"],
            cwd=PROJECT,
            env={**self.env(), "DUPLISTATUS_ADMIN_PASSWORD": "cluster-admin-pw-1"},
            capture_output=True,
            timeout=300,
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
        for i, port in enumerate(self.web_ports):
            self.web.append(
                self.command(
                    "serve",
                    "--no-worker",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    log=f"web{i}.log",
                )
            )
        self.workers = [self.command("worker", log=f"worker{i}.log") for i in range(2)]
        deadline = time.monotonic() + 120
        with httpx.Client(timeout=2) as client:
            for port, process in zip(self.web_ports, self.web, strict=True):
                while True:
                    assert process.poll() is None, self.log("web0.log") + self.log("web1.log")
                    try:
                        if client.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, "web processes not healthy in 120 s"
                    time.sleep(0.2)

    def log(self, name: str) -> str:
        path = self.data_dir / name
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def token(self) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "duplistatus", "token", "create", "cluster"],
            cwd=PROJECT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout.strip().splitlines()[-1]

    def kill_and_restart_worker(self, index: int, pause: float = 1.0) -> None:
        self.workers[index].send_signal(signal.SIGKILL)
        self.workers[index].wait()
        time.sleep(pause)
        self.workers[index] = self.command("worker", log=f"worker{index}.log")

    def stop(self) -> None:
        import psycopg

        for process in self.web + self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.web + self.workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        import shutil

        shutil.rmtree(self.data_dir, ignore_errors=True)


@contextmanager
def cluster(database_url: str) -> Iterator[Cluster]:
    deployment = Cluster(database_url)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


def report(template: dict, n: int, begin: datetime) -> bytes:
    doc = json.loads(json.dumps(template))
    doc["Extra"].update(
        {
            "machine-id": "c1a5e0c1a5e0c1a5e0c1a5e0c1a5e0c1",
            "machine-name": "cluster",
            "backup-name": f"job-{n % 20:02d}",
        }
    )
    doc["Data"].update(BeginTime=begin.isoformat(), ParsedResult=("Success", "Warning")[n % 2])
    doc["Extra"].pop("next-scheduled-run", None)
    return json.dumps(doc).encode()


def run(
    database_url: str, template: dict, reports: int, *, seed: int = 7, wait_seconds: float = 600
) -> Result:
    """Upload `reports` reports through the cluster and wait for their notifications."""
    rng = random.Random(seed)
    receiver = FlakyReceiver()
    try:
        with cluster(database_url) as deployment:
            base = [f"http://127.0.0.1:{port}" for port in deployment.web_ports]
            headers = {"Authorization": f"Bearer {deployment.token()}"}
            with httpx.Client(timeout=30, headers=headers) as api:
                created = api.post(
                    base[0] + "/api/v1/channels",
                    json={
                        "kind": "webhook",
                        "name": "receiver",
                        "config": {"url": receiver.url},
                        "event_kinds": ["success", "warning", "error", "fatal"],
                        "rate_per_minute": 0,
                        "batch_threshold": 0,
                    },
                )
                assert created.status_code == 201, created.text
                rules = api.patch(base[1] + "/api/v1/rules", json={"event_level": "all"})
                assert rules.status_code == 200, rules.text

            t0 = datetime.now(UTC) - timedelta(days=reports)
            plan = [(n, rng.randint(1, 4)) for n in range(reports)]
            bodies = {n: report(template, n, t0 + timedelta(minutes=n)) for n, _ in plan}
            answers: dict[int, int] = {}
            lock = threading.Lock()

            def upload(item: tuple[int, int]) -> None:
                n, times = item
                with httpx.Client(timeout=30) as client:
                    for attempt in range(times):
                        url = base[(n + attempt) % 2] + "/api/upload"
                        answer = client.post(
                            url, content=bodies[n], headers={"Content-Type": "application/json"}
                        )
                        with lock:
                            answers[answer.status_code] = answers.get(answer.status_code, 0) + 1

            started = time.monotonic()
            with ThreadPoolExecutor(CLIENTS) as pool:
                half = len(plan) // 2
                list(pool.map(upload, plan[:half]))
                killer = threading.Thread(target=deployment.kill_and_restart_worker, args=(0,))
                killer.start()
                list(pool.map(upload, plan[half:]))
                killer.join()
            upload_seconds = time.monotonic() - started
            uploaded_at = time.monotonic()
            # What a web process said about an answer other than 200 or 409 (a 503 names
            # the database error), before the data dir with the logs is gone.
            web_warnings = [
                line
                for name in ("web0.log", "web1.log")
                if (deployment.data_dir / name).exists()
                for line in (deployment.data_dir / name).read_text(errors="replace").splitlines()
                if " WARNING " in line or " ERROR " in line
            ]

            deadline = time.monotonic() + wait_seconds
            while len(receiver.accepted) < reports and time.monotonic() < deadline:
                time.sleep(0.25)
            drain_seconds = time.monotonic() - uploaded_at
            time.sleep(1)  # a repeat that is still on its way is counted too

            import psycopg

            with psycopg.connect(deployment.url) as conn:
                runs, distinct = conn.execute(
                    "SELECT count(*), count(DISTINCT (job_id, begin_time)) FROM backups_backuprun"
                ).fetchone()
                statuses = dict(
                    conn.execute(
                        "SELECT status, count(*) FROM notifications_delivery GROUP BY status"
                    ).fetchall()
                )
                uids = {
                    str(uid)
                    for (uid,) in conn.execute(
                        "SELECT uid FROM notifications_delivery WHERE event_id IS NOT NULL"
                    ).fetchall()
                }
                # From the upload that stored the run to the send that the receiver accepted
                # (retries and their backoff included).
                latencies = [
                    float(seconds)
                    for (seconds,) in conn.execute(
                        "SELECT EXTRACT(EPOCH FROM d.sent_at - r.received_at)"
                        " FROM notifications_delivery d"
                        " JOIN backups_event e ON d.event_id = e.id"
                        " JOIN backups_backuprun r ON e.run_id = r.id"
                        " WHERE d.status = 'sent'"
                    ).fetchall()
                ]
        result = Result(
            reports=reports,
            sends=sum(answers.values()),
            upload_seconds=upload_seconds,
            answers=answers,
            runs_stored=runs,
            runs_distinct=distinct,
            deliveries=statuses,
            delivered=len(receiver.accepted),
            repeats=receiver.repeats,
            missing=sorted(uids - set(receiver.accepted)),
            unexpected=sorted(set(receiver.accepted) - uids),
            latencies=latencies,
            drain_seconds=drain_seconds,
            receiver_requests=receiver.requests,
            receiver_failed=receiver.failed,
            web_warnings=web_warnings,
        )
        return result
    finally:
        receiver.stop()
