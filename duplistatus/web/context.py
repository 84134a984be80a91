"""What every page's template needs: the signed-in user's role, and whether a worker is
running (the banner in web/_worker_banner.html)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from duplistatus import worker_health
from duplistatus.accounts.roles import is_admin, role_of


def ui(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can_edit": False}
    return {
        "can_edit": is_admin(user),
        "role": role_of(user),
        # A callable: the template calls it (one indexed query) only on pages that show the
        # banner, not for every fragment rendered with a request.
        "worker_stopped": worker_health.stopped,
    }
