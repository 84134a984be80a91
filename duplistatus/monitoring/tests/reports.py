"""Backup reports as a scheduled Duplicati job sends them, for monitoring tests that replay
a history through `/api/upload` (the whole ingest path, as in production)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta


def report(
    begin: datetime,
    *,
    job: str,
    server: str = "nas",
    duration: timedelta = timedelta(minutes=5),
    status: str = "Success",
) -> str:
    """A Duplicati ≥ 2.1 JSON report of a backup run that began at `begin` (aware)."""
    end = begin + duration
    seconds = int(duration.total_seconds())
    return json.dumps(
        {
            "Data": {
                "MainOperation": "Backup",
                "ParsedResult": status,
                "BeginTime": begin.isoformat(),
                "EndTime": end.isoformat(),
                "Duration": f"{seconds // 3600:02}:{seconds // 60 % 60:02}:{seconds % 60:02}",
            },
            "Extra": {
                "OperationName": "Backup",
                "machine-id": f"machine-{server}",
                "machine-name": server,
                "backup-name": job,
            },
        }
    )


def upload(client, begin: datetime, **fields) -> None:
    response = client.post(
        "/api/upload", data=report(begin, **fields), content_type="application/json"
    )
    assert response.status_code == 200, response.content
