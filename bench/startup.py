#!/usr/bin/env python
"""Start-up benchmark: how long `duplistatus serve` takes to answer /api/health.

    .venv/bin/python bench/startup.py             first start, then 5 restarts on that data dir
    .venv/bin/python bench/startup.py --small     CI: first start, then 2 restarts
    .venv/bin/python bench/startup.py --project /tmp/snapshot   another checkout (before/after)

Each start is `python -m duplistatus serve` on a fresh free port, timed from the launch to the
first 200 from /api/health (polled every 20 ms), then stopped. The first start on a fresh data
dir (SQLite) migrates and collects the static files; a restart should find nothing to do.

Python's bytecode cache: an installed service has one (pip compiles it on install, the
Dockerfile sets UV_COMPILE_BYTECODE=1), while a checkout run with PYTHONDONTWRITEBYTECODE=1
(as this machine's shells are) compiles every module from source on every start, ~1 s more.
So the server here writes its bytecode to a cache in the benchmark's temp dir
(PYTHONPYCACHEPREFIX): the first start compiles, the restarts read it. --no-bytecode-cache
measures the other case.
Prints the figures beside the target; asserts nothing about speed, exits non-zero only when a
start fails. CPU is the user+system time of the whole process tree (less noisy than wall time
on a busy machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import free_port

HERE = Path(__file__).resolve().parent.parent
TARGET_RESTART_SECONDS = 1.0  # at most


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_once(
    project: Path, data_dir: Path, timeout: float, pycache: Path | None
) -> tuple[float, float]:
    """(seconds to the first healthy answer, CPU seconds of the serve tree)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPLISTATUS_")}
    env.pop("DATABASE_URL", None)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["DUPLISTATUS_DATA_DIR"] = str(data_dir)
    env["DUPLISTATUS_ADMIN_PASSWORD"] = "bench password 1234"
    cpu_before = children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "duplistatus", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with httpx.Client(timeout=2.0) as client:
            while True:
                try:
                    if client.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"serve exited with {proc.returncode} before answering")
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"serve did not answer within {timeout:.0f} s")
                time.sleep(0.02)
        seconds = time.perf_counter() - started
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    return seconds, children_cpu() - cpu_before


def _load(figures: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--small", action="store_true", help="2 restarts instead of 5")
    parser.add_argument("--project", type=Path, default=HERE, help="the checkout to start")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="start as this shell would (PYTHONDONTWRITEBYTECODE as it is set), without "
        "the benchmark's own bytecode cache",
    )
    args = parser.parse_args()
    restarts = 2 if args.small else 5
    project = args.project.resolve()

    with tempfile.TemporaryDirectory(prefix="duplistatus-startup-") as tmp:
        data_dir = Path(tmp) / "data"
        pycache = None if args.no_bytecode_cache else Path(tmp) / "pycache"
        load = os.getloadavg()
        first, first_cpu = start_once(project, data_dir, 300, pycache)
        figures = [start_once(project, data_dir, 120, pycache) for _ in range(restarts)]
        load_after = os.getloadavg()

    walls = [wall for wall, _ in figures]
    cpus = [cpu for _, cpu in figures]
    median = statistics.median(walls)
    verdict = "ok" if median <= TARGET_RESTART_SECONDS else "MISS"
    print(f"duplistatus start-up benchmark ({'small' if args.small else 'full'}, SQLite)")
    cache = "none" if args.no_bytecode_cache else "written by the first start"
    print(f"project {project}; {os.cpu_count()} CPUs; bytecode cache: {cache}")
    print(f"load average before {_load(load)}, after {_load(load_after)}")
    print(f"first start (fresh data dir)    {first:6.2f} s   CPU {first_cpu:5.2f} s")
    print(
        f"restart, median of {restarts}          {median:6.2f} s   "
        f"CPU {statistics.median(cpus):5.2f} s   [{verdict}, target <= "
        f"{TARGET_RESTART_SECONDS:g} s]"
    )
    print(f"restarts: {', '.join(f'{w:.2f} s' for w in walls)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
