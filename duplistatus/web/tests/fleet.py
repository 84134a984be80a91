"""A small fleet for page tests, sent the way Duplicati sends it: real corpus reports POSTed
to /api/upload, some replayed with new times (as a scheduled job would send them), with the
clock moved so that each job lands in a known state, and a worker that has just made a pass.

At NOW (a Monday morning):
  nas / Photos          daily 02:00, all fine                      → ok
  nas / Documents       daily 03:00, the latest run failed          → ok, failing (Error)
  office-pc / System    daily 01:00, stopped three days ago         → overdue
  office-pc / Mail      every 6 hours, the latest with a warning    → ok, Warning
  rafamunoz / Photos    the corpus' 2023 success and fatal reports  → unknown, Fatal
  127.0.0.1 / DevTest   the corpus' 2019 text-format reports        → unknown, Fatal
                        (no server name in them: the sender's address names the server)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from conftest import CORPUS, corpus_body
from duplistatus import clock
from duplistatus.monitoring import monitor
from duplistatus.worker import Worker

NOW = datetime(2026, 3, 16, 9, 30, tzinfo=UTC)
V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"


def log_line(moment: datetime, level: str, tag: str, message: str) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} +00 - [{level}-Duplicati.Library.Main.{tag}]: {message}"


def send(client, body: bytes, content_type: str, query: str = "") -> dict:
    response = client.post("/api/upload" + query, data=body, content_type=content_type)
    assert response.status_code == 200, response.content
    return response.json()


def replay(
    client,
    begin: datetime,
    *,
    machine: str,
    server: str,
    job: str,
    status: str = "Success",
    uploaded: int = 0,
) -> dict:
    """The v2.1 corpus report, as this job would have sent it for a run at `begin`."""
    doc = json.loads(V21.read_text())
    doc["Extra"].update({"machine-id": machine, "machine-name": server, "backup-name": job})
    end = begin + timedelta(minutes=4, seconds=17)
    doc["Data"].update(
        BeginTime=begin.isoformat(),
        EndTime=end.isoformat(),
        Duration="00:04:17",
        ParsedResult=status,
        SizeOfExaminedFiles=doc["Data"]["SizeOfExaminedFiles"] + uploaded * 3,
    )
    stats = doc["Data"]["BackendStatistics"]
    stats.update(BytesUploaded=uploaded, KnownFileSize=stats["KnownFileSize"] + uploaded)
    lines = [
        log_line(
            begin, "Information", "Controller-StartingOperation", "The operation Backup has started"
        ),
        log_line(
            begin, "Information", "BasicResults-BackendEvent", "Backend event: List - Started:  ()"
        ),
    ]
    if status == "Warning":
        lines.append(
            log_line(
                begin,
                "Warning",
                "Operation.Backup.FileBlockProcessor-FileAccessError",
                "Failed to read C:\\Users\\mail.pst: file is locked",
            )
        )
    if status == "Error":
        lines.append(
            log_line(
                begin,
                "Error",
                "Operation.BackupHandler-FailedToProcessFile",
                "Failed to process file /srv/docs/contract.pdf",
            )
        )
        doc["Data"]["ErrorsActualLength"] = 1
    lines.append(
        log_line(
            end,
            "Information",
            "Controller-CompletedOperation",
            "The operation Backup has completed",
        )
    )
    doc["LogLines"] = lines
    clock.set(end + timedelta(seconds=5))  # Duplicati reports when the run ends
    return send(client, json.dumps(doc).encode(), "application/json")


def daily(
    client,
    *,
    machine: str,
    server: str,
    job: str,
    hour: int,
    days: int,
    last: datetime,
    statuses: dict | None = None,
) -> None:
    for day in range(days, -1, -1):
        begin = last.replace(hour=hour, minute=0, second=0) - timedelta(days=day)
        status = (statuses or {}).get(day, "Success")
        replay(
            client,
            begin,
            machine=machine,
            server=server,
            job=job,
            status=status,
            uploaded=(day % 5 + 1) * 40_000_000,
        )


def build(client) -> None:
    """Upload the fleet and bring monitoring up to NOW (schedules learned, overdue found)."""
    today = NOW.replace(hour=0, minute=0)
    daily(client, machine="a" * 32, server="nas", job="Photos", hour=2, days=14, last=today)
    daily(
        client,
        machine="a" * 32,
        server="nas",
        job="Documents",
        hour=3,
        days=14,
        last=today,
        statuses={0: "Error", 6: "Warning"},
    )
    daily(
        client,
        machine="b" * 32,
        server="office-pc",
        job="System",
        hour=1,
        days=14,
        last=today - timedelta(days=3),
    )
    for step in range(16, -1, -1):
        begin = NOW.replace(minute=0) - timedelta(hours=6 * step + 3)
        replay(
            client,
            begin,
            machine="b" * 32,
            server="office-pc",
            job="Mail",
            status="Warning" if step == 0 else "Success",
            uploaded=5_000_000,
        )
    for name, query in (
        ("v2.0.6.3_backup_success_json_rafamunoz-photos.json", "?server=rafamunoz"),
        ("v2.0.6.3_backup_fatal_json_rafamunoz-photos-mega.json", "?server=rafamunoz"),
        ("v2.0.4.5_backup_success_form-value-no-prefix_adenau-devtest.txt", ""),
        ("v2.0.4.5_backup_fatal_form-value-no-prefix_adenau-devtest.txt", ""),
    ):
        send(client, *corpus_body(name), query)
    clock.set(NOW)
    monitor.learn_pending(NOW)
    monitor.scan(NOW)
    # The deployment's worker runs: its latest pass was just now (else every page would say
    # that no worker has run, worker_health.py).
    Worker().heartbeat()
