#!/usr/bin/env python
"""Template rendering benchmark: how long one message takes to render, with 5 KB of log text.

    .venv/bin/python bench/render.py            full: 20,000 renders per case
    .venv/bin/python bench/render.py --small    CI: 2,000 renders per case

Everything runs in this process. What is timed is `templates.render_message`, the call the
outbox makes for every delivery: title and body, escaping, and the plain-text body derived
from Markdown or HTML. Cases: the built-in error template for every channel kind (plain
text, ntfy's Markdown, e-mail's HTML), a template in the original's `{name}` syntax, and one
from the library (German). A last case times `templates.resolve` (the choice of template,
cached per process) against a fresh SQLite database in a temp dir with one saved template.

The log text is 5 KB of Duplicati-style lines, including `<`, `&` and `*`, so escaping and
Markdown have work to do. It PRINTS p50/p99/max beside the target (p99 < 1 ms) and asserts
nothing about speed; it exits non-zero only if a rendered message lacks its log text.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import setup_django

HERE = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 1.0
SIZES = {"full": 20_000, "small": 2_000}
WARMUP = 200


def log_text(size: int = 5 * 1024) -> str:
    lines = []
    n = 0
    while sum(len(line) + 1 for line in lines) < size:
        n += 1
        lines.append(
            f"2026-03-02 02:{n % 60:02d}:11 +00 - [Warning-Duplicati.Library.Main.Operation."
            f"BackupHandler-FileAccessError]: Error reported while accessing file: "
            f"/home/ann/Documents/report_{n}_<draft> & *final*.docx"
        )
    return "\n".join(lines)[:size]


def setup(data_dir: Path) -> None:
    setup_django(HERE, data_dir)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def measure(fn, count: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread) milliseconds per call. On a busy machine the wall
    clock includes waiting for a CPU; the thread's CPU time is the code's own cost."""
    for _ in range(WARMUP):
        fn()
    wall, cpu = [], []
    wall_clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for _ in range(count):
        started, started_cpu = wall_clock(), cpu_clock()
        fn()
        cpu.append((cpu_clock() - started_cpu) / 1e6)
        wall.append((wall_clock() - started) / 1e6)
    return wall, cpu


def percentiles(timings: list[float]) -> tuple[float, float, float]:
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def row(name: str, timings: tuple[list[float], list[float]]) -> str:
    wall, cpu = (percentiles(t) for t in timings)
    verdict = "ok" if wall[1] < TARGET_P99_MS else "OVER TARGET"
    return (
        f"  {name:<36} wall p50 {wall[0] * 1000:6.0f} p99 {wall[1] * 1000:6.0f} "
        f"max {wall[2] * 1000:6.0f} µs | cpu p50 {cpu[0] * 1000:6.0f} p99 {cpu[1] * 1000:6.0f} "
        f"µs  {verdict}"
    )


def calibration() -> float:
    """µs for a fixed piece of C-speed work: a busy or slow machine shows here first."""
    text = "y" * 6000
    pattern = re.compile(r"\s+")
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        for _ in range(200):
            pattern.sub(" ", text)
        best = min(best, (time.perf_counter_ns() - started) / 200 / 1000)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="fewer renders (CI)")
    args = parser.parse_args()
    count = SIZES["small" if args.small else "full"]

    data_dir = Path(tempfile.mkdtemp(prefix="duplistatus-bench-render-"))
    try:
        setup(data_dir)
        from duplistatus.notifications import template_store, templates

        values = templates.sample_context("error") | {"log_text": log_text()}
        marker = values["log_text"].splitlines()[3][:60]
        library = {
            e["kind"]: e for e in template_store.library("de")["templates"] if e["kind"] == "error"
        }["error"]
        cases = {
            "built-in, plain (webhook)": templates.builtin("error", "webhook"),
            "built-in, Markdown (ntfy)": templates.builtin("error", "ntfy"),
            "built-in, HTML (e-mail)": templates.builtin("error", "email"),
            "the original's {name} syntax": templates.ResolvedTemplate(
                "{backup_name} on {server_name}: {status}",
                "Backup {backup_name} on {server_name} ended with {status}.\n"
                "{errors_count} errors, {warnings_count} warnings, {duration}.\n{log_text}",
            ),
            "library (de), plain": templates.ResolvedTemplate(library["title"], library["body"]),
        }
        print(
            f"duplistatus template rendering — {platform.python_implementation()} "
            f"{platform.python_version()}, {platform.machine()}"
        )
        print(
            f"log text: {len(values['log_text'])} characters; {count} renders per case "
            f"(after {WARMUP} warm-up); target: wall p99 < {TARGET_P99_MS:g} ms"
        )
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"machine: {os.cpu_count()} CPUs, load average {load:.1f}; calibration (a regex "
            f"over 6 KB) {calibration():.1f} µs (compare runs with it)\n"
        )
        failed = False
        for name, template in cases.items():
            message = templates.render_message(template, values, kind="error")
            text = message.body
            # HTML escapes the log ('<draft>' becomes '&lt;draft&gt;'); the text part has it back.
            if marker not in text:
                print(f"  {name}: the log text is missing from the rendered message")
                failed = True
            timings = measure(
                lambda t=template: templates.render_message(t, values, kind="error"), count
            )
            print(row(name, timings))

        template_store.create(
            template_store.TemplateIn(
                kind="error", channel_kind="", title="{backup_name}", body="{log_text}"
            )
        )
        templates.forget_cache()
        timings = measure(lambda: templates.resolve("error", "email"), count)
        print(row("resolve(kind, channel kind), cached", timings))
        return 1 if failed else 0
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
