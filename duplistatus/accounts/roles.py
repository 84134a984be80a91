"""Two roles: *admin* may do everything, *viewer* may look. A user is an admin when Django's
`is_superuser` is set; there is no other role data, so checking a role costs no query."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import pgettext_lazy

ADMIN = "admin"
VIEWER = "viewer"
ROLES = (ADMIN, VIEWER)
# What pages show for each role; ROLES' values are what forms post and the audit log keeps.
ROLE_NAMES = {ADMIN: pgettext_lazy("role", "admin"), VIEWER: pgettext_lazy("role", "viewer")}


def role_of(user: Any) -> str:
    return ADMIN if user.is_superuser else VIEWER


def is_admin(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def set_role(user: Any, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user.is_superuser = user.is_staff = role == ADMIN


def active_admins() -> int:
    return get_user_model().objects.filter(is_superuser=True, is_active=True).count()


View = Callable[..., HttpResponse]


def login_required(view: View) -> View:
    """Pages need a session. An htmx request whose session ended gets `HX-Redirect`, so the
    browser goes to the login page instead of swapping it into a fragment."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if request.headers.get("HX-Request"):
                return HttpResponse(headers={"HX-Redirect": settings.LOGIN_URL})
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view: View) -> View:
    """Admins only, whatever the method (user, token and audit pages)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_admin(request.user):
            raise PermissionDenied("admins only")
        return view(request, *args, **kwargs)

    return wrapper


def admin_to_change(view: View) -> View:
    """Everyone signed in may look (GET); only admins may change (any other method)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD") and not is_admin(request.user):
            raise PermissionDenied("viewers may not change settings")
        return view(request, *args, **kwargs)

    return wrapper
