"""Login protection: after MAX_FAILURES failed logins for one user name within WINDOW, that
name is locked until the window has passed; an address that fails ADDRESS_FAILURES times
(trying many names) is locked the same way. While locked, the password is not even checked,
so guessing cannot go on. A successful login, `duplistatus resetpassword` or an admin's
"unlock" clears the user's failures. Names are counted in their normal form (usernames.py),
so `ｖictim` and `Victim` count against `victim` and cannot clear its lock.

Locking a name lets anyone who knows it keep its owner out for a while; an admin can unlock,
and the command line always works. That trade is the usual one for a small self-hosted tool.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from duplistatus import clock

from .models import LoginFailure
from .usernames import normalize


def _window() -> timedelta:
    return timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


def locked_until(username: str, remote_addr: str, now: datetime | None = None) -> datetime | None:
    """When the lock on this name (or address) ends; None when logging in is allowed."""
    now = now or clock.now()
    username = normalize(username)
    since = now - _window()
    ends = []
    for field, value, limit in (
        ("username", username, settings.LOGIN_MAX_FAILURES),
        ("remote_addr", remote_addr, settings.LOGIN_MAX_FAILURES * 4),
    ):
        if not value:
            continue
        recent = list(
            LoginFailure.objects.filter(**{field: value}, at__gt=since)
            .order_by("-at")
            .values_list("at", flat=True)[:limit]
        )
        if len(recent) >= limit:
            # Locked until the oldest of the last `limit` failures leaves the window.
            ends.append(recent[-1] + _window())
    return max(ends) if ends else None


def record_failure(username: str, remote_addr: str, now: datetime | None = None) -> bool:
    """Count one failed login; True when it locked the name."""
    now = now or clock.now()
    username = normalize(username)
    LoginFailure.objects.filter(at__lte=now - _window()).delete()  # old rows are of no use
    LoginFailure.objects.create(username=username[:150], remote_addr=remote_addr[:100], at=now)
    return locked_until(username, "", now) is not None


def clear(username: str) -> None:
    LoginFailure.objects.filter(username=normalize(username)).delete()


def locked_usernames(now: datetime | None = None) -> set[str]:
    """Names locked right now (for the users page)."""
    now = now or clock.now()
    names = (
        LoginFailure.objects.filter(at__gt=now - _window())
        .values_list("username", flat=True)
        .distinct()
    )
    return {name for name in names if locked_until(name, "", now) is not None}
