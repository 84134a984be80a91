"""API tokens. Only a hash is stored: a token is shown once, when it is made."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models

from duplistatus import clock

TOKEN_PREFIX = "dst_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    # Shown in lists so a user can tell tokens apart without the secret.
    prefix = models.CharField(max_length=12)
    is_admin = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def create(cls, name: str, *, is_admin: bool = True) -> tuple[ApiToken, str]:
        """Make a token; returns the row and the secret, which is not stored anywhere."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(
            name=name,
            token_hash=hash_token(secret),
            prefix=secret[:12],
            is_admin=is_admin,
            created_at=clock.now(),
        )
        return row, secret

    @classmethod
    def authenticate(cls, secret: str) -> ApiToken | None:
        row = cls.objects.filter(token_hash=hash_token(secret), revoked_at=None).first()
        if row is not None:
            now = clock.now()
            # Write at most once a minute: this runs on every API call.
            if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
                cls.objects.filter(pk=row.pk).update(last_used_at=now)
        return row
