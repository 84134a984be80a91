"""Bearer tokens from `duplistatus token create` (accounts.ApiToken)."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer

from duplistatus.accounts.models import ApiToken

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TokenAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        row = ApiToken.authenticate(token)
        if row is not None and not row.is_admin and request.method not in SAFE_METHODS:
            raise HttpError(403, "this token may read but not change anything")
        return row


def public_read_auth() -> list | None:
    """The original's read endpoints are open unless the deployment asks for a token."""
    return None if settings.PUBLIC_READ_API else [TokenAuth()]


def sees_details(request: HttpRequest) -> bool:
    """Whether a caller of an open endpoint may see internals (database errors name the
    host, port and database): a signed-in user, or an admin token."""
    try:  # both need the database, which may be what is failing: then no one sees them
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return True
        token = getattr(request, "auth", None)
        if token is None:
            scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
            token = ApiToken.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    except DatabaseError:
        return False
    return isinstance(token, ApiToken) and token.is_admin


def may_change(request: HttpRequest) -> bool:
    """Whether the caller may change settings (an admin token), and so see the settings that
    work as credentials (channel_settings.PRIVATE_FIELDS)."""
    token = getattr(request, "auth", None)
    return isinstance(token, ApiToken) and token.is_admin
