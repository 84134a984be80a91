"""The audit log: every settings change, with who made it, what changed, when and from where.

`record(request, action, target, changes)` is the one way to write an entry; pages, the API
and the command line (request=None) all call it. Entries older than the retention (Settings
→ Maintenance, or `DUPLISTATUS_AUDIT_RETENTION_DAYS`, default 365) are deleted as new ones
are written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest

from duplistatus import clock

from .models import ApiToken, AuditEntry


def record(
    request: HttpRequest | None, action: str, target: str, changes: dict[str, Any]
) -> AuditEntry:
    now = clock.now()
    actor, user, remote_addr = _who(request)
    entry = AuditEntry.objects.create(
        at=now,
        actor=actor,
        user=user,
        remote_addr=remote_addr,
        action=action[:60],
        target=target[:200],
        changes=changes,
    )
    AuditEntry.objects.filter(at__lt=now - retention()).delete()
    return entry


def retention() -> timedelta:
    """Settings → Maintenance, else DUPLISTATUS_AUDIT_RETENTION_DAYS."""
    from duplistatus.backups.models import MaintenanceSettings

    days = MaintenanceSettings.objects.filter(pk=1).values_list("audit_retention_days", flat=True)
    return timedelta(days=days.first() or settings.AUDIT_RETENTION_DAYS)


def _who(request: HttpRequest | None) -> tuple[str, Any, str]:
    if request is None:
        return "cli", None, ""
    remote_addr = request.META.get("REMOTE_ADDR", "")[:100]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.get_username(), user, remote_addr
    token = getattr(request, "auth", None)  # set by django-ninja's token auth
    if isinstance(token, ApiToken):
        return f"token:{token.name}", None, remote_addr
    return "anonymous", None, remote_addr


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """{field: {"from": old, "to": new}} for the fields whose value changed."""
    return {
        name: {"from": before.get(name), "to": value}
        for name, value in after.items()
        if before.get(name) != value
    }


CSV_COLUMNS = ("time (UTC)", "actor", "address", "action", "target", "changes")


def csv_rows(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """The entries as CSV text, a line at a time (for a streaming download)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    for entry in entries:
        yield line(
            _cell(value)
            for value in (
                entry.at.isoformat(),
                entry.actor,
                entry.remote_addr,
                entry.action,
                entry.target,
                json.dumps(entry.changes, cls=DjangoJSONEncoder, sort_keys=True),
            )
        )


def _cell(value: str) -> str:
    """Job and server names come from reports: never let a spreadsheet run one as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
