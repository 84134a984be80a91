"""Wake the background worker: the bottom layer, so ingest, monitoring, notifications and the
pages can all ask for a prompt pass without importing the worker (which imports them).

In-process, `wake()` sets an event the worker thread sleeps on. Across processes, on
PostgreSQL, `wake_on_commit()` also sends NOTIFY on the `duplistatus` channel, which a
standalone `duplistatus worker` LISTENs on (worker._Listener).
"""

from __future__ import annotations

import threading

from django.db import connection, transaction

NOTIFY_CHANNEL = "duplistatus"
event = threading.Event()


def wake() -> None:
    """Wake this process's worker now."""
    event.set()


def wake_on_commit() -> None:
    """Wake workers once the current transaction commits (in-process and on PostgreSQL);
    at once when no transaction is open."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        # PostgreSQL itself delivers a NOTIFY sent in a transaction when it commits (and
        # drops it on rollback): no statement of its own after the commit.
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        transaction.on_commit(event.set)
        return

    def signal() -> None:
        event.set()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")

    transaction.on_commit(signal)
