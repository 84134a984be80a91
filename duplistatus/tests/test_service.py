"""The README's first command, for real: `duplistatus serve` in its own process, on a fresh
data dir, answering Duplicati and API clients over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import corpus_body

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def service_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A clean environment: a new data dir and, on PostgreSQL, a new database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPLISTATUS_")}
    env["DUPLISTATUS_DATA_DIR"] = str(tmp_path / "data")
    base_url = os.environ.get("DATABASE_URL", "")
    dbname = None
    if base_url.startswith("postgres"):
        import psycopg

        dbname = "duplistatus_e2e_" + uuid.uuid4().hex[:8]
        admin = base_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        env["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/" + dbname
    yield env
    if dbname:
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture
def service(service_env) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "duplistatus", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=service_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"serve did not come up:\n{output}")
            time.sleep(0.1)
        yield url, service_env
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_serve_accepts_duplicati_and_answers_with_a_cli_token(service):
    url, env = service
    data_dir = Path(env["DUPLISTATUS_DATA_DIR"])
    key_file = data_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    if "DATABASE_URL" not in env:
        assert (data_dir / "duplistatus.sqlite3").exists()

    with httpx.Client(base_url=url, timeout=10) as http:
        for name, query in (
            ("v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json", ""),
            ("v2.0.4.5_backup_fatal_form-value-no-prefix_adenau-devtest.txt", "?server=mac"),
        ):
            body, content_type = corpus_body(name)
            response = http.post(
                "/api/upload" + query, content=body, headers={"Content-Type": content_type}
            )
            assert response.status_code == 200, response.text
            again = http.post(
                "/api/upload" + query, content=body, headers={"Content-Type": content_type}
            )
            assert again.status_code == 409

        # HEAD, as uptime checkers and the original's test-data tool send it first: GET's
        # status and headers, no body (the GET after it, on the same connection, reads right).
        head = http.head("/api/health")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["Content-Length"]) == len(http.get("/api/health").content)

        summary = http.get("/api/summary").json()
        assert (summary["totalServers"], summary["totalBackupsRuns"]) == (2, 2)
        assert http.get("/api/lastbackup/mac").json()["latest_backup"]["status"] == "Fatal"
        assert http.get("/api/v1/jobs").status_code == 401

        created = subprocess.run(
            [sys.executable, "-m", "duplistatus", "token", "create", "homepage"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        token = created.stdout.strip().splitlines()[-1]
        jobs = http.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
        assert jobs.status_code == 200
        assert sorted(j["name"] for j in jobs.json()) == ["DevTest", "Test Backup Name"]
