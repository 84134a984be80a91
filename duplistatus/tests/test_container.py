"""The container image's entry point, run as a plain process with the image's environment.

CI also builds and runs the image itself with podman (docker/check-image.sh); this test keeps
the Dockerfile's command, environment and health check honest on any machine.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from duplistatus.tests.test_service import free_port, service_env  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parent.parent.parent


def final_stage() -> list[tuple[str, str]]:
    """(instruction, argument) of the Dockerfile's last stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    instructions = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, (word, *_) in enumerate(instructions) if word == "FROM")
    return [(word, rest) for word, rest in instructions[last_from:]]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in final_stage():
        if word == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", rest))
    return env


def exec_form(word: str) -> list[str]:
    rest = next(rest for w, rest in final_stage() if w == word)
    if word == "HEALTHCHECK":
        rest = rest.split(" CMD ", 1)[1]
    return json.loads(rest)


def test_the_image_runs_unprivileged_with_a_data_volume_and_a_health_check():
    stage = dict(final_stage())
    assert stage["USER"] == "duplistatus"
    assert stage["VOLUME"] == "/data"
    assert stage["EXPOSE"] == "9666"
    env = image_env()
    assert env["DUPLISTATUS_DATA_DIR"] == "/data"
    assert env["PORT"] == "9666"
    assert exec_form("CMD") == ["duplistatus", "serve"]


def test_the_entry_point_serves_and_the_health_check_sees_it(service_env, tmp_path):  # noqa: F811
    env = {**service_env, **image_env(), "PATH": service_env["PATH"]}
    env["DUPLISTATUS_DATA_DIR"] = service_env["DUPLISTATUS_DATA_DIR"]
    env["PORT"] = str(free_port())
    env["TZ"] = "Europe/Berlin"
    command = exec_form("CMD")
    command[0] = shutil.which(command[0]) or command[0]
    health = exec_form("HEALTHCHECK")
    health = [sys.executable, str(ROOT / health[1].removeprefix("/app/"))]

    def healthy() -> subprocess.CompletedProcess[str]:
        return subprocess.run(health, env=env, capture_output=True, text=True, timeout=10)

    assert healthy().returncode == 1, "nothing listens yet: the check must say unhealthy"
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90  # a first start migrates a new database
        while (check := healthy()).returncode != 0:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, check.stdout
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert healthy().returncode == 1, "stopped: the check must say unhealthy again"
