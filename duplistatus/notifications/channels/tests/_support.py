"""Shared test data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..base import Message


def make_message(**overrides: Any) -> Message:
    """A typical error notification about a backup job; any field can be overridden."""
    fields: dict[str, Any] = {
        "delivery_id": "0190f5b2-7c1e-7d3a-9a65-2f1c9b1e4d01",
        "kind": "error",
        "title": "Backup failed: nas / Documents",
        "body": "The backup Documents on nas ended with Error.\n2 errors, 0 warnings.",
        "body_markdown": "**Documents** on *nas* ended with `Error`.",
        "body_html": None,
        "priority": 3,
        "tags": ("x",),
        "click_url": "https://duplistatus.example/jobs/42",
        "payload": {
            "type": "error",
            "event": {"id": "ev-1", "kind": "error"},
            "job": {"id": 42, "name": "Documents"},
            "server": {"id": "m-1", "name": "nas"},
            "run": {"id": 7, "status": "Error"},
            "links": {"job": "https://duplistatus.example/jobs/42"},
        },
        "created_at": datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
    }
    fields.update(overrides)
    return Message(**fields)


def error_texts(exc: BaseException) -> str:
    """Every way an error may end up shown or logged."""
    return " | ".join([str(exc), repr(exc), getattr(exc, "message", ""), str(exc.args)])
