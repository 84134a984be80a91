"""The `duplistatus` command.

duplistatus serve [--host H] [--port P] [--no-worker] [--threads N]
duplistatus worker                     the background loop alone (for multi-process setups)
duplistatus token create [--read-only] NAME   prints a new API token on its last line
duplistatus resetpassword USER         set a user's password (asks, or prints a random one)
duplistatus setup                      migrations, web assets, first admin (serve runs it)
duplistatus migrate                    apply database migrations
duplistatus manage ARGS...             any Django management command
duplistatus backup FILE                a consistent copy of the database (while it runs)
duplistatus restore FILE [--force]     a backup or export into an empty database
duplistatus export FILE / import FILE  everything, portable between SQLite and PostgreSQL
duplistatus cleanup [--dry-run]        apply the retention settings now
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

HEADER_TIMEOUT_MS = 10_000


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duplistatus.settings")
    import django
    from django.apps import apps

    # Once per process. Setting Django up again configures logging again, pointing the console
    # at whatever sys.stderr is then (in a test that runs a command, a capture closed after it).
    if not apps.ready:
        django.setup()


def port_taken(host: str, port: int) -> OSError | None:
    """Whether something listens on host:port already. granian's workers bind with
    SO_REUSEPORT, so a second `serve` (or a worker left over from one) would share the port
    instead of failing; a plain bind, as any other server does, tells."""
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
                probe.listen()
            except OSError as exc:
                return exc
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    # The serving parent never imports Django, which keeps the resident memory of the whole
    # service to the worker processes that need it; each web worker sets up before it serves
    # (duplistatus.asgi: wait for the database, migrations, assets, first admin).
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    taken = port_taken(args.host, args.port)
    if taken is not None:
        print(
            f"duplistatus: cannot listen on {args.host}:{args.port}: {taken.strerror}. "
            "Is another duplistatus serve running? Stop it or choose another --port.",
            file=sys.stderr,
        )
        return 1
    # Links in notifications point here unless DUPLISTATUS_BASE_URL says otherwise.
    os.environ["DUPLISTATUS_HOST"], os.environ["PORT"] = args.host, str(args.port)
    if args.no_worker:
        os.environ["DUPLISTATUS_INPROCESS_WORKER"] = "0"
    else:
        os.environ.setdefault("DUPLISTATUS_INPROCESS_WORKER", "1")
    os.environ["WEB_THREADS"] = str(args.threads)
    os.environ["DUPLISTATUS_SERVE_PID"] = str(os.getpid())  # the workers die with it
    print(f"duplistatus listening on http://{args.host}:{args.port}", flush=True)
    Granian(
        "duplistatus.asgi:application",
        address=args.host,
        port=args.port,
        # RSGI: the event loop reads request bodies, Django runs in a pool of --threads
        # threads (duplistatus.edge), so slow clients hold no thread.
        interface=Interfaces.RSGI,
        workers=args.workers,
        backlog=2048,
        # A slow client gets this long to send its request line and headers (then the body
        # has DUPLISTATUS_BODY_TIMEOUT_SECONDS).
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_TIMEOUT_MS),
        websockets=False,
        log_access=False,
    ).serve()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _setup_django()
    from duplistatus import startup, worker
    from duplistatus.i18n import compile_catalogues

    compile_catalogues()  # notifications speak the deployment's language
    try:
        startup.wait_for_database()
    except startup.DatabaseUnavailable as exc:
        print(exc)
        return 1

    worker.run_forever()
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    _setup_django()
    import json

    from duplistatus.monitoring import monitor

    if args.reset_reminders:
        print(f"reset the reminder timers of {monitor.reset_reminders()} overdue job(s)")
    print(json.dumps(monitor.check().as_dict()))
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """New encryption key; every stored secret is re-encrypted with it, then the old key goes."""
    _setup_django()
    from django.db import transaction

    from duplistatus import crypto
    from duplistatus.backups.models import Server
    from duplistatus.notifications.models import Channel

    crypto.begin_rotation()
    with transaction.atomic():
        channels = list(Channel.objects.exclude(secrets=""))
        for channel in channels:
            channel.secrets = crypto.rotate(channel.secrets)
            channel.save(update_fields=["secrets"])
        servers = list(Server.objects.exclude(duplicati_secret=""))
        for server in servers:
            server.duplicati_secret = crypto.rotate(server.duplicati_secret)
            server.save(update_fields=["duplicati_secret"])
    crypto.finish_rotation()
    print(
        f"Re-encrypted the secrets of {len(channels)} channel(s) and {len(servers)} "
        "Duplicati server password(s) with a new key."
    )
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    """Collect from one Duplicati server (id, machine id or name) or from every linked one,
    in parallel, here and now; prints progress and each outcome. Exit 1 if any failed."""
    _setup_django()
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db.models import Q

    from duplistatus.backups.models import Server
    from duplistatus.collect import queue

    if args.collection is not None:
        # The worker claimed this collection and runs it here, in a process of its own.
        from duplistatus.backups.models import Collection

        claimed = Collection.objects.select_related("server").get(pk=args.collection)
        return 0 if queue.run_in_thread(claimed).state == "done" else 1

    servers = Server.objects.filter(queue.collectable())
    if args.server:
        match = Q(key=args.server) | Q(name=args.server) | Q(alias=args.server)
        if args.server.isdigit():
            match |= Q(pk=int(args.server))
        servers = Server.objects.filter(match)
        if not servers:
            print(f"No server {args.server!r}.")
            return 2
        unlinked = [str(s) for s in servers if not s.duplicati_url]
        if unlinked:
            print(f"No Duplicati address set for {', '.join(unlinked)} (set it on its page).")
            return 2
    servers = list(servers)
    if not servers:
        print("No server has a Duplicati address; add one in the web UI (Add a Duplicati server).")
        return 2
    printing = threading.Lock()

    def collect_one(server: Server) -> bool:
        collection = queue.request(server, "cli")
        claimed = queue.claim(pk=collection.pk)
        if claimed is None:
            with printing:
                print(f"{server}: a worker is collecting it already.")
            return True

        def progress(tally: queue.Tally) -> None:
            with printing:
                print(
                    f"{server}: {tally.backups_done}/{tally.backups_total} backups, "
                    f"{tally.entries_seen} log entries, {tally.runs_added} runs added"
                    + (f" ({tally.current})" if tally.current else "")
                )

        done = queue.run_in_thread(claimed, progress)
        with printing:
            if done.state == "done":
                print(
                    f"{server}: done, {done.runs_added} runs added, {done.runs_skipped} "
                    f"already there, {done.runs_ignored} ignored."
                )
            else:
                print(f"{server}: FAILED ({done.error_code}): {done.error}")
        return done.state == "done"

    with ThreadPoolExecutor(queue.PARALLEL) as pool:
        results = list(pool.map(collect_one, servers))
    return 0 if all(results) else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0 if args.quiet else 1)
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Everything `serve` needs before it serves (serve's workers do the same): the schema,
    the pages' assets (npm ci when they are missing, collectstatic when they changed) and, on
    first start, the admin user."""
    _setup_django()
    from duplistatus import startup

    try:
        return startup.prepare(verbosity=0 if args.quiet else 1)
    except startup.DatabaseUnavailable as exc:
        print(exc)
        return 1


