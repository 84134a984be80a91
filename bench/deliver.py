#!/usr/bin/env python
"""Delivery benchmark: how soon an upload's notification reaches its receiver, and how fast
the outbox worker drains a backlog.

    .venv/bin/python bench/deliver.py                 full: 300 latency uploads, backlogs of 1,000
    .venv/bin/python bench/deliver.py --small         CI: 30 latency uploads, backlogs of 200
    .venv/bin/python bench/deliver.py --database-url postgres://postgres@127.0.0.1:5432/duplistatus_bench_deliver
    .venv/bin/python bench/deliver.py --profile [--database-url ...]   in-process cProfile instead

What runs
  * a sink: a small ntfy-style HTTP server in its own process (this file with --sink), which
    accepts `POST /` with ntfy's publish-as-JSON document and records, per message, the
    arrival time, the `X-Duplistatus-Delivery` header and the JSON title; it answers as ntfy
    does (200, {"id": ...}). It can hold ("gate") incoming messages until told to let go.
  * `python -m duplistatus serve` on a fresh data dir and a free port. SQLite: the worker runs
    in the web process and is woken when an upload commits. PostgreSQL: `serve --no-worker`
    plus a separate `python -m duplistatus worker` process, woken by LISTEN/NOTIFY.
  * an API token (`python -m duplistatus token create bench`, its last line) and an ntfy
    channel created through `POST /api/v1/channels`, pointing at the sink, with
    rate_per_minute 0 (no rate limit), batch_threshold 0 (no digests) and event_kinds
    success/warning/error/fatal; where notification rules exist (`PATCH /api/v1/rules`; the
    built-in level notifies only warnings and worse) the global event_level is set to "all".
    So every upload produces exactly one delivery.

Uploads are the 2.1.0.5 corpus report, each with its own backup-name (`lat-000001`, ...,
which the message title carries, so the sink's arrivals are matched to uploads) and its own
BeginTime (recent: the report of a backup that just finished).

Phases
  1 latency: N uploads one at a time, started 50 ms apart (--spacing-ms); per upload the time
    from the start of the POST to the message's arrival at the sink; p50/p90/p99/max. The
    delivery log (`GET /api/v1/deliveries`) splits it: until the worker's pass began (the
    delivery's created_at), until the send finished (sent_at), and the HTTP send itself.
  2 burst: M uploads from 4 concurrent clients while the worker delivers; uploads/s, and the
    end-to-end rate (M / first upload start .. last arrival) and how far delivery lagged.
  3 drain: the sink holds the answer to the first upload's message (trickling it out, so the
    sender does not time out), which keeps the worker inside that pass while M-1 more uploads
    pile up as unprocessed events; then the sink lets go: deliveries/s from that moment to the
    last arrival, i.e. the worker turning a backlog of events into sent messages (enqueue +
    send), with the web side idle. Server-side CPU per delivery.

It PRINTS figures beside the targets (latency p50 < 300 ms; drain >= 200 deliveries/s) and
asserts nothing about speed; it exits non-zero only when a message that should have arrived
did not (or an upload failed). Everything it starts is stopped, the temp data dir removed,
and a PostgreSQL database it created dropped (a --database-url whose database name contains
"bench" is dropped and created fresh; otherwise a database `duplistatus_bench_deliver_<pid>`
is created on that server), unless --keep-db / --keep-data.

--profile: no server; in this process, against a fresh database (SQLite, or the PostgreSQL
one), K reports are stored with the project's own store_report, then `outbox.enqueue_events`
and `outbox.send_due` drain them to the sink, with every SQL query counted and timed by
shape; twice: once plain (the honest ms and CPU ms per event/delivery), once under cProfile
(listings of the project's functions by cumulative time, then everything by cumulative and
by own time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import V21_REPORT, BenchDatabase, free_port, net_time, setup_django

HERE = Path(__file__).resolve().parent.parent
PAYLOAD = V21_REPORT
MACHINE_ID = "0d1f6e2bd8c54a4fa7d9c0de1be2c4e5"
MACHINE_NAME = "deliver-bench"
CONCURRENT_CLIENTS = 4
# While the sink's gate is shut, a message's answer trickles out one byte per TRICKLE_SECONDS
# (under ntfy's 15 s read timeout), for TRICKLE_BYTES bytes at most (~20 min).
TRICKLE_SECONDS = 2.0
TRICKLE_BYTES = 600
TITLE_RE = re.compile(r"\b(warm|lat|burst|drain|prof)-(\d{6})\b")

TARGETS = {
    "latency_p50_ms": 300.0,  # below
    "drain_per_s": 200.0,  # at least
}

SIZES = {
    "full": {"warmup": 5, "latency": 300, "burst": 1000, "drain": 1000, "profile": 500},
    "small": {"warmup": 3, "latency": 30, "burst": 200, "drain": 200, "profile": 200},
}


def wall() -> float:
    """Seconds since the epoch: the sink, this process and the server's timestamps share it."""
    return time.time()


