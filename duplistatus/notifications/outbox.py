"""The outbox: events become deliveries, deliveries get sent, failures wait and retry.

Both steps claim their rows with conditional UPDATEs, so any number of workers can run:

1. `enqueue_events`: an event is taken by `UPDATE … SET processed_at WHERE processed_at IS
   NULL`; in the same transaction one delivery per destination is written with its message
   rendered. A crash rolls both back and the event is taken again.
2. `send_due`: a due delivery is taken by `UPDATE … SET status='sending', claimed_until=…`
   and sent outside any transaction. A sender that dies leaves the claim to expire; the
   delivery is then sent again with the same id, which receivers use to drop the repeat
   (at-least-once).

Transient failures retry with exponential backoff and jitter until the retry horizon
(default 24 h), then the delivery is `dead`; permanent failures are dead at once.
"""

from __future__ import annotations

import html
import logging
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pydantic
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils.translation import gettext_lazy, ngettext

from duplistatus import clock, crypto, wakeup
from duplistatus.backups.models import Event, MonitoringDefaults
from duplistatus.ingest.store import writer_lock
from duplistatus.monitoring import monitor
from duplistatus.monitoring.schedule import Schedule

from . import flow, languages, messages, policy, privacy, rule_settings, rules, templates
from .channels import DeliveryError, Message, PermanentError, TransientError
from .channels import get as get_kind
from .models import DEFAULT_URGENT_KINDS, Channel, Delivery, DeviceGroup

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(seconds=int(os.environ.get("DUPLISTATUS_CLAIM_LEASE_SECONDS", "300")))
SEND_BATCH = 100
HEALTH_EVERY = timedelta(minutes=1)
# A device in a failover group hands its message to the next device after this many failed
# attempts (or at once when the failure is permanent).
FAILOVER_AFTER = 2


def retry_horizon() -> timedelta:
    return timedelta(hours=float(os.environ.get("DUPLISTATUS_RETRY_HORIZON_HOURS", "24")))


# --------------------------------------------------------------------------- events → deliveries


ENQUEUE_BATCH = 50


