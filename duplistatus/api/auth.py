"""Bearer tokens from `duplistatus token create` (accounts.ApiToken)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from duplistatus.accounts.models import ApiToken


class TokenAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        return ApiToken.authenticate(token)


def public_read_auth() -> list | None:
    """The original's read endpoints are open unless the deployment asks for a token."""
    return None if settings.PUBLIC_READ_API else [TokenAuth()]
