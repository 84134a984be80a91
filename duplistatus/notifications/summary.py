"""Summary reports: a digest per destination on a schedule (daily, or weekly on a set day, at
a set local time) — how many jobs are ok, warning, failed or overdue, with links. And the
delivery log's retention.

A summary is claimed like everything else: `UPDATE … SET last_summary_at = now WHERE
last_summary_at = <as read>`, so two workers never send the same one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q

from duplistatus import clock
from duplistatus.backups.models import BackupJob
from duplistatus.monitoring import monitor
from duplistatus.monitoring import schedule as plan
from duplistatus.monitoring.intervals import resolve_local

from . import messages
from .models import Channel, Delivery


def channel_zone(channel: Channel) -> ZoneInfo:
    try:
        return ZoneInfo(channel.timezone) if channel.timezone else clock.default_timezone()
    except (ZoneInfoNotFoundError, ValueError):
        return clock.default_timezone()


def next_summary_at(
    schedule: str, at: object, weekday: int, after: datetime, tz: ZoneInfo
) -> datetime | None:
    """The first summary time strictly after `after` (pure). `weekday`: 0 = Sunday."""
    if schedule not in ("daily", "weekly") or at is None:
        return None
    local = after.astimezone(tz)
    day = local.date()
    for _ in range(9):
        candidate = resolve_local(datetime.combine(day, at), tz)  # type: ignore[arg-type]
        sunday_based = (day.weekday() + 1) % 7
        if candidate > after and (schedule == "daily" or sunday_based == weekday):
            return candidate
        day += timedelta(days=1)
    return None


def send_due_summaries(now: datetime | None = None) -> int:
    now = now or clock.now()
    sent = 0
    for channel in Channel.objects.filter(enabled=True).exclude(summary_schedule=""):
        after = channel.last_summary_at or channel.created_at
        due = next_summary_at(
            channel.summary_schedule,
            channel.summary_time,
            channel.summary_weekday,
            after,
            channel_zone(channel),
        )
        if due is None or due > now:
            continue
        claimed = (
            Channel.objects.filter(pk=channel.pk)
            .filter(
                Q(last_summary_at=channel.last_summary_at)
                if channel.last_summary_at
                else Q(last_summary_at__isnull=True)
            )
            .update(last_summary_at=now)
        )
        if claimed:
            Delivery.objects.create(
                **summary_fields(now), channel=channel, created_at=now, next_attempt_at=now
            )
            sent += 1
    return sent


def summary_fields(now: datetime) -> dict[str, object]:
    """Title, bodies and payload of a summary of every job's state now."""
    groups: dict[str, list[str]] = {"failed": [], "overdue": [], "warning": [], "ok": []}
    base = messages.base_url()
    for job, schedule in monitor.with_schedules(BackupJob.objects.order_by("server__name", "name")):
        state = plan.state(schedule, monitor.watch_of(job), now=now)
        line = f"{job.server.alias or job.server.name} / {job.name}"
        link = f"{base}/jobs/{job.pk}/"
        if state == "overdue":
            groups["overdue"].append(f"{line} — overdue {link}")
        elif job.last_status in ("Error", "Fatal"):
            groups["failed"].append(f"{line} — {job.last_status} {link}")
        elif job.last_status == "Warning":
            groups["warning"].append(f"{line} — Warning {link}")
        else:
            groups["ok"].append(line)
    counts = {name: len(lines) for name, lines in groups.items()}
    title = (
        f"Backups: {counts['ok']} ok, {counts['warning']} warning, "
        f"{counts['failed']} failed, {counts['overdue']} overdue"
    )
    sections = [title]
    for name in ("failed", "overdue", "warning"):
        if groups[name]:
            sections.append(f"{name.capitalize()}:\n" + "\n".join(groups[name]))
    sections.append(f"Dashboard: {base}/")
    body = "\n\n".join(sections)
    from .outbox import text_to_html

    return {
        "kind": "summary",
        "priority": 3 if counts["failed"] or counts["overdue"] else 2,
        "title": title,
        "body": body,
        "body_markdown": body,
        "body_html": text_to_html(body),
        "payload": {
            "type": "summary",
            "counts": counts,
            "jobs": {k: v for k, v in groups.items() if k != "ok"},
        },
        "click_url": f"{base}/",
    }


def purge_delivery_log(now: datetime | None = None) -> int:
    """Forget finished deliveries older than each channel's retention."""
    now = now or clock.now()
    removed = 0
    finished = [Delivery.Status.SENT, Delivery.Status.DEAD, Delivery.Status.BATCHED]
    for channel_id, days in Channel.objects.values_list("pk", "log_retention_days"):
        removed += Delivery.objects.filter(
            channel_id=channel_id, status__in=finished, created_at__lt=now - timedelta(days=days)
        ).delete()[0]
    return removed