def enqueue_events(now: datetime | None = None, *, limit: int = 200) -> int:
    """Turn unprocessed events into deliveries; returns how many deliveries were written.

    Events are taken a batch at a time by reading them inside a write transaction (`FOR
    UPDATE SKIP LOCKED` on PostgreSQL, an IMMEDIATE transaction on SQLite), marked processed
    and their deliveries written in that same transaction: a crash rolls both back.
    """
    now = now or clock.now()
    ids = list(
        Event.objects.filter(processed_at=None).order_by("id").values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return 0
    enabled = Channel.objects.filter(enabled=True)
    if not enabled.exists():  # a fifth of the cost of reading them (bench/ingest.py)
        # Nothing can be routed anywhere, so the events are only marked processed. This runs
        # after every burst of uploads, beside the uploads themselves (bench/ingest.py).
        # In line with this process's uploads on SQLite, rather than meeting them in SQLite's
        # busy handler (which sleeps 1, 2, 5 ms... however soon the lock is free again).
        with writer_lock():
            Event.objects.filter(pk__in=ids, processed_at=None).update(processed_at=now)
        return 0
    channels = list(enabled)
    groups = {g.pk: g for g in DeviceGroup.objects.all()}
    defaults = MonitoringDefaults.load()
    per_job: dict[int, tuple[Schedule, rules.Rules]] = {}  # resolved once per pass
    written = 0
    for start in range(0, len(ids), ENQUEUE_BATCH):
        with writer_lock(), transaction.atomic():
            events = list(
                Event.objects.filter(pk__in=ids[start : start + ENQUEUE_BATCH], processed_at=None)
                .select_related("job__server", "run")
                .defer("run__data", "run__extra", "run__messages")  # large, and not needed
                .select_for_update(of=("self",), skip_locked=True)
                .order_by("id")
            )
            if not events:
                continue
            Event.objects.filter(pk__in=[e.pk for e in events]).update(processed_at=now)
            deliveries: list[Delivery] = []
            for event in events:
                job, run = event.job, event.run
                if job.pk not in per_job:
                    latest = run is not None and run.pk == job.last_run_id
                    per_job[job.pk] = (
                        monitor.job_schedule(
                            job,
                            defaults=defaults,
                            **({"duplicati_next": run.next_scheduled_run} if latest else {}),
                        ),
                        rule_settings.effective(job, defaults),
                    )
                schedule, job_rules = per_job[job.pk]
                kind = messages.message_kind(event)
                chosen = policy.routes(
                    rules.targets(
                        job_rules,
                        kind,
                        status=messages.routing_status(event),
                        errors_count=run.errors_count if run else 0,
                        consecutive_failures=job.consecutive_failures,
                    ),
                    channels=channels,
                    groups=groups,
                    now=now,
                    default_priority=messages.PRIORITY,
                    fallback_tz=schedule.tz,
                    urgent_kinds=DEFAULT_URGENT_KINDS,
                )
                if not chosen:
                    continue
                # The variables hold words (durations, labels): made once per language.
                by_language: dict[str, dict[str, Any]] = {}
                for r in chosen:
                    language = languages.of(r.channel)
                    if language not in by_language:
                        with languages.speaking(r.channel):
                            by_language[language] = messages.context(
                                event, now=now, schedule=schedule
                            )
                    delivery = build_delivery(
                        r.channel,
                        r.kind,
                        by_language[language],
                        now,
                        event=event,
                        priority=r.priority,
                        group=r.group,
                    )
                    if r.note:
                        delivery.routing_note = r.note
                        log.info("%s message for %s: %s", r.kind, job, r.note)
                    if r.suppressed:
                        delivery.status = Delivery.Status.SUPPRESSED
                    deliveries.append(delivery)
            Delivery.objects.bulk_create(deliveries)
            written += len(deliveries)
    return written


def build_delivery(
    channel: Channel,
    kind: str,
    values: dict,
    now: datetime,
    *,
    event: Event | None = None,
    priority: int | None = None,
    group: DeviceGroup | None = None,
) -> Delivery:
    """Render the message for one destination, in its language, and make its outbox row (not
    saved). `values` should have been made in that language too (languages.speaking)."""
    values = privacy.apply(channel, values)
    with languages.speaking(channel):
        template = templates.resolve(kind, channel.kind, channel.language or None)
        message = templates.render_message(template, values, kind=kind, channel_kind=channel.kind)
    title, body = message.title, message.body
    payload = (
        privacy.apply_to_payload(channel, messages.payload(event, kind, title, body, values))
        if event
        else {
            "type": kind,
            "event": {"kind": kind, "title": title, "text": body},
            "job": None,
            "server": None,
            "run": None,
            "links": {},
        }
    )
    return Delivery(
        channel=channel,
        event=event,
        job=event.job if event else None,
        kind=kind,
        priority=message.priority_for(priority, messages.PRIORITY.get(kind, 3)),
        group=group,
        title=title[:300],
        body=body,
        body_markdown=message.markdown,
        body_html=message.html or text_to_html(body),
        payload=payload,
        tags=list(message.tags or messages.TAGS.get(kind, ())),
        click_url=values.get("run_url") or values.get("job_url") or "",
        detail=message.note[:1000],
        status=Delivery.Status.QUEUED,
        created_at=now,
        next_attempt_at=now,
    )


_URL = re.compile(r"https?://[^\s<>\"]+")


def text_to_html(text: str) -> str:
    escaped = html.escape(text)
    linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    paragraphs = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in linked.split("\n\n"))
    return f'<div style="font-family:sans-serif">{paragraphs}</div>'


# --------------------------------------------------------------------------- sending


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    deferred: int = 0  # quiet hours or rate limit
    batched: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.dead + self.batched


def due_deliveries(now: datetime):
    return Delivery.objects.filter(
        Q(status__in=[Delivery.Status.QUEUED, Delivery.Status.RETRYING], next_attempt_at__lte=now)
        | Q(status=Delivery.Status.SENDING, claimed_until__lt=now)
    )