def pct(values: list[float], q: float) -> float | None:
    """Percentile with linear interpolation between closest ranks."""
    data = sorted(values)
    if not data:
        return None
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def dist_ms(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/max/mean of durations in seconds, as ms."""

    def ms(x: float | None) -> float | None:
        return round(x * 1000, 1) if x is not None else None

    return {
        "n": len(values),
        "p50_ms": ms(pct(values, 50)),
        "p90_ms": ms(pct(values, 90)),
        "p99_ms": ms(pct(values, 99)),
        "max_ms": ms(max(values) if values else None),
        "mean_ms": ms(statistics.fmean(values) if values else None),
    }


# --------------------------------------------------------------------------- the sink


def run_sink(port: int) -> None:
    """The ntfy-style receiver (runs in its own process: `deliver.py --sink PORT`).

    POST /            a message: records (arrival time, delivery header, title), answers 200
    GET  /_arrivals?from=K   the arrivals from index K on, as JSON
    POST /_gate?hold=1|0     hold incoming messages (before answering) / let them go
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    arrivals: list[tuple[float, str, str]] = []
    lock = threading.Lock()
    gate = threading.Event()
    gate.set()
    state = {"held": 0, "gate_timeouts": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as ntfy

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _reply(self, status: int, doc: Any) -> None:
            body = json.dumps(doc, separators=(",", ":")).encode()
            head = (
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            self.wfile.write(head + body)  # one write: no Nagle/delayed-ACK stall

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            arrived = wall()
            path, _, query = self.path.partition("?")
            if path == "/_gate":
                hold = urllib.parse.parse_qs(query).get("hold", ["0"])[0] == "1"
                if hold:
                    gate.clear()
                else:
                    gate.set()
                self._reply(200, {"hold": hold, **state})
                return
            try:
                doc = json.loads(body)
                title = str(doc.get("title", ""))
                topic = str(doc.get("topic", ""))
            except (ValueError, AttributeError):
                self._reply(400, {"error": "invalid JSON"})
                return
            uid = self.headers.get("X-Duplistatus-Delivery", "")
            with lock:
                arrivals.append((arrived, uid, title))
                number = len(arrivals)
            reply = {
                "id": f"bench{number:07d}",
                "time": int(arrived),
                "event": "message",
                "topic": topic,
            }
            if not gate.is_set():
                self._trickle(reply)
                return
            self._reply(200, reply)

        def _trickle(self, doc: Any) -> None:
            """Hold the sender while the gate is shut without tripping its read timeout (15 s
            for ntfy): the answer's head at once, then its body one byte (leading blanks) per
            TRICKLE_SECONDS, the rest when the gate opens."""
            state["held"] += 1
            body = b" " * TRICKLE_BYTES + json.dumps(doc, separators=(",", ":")).encode()
            self.wfile.write(
                (
                    f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
            )
            sent = 0
            while sent < TRICKLE_BYTES and not gate.wait(TRICKLE_SECONDS):
                self.wfile.write(body[sent : sent + 1])
                sent += 1
            if sent >= TRICKLE_BYTES:
                state["gate_timeouts"] += 1
            self.wfile.write(body[sent:])

        def do_GET(self) -> None:  # noqa: N802
            path, _, query = self.path.partition("?")
            if path != "/_arrivals":
                self._reply(404, {"error": "not found"})
                return
            start = int(urllib.parse.parse_qs(query).get("from", ["0"])[0])
            with lock:
                items = arrivals[start:]
                total = len(arrivals)
            self._reply(200, {"total": total, "items": items, **state})

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", port), Handler)
    print("sink ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever(poll_interval=0.2)


class Sink:
    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_dir / "sink.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen = 0  # arrivals already fetched
        self.arrivals: list[tuple[float, str, str]] = []
        self.first_by_name: dict[str, tuple[float, str]] = {}

    def start(self) -> None:
        import httpx

        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--sink", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.client = httpx.Client(timeout=10.0)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client.get(self.url + "_arrivals?from=0")
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sink did not start") from None
                time.sleep(0.05)

    def fetch(self) -> dict[str, Any]:
        doc = self.client.get(self.url + f"_arrivals?from={self.seen}").json()
        items = [(float(t), str(uid), str(title)) for t, uid, title in doc["items"]]
        self.arrivals.extend(items)
        self.seen += len(items)
        for arrived, uid, title in items:
            match = TITLE_RE.search(title)
            if match and match.group(0) not in self.first_by_name:
                self.first_by_name[match.group(0)] = (arrived, uid)
        return doc

    def gate(self, hold: bool) -> dict[str, Any]:
        return self.client.post(self.url + f"_gate?hold={int(hold)}").json()

    def by_name(self) -> dict[str, tuple[float, str]]:
        """First arrival per upload name (`lat-000001`): (time, delivery id)."""
        return self.first_by_name

    def duplicates(self) -> int:
        uids = [uid for _, uid, _ in self.arrivals]
        return len(uids) - len(set(uids))

    def wait_for(self, names: list[str], timeout: float) -> dict[str, tuple[float, str]]:
        """Wait until every name has arrived (or the timeout); returns the arrivals so far."""
        deadline = time.monotonic() + timeout
        wanted = set(names)
        while True:
            self.fetch()
            got = self.by_name()
            if wanted <= got.keys() or time.monotonic() > deadline:
                return {name: got[name] for name in names if name in got}
            time.sleep(0.05)

    def stop(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
        _stop_group(self.proc)


def _stop_group(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- payloads


class Payloads:
    """The corpus report with its backup-name and Begin/EndTime filled in per upload."""

    def __init__(self, path: Path = PAYLOAD):
        doc = json.loads(path.read_text(encoding="utf-8"))
        begin = datetime.fromisoformat(doc["Data"]["BeginTime"])
        end = datetime.fromisoformat(doc["Data"]["EndTime"])
        self.duration = end - begin
        doc["Extra"].update(
            {"machine-id": MACHINE_ID, "machine-name": MACHINE_NAME, "backup-name": "@@BNAME@@"}
        )
        doc["Data"]["BeginTime"] = "@@BEGIN@@"
        doc["Data"]["EndTime"] = "@@END@@"
        self.template = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        # Recent runs, each with its own BeginTime: a backup that finished a little earlier.
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        self.counter = 0

    def body(self, name: str) -> bytes:
        self.counter += 1
        begin = self.base + timedelta(seconds=self.counter, microseconds=self.counter % 1000)
        return (
            self.template.replace("@@BNAME@@", name)
            .replace("@@BEGIN@@", net_time(begin))
            .replace("@@END@@", net_time(begin + self.duration))
        ).encode("utf-8")


# --------------------------------------------------------------------------- the service


class Service:
    """`serve` (and, on PostgreSQL, a separate `worker`), each in its own process group."""

    def __init__(self, data_dir: Path, database_url: str | None, separate_worker: bool):
        self.data_dir = data_dir
        self.database_url = database_url
        self.separate_worker = separate_worker
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.serve: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    def env(self) -> dict[str, str]:
        env = os.environ.copy()
        env["DUPLISTATUS_DATA_DIR"] = str(self.data_dir)
        env["DJANGO_SETTINGS_MODULE"] = "duplistatus.settings"
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        else:
            env.pop("DATABASE_URL", None)
        env.pop("DUPLISTATUS_INPROCESS_WORKER", None)
        return env

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / log_name, "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "duplistatus", *args],
            cwd=HERE,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return proc

    def start(self, timeout: float = 120.0) -> None:
        import httpx

        started = time.perf_counter()
        extra = ["--no-worker"] if self.separate_worker else []
        self.serve = self._spawn(
            ["serve", "--host", "127.0.0.1", "--port", str(self.port), *extra], "serve.log"
        )
        deadline = started + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.serve.poll() is not None:
                    raise RuntimeError(
                        f"serve exited with {self.serve.returncode}:\n" + self.log_tail("serve.log")
                    )
                try:
                    if client.get(self.base_url + "/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.perf_counter() > deadline:
                    raise RuntimeError("serve not healthy in time:\n" + self.log_tail("serve.log"))
                time.sleep(0.1)
        if self.separate_worker:  # after serve's setup has migrated the database
            self.worker = self._spawn(["worker"], "worker.log")
        self.startup_seconds = time.perf_counter() - started

    def create_token(self) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "duplistatus", "token", "create", "bench"],
            cwd=HERE,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"token create failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout.strip().splitlines()[-1].strip()

    def processes(self) -> list[Any]:
        import psutil

        procs = []
        for root in (self.serve, self.worker):
            if root is None or root.poll() is not None:
                continue
            try:
                proc = psutil.Process(root.pid)
                procs += [proc, *proc.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return procs

    def cpu_seconds(self) -> float:
        import psutil

        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            text = (self.data_dir / name).read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        _stop_group(self.worker)
        _stop_group(self.serve)


def _database(url: str, keep: bool) -> BenchDatabase:
    """The URL's database if its name says "bench", else a fresh one of our own beside it."""
    given = urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))
    name = given if "bench" in given else f"duplistatus_bench_deliver_{os.getpid()}"
    return BenchDatabase(url, keep, name=name)


# --------------------------------------------------------------------------- uploads


def _upload(client: Any, url: str, body: bytes, failures: list[str]) -> None:
    import httpx

    try:
        response = client.post(url, content=body)
        if response.status_code != 200:
            failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
    except httpx.HTTPError as exc:
        failures.append(f"{type(exc).__name__}: {exc}")


def _client() -> Any:
    import httpx

    return httpx.Client(timeout=30.0, headers={"Content-Type": "application/json"})


def upload_spaced(
    service: Service, payloads: Payloads, names: list[str], spacing: float, failures: list[str]
) -> dict[str, tuple[float, float]]:
    """One at a time, started `spacing` s apart; per name (start, response) wall times."""
    url = service.base_url + "/api/upload"
    bodies = [payloads.body(name) for name in names]
    times: dict[str, tuple[float, float]] = {}
    with _client() as client:
        client.get(service.base_url + "/api/health")  # the keep-alive connection
        next_start = time.perf_counter()
        for name, body in zip(names, bodies, strict=True):
            delay = next_start - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = wall()
            _upload(client, url, body, failures)
            times[name] = (started, wall())
            next_start += spacing
    return times


def upload_concurrent(
    service: Service, payloads: Payloads, names: list[str], failures: list[str]
) -> tuple[float, float]:
    """From CONCURRENT_CLIENTS clients as fast as they go; returns (first start, last end)."""
    url = service.base_url + "/api/upload"
    bodies = [payloads.body(name) for name in names]
    shares = [bodies[k::CONCURRENT_CLIENTS] for k in range(CONCURRENT_CLIENTS)]
    gate = threading.Barrier(CONCURRENT_CLIENTS + 1)

    def work(share: list[bytes]) -> None:
        with _client() as client:
            client.get(service.base_url + "/api/health")
            gate.wait()
            for body in share:
                _upload(client, url, body, failures)

    threads = [threading.Thread(target=work, args=(s,), daemon=True) for s in shares]
    for thread in threads:
        thread.start()
    gate.wait()
    started = wall()
    for thread in threads:
        thread.join()
    return started, wall()


def _deadline(count: int) -> float:
    return 30.0 + count / 20.0  # generous: 20 deliveries/s would still arrive


# --------------------------------------------------------------------------- phases


def enable_success_rules(service: Service, token: str) -> str:
    """Where notification rules decide which results notify (default: warnings and worse),
    make every run notify, so that each upload yields one delivery."""
    import httpx

    response = httpx.patch(
        service.base_url + "/api/v1/rules",
        json={"event_level": "all"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code == 200:
        return "global event_level=all"
    if response.status_code in (404, 405):
        return "no rules API (channel event_kinds decide)"
    raise RuntimeError(f"setting the rules: HTTP {response.status_code} {response.text[:300]}")


def phase_latency(
    service: Service,
    sink: Sink,
    payloads: Payloads,
    count: int,
    spacing: float,
    token: str,
    channel_id: int,
    failures: list[str],
) -> dict[str, Any]:
    import httpx

    names = [f"lat-{i:06d}" for i in range(1, count + 1)]
    times = upload_spaced(service, payloads, names, spacing, failures)
    got = sink.wait_for(names, _deadline(count))
    latencies = [got[n][0] - times[n][0] for n in names if n in got]
    http = [times[n][1] - times[n][0] for n in names]
    result: dict[str, Any] = {
        "uploads": count,
        "spacing_ms": round(spacing * 1000, 1),
        "arrived": len(got),
        "missing": [n for n in names if n not in got][:10],
        "upload_to_arrival": dist_ms(latencies),
        "upload_http": dist_ms(http),
    }
    # The split, from the delivery log: created_at is when the worker's pass began (the event
    # became a delivery), sent_at when the sink had answered.
    response = httpx.get(
        service.base_url + "/api/v1/deliveries",
        params={"channel": channel_id, "limit": min(1000, count + 50)},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    rows = {row["uid"]: row for row in response.json()} if response.status_code == 200 else {}
    to_pass, to_sent, send_http, after_response = [], [], [], []
    for name in names:
        if name not in got or got[name][1] not in rows:
            continue
        row = rows[got[name][1]]
        created = datetime.fromisoformat(row["created_at"]).timestamp()
        sent = datetime.fromisoformat(row["sent_at"]).timestamp() if row["sent_at"] else None
        to_pass.append(created - times[name][0])
        after_response.append(created - times[name][1])
        if sent is not None:
            to_sent.append(sent - created)
        if row["latency_ms"] is not None:
            send_http.append(row["latency_ms"] / 1000)
    result["split"] = {
        "upload_start_to_worker_pass": dist_ms(to_pass),
        "upload_response_to_worker_pass": dist_ms(after_response),
        "worker_pass_to_sent": dist_ms(to_sent),
        "send_http": dist_ms(send_http),
    }
    return result


def phase_burst(
    service: Service, sink: Sink, payloads: Payloads, count: int, failures: list[str]
) -> dict[str, Any]:
    names = [f"burst-{i:06d}" for i in range(1, count + 1)]
    cpu0 = service.cpu_seconds()
    first, last = upload_concurrent(service, payloads, names, failures)
    got = sink.wait_for(names, _deadline(count))
    cpu = service.cpu_seconds() - cpu0
    arrivals = sorted(t for t, _ in got.values())
    upload_s = last - first
    out: dict[str, Any] = {
        "uploads": count,
        "arrived": len(got),
        "upload_seconds": round(upload_s, 3),
        "uploads_per_s": round(count / upload_s, 1) if upload_s else None,
        "server_cpu_ms_per_upload_and_delivery": round(cpu * 1000 / count, 2),
    }
    if arrivals:
        span = arrivals[-1] - first
        out.update(
            end_to_end_seconds=round(span, 3),
            end_to_end_per_s=round(len(arrivals) / span, 1) if span else None,
            delivered_by_last_upload=sum(1 for t in arrivals if t <= last),
            lag_after_last_upload_ms=round((arrivals[-1] - last) * 1000, 1),
        )
        tail = [t for t in arrivals if t > last]
        if len(tail) >= 10:
            out["tail_drain_per_s"] = round(len(tail) / (tail[-1] - last), 1)
    return out


def phase_drain(
    service: Service, sink: Sink, payloads: Payloads, count: int, failures: list[str]
) -> dict[str, Any]:
    names = [f"drain-{i:06d}" for i in range(1, count + 1)]
    sink.gate(True)
    try:
        # The first upload's message is held at the sink, and with it the worker, in the
        # middle of its pass; the other uploads then stay unprocessed events until the
        # release: the backlog is M-1 events (not yet deliveries).
        upload_spaced(service, payloads, names[:1], 0.0, failures)
        held_ok = bool(sink.wait_for(names[:1], 30))
        first, last = upload_concurrent(service, payloads, names[1:], failures)
        queued_for = wall() - first
    finally:
        cpu0 = service.cpu_seconds()
        released = wall()
        state = sink.gate(False)
    got = sink.wait_for(names, _deadline(count))
    cpu = service.cpu_seconds() - cpu0
    after = sorted(t for t, _ in got.values() if t >= released)
    out: dict[str, Any] = {
        "uploads": count,
        "arrived": len(got),
        "upload_seconds": round(last - first, 3),
        "uploads_per_s": round((count - 1) / (last - first), 1) if last > first else None,
        "held_seconds": round(queued_for, 2),
        "first_held": held_ok,
        "arrived_while_held": sum(1 for t, _ in got.values() if t < released) - held_ok,
        "let_through_while_held": state.get("gate_timeouts", 0),
        "delivered_after_release": len(after),
    }
    if after:
        span = after[-1] - released
        out.update(
            drain_seconds=round(span, 3),
            drain_per_s=round(len(after) / span, 1) if span else None,
            worker_cpu_ms_per_delivery=round(cpu * 1000 / len(after), 2),
        )
        # The rate once the worker is going, between the 10th and the 90th percentile.
        lo, hi = after[len(after) // 10], after[(len(after) * 9) // 10]
        if hi > lo:
            out["drain_p10_p90_per_s"] = round((len(after) * 8 // 10) / (hi - lo), 1)
    return out


# --------------------------------------------------------------------------- report


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def print_report(result: dict[str, Any]) -> None:
    lat, burst, drain = result["latency"], result["burst"], result["drain"]
    t = result["targets"]
    print()
    print(
        f"duplistatus delivery benchmark ({result['mode']}, {result['database']}, "
        f"worker {result['worker']}, {result['host']['cpus']} CPUs, "
        f"load {result['host']['loadavg_before']})"
    )
    print()
    print(
        f"1 latency, {lat['uploads']} uploads {lat['spacing_ms']:.0f} ms apart "
        f"({lat['arrived']} arrived)"
    )
    print(f"  {'':36} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9}")

    def row(label: str, d: dict[str, Any], extra: str = "") -> None:
        cells = " ".join(f"{_fmt(d[k]):>9}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
        print(f"  {label:36} {cells}{extra}")

    ok = (lat["upload_to_arrival"]["p50_ms"] or 1e9) < t["latency_p50_ms"]
    row(
        "upload start -> sink arrival (ms)",
        lat["upload_to_arrival"],
        f"   [{'ok' if ok else 'MISS'}, target p50 < {t['latency_p50_ms']:.0f} ms]",
    )
    row("  upload HTTP round trip", lat["upload_http"])
    split = lat["split"]
    row("  upload start -> worker pass", split["upload_start_to_worker_pass"])
    row("  upload response -> worker pass", split["upload_response_to_worker_pass"])
    row("  worker pass -> sent", split["worker_pass_to_sent"])
    row("  send HTTP (latency_ms)", split["send_http"])
    print()
    print(
        f"2 burst, {burst['uploads']} uploads from {CONCURRENT_CLIENTS} clients, "
        f"worker delivering meanwhile ({burst['arrived']} arrived)"
    )
    print(
        f"  uploads/s {_fmt(burst['uploads_per_s'])}; "
        f"end to end {_fmt(burst.get('end_to_end_per_s'))} deliveries/s "
        f"over {_fmt(burst.get('end_to_end_seconds'), ' s', 2)}; "
        f"{burst.get('delivered_by_last_upload')} delivered by the last upload's answer; "
        f"last arrival {_fmt(burst.get('lag_after_last_upload_ms'), ' ms')} after it; "
        f"tail {_fmt(burst.get('tail_drain_per_s'))}/s; "
        f"server CPU {burst['server_cpu_ms_per_upload_and_delivery']} ms per upload+delivery"
    )
    print()
    ok = (drain.get("drain_per_s") or 0) >= t["drain_per_s"]
    print(
        f"3 drain, backlog of {drain['uploads']} (uploaded at {_fmt(drain['uploads_per_s'])}/s, "
        f"worker held {drain['held_seconds']} s; {drain['arrived_while_held']} arrived meanwhile)"
    )
    print(
        f"  deliveries/s after release       {_fmt(drain.get('drain_per_s')):>9}"
        f"   [{'ok' if ok else 'MISS'}, target >= {t['drain_per_s']:.0f}/s]  "
        f"({drain['delivered_after_release']} in {_fmt(drain.get('drain_seconds'), ' s', 2)}; "
        f"p10..p90 {_fmt(drain.get('drain_p10_p90_per_s'))}/s; "
        f"worker CPU {_fmt(drain.get('worker_cpu_ms_per_delivery'), ' ms', 2)}/delivery)"
    )
    print()
    print(
        f"duplicates at the sink: {result['duplicates']}; uploads failed: "
        f"{result['upload_failures']}; missing: {result['missing']}"
    )


# --------------------------------------------------------------------------- profile mode


def run_profile(
    count: int, data_dir: Path, database_url: str | None, sink: Sink, top: int
) -> dict[str, Any]:
    """In this process: store `count` reports, then enqueue_events and send_due under
    cProfile, with every query counted."""
    import cProfile
    import io
    import pstats
    from collections import Counter

    setup_django(HERE, data_dir, database_url)
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", interactive=False, verbosity=0)
    from duplistatus import clock
    from duplistatus.ingest.parse import parse_body, resolve_identity
    from duplistatus.ingest.store import Upload, store_report
    from duplistatus.notifications import outbox
    from duplistatus.notifications.models import Channel, Delivery

    now = clock.now()
    channel = Channel(
        kind="ntfy",
        name="bench sink",
        created_at=now,
        updated_at=now,
        event_kinds=["success", "warning", "error", "fatal"],
        rate_per_minute=0,
        batch_threshold=0,
    )
    channel.set_config({"server_url": sink.url, "topic": "bench"})
    channel.save()
    try:  # where notification rules decide (default: warnings and worse), every run notifies
        from duplistatus.backups.models import MonitoringDefaults
        from duplistatus.notifications import rule_settings

        rule_settings.apply_rules(
            MonitoringDefaults.load(), rule_settings.RulesIn.model_validate({"event_level": "all"})
        )
    except ImportError:
        pass

    payloads = Payloads()

    def store(names: list[str]) -> float:
        began = time.perf_counter()
        for name in names:
            body = payloads.body(name)
            received = clock.now()
            with transaction.atomic():
                report = parse_body(body, "application/json", received_at=received)
                identity = resolve_identity(report, {}, "127.0.0.1")
                store_report(
                    report, identity, Upload(body, "application/json", "", "127.0.0.1", received)
                )
        return time.perf_counter() - began

    def shape(sql: str) -> str:
        sql = re.sub(r"'[^']*'", "?", sql)
        sql = re.sub(r"-?\b\d+(\.\d+)?(e[-+]?\d+)?\b", "?", sql)
        sql = re.sub(r"\(\?(, \?)+\)", "(?…)", sql)
        return sql[:140]

    def enqueue_all() -> int:
        return sum(iter(lambda: outbox.enqueue_events(), 0))

    def send_all() -> int:
        sent = 0
        while n := outbox.send_due().total:
            sent += n
        return sent

    def run(fn: Any, profile: Any | None) -> dict[str, Any]:
        with CaptureQueriesContext(connection) as queries:
            began, cpu0 = time.perf_counter(), time.process_time()
            if profile is not None:
                profile.enable()
            value = fn()
            if profile is not None:
                profile.disable()
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu0
        sql_s = sum(float(q["time"]) for q in queries.captured_queries)
        kinds = Counter(shape(q["sql"]) for q in queries.captured_queries)
        shape_ms: dict[str, float] = {}
        for q in queries.captured_queries:
            shape_ms.setdefault(shape(q["sql"]), 0.0)
            shape_ms[shape(q["sql"])] += float(q["time"]) * 1000
        return {
            "count": value,
            "seconds": round(elapsed, 3),
            "ms_each": round(elapsed * 1000 / max(1, value), 2),
            "cpu_ms_each": round(cpu * 1000 / max(1, value), 2),
            "per_s": round(value / elapsed, 1) if elapsed else None,
            "queries": len(queries.captured_queries),
            "queries_each": round(len(queries.captured_queries) / max(1, value), 2),
            "sql_ms_each": round(sql_s * 1000 / max(1, value), 3),
            "query_shapes": [
                {"n": n, "ms": round(shape_ms[q], 1), "sql": q} for q, n in kinds.most_common(12)
            ],
        }

    def listing(profile: Any) -> str:
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("cumulative").print_stats(r"duplistatus/", top)  # the project's code
        stats = pstats.Stats(profile, stream=text).strip_dirs()
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
        return text.getvalue()

    # Round 1 unprofiled (the honest times), round 2 under cProfile (where they go).
    rounds: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for label, profile_on in (("plain", False), ("profiled", True)):
        names = [f"prof-{1 if label == 'plain' else 2}{i:05d}" for i in range(1, count + 1)]
        store_s = store(names)
        prof_enqueue = cProfile.Profile() if profile_on else None
        prof_send = cProfile.Profile() if profile_on else None
        enqueue = run(enqueue_all, prof_enqueue)
        send = run(send_all, prof_send)
        rounds[label] = {
            "store_ms_per_report": round(store_s * 1000 / count, 2),
            "enqueue_events": enqueue,
            "send_due": send,
        }
        if profile_on:
            texts["enqueue_events"] = listing(prof_enqueue)
            texts["send_due"] = listing(prof_send)
    sink.fetch()
    result = {
        "reports_per_round": count,
        **rounds,
        "sink_arrivals": len(sink.by_name()),
        "sent_rows": Delivery.objects.filter(status="sent").count(),
    }
    for label in ("plain", "profiled"):
        r = rounds[label]
        print(f"\n=== {label}: store_report {r['store_ms_per_report']} ms/report")
        for step in ("enqueue_events", "send_due"):
            x = r[step]
            print(
                f"  {step}: {x['count']} in {x['seconds']} s = {x['ms_each']} ms each "
                f"({x['per_s']}/s; this process's CPU {x['cpu_ms_each']} ms each); "
                f"{x['queries_each']} queries each, "
                f"{x['sql_ms_each']} ms of it in SQL"
            )
            if label == "plain":
                for q in x["query_shapes"]:
                    print(f"    {q['n']:6} {q['ms']:9.1f} ms  {q['sql']}")
    for step, text in texts.items():
        print(f"\n=== cProfile of {step}\n{text}")
    connection.close()
    return result


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--small", action="store_true", help="CI size: 30 latency uploads, backlogs of 200"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL URL: run on a fresh database on that server, with "
        "`serve --no-worker` plus a separate `worker` (default: SQLite, "
        "worker inside serve)",
    )
    parser.add_argument("--latency-n", type=int, default=None, help="uploads in phase 1")
    parser.add_argument("--burst-m", type=int, default=None, help="uploads in phase 2")
    parser.add_argument("--drain-m", type=int, default=None, help="backlog in phase 3")
    parser.add_argument(
        "--spacing-ms",
        type=float,
        default=50.0,
        help="start-to-start spacing of the latency uploads (default 50)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead: cProfile enqueue_events/send_due in this process",
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--sink", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink is not None:
        run_sink(args.sink)
        return 0

    mode = "small" if args.small else "full"
    size = dict(SIZES[mode])
    for key, value in (
        ("latency", args.latency_n),
        ("burst", args.burst_m),
        ("drain", args.drain_m),
    ):
        if value is not None:
            size[key] = value
    if args.database_url and not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL (SQLite is the default)")

    # A SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the cleanup below still runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pg = _database(args.database_url, args.keep_db) if args.database_url else None
    data_dir = Path(tempfile.mkdtemp(prefix="duplistatus-deliver-"))
    sink = Sink(data_dir)
    service: Service | None = None
    failures: list[str] = []
    result: dict[str, Any] = {
        "mode": mode,
        "database": "postgresql" if pg else "sqlite",
        "worker": ("separate process, LISTEN/NOTIFY" if pg else "in serve, woken on commit"),
        "payload": PAYLOAD.name,
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "targets": TARGETS,
        "sizes": size,
    }
    print(f"preparing {mode} run ({result['database']}) ...", flush=True)
    try:
        if pg is not None:
            pg.create()
        sink.start()
        if args.profile:
            result["profile"] = run_profile(
                size["profile"], data_dir, pg.url if pg else None, sink, args.profile_top
            )
            result["duplicates"] = sink.duplicates()
            print("RESULT " + json.dumps(result, separators=(",", ":")), flush=True)
            return 0

        import httpx

        service = Service(data_dir, pg.url if pg else None, separate_worker=pg is not None)
        service.start()
        token = service.create_token()
        response = httpx.post(
            service.base_url + "/api/v1/channels",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "kind": "ntfy",
                "name": "bench sink",
                "config": {"server_url": sink.url, "topic": "deliver-bench"},
                "event_kinds": ["success", "warning", "error", "fatal"],
                "rate_per_minute": 0,
                "batch_threshold": 0,
            },
            timeout=30,
        )
        if response.status_code != 201:
            raise RuntimeError(
                f"creating the channel: HTTP {response.status_code} {response.text[:300]}"
            )
        channel_id = response.json()["id"]
        result["rules"] = enable_success_rules(service, token)
        result["startup_seconds"] = round(service.startup_seconds, 2)
        print(
            f"server up on port {service.port} in {service.startup_seconds:.1f} s, sink on "
            f"{sink.port}, channel {channel_id}; warm-up ...",
            flush=True,
        )

        payloads = Payloads()
        payloads.body("warm-000000")  # (the counter only)
        warm = [f"warm-{i:06d}" for i in range(1, size["warmup"] + 1)]
        upload_spaced(service, payloads, warm, 0.1, failures)
        if len(sink.wait_for(warm, 60)) < len(warm):
            raise RuntimeError(
                "warm-up messages did not arrive:\n"
                + service.log_tail("worker.log" if pg else "serve.log")
            )

        print(f"1 latency: {size['latency']} uploads ...", flush=True)
        result["latency"] = phase_latency(
            service,
            sink,
            payloads,
            size["latency"],
            args.spacing_ms / 1000,
            token,
            channel_id,
            failures,
        )
        print(
            f"  p50 {result['latency']['upload_to_arrival']['p50_ms']} ms; "
            f"2 burst: {size['burst']} uploads ...",
            flush=True,
        )
        result["burst"] = phase_burst(service, sink, payloads, size["burst"], failures)
        print(
            f"  {result['burst'].get('end_to_end_per_s')}/s end to end; "
            f"3 drain: backlog of {size['drain']} ...",
            flush=True,
        )
        result["drain"] = phase_drain(service, sink, payloads, size["drain"], failures)
        print(f"  {result['drain'].get('drain_per_s')}/s", flush=True)
    finally:
        if service is not None:
            service.stop()
        sink.stop()
        result["host"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        if failures:
            print(f"\n{len(failures)} upload(s) failed; first ones:", file=sys.stderr)
            for line in failures[:5]:
                print("  " + line, file=sys.stderr)
        if pg is not None:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: BLE001 - Django is only set up in --profile
                pass
            try:
                pg.drop()
            except Exception as exc:  # noqa: BLE001
                print(f"could not drop {pg.name}: {exc}", file=sys.stderr)
        if args.keep_data:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    missing = sum(
        result[p]["uploads"] - result[p]["arrived"] for p in ("latency", "burst", "drain")
    )
    result["missing"] = missing
    result["upload_failures"] = len(failures)
    result["duplicates"] = sink.duplicates()
    result["meets_targets"] = {
        "latency_p50_ms": (result["latency"]["upload_to_arrival"]["p50_ms"] or 1e9)
        < TARGETS["latency_p50_ms"],
        "drain_per_s": (result["drain"].get("drain_per_s") or 0) >= TARGETS["drain_per_s"],
    }
    print_report(result)
    print("RESULT " + json.dumps(result, separators=(",", ":")), flush=True)
    return 1 if failures or missing else 0


if __name__ == "__main__":
    sys.exit(main())
