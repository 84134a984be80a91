"""API tokens, failed logins and the audit log. Users are Django's own (see accounts.roles).

Only a token's hash is stored: a token is shown once, when it is made."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
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


class LoginFailure(models.Model):
    """One failed login. Enough of them in a short time lock the user name (and, at a
    higher count, the address) for a while; see accounts.lockout."""

    username = models.CharField(max_length=150)
    remote_addr = models.CharField(max_length=100, blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="loginfailure_user_at"),
            models.Index(fields=["remote_addr", "at"], name="loginfailure_addr_at"),
        ]


class AuditEntry(models.Model):
    """One settings change: who (a user, an API token, or the command line), what, when,
    and from where. Written by accounts.audit.record, from pages, the API and the CLI."""

    at = models.DateTimeField(db_index=True)
    # "alice", "token:homepage" or "cli"; kept as text so the entry outlives the user.
    actor = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    remote_addr = models.CharField(max_length=100, blank=True, default="")
    action = models.CharField(max_length=60)  # "job.schedule", "user.create", ...
    target = models.CharField(max_length=200, blank=True, default="")  # "job 12 (nas / Photos)"
    changes = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"


class Preference(models.Model):
    """A user's own settings for the pages. Made when the user first saves one."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    # A code from settings.LANGUAGES; blank: follow the browser (accounts.language). Not a
    # `choices` field, so adding a language needs no migration; the account form checks it.
    language = models.CharField(max_length=16, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.user} ({self.language or 'browser'})"
