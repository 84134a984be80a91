"""The first admin and password resets, for the command line (`serve`, `resetpassword`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError

from . import audit, lockout
from .roles import ADMIN, set_role
from .usernames import normalize

FIRST_ADMIN = "admin"


class PolicyError(ValueError):
    """The password does not meet the password policy."""


def random_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, ~120 bits


def check(password: str, user: object | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise PolicyError(" ".join(exc.messages)) from None


def create_first_admin(echo: Callable[[str], object] = print) -> bool:
    """On first start (no user at all), create `admin`: with DUPLISTATUS_ADMIN_PASSWORD if
    set, else with a random password printed once. Returns whether it made the user."""
    User = get_user_model()
    if User.objects.exists():
        return False
    given = os.environ.get("DUPLISTATUS_ADMIN_PASSWORD", "")
    user = User(username=FIRST_ADMIN)
    if given:
        check(given, user)
    password = given or random_password()
    user.set_password(password)
    set_role(user, ADMIN)
    user.save()
    audit.record(None, "user.create", f"user {FIRST_ADMIN}", {"role": ADMIN, "first_start": True})
    if given:
        echo(f"Created the user {FIRST_ADMIN!r} with the password from DUPLISTATUS_ADMIN_PASSWORD.")
    else:
        echo(
            f"Created the user {FIRST_ADMIN!r}. Its password, shown only this once:\n\n"
            f"    {password}\n\n"
            "Sign in and change it (or run `duplistatus resetpassword admin`)."
        )
    return True


def reset_password(username: str, password: str | None = None) -> str:
    """Set a user's password (random when not given), clear its lockout, reactivate it.
    Returns the password."""
    username = normalize(username)
    user = get_user_model().objects.get(username=username)
    password = password or random_password()
    check(password, user)
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    lockout.clear(username)
    audit.record(None, "user.password", f"user {username}", {"reset": "command line"})
    return password
