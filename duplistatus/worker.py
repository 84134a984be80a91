"""The background loop: `duplistatus worker` runs it alone; `duplistatus serve` runs it in a
thread of its web process. Each pass does the due work and sleeps until the next; several
workers may run against one database because every piece of work is claimed with a
conditional UPDATE before it is done.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections

from duplistatus import clock

log = logging.getLogger(__name__)

CHECK_PERIOD_SECONDS = 60.0
_wake = threading.Event()


def wake() -> None:
    """Ask an in-process worker to run a pass now instead of at its next period."""
    _wake.set()


def run_once() -> dict[str, int]:
    """One pass over all due work; returns what it did, for logs and tests."""
    from duplistatus.monitoring import monitor

    now = clock.now()
    return {
        "learned": monitor.learn_pending(now),
        "monitoring_events": monitor.scan(now).total,
    }


def run_forever(stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    log.info("worker started")
    while not stop.is_set():
        close_old_connections()
        try:
            done = run_once()
            if any(done.values()):
                log.info("worker pass: %s", done)
        except Exception:
            # One bad pass must not end the loop; the next pass retries what is still due.
            log.exception("worker pass failed")
        finally:
            close_old_connections()
        _wake.wait(CHECK_PERIOD_SECONDS)
        _wake.clear()
    log.info("worker stopped")


def start_in_background() -> threading.Thread:
    thread = threading.Thread(target=run_forever, name="duplistatus-worker", daemon=True)
    thread.start()
    return thread
