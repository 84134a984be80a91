"""Pull one server's history over Duplicati's REST API into the same store uploads use.

For every backup of the server, every page of its job log is read (newest first); each
`Result` row's `Message` is the run's result object, which is wrapped as the JSON report
Duplicati would have sent (`{"Data": <result>, "Extra": {machine-id, backup-name, …}}`) and
goes through `ingest.parse.parse_body` and `ingest.store.store_report`, exactly as
`POST /api/upload` does. A run already stored, pushed or pulled, has the same job and
BeginTime, so it is skipped (before storing when we already know it, else by the store's
unique key): pushing and pulling never count a run twice, and collecting again adds nothing.

Only `Backup` runs are kept (Duplicati also logs restores, lists, compacts, tests …, which
a user browsing restores makes plenty of); other rows are counted as ignored.

History imported by a server's first collection notifies nobody; later collections notify
about runs newer than any the job had, as an upload would (for servers that cannot reach us,
collecting is how their runs arrive).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction

from duplistatus import clock, crypto
from duplistatus.backups.models import BackupJob, BackupRun, Collection, Server
from duplistatus.ingest.parse import Identity, ParseError, parse_body
from duplistatus.ingest.store import DuplicateReport, Upload, store_report, writing
from duplistatus.monitoring import monitor

from . import schedule as duplicati_schedule
from .client import MAX_PAGE_SIZE, CollectError, DuplicatiClient, machine_identity

log = logging.getLogger(__name__)

# Log rows stored per transaction.
BATCH = 50
# Extra on every collected run, so its page says where it came from.
SOURCE_MARK = {"duplistatus-source": "rest-api"}


@dataclass
class Tally:
    """What a collection did so far; `report` is called after each page (progress)."""

    backups_total: int = 0
    backups_done: int = 0
    entries_seen: int = 0
    runs_added: int = 0
    runs_skipped: int = 0
    runs_ignored: int = 0
    current: str = ""
    report: Callable[[Tally], None] = field(default=lambda tally: None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in (
                "backups_total",
                "backups_done",
                "entries_seen",
                "runs_added",
                "runs_skipped",
                "runs_ignored",
                "current",
            )
        }


def is_machine_id(key: str) -> bool:
    """Server keys that are not a machine id say where they came from ("name:…", "addr:…")."""
    return not key.startswith(("name:", "addr:"))


def open_client(server: Server, **options: Any) -> DuplicatiClient:
    password = crypto.decrypt(server.duplicati_secret).get("password", "")
    return DuplicatiClient(
        server.duplicati_url, password, pinned_pem=server.duplicati_certificate, **options
    )


def collect_server(server: Server, tally: Tally | None = None, **client_options: Any) -> Tally:
    """Collect everything from `server`. Raises CollectError when the server cannot be read
    (what was stored before the error stays stored)."""
    tally = tally or Tally()
    if not server.duplicati_url:
        raise CollectError("bad_address", "No Duplicati address is set for this server.")
    try:
        client = open_client(server, **client_options)
    except crypto.SecretsUnreadable:
        raise CollectError(
            "wrong_password", "The stored password cannot be decrypted; enter it again."
        ) from None
    imported_before = server.collections.filter(state=Collection.State.DONE).exists()
    with client:
        client.connect()
        machine_id, machine_name = machine_identity(client.system_info())
        if machine_id and is_machine_id(server.key) and machine_id != server.key:
            raise CollectError(
                "wrong_server",
                f"The server at this address is another Duplicati installation (machine id "
                f"{machine_id}, this one is {server.key}).",
            )
        backups = client.backups()
        tally.backups_total = len(backups)
        tally.report(tally)
        for item in backups:
            backup = item.get("Backup") if isinstance(item.get("Backup"), dict) else {}
            backup_id, name = str(backup.get("ID") or ""), str(backup.get("Name") or "")
            if not backup_id or not name:
                continue
            tally.current = name[:200]
            _collect_backup(
                client,
                server,
                backup_id,
                name[:200],
                machine_name or server.name,
                notify=imported_before,
                tally=tally,
            )
            _apply_schedule(server, name[:200], backup_id, item.get("Schedule"))
            tally.backups_done += 1
            tally.report(tally)
    tally.current = ""
    return tally


def _collect_backup(
    client: DuplicatiClient,
    server: Server,
    backup_id: str,
    name: str,
    machine_name: str,
    *,
    notify: bool,
    tally: Tally,
) -> None:
    identity = Identity(
        server_key=server.key,
        server_name=server.name,
        job_name=name,
        backup_id=f"DB-{backup_id}",
        source="rest-api",
    )
    extra = {
        "OperationName": "Backup",
        "machine-id": server.key,
        "machine-name": machine_name,
        "backup-name": name,
        "backup-id": f"DB-{backup_id}",
        **SOURCE_MARK,
    }
    extra_json = json.dumps(extra, separators=(",", ":"))
    known = set(
        BackupRun.objects.filter(job__server=server, job__name=name, operation="Backup")
        .values_list("begin_time", flat=True)
        .iterator()
    )
    newest_known = max(known, default=None)
    remote_addr = urllib.parse.urlsplit(client.base_url).hostname or ""
    before: int | None = None
    while True:
        rows = client.log_page(backup_id, before=before, page_size=MAX_PAGE_SIZE)
        ids = [row["ID"] for row in rows if isinstance(row.get("ID"), int)]
        if not ids:
            break
        for start in range(0, len(rows), BATCH):
            # A batch shares one commit; uploads wait for at most one batch.
            with writing():
                for row in rows[start : start + BATCH]:
                    tally.entries_seen += 1
                    _collect_row(
                        row, extra_json, identity, remote_addr, known, newest_known, notify, tally
                    )
        if before is not None and min(ids) >= before:
            break  # a server that does not page would loop forever
        before = min(ids)
        tally.report(tally)


def _collect_row(
    row: dict[str, Any],
    extra_json: str,
    identity: Identity,
    remote_addr: str,
    known: set[datetime],
    newest_known: datetime | None,
    notify: bool,
    tally: Tally,
) -> None:
    message = row.get("Message")
    if row.get("Type") != "Result" or not isinstance(message, str):
        tally.runs_ignored += 1
        return
    # The message is put into the report as it is (parse_body reads the JSON once); it must
    # be one object. Our Extra comes last, so a message cannot override it.
    text = message.strip()
    if not (text.startswith("{") and text.endswith("}")):
        tally.runs_ignored += 1
        return
    now = clock.now()
    body = f'{{"Data":{text},"Extra":{extra_json}}}'.encode()
    try:
        report = parse_body(
            body, "application/json", local_tz=clock.default_timezone(), received_at=now
        )
    except ParseError:
        tally.runs_ignored += 1
        return
    if report.operation != "Backup":
        tally.runs_ignored += 1
        return
    if report.begin_time in known:
        tally.runs_skipped += 1
        return
    upload = Upload(
        body=body,
        content_type="application/json",
        query_string="",
        remote_addr=remote_addr,
        received_at=now,
    )
    fresh = newest_known is None or report.begin_time > newest_known
    try:
        store_report(report, identity, upload, notify=notify and fresh)
    except DuplicateReport:
        tally.runs_skipped += 1
    else:
        tally.runs_added += 1
    known.add(report.begin_time)


def _apply_schedule(server: Server, name: str, backup_id: str, schedule: Any) -> None:
    """Store Duplicati's schedule on the job (created if it never ran) and recompute its
    expectation when the schedule changed."""
    columns = duplicati_schedule.job_columns(schedule)
    with transaction.atomic():
        job, _ = BackupJob.objects.get_or_create(
            server=server,
            name=name,
            defaults={"backup_id": f"DB-{backup_id}", "created_at": clock.now()},
        )
    if all(getattr(job, column) == value for column, value in columns.items()):
        return
    BackupJob.objects.filter(pk=job.pk).update(**columns)
    monitor.refresh(job)
