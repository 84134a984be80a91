"""Bearer tokens from `duplistatus token create` (accounts.ApiToken)."""

from __future__ import annotations

from django.conf import settings
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
