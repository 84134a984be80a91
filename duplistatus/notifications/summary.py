"""Summary reports: a digest per destination on a schedule (daily, or weekly on a set day, at
a set local time) — how many jobs are ok, warning, failed or overdue, with links. And the
delivery log's retention.

A summary is claimed like everything else: `UPDATE … SET last_summary_at = now WHERE
last_summary_at = <as read>`, so two workers never send the same one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from duplistatus import clock
from duplistatus.backups.models import BackupJob
from duplistatus.monitoring import monitor
from duplistatus.monitoring import schedule as plan
from duplistatus.monitoring.intervals import resolve_local

from . import languages, messages, outbox
from .models import Channel, Delivery

TITLES = {
    "failed": gettext_lazy("Failed"),
    "overdue": gettext_lazy("Overdue"),
    "anomaly": gettext_lazy("Anomalies"),
    "warning": gettext_lazy("Warning"),
}
FAILED = {"Error": gettext_lazy("Error"), "Fatal": gettext_lazy("Fatal")}


def next_summary_at(
    schedule: str, at: object, weekday: int, after: datetime, tz: ZoneInfo
) -> datetime | None:
    """The first summary time strictly after `after` (pure). `weekday`: 0 = Sunday."""
    if schedule not in ("daily", "weekly") or at is None:
        return None
    local = after.astimezone(tz)
    day = local.date()
    for _day in range(9):
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
            channel.zone(),
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
            with languages.speaking(channel):
                values, payload = summary_values(now)
            delivery = outbox.build_delivery(channel, "summary", values, now)
            delivery.payload = payload
            if payload["counts"]["failed"] or payload["counts"]["overdue"]:
                delivery.priority = max(delivery.priority, 3)
            delivery.save()
            sent += 1
    return sent


def summary_values(now: datetime) -> tuple[dict[str, object], dict[str, object]]:
    """The summary template's variables, and the webhook document, for every job now, in the
    active language (languages.speaking)."""
    from duplistatus.anomaly.detect import LABELS

    groups: dict[str, list[str]] = {
        "failed": [],
        "overdue": [],
        "anomaly": [],
        "warning": [],
        "ok": [],
    }
    jobs = BackupJob.objects.order_by("server__name", "name")
    for job, schedule in monitor.with_schedules(jobs):
        state = plan.state(schedule, monitor.watch_of(job), now=now)
        line = f"{job.server.alias or job.server.name} / {job.name}"
        link = messages.page_url("web:job", job_id=job.pk)
        if state == "overdue":
            groups["overdue"].append(f"{line} — {_('overdue')} {link}")
        elif job.last_status in ("Error", "Fatal"):
            groups["failed"].append(f"{line} — {FAILED[job.last_status]} {link}")
        elif job.anomalies:
            found = ", ".join(str(LABELS.get(name, name)) for name in job.anomalies)
            groups["anomaly"].append(f"{line} — {found} {link}")
        elif job.last_status == "Warning":
            groups["warning"].append(f"{line} — {_('Warning')} {link}")
        else:
            groups["ok"].append(line)
    counts = {name: len(lines) for name, lines in groups.items()}
    text = "\n\n".join(
        f"{TITLES[name]}:\n" + "\n".join(groups[name])
        for name in ("failed", "overdue", "anomaly", "warning")
        if groups[name]
    )
    values = {
        "event_kind": "summary",
        "jobs_ok": counts["ok"],
        "jobs_warning": counts["warning"],
        "jobs_failed": counts["failed"],
        "jobs_overdue": counts["overdue"],
        "jobs_anomaly": counts["anomaly"],
        "summary_text": text or _("Every backup is fine."),
        "dashboard_url": messages.page_url("web:dashboard"),
        "job_url": messages.page_url("web:dashboard"),
    }
    payload = {
        "type": "summary",
        "counts": counts,
        "jobs": {k: v for k, v in groups.items() if k != "ok"},
    }
    return values, payload


def purge_delivery_log(now: datetime | None = None) -> int:
    """Forget finished deliveries older than each channel's retention."""
    now = now or clock.now()
    removed = 0
    finished = [
        Delivery.Status.SENT,
        Delivery.Status.DEAD,
        Delivery.Status.BATCHED,
        Delivery.Status.SUPPRESSED,
    ]
    for channel_id, days in Channel.objects.values_list("pk", "log_retention_days"):
        removed += Delivery.objects.filter(
            channel_id=channel_id, status__in=finished, created_at__lt=now - timedelta(days=days)
        ).delete()[0]
    return removed
