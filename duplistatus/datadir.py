"""The data dir holds the database, the secret key and the encryption key: readable by the
service's user only (0700 for the dir, 0600 for the files).

SQLite makes its -wal and -shm files with the database file's mode, so a database file
created 0600 keeps them private too; one created by an older version (0644 from the umask)
is tightened on start, with its -wal and -shm. A dir or file owned by another user (a
volume mounted with its own ownership) is left as it is: we could not change it anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> None:
    try:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except FileNotFoundError:
        pass


def secure_data_dir(data_dir: Path, database: Path | None = None) -> None:
    """Make the data dir (0700) and, for SQLite, the database file (0600, created empty if
    missing: SQLite takes an empty file as a new database); tighten what exists."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(data_dir, DIR_MODE)
    if database is None:
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        _tighten(path, FILE_MODE)
