"""Is a worker running? Without one nothing is checked and no message goes out, and nothing
else would say so: every page shows a banner, /api/health is degraded, and the first pass
after such a time reports it through the channels (`system_error`, notifications/watch.py).

A worker is *stopped* when no worker has completed a pass (WorkerHeartbeat) for
WORKER_STOPPED_AFTER_MINUTES. When no worker ever has, it is stopped once a report has
waited that long for one (its event is still unprocessed): a brand-new install, whose
worker starts with `serve`, is never reported before its first pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.utils.translation import gettext as _

from duplistatus import clock


def stopped_after() -> timedelta:
    return timedelta(minutes=settings.WORKER_STOPPED_AFTER_MINUTES)


@dataclass(frozen=True)
class Stopped:
    since: datetime  # the last pass any worker completed, or the oldest report waiting
    never_ran: bool  # no worker has ever completed a pass

    def minutes(self, now: datetime) -> int:
        return int((now - self.since).total_seconds() // 60)


def stopped(now: datetime | None = None) -> Stopped | None:
    """Whether no worker has completed a pass for too long, and since when. One indexed
    query when a worker has ever run (every page asks), two when none has."""
    from duplistatus.backups.models import Event, WorkerHeartbeat

    now = now or clock.now()
    last = WorkerHeartbeat.objects.aggregate(last=Max("last_pass_at"))["last"]
    if last is not None:
        # A pass "in the future" is a moved clock (tests), not a stopped worker.
        return Stopped(last, never_ran=False) if now - last >= stopped_after() else None
    oldest = (
        Event.objects.filter(processed_at=None)
        .order_by("id")
        .values_list("created_at", flat=True)
        .first()
    )
    if oldest is None or now - oldest < stopped_after():
        return None
    return Stopped(oldest, never_ran=True)


def describe(stopped: Stopped, now: datetime) -> str:
    """Why: for /api/health (the pages say it in web/_worker_banner.html)."""
    from duplistatus.humanize import human_span

    values = {
        "since": stopped.since.strftime("%Y-%m-%d %H:%M UTC"),
        "ago": human_span(now - stopped.since),
    }
    if stopped.never_ran:
        text = _(
            "no worker has completed a pass; reports have waited for one since %(since)s (%(ago)s)"
        )
    else:
        text = _("no worker has completed a pass since %(since)s (%(ago)s ago)")
    advice = _(
        "start `duplistatus worker` (or `duplistatus serve` without --no-worker) and check its log"
    )
    return f"{text % values}; {advice}"
