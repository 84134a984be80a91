"""The data dir and the SQLite database are the service user's alone: 0700 and 0600, with
the -wal and -shm files SQLite makes beside the database. They were 0755 and 0644, so any
local user could read every report, setting and encrypted secret (and the key beside it)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def start(data_dir: Path) -> None:
    """What every process does first (serve, worker, manage): load the settings."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DUPLISTATUS_DATA_DIR"] = str(data_dir)
    subprocess.run([sys.executable, "-c", "import duplistatus.settings"], env=env, check=True)


def test_a_new_data_dir_and_database_are_private(tmp_path):
    data = tmp_path / "data"
    start(data)
    database = data / "duplistatus.sqlite3"
    assert (mode(data), mode(database), mode(data / "secret_key")) == (0o700, 0o600, 0o600)
    # SQLite gives its -wal and -shm files the database file's mode.
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        assert mode(Path(f"{database}-wal")) == mode(Path(f"{database}-shm")) == 0o600


def test_an_older_data_dir_is_tightened_on_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    database = data / "duplistatus.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            path.chmod(0o644)
        start(data)
        modes = [mode(p) for p in (data, database, Path(f"{database}-wal"))]
        assert modes == [0o700, 0o600, 0o600]
        assert mode(Path(f"{database}-shm")) == 0o600
