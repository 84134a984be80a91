"""A server's details the reports do not carry: a display name (alias), a note, the
address of its Duplicati UI, and its own retention. Set on the server page and through the
API, audited."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest
from pydantic import BaseModel, Field, field_validator

from duplistatus.accounts import audit
from duplistatus.backups.models import Server

DETAIL_FIELDS = ("alias", "note", "url", "keep_runs_days", "keep_runs_count")
_NUMBERS = ("keep_runs_days", "keep_runs_count")


class ServerDetailsIn(BaseModel):
    alias: str | None = Field(None, max_length=200, description="display name; empty: its own")
    note: str | None = Field(None, max_length=5000)
    url: str | None = Field(
        None, max_length=500, description='its Duplicati UI, e.g. "http://nas:8200"'
    )
    keep_runs_days: int | None = Field(
        None, ge=1, le=100_000, description="retention override; null: the global setting"
    )
    keep_runs_count: int | None = Field(
        None, ge=1, le=10_000_000, description="keep the last N runs of each job; null: global"
    )

    @field_validator("alias", "note")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return "" if value is not None else None
        value = value.strip()
        parts = urlsplit(value)
        # Only web addresses: the link is put on pages, where "javascript:" would run.
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("give an http:// or https:// address, e.g. http://nas:8200")
        return value


def save_details(
    server: Server, values: ServerDetailsIn, request: HttpRequest | None = None
) -> dict[str, object]:
    """Save the fields that were sent; returns what changed (audited when anything did)."""
    sent = [name for name in DETAIL_FIELDS if name in values.model_fields_set]
    before = {name: getattr(server, name) for name in sent}
    for name in sent:
        value = getattr(values, name)
        setattr(server, name, value if name in _NUMBERS else value or "")
    changes = audit.diff(before, {name: getattr(server, name) for name in sent})
    if changes:
        server.save(update_fields=list(changes))
        audit.record(request, "server.details", f"server {server.pk} ({server.name})", changes)
    return changes