def cmd_resetpassword(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth import get_user_model

    from duplistatus.accounts.passwords import PolicyError, reset_password
    from duplistatus.accounts.usernames import normalize

    if not get_user_model().objects.filter(username=normalize(args.user)).exists():
        print(f"No user named {args.user!r}.")
        return 1
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty() and not args.random:
        import getpass

        password = getpass.getpass(f"New password for {args.user} (empty: a random one): ")
        if password and password != getpass.getpass("Again: "):
            print("The two passwords differ.")
            return 1
    try:
        new_password = reset_password(args.user, password or None)
    except PolicyError as exc:
        print(f"Not changed: {exc}")
        return 1
    if password:
        print(f"Password of {args.user!r} changed; the user is unlocked.")
    else:
        print(f"Password of {args.user!r} changed; the user is unlocked. The new password:")
        print(new_password)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from duplistatus.accounts.models import ApiToken

    if args.action == "create":
        row, secret = ApiToken.create(args.name, is_admin=not args.read_only)
        kind = "admin" if row.is_admin else "read-only"
        print(
            f"Created {kind} API token {row.name!r} (id {row.pk}). Keep it: it is shown only once."
        )
        print(secret)
        return 0
    if args.action == "list":
        for row in ApiToken.objects.all():
            state = "revoked" if row.revoked_at else "active"
            access = "admin" if row.is_admin else "read-only"
            print(
                f"{row.pk}\t{row.name}\t{row.prefix}…\t{access}\t{state}\t{row.created_at:%Y-%m-%d}"
            )
        return 0
    from duplistatus import clock

    count = ApiToken.objects.filter(name=args.name, revoked_at=None).update(revoked_at=clock.now())
    print(f"Revoked {count} token(s) named {args.name!r}.")
    return 0 if count else 1


def cmd_manage(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duplistatus.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["duplistatus manage", *args.rest])
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    _setup_django()
    from pathlib import Path

    from duplistatus.accounts import audit
    from duplistatus.maintenance import backup

    path = Path(args.file)
    kind = backup.backup(path)
    audit.record(None, "database.backup", str(path), {"kind": kind})
    print(f"Backed up the database to {path} ({kind}, {path.stat().st_size:,} bytes).")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    _setup_django()
    from pathlib import Path

    from duplistatus.accounts import audit
    from duplistatus.maintenance import backup

    path = Path(args.file)
    counts = backup.export(path)
    audit.record(None, "database.export", str(path), {"rows": sum(counts.values())})
    print(f"Exported {sum(counts.values()):,} rows of {len(counts)} tables to {path}.")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """`restore` and `import` are one command: either file kind, into an empty database."""
    _setup_django()
    from pathlib import Path

    from duplistatus.accounts import audit
    from duplistatus.maintenance import backup

    path = Path(args.file)
    try:
        counts = backup.restore(path, force=args.force)
    except backup.RestoreError as exc:
        print(f"Not restored: {exc}", file=sys.stderr)
        return 1
    audit.record(None, f"database.{args.command}", str(path), {"rows": sum(counts.values())})
    print(f"Restored {sum(counts.values()):,} rows of {len(counts)} tables from {path}.")
    if problem := backup.unreadable_secrets():
        print(f"Warning: {problem}", file=sys.stderr)
        return 3
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    _setup_django()
    import json

    from duplistatus.accounts import audit
    from duplistatus.maintenance import retention

    if args.dry_run:
        print(json.dumps({"would_remove": retention.plan().as_dict()}))
        return 0
    done = retention.purge()
    audit.record(None, "maintenance.cleanup", "retention", done.as_dict())
    print(json.dumps({"removed": done.as_dict()}))
    return 0


def add_maintenance_commands(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser("backup", help="copy the database consistently, while it runs")
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    export = sub.add_parser(
        "export", help="write everything to a file that SQLite or PostgreSQL can import"
    )
    export.add_argument("file")
    export.set_defaults(func=cmd_export)
    for name, text in (
        ("restore", "restore a backup (or an export) into an empty database"),
        ("import", "import an export (or a backup) into an empty database"),
    ):
        restore = sub.add_parser(name, help=text)
        restore.add_argument("file")
        restore.add_argument(
            "--force", action="store_true", help="replace whatever the database holds"
        )
        restore.set_defaults(func=cmd_restore)
    cleanup = sub.add_parser("cleanup", help="apply the retention settings now")
    cleanup.add_argument("--dry-run", action="store_true", help="only say what would go")
    cleanup.set_defaults(func=cmd_cleanup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="duplistatus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server (and the worker loop)")
    serve.add_argument("--host", default=os.environ.get("DUPLISTATUS_HOST", "0.0.0.0"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "9666")))
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="serve web requests only; run `duplistatus worker` elsewhere",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_WORKERS", "1")),
        help="web worker processes (default 1)",
    )
    serve.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("WEB_THREADS", "4")),
        help="request threads per worker process (default 4)",
    )
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="run the background worker loop").set_defaults(func=cmd_worker)

    scan = sub.add_parser("scan", help="run one overdue scan now and print what it found")
    scan.add_argument(
        "--reset-reminders",
        action="store_true",
        help="first restart the reminder period of overdue jobs from now",
    )
    scan.set_defaults(func=cmd_scan)

    collect = sub.add_parser(
        "collect", help="collect backup history from Duplicati servers over their REST API"
    )
    collect.add_argument(
        "server", nargs="?", help="server id, machine id or name (default: every linked server)"
    )
    collect.add_argument("--collection", type=int, help=argparse.SUPPRESS)  # the worker's
    collect.set_defaults(func=cmd_collect)

    rotate = sub.add_parser("rotate-key", help="re-encrypt stored secrets with a new key")
    rotate.set_defaults(func=cmd_rotate_key)

    setup = sub.add_parser(
        "setup", help="apply migrations, install and collect web assets, create the first admin"
    )
    setup.add_argument("--quiet", action="store_true")
    setup.set_defaults(func=cmd_setup)

    reset = sub.add_parser("resetpassword", help="set a user's password and unlock the user")
    reset.add_argument("user")
    reset.add_argument(
        "--password-stdin", action="store_true", help="read the new password from stdin"
    )
    reset.add_argument("--random", action="store_true", help="set and print a random password")
    reset.set_defaults(func=cmd_resetpassword)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--quiet", action="store_true")
    migrate.set_defaults(func=cmd_migrate)

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="action", required=True)
    create = token_sub.add_parser("create", help="create a token and print it")
    create.add_argument("name")
    create.add_argument(
        "--read-only",
        action="store_true",
        help="the token may read everything but change nothing (403); default: admin",
    )
    token_sub.add_parser("list", help="list tokens (never their secrets)")
    revoke = token_sub.add_parser("revoke", help="revoke the tokens with this name")
    revoke.add_argument("name")
    token.set_defaults(func=cmd_token)

    manage = sub.add_parser("manage", help="run a Django management command")
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(func=cmd_manage)
    add_maintenance_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
