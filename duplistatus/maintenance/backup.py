"""Backup, restore, and moving between SQLite and PostgreSQL.

Two kinds of file:
- a SQLite backup: a copy of the database file made with `VACUUM INTO`, consistent while
  uploads continue (`backup` on SQLite);
- an export: our own portable format, zstd-compressed JSON lines, one row a line, every
  table the service keeps (servers, jobs, runs with raw bodies, settings, rules, channels,
  templates and versions, users, tokens, audit log). `export` writes it on either engine;
  `backup` on PostgreSQL writes it too.

`restore` reads either kind into an empty database of either engine: a SQLite backup is
first migrated forward in a scratch copy, then exported and imported like any export.
Rows keep their ids; PostgreSQL's sequences are reset afterwards. Channel secrets stay
encrypted: a restore on another machine needs the key file (`encryption.keys`) too.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

import zstandard
from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.serializers.jsonl import Serializer as JsonlSerializer
from django.db import connection, connections, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from duplistatus import clock

FORMAT = "duplistatus-export"
VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
CHUNK = 1000  # rows per bulk insert
# What is not carried: rebuilt by `migrate` (content types, permissions) or not worth
# carrying (sessions sign everyone out anyway; login failures expire).
SKIPPED = {
    "contenttypes.contenttype",
    "auth.permission",
    "auth.group_permissions",
    "auth.user_user_permissions",
    "sessions.session",
    "accounts.loginfailure",
}


class RestoreError(Exception):
    """The restore cannot go ahead; the message says why and what to do."""


def carried_models() -> list[type[models.Model]]:
    """Every table an export carries, parents before children where that is possible (the
    import runs in one transaction, with foreign keys checked at commit)."""
    found = [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.label_lower not in SKIPPED and not model._meta.proxy
    ]
    return sorted(found, key=_depth)


def _depth(model: type[models.Model], seen: frozenset[type] = frozenset()) -> int:
    parents = [
        field.related_model
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model not in (model, None, *seen)
    ]
    return 1 + max((_depth(p, seen | {model}) for p in parents), default=0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- export


def export(path: Path, *, using: str = "default") -> dict[str, int]:
    """Write every carried table to `path`; returns the rows written per table."""
    counts: dict[str, int] = {}
    recorder = MigrationRecorder(connections[using])
    header = {
        "format": FORMAT,
        "version": VERSION,
        "engine": connections[using].vendor,
        "created_at": clock.now().isoformat(),
        "migrations": sorted(recorder.applied_migrations()),
    }
    tmp = path.with_name(path.name + ".part")
    with _private(tmp) as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as out:
        text = io.TextIOWrapper(out, encoding="utf-8")
        text.write(json.dumps(header) + "\n")
        fresh = not connections[using].in_atomic_block
        with transaction.atomic(using=using):
            if connections[using].vendor == "postgresql" and fresh:
                # One snapshot for every table (READ COMMITTED takes one per statement),
                # while uploads go on.
                with connections[using].cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            for model in carried_models():
                rows = model._default_manager.db_manager(using).order_by("pk").iterator(CHUNK)
                counts[model._meta.label_lower] = _write_rows(text, rows)
        text.flush()
        text.detach()
    os.replace(tmp, path)
    return counts


def _private(path: Path) -> IO[bytes]:
    """A new file only its owner may read: backups hold password hashes and the channels'
    (encrypted) secrets."""
    path.unlink(missing_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _write_rows(text: IO[str], rows: Iterator[models.Model]) -> int:
    count = 0
    batch: list[models.Model] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            count += _write_batch(text, batch)
            batch = []
    return count + _write_batch(text, batch)


class _ExactSerializer(JsonlSerializer):
    """Django's JSON lines, but times keep their microseconds (its encoder cuts them to
    milliseconds, and a resent report is recognised by its exact BeginTime)."""

    def _value_from_field(self, obj: models.Model, field: models.Field) -> Any:  # type: ignore[type-arg]
        value = field.value_from_object(obj)
        if isinstance(value, datetime | time | date):
            return value.isoformat()
        return super()._value_from_field(obj, field)


def _write_batch(text: IO[str], batch: list[models.Model]) -> int:
    if batch:
        _ExactSerializer().serialize(batch, stream=text)
    return len(batch)


# --------------------------------------------------------------------------- backup


def backup(path: Path) -> str:
    """A consistent copy of the database while uploads continue. Returns its kind."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if connection.vendor == "sqlite":
        tmp = path.with_name(path.name + ".part")
        tmp.unlink(missing_ok=True)
        # Its own connection: VACUUM INTO reads one snapshot (WAL lets uploads go on) and
        # must not run inside a transaction this process may have open.
        _private(tmp).close()  # VACUUM INTO writes into an empty file, keeping its mode
        with contextlib.closing(sqlite3.connect(connection.settings_dict["NAME"])) as source:
            source.execute("VACUUM INTO ?", [str(tmp)])
        os.replace(tmp, path)
        return "sqlite"
    export(path)
    return "export"


def backup_dir() -> Path:
    return Path(settings.DATA_DIR) / "backups"


def backup_files() -> list[Path]:
    """The nightly backups in the data dir, newest first."""
    folder = backup_dir()
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith("duplistatus-") and p.is_file()]
    return sorted((p for p in found if not p.name.endswith(".part")), reverse=True)


def backup_now(now: datetime | None = None, keep: int | None = None) -> Path:
    """One backup into the data dir, then only the newest `keep` stay."""
    from duplistatus.backups.models import MaintenanceSettings

    now = now or clock.now()
    suffix = ".sqlite3" if connection.vendor == "sqlite" else ".jsonl.zst"
    path = backup_dir() / f"duplistatus-{now:%Y%m%d-%H%M%S}{suffix}"
    backup(path)
    keep = keep if keep is not None else MaintenanceSettings.load().backups_kept
    for old in backup_files()[max(keep, 1) :]:
        old.unlink(missing_ok=True)
    MaintenanceSettings.objects.filter(pk=1).update(last_backup_at=now)
    return path


