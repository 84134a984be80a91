"""Watching the watcher: a channel that keeps failing is reported through the other channels
(`channel_failing`, the spec's Connection Error), and an optional daily System Health message
says how the monitor itself is doing. Run by the worker once a minute. A time when no worker
ran is reported by the first pass after it (`system_error`, see duplistatus/worker_health.py).

A channel is *failing* after FAILING_AFTER failed attempts in a row, or as soon as one of its
deliveries is dead. It is reported once (claimed by a conditional UPDATE of
`failing_reported_at`, so two workers never both report it), and again only after it has
delivered successfully in between.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from duplistatus import clock, wakeup
from duplistatus.backups import models as backup_models
from duplistatus.backups.models import BackupJob, BackupRun, MonitoringDefaults, WorkerOutage
from duplistatus.worker_health import Stopped

from . import languages, messages, outbox
from .models import Channel, Delivery
from .templates import SYSTEM_KINDS


def failing_after() -> int:
    return max(1, int(os.environ.get("DUPLISTATUS_CHANNEL_FAILING_AFTER", "5")))


def check_channels(now: datetime | None = None) -> int:
    """Report newly failing channels through the others; returns the deliveries written."""
    now = now or clock.now()
    written = 0
    threshold = failing_after()
    for channel in Channel.objects.filter(enabled=True):
        newest_dead = (
            Delivery.objects.filter(
                channel=channel, status=Delivery.Status.DEAD, pk__gt=channel.dead_seen_id
            )
            .exclude(kind__in=SYSTEM_KINDS)
            .aggregate(newest=Max("pk"))["newest"]
        )
        failing = channel.consecutive_failures >= threshold or newest_dead is not None
        if failing and channel.failing_reported_at is None:
            claimed = Channel.objects.filter(pk=channel.pk, failing_reported_at=None).update(
                failing_reported_at=now, dead_seen_id=newest_dead or channel.dead_seen_id
            )
            if claimed:
                written += _report_failing(channel, now, dead=newest_dead is not None)
        elif newest_dead is not None:
            Channel.objects.filter(pk=channel.pk).update(dead_seen_id=newest_dead)
        elif (
            channel.failing_reported_at is not None
            and channel.consecutive_failures == 0
            and channel.last_success_at is not None
            and channel.last_success_at > channel.failing_reported_at
        ):
            Channel.objects.filter(pk=channel.pk).update(failing_reported_at=None)
    if written:
        wakeup.wake()
    return written


def _report_failing(channel: Channel, now: datetime, *, dead: bool) -> int:
    return _to_every_channel(
        "channel_failing", lambda: failing_values(channel, dead), now, besides=channel
    )


def failing_values(channel: Channel, dead: bool) -> dict[str, Any]:
    """The channel_failing message's variables, in the active language."""
    return {
        "event_kind": "channel_failing",
        "message_type": _("Connection Error"),
        "channel_name": channel.name,
        "channel_kind": channel.kind,
        "failures": channel.consecutive_failures,
        "last_error": channel.last_error[:500],
        "failing_since": channel.last_success_at.strftime("%Y-%m-%d %H:%M UTC")
        if channel.last_success_at
        else "",
        "dead": _("yes") if dead else "",
        "job_url": messages.page_url("web:settings-deliveries"),
    }


def _to_every_channel(
    kind: str,
    values: Callable[[], dict[str, Any]],
    now: datetime,
    *,
    besides: Channel | None = None,
) -> int:
    """A `kind` message to every enabled channel (but `besides`); `values()` makes its
    variables, once for each language the channels read."""
    others = Channel.objects.filter(enabled=True)
    if besides is not None:
        others = others.exclude(pk=besides.pk)
    by_language: dict[str, dict[str, Any]] = {}
    deliveries = []
    for channel in others:
        language = languages.of(channel)
        if language not in by_language:
            with languages.speaking(channel):
                by_language[language] = values()
        deliveries.append(outbox.build_delivery(channel, kind, by_language[language], now))
    Delivery.objects.bulk_create(deliveries)
    return len(deliveries)


def report_resumed(stopped: Stopped, worker: str, now: datetime) -> int:
    """The first pass after a time without a worker says so through every channel, once:
    the outage's row is unique on when it began, so of several workers resuming together
    only the one that stores it reports it. Returns the deliveries written."""
    try:
        with transaction.atomic():
            WorkerOutage.objects.create(stopped_at=stopped.since, resumed_at=now, resumed_by=worker)
            written = _to_every_channel(
                "system_error", lambda: resumed_values(stopped, worker, now), now
            )
    except IntegrityError:
        return 0  # another worker reported it
    if written:
        wakeup.wake()
    return written


def resumed_values(stopped: Stopped, worker: str, now: datetime) -> dict[str, Any]:
    """The system_error message's variables."""
    from duplistatus.humanize import human_span

    return {
        "event_kind": "system_error",
        "message_type": _("System Error"),
        "stopped_at": stopped.since.strftime("%Y-%m-%d %H:%M UTC"),
        "resumed_at": now.strftime("%Y-%m-%d %H:%M UTC"),
        "stopped_minutes": stopped.minutes(now),
        "stopped_for": human_span(now - stopped.since),
        "never_ran": _("yes") if stopped.never_ran else "",
        "worker_name": worker,
        "job_url": messages.page_url("web:dashboard"),
    }


def health_values(now: datetime) -> dict[str, Any]:
    """The System Health message's variables: how the monitor itself is doing, in the
    active language."""
    from duplistatus.humanize import human_size, human_span
    from duplistatus.monitoring import monitor

    backlog = outbox.backlog(now)
    last_report = BackupRun.objects.aggregate(latest=Max("received_at"))["latest"]
    return {
        "event_kind": "system_health",
        "message_type": _("System Health"),
        "queue": backlog.get("waiting", 0),
        "dead_deliveries": backlog["dead"],
        "database_size": human_size(_database_bytes()),
        "last_report": _("%(span)s ago") % {"span": human_span(now - last_report)}
        if last_report
        else _("never"),
        "jobs_overdue": monitor.overdue_count(now),
        "jobs_total": BackupJob.objects.count(),
        "failing_channels": ", ".join(
            Channel.objects.filter(enabled=True, failing_reported_at__isnull=False).values_list(
                "name", flat=True
            )
        )
        or _("none"),
        "job_url": messages.page_url("web:dashboard"),
    }


def send_health(now: datetime | None = None) -> int:
    """The daily System Health message, when one is set up and due; claimed like summaries."""
    now = now or clock.now()
    defaults = MonitoringDefaults.load()
    at = defaults.system_health_time
    if at is None:
        return 0
    due = datetime.combine(now.date(), at, tzinfo=now.tzinfo)
    if due > now:
        due -= timedelta(days=1)
    sent_at = defaults.system_health_sent_at
    if sent_at is None:
        # Just set up: the first message goes at the next such time, not at once.
        MonitoringDefaults.objects.filter(pk=defaults.pk, system_health_sent_at=None).update(
            system_health_sent_at=now
        )
        backup_models._defaults_cache.clear()
        return 0
    if sent_at >= due:
        return 0
    claimed = MonitoringDefaults.objects.filter(
        pk=defaults.pk, system_health_sent_at=sent_at
    ).update(system_health_sent_at=now)
    if not claimed:
        return 0
    backup_models._defaults_cache.clear()  # the cached row has the old time
    written = _to_every_channel("system_health", lambda: health_values(now), now)
    if written:
        wakeup.wake()
    return written


def _database_bytes() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_database_size(current_database())")
        else:
            cursor.execute(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
            )
        row = cursor.fetchone()
    return int(row[0]) if row else 0
