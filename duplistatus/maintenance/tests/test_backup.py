"""Backup, restore, export and import: every table's rows come back as they were, on the
same engine and on the other one."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard
from django.db import connection

from conftest import subprocess_database_url
from duplistatus import clock
from duplistatus.accounts.models import ApiToken, AuditEntry
from duplistatus.backups.models import BackupJob, BackupRun, RawReport, Server
from duplistatus.maintenance import backup
from duplistatus.notifications.models import Channel
from duplistatus.notifications.template_store import TemplateIn, create

from .test_delete_merge import runs

pytestmark = pytest.mark.django_db(transaction=True)


def populate(client, django_user_model) -> None:
    runs(client, days=3, statuses={1: "Error"})
    runs(client, machine="m2", server="office", job="Mail", days=2)
    client.post("/api/upload", data=b"not a report", content_type="text/plain")  # kept unparsed
    django_user_model.objects.create_user("vera", password="a viewer's password")
    ApiToken.create("dashboard", is_admin=False)
    channel = Channel(kind="ntfy", name="Phone", created_at=clock.now(), updated_at=clock.now())
    channel.set_config(
        {"server_url": "http://127.0.0.1:9", "topic": "t", "access_token": "tk_secret"}
    )
    channel.save()
    create(TemplateIn(kind="error", title="{backup_name}", body="{status}"))
    Server.objects.filter(name="nas").update(url="http://nas:8200", keep_runs_days=30)


def rows_of(path: Path) -> dict[str, dict[object, dict]]:
    """An export's rows: {table: {pk: fields}}."""
    with open(path, "rb") as f:
        text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8")
        lines = [json.loads(line) for line in text]
    tables: dict[str, dict[object, dict]] = {}
    for row in lines[1:]:
        tables.setdefault(row["model"], {})[row["pk"]] = row["fields"]
    return tables


def test_backup_and_restore_bring_back_every_row(client, django_user_model, tmp_path):
    populate(client, django_user_model)
    before = tmp_path / "before.jsonl.zst"
    backup.export(before)
    saved = tmp_path / "nightly"
    kind = backup.backup(saved)
    assert kind == ("sqlite" if connection.vendor == "sqlite" else "export")

    refused = pytest.raises(backup.RestoreError, match="not empty")
    with refused:
        backup.restore(saved)
    backup.restore(saved, force=True)

    after = tmp_path / "after.jsonl.zst"
    backup.export(after)
    assert rows_of(after) == rows_of(before)
    assert len(rows_of(before)["backups.backuprun"]) == 5
    # Raw bodies (binary) and times to the microsecond survive.
    run = BackupRun.objects.select_related("raw_report").first()
    assert run.raw_report.body.startswith(b"{")
    assert RawReport.objects.exclude(parse_error="").count() == 1
    assert Channel.objects.get().full_config()["access_token"] == "tk_secret"
    assert backup.unreadable_secrets() is None
    # New rows get new ids after a restore (PostgreSQL's sequences were reset).
    runs(client, days=1, job="New")
    assert BackupJob.objects.get(name="New").pk > max(rows_of(before)["backups.backupjob"])


def test_restore_says_what_is_wrong(tmp_path, db):
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello")
    with pytest.raises(backup.RestoreError, match="not a duplistatus backup"):
        backup.restore(junk)
    with pytest.raises(backup.RestoreError, match="no such file"):
        backup.restore(tmp_path / "missing")


# The PostgreSQL database a SQLite test run moves to (dropped and created by the test).
OTHER_ENGINE = os.environ.get("DUPLISTATUS_TEST_OTHER_DATABASE") or (
    os.environ.get("CI_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/x").rsplit("/", 1)[0]
    + "/duplistatus_move_test"
)


@pytest.fixture
def other_database(tmp_path: Path):
    """The other engine: a fresh PostgreSQL database when the tests run on SQLite (dropped
    afterwards), and a SQLite file when they run on PostgreSQL."""
    if connection.vendor != "sqlite":
        yield f"sqlite:///{tmp_path / 'moved.sqlite3'}"
        return
    psycopg = pytest.importorskip("psycopg")
    server, name = OTHER_ENGINE.rsplit("/", 1)

    def drop_and(create: bool) -> None:
        with psycopg.connect(server + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                admin.execute(f'CREATE DATABASE "{name}"')

    try:
        drop_and(create=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL to move to: {exc}")
    yield OTHER_ENGINE
    drop_and(create=False)


def cli(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DUPLISTATUS_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "duplistatus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_moving_to_the_other_engine_and_back(
    client, django_user_model, tmp_path, settings, other_database
):
    populate(client, django_user_model)
    AuditEntry.objects.create(at=clock.now(), actor="cli", action="x", target="y", changes={})
    exported = tmp_path / "all.jsonl.zst"
    assert cli(tmp_path, subprocess_database_url(), "export", str(exported)).returncode == 0
    # The other machine has the data dir's key file (else it says so, below).
    (tmp_path / "data").mkdir(exist_ok=True)
    key = Path(settings.DATA_DIR) / "encryption.keys"
    (tmp_path / "data" / "encryption.keys").write_bytes(key.read_bytes())

    other = other_database
    moved = cli(tmp_path, other, "import", str(exported))
    assert moved.returncode == 0, moved.stderr
    back = tmp_path / "back.jsonl.zst"
    assert cli(tmp_path, other, "export", str(back)).returncode == 0

    before, after = rows_of(exported), rows_of(back)
    before.pop("accounts.auditentry")  # the import and the export are audited there
    audit_after = after.pop("accounts.auditentry")
    assert after == before
    assert {"servers": 2, "runs": 5} == {
        "servers": len(after["backups.server"]),
        "runs": len(after["backups.backuprun"]),
    }
    assert [e["action"] for e in audit_after.values()][-1] == "database.import"

    again = cli(tmp_path, other, "import", str(exported))
    assert again.returncode == 1 and "not empty" in again.stderr


def test_a_restore_without_the_key_file_says_so(
    client, django_user_model, tmp_path, other_database
):
    populate(client, django_user_model)
    exported = tmp_path / "all.jsonl.zst"
    backup.export(exported)
    result = cli(tmp_path, other_database, "restore", str(exported))
    assert result.returncode == 3
    assert "encryption.keys" in result.stderr and "tk_secret" not in result.stderr


def test_an_older_sqlite_backup_is_migrated_forward(client, django_user_model, tmp_path):
    populate(client, django_user_model)
    if connection.vendor != "sqlite":
        pytest.skip("a SQLite backup is made on SQLite")
    old = tmp_path / "old.sqlite3"
    backup.backup(old)
    # Make it a backup of the schema before retention existed.
    rolled_back = cli(
        tmp_path, f"sqlite:///{old}", "manage", "migrate", "backups", "0007_server_details"
    )
    assert rolled_back.returncode == 0, rolled_back.stderr

    backup.restore(old, force=True)

    assert Server.objects.count() == 2 and BackupRun.objects.count() == 5
    assert Server.objects.get(name="nas").keep_runs_days is None  # the column came later
    assert Server.objects.get(name="nas").url == "http://nas:8200"


def test_backups_are_private_files(client, django_user_model, tmp_path, settings):
    settings.DATA_DIR = tmp_path
    populate(client, django_user_model)
    path = backup.backup_now()
    assert path.parent == tmp_path / "backups"
    assert path.stat().st_mode & 0o077 == 0  # password hashes and secrets inside
    exported = tmp_path / "x.jsonl.zst"
    backup.export(exported)
    assert exported.stat().st_mode & 0o077 == 0
