"""What the benchmarks share: setting up Django in the benchmark's own process, a fresh
PostgreSQL database, and small helpers. Not a benchmark itself (.ci/run runs bench/[!_]*.py)."""

from __future__ import annotations

import logging
import os
import socket
import sys
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

# The corpus the tests use: real Duplicati reports, inside the project.
CORPUS = Path(__file__).resolve().parent.parent / "duplistatus" / "ingest" / "tests" / "corpus"
# The 2.1.0.5 success report (JSON, with the 2.1 `Extra` set) the upload benchmarks send.
V21_REPORT = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"


def setup_django(project: Path, data_dir: Path, database_url: str | None = None) -> None:
    """Django for `project` on a fresh data dir (SQLite there, or `database_url`)."""
    os.environ["DUPLISTATUS_DATA_DIR"] = str(data_dir)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "duplistatus.settings"
    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    import django

    django.setup()
    # The service's LOGGING config logs INFO to the console; here that is every request.
    logging.getLogger().setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def net_time(moment: datetime) -> str:
    """Newtonsoft's round-trip format, as Duplicati writes times: 7 fraction digits and a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


class BenchDatabase:
    """A PostgreSQL database for one benchmark run, named by `url` (or `name`).

    Only a database whose name contains "bench" is dropped and created fresh, and dropped
    again at the end unless `keep`; any other is used as it is. The server is reached through
    the URL's own database, or `postgres` when that is the one being recreated.
    """

    def __init__(self, url: str, keep: bool = False, name: str | None = None):
        parts = urllib.parse.urlsplit(url)
        given = urllib.parse.unquote(parts.path.lstrip("/")) or "postgres"
        self.name = name or given
        self.managed = "bench" in self.name
        self.keep = keep
        self.url = urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(self.name)))
        admin = given if given != self.name else "postgres"
        self._admin_url = urllib.parse.urlunsplit(parts._replace(path="/" + admin))

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self._admin_url, autocommit=True)

    def _quoted(self) -> str:
        return '"' + self.name.replace('"', '""') + '"'

    def create(self) -> None:
        if not self.managed:
            print(
                f"note: using PostgreSQL database {self.name!r} as it is "
                "(only a name containing 'bench' is recreated)"
            )
            return
        with self._admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self._quoted()} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {self._quoted()}")

    def drop(self) -> None:
        if not self.managed:
            return
        if self.keep:
            print(f"PostgreSQL database kept: {self.url}")
            return
        with self._admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self._quoted()} WITH (FORCE)")

    def server_version(self) -> str:
        with self._admin() as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
