"""Flow control decisions, pure: retry backoff, quiet hours, and the token bucket.

The outbox (outbox.py) asks these functions and acts on the answers; they take `now` and
return values, so tests drive them with any time they like.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
DEFAULT_HORIZON = timedelta(hours=24)


def backoff(
    attempts: int, *, rng: random.Random | None = None, retry_after: float | None = None
) -> timedelta:
    """Wait before attempt `attempts + 1`: exponential (30 s, 1 min, 2 min … capped at 1 h)
    with full jitter on the upper half, so a crowd of failed deliveries does not return at
    once. A server's Retry-After wins when it asks for longer."""
    rng = rng or random.Random()
    ceiling = min(MAX_RETRY, FIRST_RETRY * (2 ** max(0, attempts - 1)))
    wait = ceiling / 2 + ceiling / 2 * rng.random()
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=min(retry_after, MAX_RETRY.total_seconds() * 6)))
    return wait


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    tz: ZoneInfo

    def ends_after(self, now: datetime) -> datetime | None:
        """If `now` is inside the window, when the window ends (UTC); else None.

        A window may cross midnight (22:00–07:00). Computed in the destination's zone so the
        window follows its wall clock through DST changes.
        """
        local = now.astimezone(self.tz)
        today = local.replace(tzinfo=None)
        start = datetime.combine(today.date(), self.start)
        end = datetime.combine(today.date(), self.end)
        if self.start == self.end:
            return None
        if self.start < self.end:
            inside = start <= today < end
        else:
            inside = today >= start or today < end
            if today >= start:
                end += timedelta(days=1)
        if not inside:
            return None
        return _resolve(end, self.tz)


def _resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    from duplistatus.monitoring.intervals import resolve_local

    return resolve_local(wall, tz)


@dataclass(frozen=True)
class Bucket:
    """A token bucket: `rate_per_minute` tokens refill continuously up to `burst`."""

    tokens: float
    at: datetime | None
    rate_per_minute: float
    burst: int

    def refilled(self, now: datetime) -> Bucket:
        if self.at is None:
            return Bucket(float(self.burst), now, self.rate_per_minute, self.burst)
        elapsed = max(0.0, (now - self.at).total_seconds())
        tokens = min(float(self.burst), self.tokens + elapsed * self.rate_per_minute / 60)
        return Bucket(tokens, now, self.rate_per_minute, self.burst)

    def take(self, now: datetime) -> tuple[Bucket | None, timedelta]:
        """The bucket after taking one token, or None and how long until one is there."""
        if self.rate_per_minute <= 0:  # rate limiting off
            return self, timedelta(0)
        bucket = self.refilled(now)
        if bucket.tokens >= 1:
            return Bucket(bucket.tokens - 1, now, self.rate_per_minute, self.burst), timedelta(0)
        missing = 1 - bucket.tokens
        return None, timedelta(seconds=missing * 60 / self.rate_per_minute)
