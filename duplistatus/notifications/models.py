"""Channels (where notifications go) and deliveries (the outbox).

A *channel* is one configured destination: an ntfy topic, a list of e-mail recipients, a
webhook, an Apprise URL. Its settings are split: `config` holds what may be shown, `secrets`
holds passwords, tokens and secret URLs, encrypted (see duplistatus.crypto).

A *delivery* is one message for one channel. The worker claims due deliveries with a
conditional UPDATE, sends them, and retries transient failures with backoff until the
retry horizon; then the delivery is `dead` and shows in the delivery log.
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import Q

from duplistatus import clock, crypto
from duplistatus.backups.models import BackupJob, Event

from .channels import get as get_kind

# A channel's own preference: which message kinds it takes at all (empty = every kind). The
# notification rules (duplistatus.notifications.rules) decide what is sent to it.
DEFAULT_EVENT_KINDS: list[str] = []
DEFAULT_URGENT_KINDS = ["fatal", "escalation"]


class DeviceGroup(models.Model):
    """Devices people carry, reached as one destination ("group:<id>").

    `failover`: the first active device in order gets the message; if its delivery fails,
    the next one gets it. `rotation`: on-call duty rotates through the devices, one per
    period (a day or a week) counted from `rotation_start` in the group's time zone.
    """

    class Mode(models.TextChoices):
        FAILOVER = "failover"
        ROTATION = "rotation"

    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.FAILOVER)
    rotation_days = models.PositiveIntegerField(default=7)
    rotation_start = models.DateField(null=True, blank=True)
    timezone = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Channel(models.Model):
    kind = models.CharField(max_length=20)
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict)  # without secrets
    secrets = models.TextField(blank=True, default="")  # encrypted JSON of the secret fields
    event_kinds = models.JSONField(default=list)  # which event kinds it receives
    # The language its messages are written in (settings.LANGUAGES; blank = the deployment's
    # LANGUAGE_CODE): built-in texts, durations, labels. See languages.py.
    language = models.CharField(max_length=10, blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    # Flow control. A token bucket: `rate_per_minute` tokens a minute up to `burst`; 0 = off.
    rate_per_minute = models.FloatField(default=12)
    burst = models.PositiveIntegerField(default=30)
    tokens = models.FloatField(default=30)
    tokens_at = models.DateTimeField(null=True, blank=True)
    # More than this many deliveries due at once become one digest (0 = never batch).
    batch_threshold = models.PositiveIntegerField(default=10)
    # The destination's time zone: quiet hours, active hours and summaries follow its clock
    # (blank = the deployment's TZ).
    timezone = models.CharField(max_length=64, blank=True, default="")
    # Quiet hours: non-urgent deliveries wait for the window to end.
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    urgent_kinds = models.JSONField(default=list)

    # A device: a channel a person carries, in a group, with its own preferences.
    group = models.ForeignKey(
        DeviceGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    group_position = models.PositiveIntegerField(default=0)
    min_priority = models.PositiveSmallIntegerField(default=1)  # 1..5
    # Active hours: outside them a device is skipped by its group (unset = always active).
    active_start = models.TimeField(null=True, blank=True)
    active_end = models.TimeField(null=True, blank=True)

    # Privacy of what is sent here.
    hide_log_text = models.BooleanField(default=False)
    hide_paths = models.BooleanField(default=False)
    use_server_alias = models.BooleanField(default=False)
    log_retention_days = models.PositiveIntegerField(default=90)

    # A summary report on a schedule ("" = none, "daily", "weekly") at a local time.
    summary_schedule = models.CharField(max_length=10, blank=True, default="")
    summary_time = models.TimeField(null=True, blank=True)
    summary_weekday = models.PositiveSmallIntegerField(default=1)  # 0 = Sunday
    last_summary_at = models.DateTimeField(null=True, blank=True)

    # Health, for the channel list.
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Watching the watcher (notifications/watch.py): when this channel was reported failing
    # through the other channels (cleared once it delivers again), and the dead deliveries
    # already looked at.
    failing_reported_at = models.DateTimeField(null=True, blank=True)
    dead_seen_id = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def full_config(self) -> dict[str, Any]:
        """Config with its secrets, for sending only; never returned or logged."""
        return {**self.config, **crypto.decrypt(self.secrets)}

    def set_config(self, values: dict[str, Any]) -> None:
        """Validate with the kind's schema and split off the secrets for encryption."""
        kind = get_kind(self.kind)
        validated = kind.Config.model_validate(values).model_dump(mode="json")
        secret = {k: v for k, v in validated.items() if k in kind.secret_fields and v}
        self.config = {k: v for k, v in validated.items() if k not in kind.secret_fields}
        self.secrets = crypto.encrypt(secret)

    def zone(self) -> ZoneInfo:
        """The destination's time zone (quiet hours, active hours, summaries)."""
        return clock.zone_or(self.timezone, clock.default_timezone())

    @property
    def secrets_set(self) -> list[str]:
        return sorted(crypto.decrypt(self.secrets))


class Delivery(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        RETRYING = "retrying"
        SENT = "sent"
        DEAD = "dead"
        BATCHED = "batched"  # folded into a digest delivery
        # Not sent: no device of its group could take it (the detail says why); a retry
        # sends it anyway.
        SUPPRESSED = "suppressed"

    uid = models.UUIDField(default=uuid.uuid4, unique=True)  # stable id receivers dedupe on
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.CASCADE)
    job = models.ForeignKey(BackupJob, null=True, blank=True, on_delete=models.SET_NULL)
    group = models.ForeignKey(DeviceGroup, null=True, blank=True, on_delete=models.SET_NULL)
    failover_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    digest = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    kind = models.CharField(max_length=20)  # success | warning | … | overdue | test | summary
    priority = models.PositiveSmallIntegerField(default=3)  # 1..5, higher first
    title = models.CharField(max_length=300)
    body = models.TextField()
    body_markdown = models.TextField(blank=True, default="")
    body_html = models.TextField(blank=True, default="")
    payload = models.JSONField(default=dict)
    tags = models.JSONField(default=list)  # ntfy tags (emoji names), from the template
    click_url = models.CharField(max_length=500, blank=True, default="")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)  # a sender's lease
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    detail = models.TextField(blank=True, default="")  # e.g. the SMTP server's reply
    # Why it went where it did when its group had no eligible device (policy.group_route).
    routing_note = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)  # of the successful attempt

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "channel"],
                name="delivery_once_per_event",
                condition=Q(event__isnull=False),
            )
        ]
        indexes = [
            # The sender's query: what is due, most urgent first.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(status__in=["queued", "retrying", "sending"]),
            ),
            models.Index(fields=["channel", "created_at"], name="delivery_channel"),
            models.Index(fields=["job", "created_at"], name="delivery_job"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.channel_id} [{self.status}]"


from .template_store import Template, TemplateVersion  # noqa: E402,F401
