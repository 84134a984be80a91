"""What the benchmarks share: setting up Django in the benchmark's own process, and small
helpers. Not a benchmark itself (.ci/run runs bench/[!_]*.py)."""

from __future__ import annotations

import logging
import os
import socket
import sys
from datetime import datetime
from pathlib import Path


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
