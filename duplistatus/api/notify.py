"""Notification channels and the delivery log, under /api/v1/. Secrets are write-only: they
are accepted in `config` but never returned; `secrets_set` names the ones that are stored."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from duplistatus import clock
from duplistatus.notifications import outbox
from duplistatus.notifications.channel_settings import (
    ChannelIn,
    ChannelSettingsError,
    apply_channel,
    shown_config,
)
from duplistatus.notifications.models import (
    DEFAULT_URGENT_KINDS,
    Channel,
    Delivery,
)

from .auth import may_change

router = Router(tags=["notifications"])


class Health(Schema):
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str
    consecutive_failures: int
    queued: int
    dead: int


class ChannelOut(Schema):
    id: int
    kind: str
    name: str
    enabled: bool
    config: dict[str, Any]
    secrets_set: list[str]
    event_kinds: list[str]
    language: str  # blank: the deployment's language
    rate_per_minute: float
    burst: int
    batch_threshold: int
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    urgent_kinds: list[str]
    group_id: int | None
    group_position: int
    min_priority: int
    active_start: time | None
    active_end: time | None
    hide_log_text: bool
    hide_paths: bool
    use_server_alias: bool
    log_retention_days: int
    summary_schedule: str
    summary_time: time | None
    summary_weekday: int
    health: Health


def channel_out(
    channel: Channel, counts: dict[str, int] | None = None, *, may_edit: bool = True
) -> ChannelOut:
    if counts is None:
        counts = _counts(Channel.objects.filter(pk=channel.pk))[channel.pk]
    return ChannelOut(
        id=channel.pk,
        kind=channel.kind,
        name=channel.name,
        enabled=channel.enabled,
        config=shown_config(channel, may_edit=may_edit),
        secrets_set=channel.secrets_set,
        event_kinds=channel.event_kinds,
        language=channel.language,
        rate_per_minute=channel.rate_per_minute,
        burst=channel.burst,
        batch_threshold=channel.batch_threshold,
        quiet_start=channel.quiet_start,
        quiet_end=channel.quiet_end,
        timezone=channel.timezone,
        urgent_kinds=channel.urgent_kinds or DEFAULT_URGENT_KINDS,
        group_id=channel.group_id,
        group_position=channel.group_position,
        min_priority=channel.min_priority,
        active_start=channel.active_start,
        active_end=channel.active_end,
        hide_log_text=channel.hide_log_text,
        hide_paths=channel.hide_paths,
        use_server_alias=channel.use_server_alias,
        log_retention_days=channel.log_retention_days,
        summary_schedule=channel.summary_schedule,
        summary_time=channel.summary_time,
        summary_weekday=channel.summary_weekday,
        health=Health(
            last_success_at=channel.last_success_at,
            last_error_at=channel.last_error_at,
            last_error=channel.last_error,
            consecutive_failures=channel.consecutive_failures,
            queued=counts["queued"],
            dead=counts["dead"],
        ),
    )


def _counts(channels: Any) -> dict[int, dict[str, int]]:
    waiting = [Delivery.Status.QUEUED, Delivery.Status.RETRYING, Delivery.Status.SENDING]
    rows = channels.annotate(
        queued=Count("deliveries", filter=Q(deliveries__status__in=waiting)),
        dead=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.DEAD)),
    ).values("pk", "queued", "dead")
    return {row["pk"]: row for row in rows}


@router.get("/channels", response=list[ChannelOut], summary="Notification channels")
def list_channels(request: HttpRequest) -> list[ChannelOut]:
    channels = list(Channel.objects.all())
    counts = _counts(Channel.objects.all())
    may_edit = may_change(request)
    return [channel_out(c, counts[c.pk], may_edit=may_edit) for c in channels]


@router.post("/channels", response={201: ChannelOut}, summary="Add a channel")
def create_channel(request: HttpRequest, body: ChannelIn) -> Status[ChannelOut]:
    if not body.kind or not body.name:
        raise HttpError(422, "kind and name are required")
    now = clock.now()
    channel = Channel(
        kind=body.kind,
        name=body.name,
        created_at=now,
        updated_at=now,
        event_kinds=[],
    )
    _apply(channel, body, new=True)
    return Status(201, channel_out(channel))


@router.get("/channels/{channel_id}", response=ChannelOut, summary="One channel")
def get_channel(request: HttpRequest, channel_id: int) -> ChannelOut:
    return channel_out(get_object_or_404(Channel, pk=channel_id), may_edit=may_change(request))


@router.patch(
    "/channels/{channel_id}",
    response=ChannelOut,
    summary="Change a channel; config fields not sent keep their values",
)
def patch_channel(request: HttpRequest, channel_id: int, body: ChannelIn) -> ChannelOut:
    channel = get_object_or_404(Channel, pk=channel_id)
    if body.kind is not None and body.kind != channel.kind:
        raise HttpError(422, "a channel's kind cannot change; add a new channel")
    _apply(channel, body, new=False)
    return channel_out(channel)


def _apply(channel: Channel, body: ChannelIn, *, new: bool) -> None:
    values = {name: getattr(body, name) for name in body.model_fields_set}
    try:
        apply_channel(channel, values, new=new)
    except ChannelSettingsError as exc:
        raise HttpError(422, str(exc)) from None


@router.delete("/channels/{channel_id}", response={204: None}, summary="Remove a channel")
def delete_channel(request: HttpRequest, channel_id: int) -> Status[None]:
    get_object_or_404(Channel, pk=channel_id).delete()
    return Status(204, None)


class DeliveryOut(Schema):
    id: int
    uid: str
    channel_id: int
    event_id: int | None
    job_id: int | None
    kind: str
    priority: int
    title: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    latency_ms: float | None
    last_error: str
    detail: str
    routing_note: str  # why it went where it did, when its group had no eligible device


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.pk,
        uid=str(d.uid),
        channel_id=d.channel_id,
        event_id=d.event_id,
        job_id=d.job_id,
        kind=d.kind,
        priority=d.priority,
        title=d.title,
        status=d.status,
        attempts=d.attempts,
        created_at=d.created_at,
        next_attempt_at=d.next_attempt_at,
        sent_at=d.sent_at,
        latency_ms=d.latency_ms,
        last_error=d.last_error,
        detail=d.detail,
        routing_note=d.routing_note,
    )


@router.post(
    "/channels/{channel_id}/test",
    response=DeliveryOut,
    summary="Send a test message now and return the real outcome",
)
def test_channel(request: HttpRequest, channel_id: int) -> DeliveryOut:
    return delivery_out(outbox.send_test(get_object_or_404(Channel, pk=channel_id)))


@router.get("/deliveries", response=list[DeliveryOut], summary="The delivery log, newest first")
def list_deliveries(
    request: HttpRequest,
    status: str | None = None,
    channel: int | None = None,
    job: int | None = None,
    limit: int = 100,
) -> list[DeliveryOut]:
    rows = Delivery.objects.order_by("-created_at", "-id")
    if status:
        rows = rows.filter(status=status)
    if channel is not None:
        rows = rows.filter(channel_id=channel)
    if job is not None:
        rows = rows.filter(job_id=job)
    return [delivery_out(d) for d in rows[: max(1, min(limit, 1000))]]


@router.post(
    "/deliveries/{delivery_id}/retry",
    response=DeliveryOut,
    summary="Queue a delivery again now (e.g. a dead one after fixing the channel)",
)
def retry_delivery(request: HttpRequest, delivery_id: int) -> DeliveryOut:
    return delivery_out(outbox.retry(get_object_or_404(Delivery, pk=delivery_id)))


@router.get("/deliveries/backlog", response=dict, summary="What waits in the queue")
def backlog(request: HttpRequest) -> dict[str, Any]:
    return outbox.backlog(clock.now())