def next_due_at() -> datetime | None:
    """When the earliest waiting delivery becomes due (for the worker's sleep)."""
    row = (
        Delivery.objects.filter(status__in=[Delivery.Status.QUEUED, Delivery.Status.RETRYING])
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return row


def send_due(now: datetime | None = None, *, limit: int = SEND_BATCH) -> SendReport:
    """Send what is due, most urgent first."""
    now = now or clock.now()
    report = SendReport()
    # Most passes (one after every burst of uploads) find nothing due: asking whether there
    # is any costs a third of reading them with their channels (bench/ingest.py).
    if not due_deliveries(now).exists():
        return report
    due = list(
        due_deliveries(now)
        .select_related("channel")
        .order_by("-priority", "next_attempt_at", "id")[:limit]
    )
    by_channel: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in due:
        by_channel[delivery.channel_id].append(delivery)
    for channel_deliveries in by_channel.values():
        channel = channel_deliveries[0].channel
        channel_deliveries = _batch(channel, channel_deliveries, now, report)
        transport = _Transport(channel)
        for delivery in channel_deliveries:
            delivery.channel = channel
            _send_if_allowed(transport, delivery, now, report)
    return report


def _batch(
    channel: Channel, due: list[Delivery], now: datetime, report: SendReport
) -> list[Delivery]:
    """More than `batch_threshold` non-urgent deliveries due at once → one digest."""
    urgent = set(channel.urgent_kinds or DEFAULT_URGENT_KINDS)
    foldable = [d for d in due if d.kind not in urgent and d.kind not in ("summary", "test")]
    if not channel.batch_threshold or len(foldable) <= channel.batch_threshold:
        return due
    with languages.speaking(channel):
        title = ngettext(
            "%(count)d backup notification", "%(count)d backup notifications", len(foldable)
        ) % {"count": len(foldable)}
    with transaction.atomic():
        ids = [d.pk for d in foldable]
        lines = [f"• {d.title}" for d in foldable]
        digest = Delivery.objects.create(
            channel=channel,
            kind="summary",
            priority=max(d.priority for d in foldable),
            title=title,
            body="\n".join(lines),
            body_markdown="\n".join(lines),
            body_html=text_to_html("\n".join(lines)),
            payload={"type": "summary", "items": [d.payload for d in foldable]},
            click_url=messages.page_url("web:dashboard"),
            created_at=now,
            next_attempt_at=now,
        )
        taken = Delivery.objects.filter(
            pk__in=ids, status__in=[Delivery.Status.QUEUED, Delivery.Status.RETRYING]
        ).update(
            status=Delivery.Status.BATCHED, digest=digest, detail=f"sent in digest {digest.uid}"
        )
        report.batched += taken
    rest = [d for d in due if d not in foldable]
    return [digest, *rest]


def _send_if_allowed(
    transport: _Transport, delivery: Delivery, now: datetime, report: SendReport
) -> None:
    channel = transport.channel
    if not channel.enabled:
        Delivery.objects.filter(pk=delivery.pk, status=delivery.status).update(
            status=Delivery.Status.DEAD, last_error="the channel was disabled before sending"
        )
        report.dead += 1
        return
    urgent = delivery.kind in (channel.urgent_kinds or DEFAULT_URGENT_KINDS)
    if not urgent and (quiet := _quiet_hours(channel)) and (until := quiet.ends_after(now)):
        Delivery.objects.filter(pk=delivery.pk, next_attempt_at=delivery.next_attempt_at).update(
            next_attempt_at=until
        )
        report.deferred += 1
        return
    wait = _take_token(channel, now)
    if wait:
        Delivery.objects.filter(pk=delivery.pk, next_attempt_at=delivery.next_attempt_at).update(
            next_attempt_at=now + wait
        )
        report.deferred += 1
        return
    outcome = claim_and_send(delivery, now, transport)
    if outcome == "sent":
        report.sent += 1
    elif outcome == "retrying":
        report.retrying += 1
    elif outcome == "dead":
        report.dead += 1


def _quiet_hours(channel: Channel) -> flow.QuietHours | None:
    if channel.quiet_start is None or channel.quiet_end is None:
        return None
    return flow.QuietHours(channel.quiet_start, channel.quiet_end, channel.zone())


def _take_token(channel: Channel, now: datetime) -> timedelta | None:
    """Take one token from the channel's bucket; None when sent may go now."""
    if channel.rate_per_minute <= 0:
        return None
    with transaction.atomic():
        row = Channel.objects.select_for_update().get(pk=channel.pk)
        bucket = flow.Bucket(row.tokens, row.tokens_at, row.rate_per_minute, row.burst)
        after, wait = bucket.take(now)
        if after is None:
            return wait
        Channel.objects.filter(pk=row.pk).update(tokens=after.tokens, tokens_at=after.at)
    return None


class _Transport:
    """A channel's kind and validated config, prepared once per channel for a whole pass."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.error = ""
        try:
            self.kind = get_kind(channel.kind)
            self.config = self.kind.Config.model_validate(channel.full_config())
        except (crypto.SecretsUnreadable, pydantic.ValidationError, KeyError) as exc:
            self.error = f"channel settings are not usable: {type(exc).__name__}"


def claim_and_send(delivery: Delivery, now: datetime, transport: _Transport | None = None) -> str:
    """Claim one delivery and send it. Returns its new status, or "" if someone else has it.

    The claim matches the attempt count we read, so we know exactly which attempt is ours
    and our result cannot overwrite a later attempt by another worker.
    """
    claimed = (
        Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts)
        .filter(
            Q(
                status__in=[Delivery.Status.QUEUED, Delivery.Status.RETRYING],
                next_attempt_at__lte=now,
            )
            | Q(status=Delivery.Status.SENDING, claimed_until__lt=now)
        )
        .update(
            status=Delivery.Status.SENDING,
            claimed_until=now + CLAIM_LEASE,
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return ""
    delivery.attempts += 1
    delivery.status = Delivery.Status.SENDING
    return _send(delivery, now, transport or _Transport(delivery.channel))


def _send(delivery: Delivery, now: datetime, transport: _Transport) -> str:
    channel = transport.channel
    attempt = delivery.attempts
    if transport.error:
        return _failed(delivery, attempt, now, transport.error, transient=False)
    started = time.monotonic()
    try:
        result = transport.kind.send(transport.config, to_message(delivery))
    except TransientError as exc:
        return _failed(
            delivery, attempt, now, exc.message, transient=True, retry_after=exc.retry_after
        )
    except PermanentError as exc:
        return _failed(delivery, attempt, now, exc.message, transient=False)
    except Exception as exc:  # a bug must not lose the message: keep it for a retry
        log.exception("unexpected error sending delivery %s", delivery.uid)
        message = f"unexpected {type(exc).__name__}; will retry"
        return _failed(delivery, attempt, now, message, transient=True)
    latency = (time.monotonic() - started) * 1000
    sent_at = clock.now()
    Delivery.objects.filter(pk=delivery.pk, attempts=attempt).update(
        status=Delivery.Status.SENT,
        sent_at=sent_at,
        latency_ms=latency,
        # A note from rendering (the built-in text was sent) stays beside the reply.
        detail="; ".join(filter(None, (delivery.detail, result.detail)))[:2000],
        last_error="",
        claimed_until=None,
    )
    # Health changes rarely; write it when it does (or once a minute), not per message.
    stale = channel.last_success_at is None or sent_at - channel.last_success_at > HEALTH_EVERY
    if channel.consecutive_failures or stale:
        Channel.objects.filter(pk=channel.pk).update(
            last_success_at=sent_at, consecutive_failures=0
        )
        channel.last_success_at, channel.consecutive_failures = sent_at, 0
    log.info("delivery %s sent via %s in %.0f ms", delivery.uid, channel.name, latency)
    return Delivery.Status.SENT


def _failed(
    delivery: Delivery,
    attempt: int,
    now: datetime,
    error: str,
    *,
    transient: bool,
    retry_after: float | None = None,
) -> str:
    status = Delivery.Status.DEAD
    next_attempt = delivery.next_attempt_at
    if transient:
        wait = flow.backoff(attempt, retry_after=retry_after)
        if now + wait <= delivery.created_at + retry_horizon():
            status, next_attempt = Delivery.Status.RETRYING, now + wait
    if delivery.group_id and (status == Delivery.Status.DEAD or attempt >= FAILOVER_AFTER):
        backup = fail_over(delivery, now)
        if backup is not None:
            status = Delivery.Status.DEAD
            error = f"{error} (failed over to {backup.channel.name})"
    Delivery.objects.filter(pk=delivery.pk, attempts=attempt).update(
        status=status,
        next_attempt_at=next_attempt,
        last_error=error[:2000],
        claimed_until=None,
    )
    delivery.channel.consecutive_failures += 1
    Channel.objects.filter(pk=delivery.channel_id).update(
        last_error_at=now,
        last_error=error[:2000],
        consecutive_failures=F("consecutive_failures") + 1,
    )
    log.warning(
        "delivery %s via channel %s failed (%s): %s",
        delivery.uid,
        delivery.channel_id,
        status,
        error,
    )
    return status


def fail_over(delivery: Delivery, now: datetime) -> Delivery | None:
    """Give a failed group delivery to the group's next active device, once."""
    group = DeviceGroup.objects.filter(pk=delivery.group_id).first()
    if group is None:
        return None
    members = policy.group_members(group, Channel.objects.filter(enabled=True))
    device = policy.pick_device(
        group, members, now, clock.default_timezone(), after=delivery.channel
    )
    if device is None:
        return None
    if (
        delivery.event_id
        and Delivery.objects.filter(event_id=delivery.event_id, channel=device).exists()
    ):
        return None
    message = delivery
    if delivery.event_id and (
        privacy.settings(device) != privacy.settings(delivery.channel)
        or languages.of(device) != languages.of(delivery.channel)
    ):
        # The message was rendered for a device that may see more than this one, or that
        # reads another language.
        event = Event.objects.select_related("job__server", "run").get(pk=delivery.event_id)
        with languages.speaking(device):
            values = messages.context(event, now=now)
        message = build_delivery(device, delivery.kind, values, now, event=event)
    backup = Delivery.objects.create(
        channel=device,
        event_id=delivery.event_id,
        job_id=delivery.job_id,
        group=group,
        failover_from=delivery,
        kind=delivery.kind,
        priority=delivery.priority,
        title=message.title,
        body=message.body,
        body_markdown=message.body_markdown,
        body_html=message.body_html,
        payload=message.payload,
        tags=message.tags,
        click_url=message.click_url,
        created_at=now,
        next_attempt_at=now,
    )
    log.info(
        "delivery %s failed over from %s to %s", delivery.uid, delivery.channel.name, device.name
    )
    return backup


# The channels' own words (channels/base.view_label), translated: channels know no Django.
LINK_LABELS = {
    "Open run": gettext_lazy("Open run"),
    "Open job": gettext_lazy("Open job"),
    "Open duplistatus": gettext_lazy("Open duplistatus"),
}


def to_message(delivery: Delivery) -> Message:
    """The delivery as its channel kind sends it, with the channel's language."""
    from .channels.base import EVENT_KINDS, view_label

    link_label = None
    if delivery.click_url:
        with languages.speaking(delivery.channel):
            link_label = str(LINK_LABELS[view_label(delivery.click_url)])
    return Message(
        delivery_id=str(delivery.uid),
        kind=delivery.kind if delivery.kind in EVENT_KINDS else "summary",
        title=delivery.title,
        body=delivery.body,
        body_markdown=delivery.body_markdown or None,
        body_html=delivery.body_html or None,
        priority=max(1, min(5, delivery.priority)),
        explicit_priority=delivery.priority != messages.PRIORITY.get(delivery.kind, 3),
        tags=tuple(delivery.tags) or messages.TAGS.get(delivery.kind, ()),
        click_url=delivery.click_url or None,
        payload=delivery.payload,
        created_at=delivery.created_at,
        language=languages.of(delivery.channel),
        link_label=link_label,
    )


# --------------------------------------------------------------------------- by hand


def send_test(channel: Channel) -> Delivery:
    """A test message through the same path as every other delivery, sent right away."""
    now = clock.now()
    values = {"event_kind": "test", "job_url": messages.page_url("web:dashboard")}
    delivery = build_delivery(channel, "test", values, now)
    delivery.save()
    claim_and_send(delivery, now)
    delivery.refresh_from_db()
    return delivery


def retry(delivery: Delivery) -> Delivery:
    """Queue a dead (or waiting) delivery again, now, and wake the workers to send it (a
    sleeping worker would otherwise see it only at its next scan, up to a minute later)."""
    Delivery.objects.filter(pk=delivery.pk).exclude(status=Delivery.Status.SENDING).update(
        status=Delivery.Status.QUEUED,
        next_attempt_at=clock.now(),
        claimed_until=None,
    )
    wakeup.wake_on_commit()
    delivery.refresh_from_db()
    return delivery


__all__ = ["DeliveryError", "enqueue_events", "send_due", "send_test", "retry"]


def backlog(now: datetime) -> dict[str, Any]:
    """What waits in the queue: by status, how many are due, the oldest's age, the dead."""
    waiting = Delivery.objects.filter(
        status__in=[Delivery.Status.QUEUED, Delivery.Status.RETRYING, Delivery.Status.SENDING]
    )
    by_status = dict(waiting.values_list("status").annotate(n=Count("id")).order_by())
    oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "waiting": sum(by_status.values()),
        "by_status": by_status,
        "due_now": due_deliveries(now).count(),
        "oldest_waiting_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "dead": Delivery.objects.filter(status=Delivery.Status.DEAD).count(),
    }
