"""Collections as a queue in the database: a request is a `Collection` row; a worker claims
it with a conditional UPDATE, runs it and writes its progress into the row as it goes (the
pages poll it). A claim is renewed with each progress write; one older than the lease
belongs to a worker that died, and another worker takes the row over.

The worker runs up to `PARALLEL` collections at once, each in a thread of its own, so a slow
server does not hold up the others, nor the worker's notifications.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import close_old_connections, connection
from django.db.models import Max, Q, Subquery

from duplistatus import clock
from duplistatus.backups.models import CollectEvery, Collection, Server

from .client import CollectError
from .collect import Tally, collect_server

log = logging.getLogger(__name__)

PARALLEL = 4
LEASE = timedelta(minutes=10)
KEEP = timedelta(days=90)  # finished collections shown and kept this long
PERIODS = {CollectEvery.HOURLY: timedelta(hours=1), CollectEvery.DAILY: timedelta(days=1)}


def collectable() -> Q:
    return ~Q(duplicati_url="") & ~Q(duplicati_secret="")


def request(server: Server, requested_by: str = "") -> Collection:
    """Queue a collection of `server`, or return the one already queued or running."""
    active = server.collections.filter(state__in=["queued", "running"]).first()
    if active is not None:
        return active
    return Collection.objects.create(
        server=server, requested_at=clock.now(), requested_by=requested_by[:150]
    )


def request_all(requested_by: str = "") -> list[Collection]:
    return [request(server, requested_by) for server in Server.objects.filter(collectable())]


def request_periodic(now: datetime) -> int:
    """Queue the servers whose periodic collection is due; each is claimed by moving its
    `next_collect_at` with a conditional UPDATE, so two workers queue it once."""
    queued = 0
    due = Server.objects.filter(collectable(), ~Q(collect_every="")).filter(
        Q(next_collect_at__isnull=True) | Q(next_collect_at__lte=now)
    )
    for server in due:
        period = PERIODS.get(server.collect_every)  # type: ignore[call-overload]
        if period is None:
            continue
        moved = Server.objects.filter(pk=server.pk, next_collect_at=server.next_collect_at).update(
            next_collect_at=now + period
        )
        if moved:
            request(server, "schedule")
            queued += 1
    return queued


def purge(now: datetime) -> int:
    """Forget finished collections after KEEP, but never a server's latest."""
    latest = Collection.objects.values("server").annotate(last=Max("id")).values("last")
    deleted, _ = (
        Collection.objects.filter(finished_at__lt=now - KEEP)
        .exclude(pk__in=Subquery(latest))
        .delete()
    )
    return deleted


def _claimable(now: datetime) -> Q:
    return Q(state=Collection.State.QUEUED) | Q(
        state=Collection.State.RUNNING, claimed_at__lt=now - LEASE
    )


def claim(now: datetime | None = None, *, pk: int | None = None) -> Collection | None:
    """Take the oldest queued collection (or one whose worker died), or the one with `pk`;
    None when there is none to take."""
    now = now or clock.now()
    candidates = (
        [pk]
        if pk is not None
        else (
            Collection.objects.filter(_claimable(now))
            .order_by("requested_at", "id")
            .values_list("pk", flat=True)[:20]
        )
    )
    for pk in candidates:
        taken = Collection.objects.filter(_claimable(now), pk=pk).update(
            state=Collection.State.RUNNING, claimed_at=now
        )
        if taken:
            return Collection.objects.select_related("server").get(pk=pk)
    return None


def run(collection: Collection, on_progress: Callable[[Tally], None] | None = None) -> Collection:
    """Run a claimed collection to its end, writing progress and the outcome into its row."""

    def progress(tally: Tally) -> None:
        Collection.objects.filter(pk=collection.pk).update(
            claimed_at=clock.now(), **tally.as_dict()
        )
        if on_progress is not None:
            on_progress(tally)

    tally = Tally(report=progress)
    outcome: dict[str, object] = {"state": Collection.State.DONE, "error_code": "", "error": ""}
    try:
        collect_server(collection.server, tally)
    except CollectError as exc:
        outcome.update(state=Collection.State.FAILED, error_code=exc.code, error=exc.message)
    except Exception:
        # Not the exception's text: it may quote what the server sent.
        log.exception("collecting from server %s failed", collection.server_id)
        outcome.update(
            state=Collection.State.FAILED,
            error_code="internal",
            error="Collecting failed unexpectedly; the service log has the details.",
        )
    Collection.objects.filter(pk=collection.pk).update(
        finished_at=clock.now(), **tally.as_dict(), **outcome
    )
    collection.refresh_from_db()
    log.info(
        "collected server %s: %s, %d added, %d skipped",
        collection.server_id,
        collection.state,
        collection.runs_added,
        collection.runs_skipped,
    )
    return collection


def run_pending(limit: int | None = None) -> list[Collection]:
    """Claim and run queued collections in this thread, one after another (CLI, tests)."""
    done = []
    while limit is None or len(done) < limit:
        collection = claim()
        if collection is None:
            break
        done.append(run(collection))
    return done


class Pool:
    """The worker's collectors: claim while a slot is free, and run each claimed collection
    in a child process (`duplistatus collect --collection ID`), or in a thread.

    A child process by default: parsing and storing thousands of runs is CPU work, and in a
    thread of the web process (where `serve` runs the worker) it would hold the interpreter
    the pages need; a child runs beside it on another core. A child that dies leaves its
    claim to expire (LEASE), and a worker takes the collection over."""

    def __init__(
        self,
        parallel: int = PARALLEL,
        *,
        processes: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.parallel = parallel
        self.processes = processes
        self.env = env
        self._children: list[subprocess.Popen[bytes]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._threads: set[Future[Collection]] = set()
        self._lock = threading.Lock()

    def start_due(self, now: datetime, *, periodic: bool = True) -> int:
        """Queue periodic collections that are due (unless `periodic` is False) and start
        what fits; returns how many were started."""
        if periodic:
            purge(now)
            request_periodic(now)
        started = 0
        with self._lock:
            while self._busy() < self.parallel:
                collection = claim(now)
                if collection is None:
                    break
                self._start(collection)
                started += 1
        return started

    def _busy(self) -> int:
        self._children = [child for child in self._children if child.poll() is None]
        self._threads = {future for future in self._threads if not future.done()}
        return len(self._children) + len(self._threads)

    def _start(self, collection: Collection) -> None:
        if self.processes:
            command = [sys.executable, "-m", "duplistatus", "collect"]
            command += ["--collection", str(collection.pk)]
            self._children.append(
                subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL)
            )
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.parallel, thread_name_prefix="duplistatus-collect"
            )
        self._threads.add(self._executor.submit(run_in_thread, collection))

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy()

    def wait(self, timeout: float | None = None) -> None:
        """Until every collection started here has ended (tests, shutdown)."""
        for child in list(self._children):
            child.wait(timeout)
        for future in list(self._threads):
            future.result(timeout)


def run_in_thread(
    collection: Collection, on_progress: Callable[[Tally], None] | None = None
) -> Collection:
    """`run` in a thread of its own: it closes the thread's database connection at the end."""
    try:
        return run(collection, on_progress)
    finally:
        close_old_connections()
        connection.close()