def nightly_due(now: datetime) -> Path | None:
    """The worker's call: a backup a day when backups are kept, the first a day after the
    service first looked (a fresh install has nothing to keep yet)."""
    from datetime import timedelta

    from duplistatus.backups.models import MaintenanceSettings

    row = MaintenanceSettings.load()
    if not row.backups_kept:
        return None
    if row.last_backup_at is None:
        MaintenanceSettings.objects.filter(pk=1).update(last_backup_at=now)
        return None
    if now - row.last_backup_at < timedelta(days=1):
        return None
    return backup_now(now, row.backups_kept)


# --------------------------------------------------------------------------- restore


def is_empty() -> bool:
    """No servers, users or channels: nothing a restore would overwrite."""
    from django.contrib.auth import get_user_model

    from duplistatus.backups.models import Server
    from duplistatus.notifications.models import Channel

    return not (
        Server.objects.exists() or get_user_model().objects.exists() or Channel.objects.exists()
    )


def restore(path: Path, *, force: bool = False) -> dict[str, int]:
    """Read a SQLite backup or an export into this database (migrated to the newest schema
    first). Refuses a database that has data unless `force`, which empties it first."""
    if not path.is_file():
        raise RestoreError(f"{path}: no such file")
    call_command("migrate", interactive=False, verbosity=0)
    if not is_empty():
        if not force:
            raise RestoreError(
                "the database is not empty (it has servers, users or channels); "
                "restore into an empty one, or pass --force to replace everything in it"
            )
        call_command("flush", interactive=False, verbosity=0)
    with open(path, "rb") as f:
        magic = f.read(len(SQLITE_MAGIC))
    if magic == SQLITE_MAGIC:
        with tempfile.TemporaryDirectory() as scratch:
            exported = Path(scratch) / "export.jsonl.zst"
            _export_sqlite_backup(path, Path(scratch) / "copy.sqlite3", exported)
            return import_(exported)
    return import_(path)


def _export_sqlite_backup(backup_file: Path, copy: Path, exported: Path) -> None:
    """Migrate a copy of a SQLite backup forward and export it, in a child process that has
    the copy as its database (this process keeps its own)."""
    shutil.copyfile(backup_file, copy)
    try:
        with contextlib.closing(sqlite3.connect(copy)) as check:
            check.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"{backup_file}: not a readable SQLite database ({exc})") from None
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{copy}",
        "DUPLISTATUS_DATA_DIR": str(settings.DATA_DIR),
    }
    for command in (["migrate", "--quiet"], ["export", str(exported)]):
        done = subprocess.run(
            [sys.executable, "-m", "duplistatus", *command],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RestoreError(f"{backup_file}: could not read it: {done.stderr.strip()[-500:]}")


def _read_export(path: Path) -> Iterator[str]:
    with open(path, "rb") as raw:
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(raw)
            yield from io.TextIOWrapper(reader, encoding="utf-8")
        except zstandard.ZstdError as exc:
            raise RestoreError(f"{path}: not a duplistatus backup or export ({exc})") from None


def import_(path: Path) -> dict[str, int]:
    """Load an export into this (empty, migrated) database, in one transaction."""
    lines = _read_export(path)
    try:
        header = json.loads(next(lines))
    except (StopIteration, ValueError, UnicodeDecodeError):
        raise RestoreError(f"{path}: not a duplistatus backup or export") from None
    if header.get("format") != FORMAT:
        raise RestoreError(f"{path}: not a duplistatus backup or export")
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    newer = {tuple(m) for m in header.get("migrations", [])} - known
    if header.get("version", 0) > VERSION or newer:
        raise RestoreError(f"{path} was written by a newer duplistatus; update this one first")
    counts: dict[str, int] = {}
    touched: set[type[models.Model]] = set()
    with transaction.atomic():
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) == CHUNK:
                _load(batch, counts, touched)
                batch = []
        _load(batch, counts, touched)
        _reset_sequences(touched)
    return counts


def _load(lines: list[str], counts: dict[str, int], touched: set[type[models.Model]]) -> None:
    if not lines:
        return
    by_model: dict[type[models.Model], list[models.Model]] = {}
    # ignorenonexistent: a field a newer schema dropped is skipped; a field it added gets
    # its default, as its migration gave the rows it had.
    for item in serializers.deserialize("jsonl", "".join(lines), ignorenonexistent=True):
        obj: Any = item.object
        by_model.setdefault(type(obj), []).append(obj)
    for model, objects in by_model.items():
        model._default_manager.bulk_create(objects, batch_size=CHUNK)
        counts[model._meta.label_lower] = counts.get(model._meta.label_lower, 0) + len(objects)
        touched.add(model)


def _reset_sequences(touched: set[type[models.Model]]) -> None:
    statements = connection.ops.sequence_reset_sql(no_style(), list(touched))
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def unreadable_secrets() -> str | None:
    """Why the restored channel secrets cannot be read here, or None when they can."""
    from duplistatus import crypto
    from duplistatus.notifications.models import Channel

    for secrets in Channel.objects.exclude(secrets="").values_list("secrets", flat=True):
        try:
            crypto.decrypt(secrets)
        except crypto.SecretsUnreadable:
            return (
                "The channel secrets in this backup were encrypted with a key that is not in "
                f"this data dir. Copy encryption.keys from the old data dir into "
                f"{settings.DATA_DIR} (mode 0600), or enter the channels' passwords and "
                "tokens again."
            )
    return None
