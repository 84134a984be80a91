"""What has to be true before the service answers, done by `duplistatus setup` and by each web
worker of `serve` before it takes requests: the translations are compiled, the database
answers, its schema is current, the pages' assets are installed and collected, and the first
admin exists.

Each step checks first and does nothing when there is nothing to do, so a restart on an
existing data dir costs one connection, one query for the applied migrations and a hash of
the static sources, not a migrate run and a collectstatic (which hashes and compresses every
file: seconds).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

Echo = Callable[[str], object]

DEFAULT_DATABASE_WAIT_SECONDS = 60.0


class DatabaseUnavailable(Exception):
    pass


def database_wait_seconds() -> float:
    return float(os.environ.get("DUPLISTATUS_DATABASE_WAIT_SECONDS", DEFAULT_DATABASE_WAIT_SECONDS))


def describe_database() -> str:
    """Where the database is, for messages: never the password."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite {settings['NAME']}"
    host = settings.get("HOST") or "localhost"
    port = settings.get("PORT") or ""
    return f"{connection.vendor} {settings['NAME']!r} at {host}{':' if port else ''}{port}"


def wait_for_database(timeout: float | None = None, echo: Echo = print) -> None:
    """Connect, retrying for up to `timeout` seconds (DUPLISTATUS_DATABASE_WAIT_SECONDS):
    a service started beside its database (compose, a reboot) must not die because the
    database is a few seconds slower to come up. Says what it waits for, once and then
    every ten seconds; raises DatabaseUnavailable when the time is up."""
    from django.db import connection
    from django.db.utils import OperationalError

    timeout = database_wait_seconds() if timeout is None else timeout
    started = time.monotonic()
    last_said = None
    while True:
        try:
            connection.ensure_connection()
            if last_said is not None:
                echo(f"The database answers ({describe_database()}).")
            return
        except OperationalError as exc:
            connection.close()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            waited = time.monotonic() - started
            if waited >= timeout:
                raise DatabaseUnavailable(
                    f"The database did not answer within {timeout:.0f} s "
                    f"({describe_database()}): {reason}"
                ) from exc
            if last_said is None or waited - last_said >= 10:
                last_said = waited
                echo(
                    f"Waiting for the database ({describe_database()}): {reason}; "
                    f"retrying for up to {timeout - waited:.0f} s more "
                    "(DUPLISTATUS_DATABASE_WAIT_SECONDS)."
                )
            time.sleep(min(1.0, max(0.0, timeout - waited)))


def migrations_pending() -> bool:
    """Whether a migration is not applied yet. Cheap when none is, which is every restart:
    when every migration file on disk is recorded as applied (one query, a directory listing
    per app) nothing is pending; only otherwise is Django's migration graph loaded (it
    imports every migration) to tell for sure."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    if _every_migration_recorded():
        return False
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _every_migration_recorded() -> bool:
    """Every migration module found as Django's loader finds them (MigrationLoader.load_disk)
    has its row in django_migrations. False is "maybe not" (a squashed migration is recorded
    only once migrate has seen its replaced ones applied)."""
    import importlib
    import pkgutil

    from django.apps import apps
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.recorder import MigrationRecorder

    applied = MigrationRecorder(connection).applied_migrations()
    for app in apps.get_app_configs():
        module_name, _ = MigrationLoader.migrations_module(app.label)
        if module_name is None:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue  # an app without migrations
        for _, name, is_package in pkgutil.iter_modules(getattr(module, "__path__", [])):
            if not is_package and name[0] not in "_~" and (app.label, name) not in applied:
                return False
    return True


def migrate_if_pending(verbosity: int = 0) -> bool:
    """Apply migrations only when some are not applied yet (migrate itself, even with
    nothing to do, runs every app's post-migrate hooks). Returns whether it migrated."""
    from django.core.management import call_command

    if not migrations_pending():
        return False
    call_command("migrate", interactive=False, verbosity=verbosity)
    return True


@contextlib.contextmanager
def setup_lock() -> Iterator[None]:
    """One setup at a time per data dir: `serve --workers N` starts N workers at once, and
    two migrate or collectstatic runs side by side trip over each other."""
    from django.conf import settings

    with open(settings.DATA_DIR / "setup.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def prepare(verbosity: int = 0, echo: Echo = print) -> int:
    """Everything `serve` needs before it serves. Returns an exit status: 0, or 2 when the
    operator's DUPLISTATUS_ADMIN_PASSWORD is against the policy."""
    from duplistatus.accounts.passwords import PolicyError, create_first_admin
    from duplistatus.i18n import compile_catalogues
    from duplistatus.web import assets

    # First, before anything loads a catalogue: gettext keeps what it loaded for good.
    for mo in compile_catalogues():
        if verbosity:
            echo(f"Compiled {mo}")
    wait_for_database(echo=echo)
    with setup_lock():
        # Said only when done: it is why a start took seconds (a restart does neither).
        if migrate_if_pending(verbosity):
            echo("Applied the database migrations.")
        assets.install(echo)
        if assets.collect_if_changed(verbosity):
            echo("Collected the static files (new, or changed since they were last collected).")
        try:
            create_first_admin(echo)
        except PolicyError as exc:
            echo(f"DUPLISTATUS_ADMIN_PASSWORD does not meet the password policy: {exc}")
            return 2
    return 0


# --- a web worker of `serve` ---

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """End this process when `parent_pid` (the `serve` main process) ends, however it ends.

    granian's workers are separate processes; after a `kill -9` of the main process one
    lived on, orphaned, still serving the port, and the next `serve` bound the port beside
    it. On Linux the kernel sends SIGTERM when the parent dies (PR_SET_PDEATHSIG; the worker
    then stops like on a normal shutdown); elsewhere a thread watches the parent."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        # The parent may have died before the prctl: then nobody will send the signal.
        if os.getppid() != parent_pid:
            os._exit(1)
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="duplistatus-parent-watch", daemon=True).start()


def prepare_in_web_worker(echo: Echo = print) -> int:
    """prepare(); but a migrate or collectstatic (a first start, an upgrade) runs in a
    `duplistatus setup` process of its own: they take ~50 MB that a process does not give
    back, and the web worker would keep them as long as it serves (bench/ingest.py)."""
    from django.db import connections

    from duplistatus.web import assets

    wait_for_database(echo=echo)
    if not migrations_pending() and not assets.missing() and assets.collection_is_current():
        return prepare(echo=echo)  # little to do: the admin exists, or is created
    connections.close_all()
    sys.stdout.flush()
    setup = subprocess.run([sys.executable, "-m", "duplistatus", "setup", "--quiet"], check=False)
    return setup.returncode


M_ARENA_MAX = -8  # from glibc's <malloc.h>


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates an arena of its own (up to 8 per core), which
    keeps what that thread freed: with the request threads that is ~6 MB more resident after
    a burst of uploads than with two arenas (bench/ingest.py). Linux with glibc only."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass  # another C library (musl): nothing to tune


def run_in_web_worker(echo: Echo = print) -> Any:
    """Called once in each web worker of `serve`, before the app is built."""
    parent = os.environ.get("DUPLISTATUS_SERVE_PID")
    if parent:
        die_with_parent(int(parent))
    limit_malloc_arenas()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duplistatus.settings")
    import django

    django.setup()
    try:
        status = prepare_in_web_worker(echo=echo)
    except DatabaseUnavailable as exc:
        echo(str(exc))
        status = 1
    if status:
        sys.stdout.flush()
        os._exit(status)
