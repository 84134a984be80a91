"""`duplistatus serve` against hostile clients, a database that is not up yet, a `kill -9` and a
taken port: each with real processes and real sockets."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import psutil
import pytest

from conftest import corpus_body

pytestmark = pytest.mark.timeout(180)

REPORT = "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
UPLOAD_LIMIT = 100_000
BODY_TIMEOUT = 6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def prepared_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A data dir (and on PostgreSQL a database) that `setup` has prepared once, so each
    test's `serve` starts as a restart does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPLISTATUS_")}
    env["DUPLISTATUS_DATA_DIR"] = str(tmp_path_factory.mktemp("serve") / "data")
    env["DUPLISTATUS_MAX_UPLOAD_BYTES"] = str(UPLOAD_LIMIT)
    env["DUPLISTATUS_BODY_TIMEOUT_SECONDS"] = str(BODY_TIMEOUT)
    env["DUPLISTATUS_ADMIN_PASSWORD"] = "serve tests 12345"
    base_url = os.environ.get("DATABASE_URL", "")
    dbname = None
    if base_url.startswith("postgres"):
        import psycopg

        dbname = "duplistatus_serve_" + uuid.uuid4().hex[:8]
        admin = base_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        env["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/" + dbname
    subprocess.run(
        [sys.executable, "-m", "duplistatus", "setup", "--quiet"], env=env, check=True, timeout=170
    )
    yield env
    if dbname:
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


class Serve:
    """One `duplistatus serve` process (in its own session, so all of it can be stopped)."""

    def __init__(self, env: dict[str, str], port: int | None = None):
        self.port = port or free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "duplistatus", "serve", "--host", "127.0.0.1"]
            + ["--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace"))

    def wait_for_output(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"serve never said {text!r}:\n{self.output()}")
            time.sleep(0.05)

    def health(self, timeout: float = 1.0) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", "/api/health")
            return conn.getresponse().status
        finally:
            conn.close()

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited ({self.process.returncode}):\n{self.output()}")
            try:
                if self.health() == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail(f"serve did not answer within {timeout} s")

    def output(self) -> str:
        if self.process.poll() is None:
            self.stop()
        self.reader.join(timeout=10)
        return "".join(self.lines)

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def serve(prepared_env) -> Iterator[Serve]:
    server = Serve(prepared_env)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def post(port: int, body, headers: dict[str, str], **request_kw) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/api/upload", body=body, headers=headers, **request_kw)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def report(name: str) -> bytes:
    """The corpus report, as a different job each time (so none is a duplicate)."""
    body = json.loads(corpus_body(REPORT)[0])
    body["Extra"]["backup-name"] = name
    return json.dumps(body).encode()


def test_slow_clients_do_not_stall_the_service(serve):
    """16 clients drip a body one byte a second (and 4 drip their headers). Before, four of
    them (one per request thread) hung pages, API, /api/health and every Duplicati report for
    as long as they dripped; now the others are served at once, the body drippers get 408
    after DUPLISTATUS_BODY_TIMEOUT_SECONDS and the header drippers are cut off after 10 s."""
    answers: dict[int, bytes] = {}

    def drip(index: int) -> None:
        with socket.create_connection(("127.0.0.1", serve.port)) as sock:
            sock.sendall(
                b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 50000\r\n\r\n"
            )
            sock.settimeout(1)
            started = time.monotonic()
            while time.monotonic() - started < BODY_TIMEOUT + 10:
                try:
                    sock.sendall(b" ")
                    answers[index] = sock.recv(200)
                    return
                except TimeoutError:
                    continue
                except OSError:
                    return

    def drip_headers(index: int) -> None:
        """Headers that never end (slowloris): the connection is closed after 10 s."""
        with socket.create_connection(("127.0.0.1", serve.port)) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            sock.settimeout(1)
            started = time.monotonic()
            while time.monotonic() - started < 20:
                try:
                    sock.sendall(b"a")
                    answers[index] = sock.recv(200) or b"closed"
                    return
                except TimeoutError:
                    continue
                except OSError:
                    answers[index] = b"closed"
                    return

    drippers = [threading.Thread(target=drip, args=(i,)) for i in range(16)]
    drippers += [threading.Thread(target=drip_headers, args=(i,)) for i in range(16, 20)]
    for thread in drippers:
        thread.start()
    time.sleep(1.5)  # all 16 are dripping now

    stored, latencies = 0, []
    started = time.monotonic()
    while time.monotonic() - started < 3:
        asked = time.monotonic()
        assert serve.health(timeout=5) == 200
        latencies.append(time.monotonic() - asked)
        assert latencies[-1] < 1.0
        status, _ = post(serve.port, report(f"job {stored}"), {"Content-Type": "application/json"})
        assert status == 200
        stored += 1
    assert stored >= 3
    print(f"/api/health under 20 slow clients: max {max(latencies) * 1000:.1f} ms, "
          f"{stored} reports stored in 3 s")  # fmt: skip

    for thread in drippers:
        thread.join(timeout=25)
    assert all(answers[i].startswith(b"HTTP/1.1 408") for i in range(16)), answers
    assert all(i in answers for i in range(16, 20)), "a slow header sender was never cut off"


def test_chunked_upload_is_read_whole_and_bounded(serve):
    """Transfer-Encoding: chunked has no Content-Length; such a report was read as empty."""
    body = report("chunked")
    parts = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    status, answer = post(
        serve.port,
        iter(parts),
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    assert (status, answer.get("success")) == (200, True), answer
    again, _ = post(serve.port, body, {"Content-Type": "application/json"})
    assert again == 409  # it was stored whole: the same report again is a duplicate

    too_big = (b" " * 10_000 for _ in range(UPLOAD_LIMIT // 10_000 + 2))
    status, answer = post(
        serve.port,
        too_big,
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    assert status == 413
    assert str(UPLOAD_LIMIT) in answer["error"]


def test_web_worker_dies_with_a_killed_serve(serve):
    main = psutil.Process(serve.process.pid)
    workers = main.children(recursive=True)
    assert workers
    main.kill()  # kill -9: no chance to stop its workers itself
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"orphaned workers still running: {alive}"
    with pytest.raises(OSError):
        serve.health()


def test_second_serve_on_a_taken_port_refuses_to_start(serve, prepared_env):
    second = Serve(prepared_env, port=serve.port)
    try:
        assert second.process.wait(timeout=30) != 0
    finally:
        second.stop()
    output = second.output()
    assert f"cannot listen on 127.0.0.1:{serve.port}" in output
    assert "Traceback" not in output
    assert serve.health() == 200  # the first one serves on


def _forward(listener: socket.socket, target: tuple[str, int]) -> None:
    """A TCP forwarder: the database "coming up" on the port serve waits on."""

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(target)
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


def test_serve_waits_for_a_database_that_is_not_up_yet(prepared_env):
    """Started before its PostgreSQL (compose, a reboot), serve used to die with a traceback:
    now it says what it waits for, and gives up clearly when the time is up."""
    port = free_port()
    env = {
        **prepared_env,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/duplistatus",
        "DUPLISTATUS_DATABASE_WAIT_SECONDS": "3",
    }
    server = Serve(env)
    assert server.process.wait(timeout=60) != 0
    output = server.output()
    assert f"Waiting for the database (postgresql 'duplistatus' at 127.0.0.1:{port})" in output
    assert "The database did not answer within 3 s" in output
    assert "Traceback" not in output


def test_serve_starts_once_the_database_comes_up(prepared_env):
    url = prepared_env.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("the database that comes up later is PostgreSQL (DATABASE_URL)")
    from urllib.parse import urlsplit

    real = urlsplit(url)
    port = free_port()
    env = {
        **prepared_env,
        "DATABASE_URL": url.replace(real.netloc, f"{real.username}@127.0.0.1:{port}"),
        "DUPLISTATUS_DATABASE_WAIT_SECONDS": "60",
    }
    server = Serve(env)
    listener = socket.socket()
    try:
        server.wait_for_output("Waiting for the database")  # then the database comes up
        listener.bind(("127.0.0.1", port))
        listener.listen()
        threading.Thread(
            target=_forward, args=(listener, (real.hostname, real.port or 5432)), daemon=True
        ).start()
        server.wait_healthy()
    finally:
        server.stop()
        listener.close()
    assert "The database answers" in server.output()
