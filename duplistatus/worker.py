"""The background loop: `duplistatus worker` runs it alone; `duplistatus serve` runs it in a
thread of its web process. Several workers may share one database: every piece of work is
claimed with a conditional UPDATE before it is done.

Each pass: turn new events into deliveries, send what is due, start the collections from
Duplicati servers that are queued or due (they run in threads beside the loop), and once a
minute learn schedules and scan for overdue jobs. Between passes the loop sleeps until the
next delivery is due, the next scan, or until it is woken: in-process by `wake()` (ingest
calls it when a report commits), across processes on PostgreSQL by NOTIFY on the
`duplistatus` channel.
Both come from duplistatus/wakeup.py, which the layers below this loop use to wake it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta

from django.db import close_old_connections, connection

from duplistatus import clock
from duplistatus.wakeup import NOTIFY_CHANNEL
from duplistatus.wakeup import event as _wake

log = logging.getLogger(__name__)

SCAN_PERIOD = timedelta(minutes=1)
# How often a worker records that it is alive (WorkerHeartbeat, read by worker_health.py for
# the pages' banner and /api/health, and by /metrics).
HEARTBEAT_PERIOD = timedelta(seconds=15)
# Wake-ups closer together than this are taken as one: a burst of uploads (hundreds a
# second) is handled in one pass once it pauses, instead of a pass per upload, each taking
# CPU from the uploads; but a steady stream still gets a pass at least every
# MAX_WAKE_DELAY_SECONDS, so notifications never wait longer than that for a burst to end
# (1 s made a steady stream's messages arrive ~450 ms after their upload: bench/deliver.py,
# whose target is a p50 under 300 ms).
MIN_PASS_GAP_SECONDS = 0.05
MAX_WAKE_DELAY_SECONDS = 0.2
# On SQLite the WAL is copied into the database file once uploads pause, not between them: in
# a steady stream the checkpoint (CPU and an fsync) delayed the upload it ran beside, every
# 0.2 s (bench/ingest.py p99). It is copied anyway once it has grown past this.
WAL_BACKLOG_BYTES = 16 * 1024 * 1024
IDLE_POLL_SECONDS = 2.0  # without a wake-up signal (SQLite, separate processes)
# In `serve` the first pass waits this long unless woken (an upload wakes it at once): it
# imports and reads much that answering requests does not need, and on a restart it would
# take the CPU from the web worker's first answers (bench/startup.py).
IN_PROCESS_FIRST_PASS_DELAY_SECONDS = 1.0


class Worker:
    def __init__(self) -> None:
        from duplistatus.collect import queue

        self.last_scan: datetime | None = None
        # Collections from Duplicati servers run in threads of their own (collect/queue.py).
        self.collectors = queue.Pool()
        self.started_at = clock.now()
        self.last_heartbeat: datetime | None = None
        # When this worker last completed a pass, on the monotonic clock: a worker that has
        # been completing passes all along has nothing to report when the clock jumps.
        self.last_pass_monotonic: float | None = None
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def run_pass(self) -> dict[str, int]:
        """One pass as the loop makes it. The first pass after a time when no worker
        completed one says so through the channels (system_error, sent in this pass)."""
        done = {"resumed": self.report_resumed()}
        done.update(self.run_once())
        self.heartbeat()
        return done

    def report_resumed(self) -> int:
        from duplistatus import worker_health
        from duplistatus.notifications import watch

        if self.last_pass_monotonic is not None and (
            time.monotonic() - self.last_pass_monotonic
            < worker_health.stopped_after().total_seconds()
        ):
            return 0  # this worker was running: no query
        now = clock.now()
        stopped = worker_health.stopped(now)
        return watch.report_resumed(stopped, self.name, now) if stopped is not None else 0

    def heartbeat(self) -> None:
        """Record a finished pass, at most once per HEARTBEAT_PERIOD (one small UPDATE)."""
        from duplistatus.backups.models import WorkerHeartbeat

        self.last_pass_monotonic = time.monotonic()
        now = clock.now()
        if (
            self.last_heartbeat is not None
            and timedelta(0) <= now - self.last_heartbeat < HEARTBEAT_PERIOD
        ):
            return  # (a clock moved back, in tests, writes at once)
        WorkerHeartbeat.objects.update_or_create(
            worker=self.name, defaults={"last_pass_at": now, "started_at": self.started_at}
        )
        self.last_heartbeat = now

    def run_once(self) -> dict[str, int]:
        """One pass over all due work; returns what it did, for logs and tests."""
        from duplistatus.anomaly import check as anomaly
        from duplistatus.ingest import store
        from duplistatus.maintenance import backup, retention
        from duplistatus.monitoring import monitor
        from duplistatus.notifications import outbox, summary, watch

        now = clock.now()
        done = {"queued": outbox.enqueue_events(now)}
        minutely = self.last_scan is None or now - self.last_scan >= SCAN_PERIOD
        if minutely:
            self.last_scan = now
            checked = monitor.check(now)
            done["learned"], done["monitoring_events"] = checked.learned, checked.total
            done["anomalies"] = anomaly.check_pending(now)
            done["queued"] += outbox.enqueue_events(now)
            done["summaries"] = summary.send_due_summaries(now)
            done["watch"] = watch.check_channels(now) + watch.send_health(now)
            done["purged"] = summary.purge_delivery_log(now)
            done["purged_unparsed"] = store.purge_unparsed(now)
            done["retention"] = retention.purge_due(now).total
            done["backups"] = int(backup.nightly_due(now) is not None)
            if connection.vendor == "sqlite":
                # Keeps the query planner's statistics current (SQLite has no autovacuum
                # analyze); cheap when nothing changed much.
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA optimize")
        done["sent"] = outbox.send_due(now).total
        # Requested collections start at once; periodic ones are looked for once a minute.
        done["collections_started"] = self.collectors.start_due(now, periodic=minutely)
        return done

    def seconds_to_sleep(self) -> float:
        from duplistatus.notifications import outbox

        now = clock.now()
        waits = [SCAN_PERIOD.total_seconds()]
        if self.last_scan is not None:
            waits.append((self.last_scan + SCAN_PERIOD - now).total_seconds())
        if (due := outbox.next_due_at()) is not None:
            waits.append((due - now).total_seconds())
        return max(0.0, min(waits))


def run_forever(
    stop: threading.Event | None = None, *, in_process: bool = False, first_delay: float = 0.0
) -> None:
    stop = stop or threading.Event()
    if first_delay:
        _wake.wait(first_delay)
    worker = Worker()
    listener = _Listener() if not in_process else None
    log.info("worker started")
    paused = True  # no uploads are coming in (as far as the last wake-ups tell)
    while not stop.is_set():
        close_old_connections()
        try:
            done = worker.run_pass()
            if connection.vendor == "sqlite" and (paused or _wal_bytes() > WAL_BACKLOG_BYTES):
                # Copies what the uploads wrote to the WAL into the database file, here
                # rather than in an upload's commit (see settings: wal_autocheckpoint).
                # PASSIVE neither waits for nor blocks writers.
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            if any(done.values()):
                log.info("worker pass: %s", done)
            # Loop at once while there is more than one pass's worth of work.
            if done.get("sent", 0) >= 100 or done.get("queued", 0) >= 100:
                continue
            timeout = worker.seconds_to_sleep()
        except Exception:
            # One bad pass must not end the loop; the next pass retries what is still due.
            log.exception("worker pass failed")
            timeout = IDLE_POLL_SECONDS
        finally:
            close_old_connections()
        if listener is not None:
            listener.wait(timeout)
        else:
            _wake.wait(timeout)
            paused = _settle(stop)
    log.info("worker stopped")


def _settle(stop: threading.Event) -> bool:
    """After a wake-up: wait until wake-ups stop coming for MIN_PASS_GAP_SECONDS, at most
    MAX_WAKE_DELAY_SECONDS, so that a burst makes one pass. Whether they stopped (or the
    wait is over for another reason), rather than kept coming."""
    deadline = time.monotonic() + MAX_WAKE_DELAY_SECONDS
    while True:
        _wake.clear()
        if stop.wait(MIN_PASS_GAP_SECONDS) or not _wake.is_set():
            return True
        if time.monotonic() >= deadline:
            _wake.clear()
            return False


def _wal_bytes() -> int:
    try:
        return os.path.getsize(f"{connection.settings_dict['NAME']}-wal")
    except OSError:
        return 0


class _Listener:
    """Sleep until woken: PostgreSQL LISTEN when available, else short polls."""

    def __init__(self) -> None:
        self.conn = None
        if connection.vendor == "postgresql":
            try:
                import psycopg

                params = connection.get_connection_params()
                self.conn = psycopg.connect(**params, autocommit=True)
                self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            except Exception:
                log.warning("LISTEN unavailable; polling instead", exc_info=True)
                self.conn = None

    def wait(self, timeout: float) -> None:
        if self.conn is None:
            _wake.wait(min(timeout, IDLE_POLL_SECONDS))
            _wake.clear()
            return
        try:
            for _ in self.conn.notifies(timeout=timeout, stop_after=1):
                pass
        except Exception:
            log.warning("LISTEN connection lost; reconnecting", exc_info=True)
            self.__init__()  # type: ignore[misc]


def start_in_background() -> threading.Thread:
    thread = threading.Thread(
        target=run_forever,
        kwargs={"in_process": True, "first_delay": IN_PROCESS_FIRST_PASS_DELAY_SECONDS},
        name="duplistatus-worker",
        daemon=True,
    )
    thread.start()
    return thread
