"""Collecting from Duplicati servers over their REST API (duplistatus/collect/)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from duplistatus import wakeup
from duplistatus.backups.models import Collection, Server
from duplistatus.collect import link, queue
from duplistatus.collect.client import CollectError

router = Router(tags=["collect"])


class CollectionOut(Schema):
    id: int
    server_id: int
    state: str = Field(description="queued | running | done | failed")
    requested_at: datetime
    requested_by: str
    finished_at: datetime | None
    backups_total: int
    backups_done: int
    entries_seen: int
    runs_added: int
    runs_skipped: int = Field(description="already stored (pushed or collected before)")
    runs_ignored: int = Field(description="not a backup, or unreadable")
    current: str
    error_code: str = Field(
        description="wrong_password | unreachable | timeout | certificate_untrusted | "
        "certificate_changed | not_duplicati | wrong_server | server_error | bad_address"
    )
    error: str


class ConnectionIn(Schema):
    address: str = Field(description="host, host:port (8200 by default) or a URL")
    password: str = Field("", description="empty keeps the stored one")
    trust_fingerprint: str = Field(
        "", description="SHA-256 of a self-signed certificate you trust (pinned)"
    )
    collect_every: str = Field("", description="'' (off), hourly or daily")


class ConnectionOut(Schema):
    server_id: int
    url: str
    generation: str
    version: str
    backups: int
    fingerprint: str
    collect_every: str


def _requested_by(request: HttpRequest) -> str:
    token = getattr(request, "auth", None)
    return f"token:{getattr(token, 'name', '')}"


def _collect_error(exc: CollectError) -> JsonResponse:
    status = 503 if exc.code in ("unreachable", "timeout", "server_error") else 400
    body = {"error": exc.message, "code": exc.code}
    if exc.fingerprint:
        body["fingerprint"] = exc.fingerprint
    return JsonResponse(body, status=status)


@router.put(
    "/servers/{server_id}/duplicati",
    response={200: ConnectionOut, 400: dict, 503: dict},
    summary="Link a server to its Duplicati REST API (tests the connection first)",
)
def put_connection(request: HttpRequest, server_id: int, body: ConnectionIn):  # type: ignore[no-untyped-def]
    server = get_object_or_404(Server, pk=server_id)
    try:
        linked = link.test_connection(
            body.address, body.password, server=server, trust_fingerprint=body.trust_fingerprint
        )
    except CollectError as exc:
        return _collect_error(exc)
    server = link.save(linked, server, body.collect_every)
    return ConnectionOut(
        server_id=server.pk,
        url=linked.base_url,
        generation=linked.generation,
        version=linked.version,
        backups=linked.backups,
        fingerprint=linked.fingerprint,
        collect_every=server.collect_every,
    )


@router.post(
    "/servers/{server_id}/collect",
    response={202: CollectionOut},
    summary="Collect this server's history now (queued; poll the collection)",
)
def collect_server(request: HttpRequest, server_id: int) -> Status:
    server = get_object_or_404(Server, pk=server_id)
    if not server.duplicati_url:
        raise HttpError(400, "this server has no Duplicati address: PUT /servers/{id}/duplicati")
    collection = queue.request(server, _requested_by(request))
    wakeup.wake_on_commit()
    return Status(202, collection)


@router.post(
    "/collect",
    response={202: list[CollectionOut]},
    summary="Collect every linked server now, in parallel",
)
def collect_all(request: HttpRequest) -> Status:
    collections = queue.request_all(_requested_by(request))
    wakeup.wake_on_commit()
    return Status(202, collections)


@router.get(
    "/collections",
    response=list[CollectionOut],
    summary="Recent collections, newest first (filter by server)",
)
def list_collections(
    request: HttpRequest, server: int | None = None, limit: int = 50
) -> list[Collection]:
    rows = Collection.objects.all()
    if server is not None:
        rows = rows.filter(server_id=server)
    return list(rows[: max(1, min(limit, 500))])


@router.get("/collections/{collection_id}", response=CollectionOut, summary="One collection")
def get_collection(request: HttpRequest, collection_id: int) -> Collection:
    return get_object_or_404(Collection, pk=collection_id)
