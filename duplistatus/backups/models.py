"""Servers, backup jobs, runs, the raw reports they came from, and events.

A *server* is one Duplicati installation (keyed by its machine id, or by what identifies it
when old versions send none). A *job* is one Duplicati backup configuration on a server. A
*run* is one report of one operation of a job. An *event* is something the notification worker
must look at (a run arrived, a job went overdue, ...); the worker claims events with a
conditional UPDATE, so the events table is the queue.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import pgettext_lazy


class Status(models.TextChoices):
    SUCCESS = "Success"
    WARNING = "Warning"
    ERROR = "Error"
    FATAL = "Fatal"
    UNKNOWN = "Unknown"


class Reminder(models.TextChoices):
    """How often a job that stays overdue is reminded about (the original's choices)."""

    ONCE = "once"  # the overdue event only
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"  # 30 days, as in the original


class ScheduleSettings(models.Model):
    """Schedule and overdue settings. Blank/null means "inherit": job → server → global."""

    interval = models.CharField(max_length=40, blank=True, default="")  # "1D", "2h30m"
    weekdays = models.JSONField(null=True, blank=True)  # [1, 2, 3, 4, 5]; 0 = Sunday
    timezone = models.CharField(max_length=64, blank=True, default="")
    grace_minutes = models.PositiveIntegerField(null=True, blank=True)
    monitoring_enabled = models.BooleanField(null=True, blank=True)
    reminder = models.CharField(max_length=10, blank=True, default="", choices=Reminder.choices)
    # A custom reminder period replaces the named one when set.
    reminder_minutes = models.PositiveIntegerField(null=True, blank=True)
    escalation_after_minutes = models.PositiveIntegerField(null=True, blank=True)  # 0 = never
    # Maintenance: no overdue events until then; monitoring resumes by itself.
    paused_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class EventLevel(models.TextChoices):
    """Which run results notify (the original's levels)."""

    ALL = "all"
    WARNINGS = "warnings"  # anything but Success (the default)
    ERRORS = "errors"  # Error or Fatal, or any error count
    OFF = "off"


class NotificationRules(models.Model):
    """Who hears about a job. Blank/null means "inherit": job → server → global.

    Destinations are references: "channel:<id>" or "group:<id>" (a device group). A null list
    inherits; an empty list means nobody.
    """

    event_level = models.CharField(
        max_length=10, blank=True, default="", choices=EventLevel.choices
    )
    run_destinations = models.JSONField(null=True, blank=True)
    overdue_destinations = models.JSONField(null=True, blank=True)
    escalation_destinations = models.JSONField(null=True, blank=True)
    # The original's "additional destinations": [{"destination": "channel:7", "level": "errors"}]
    extra_destinations = models.JSONField(null=True, blank=True)
    recovery_notifications = models.BooleanField(null=True, blank=True)
    # Escalate (escalation destinations, top priority) after this many failed runs in a row.
    escalate_after_failures = models.PositiveIntegerField(null=True, blank=True)  # 0 = never
    # Anomaly detector settings, merged key by key with the levels above (anomaly/detect.py):
    # {"min_history": 7, "slow_run": {"enabled": false}, "quota": {"horizon_days": 30}}
    anomaly_detectors = models.JSONField(null=True, blank=True)

    class Meta:
        abstract = True


# The global schedule defaults a new installation starts with ("reset to defaults" returns
# to them); every other schedule setting starts empty.
FACTORY_DEFAULTS: dict[str, Any] = {
    "grace_minutes": 120,
    "monitoring_enabled": True,
    "reminder": "daily",
    "escalation_after_minutes": 0,
    "adopt_learned": True,
    "min_learned_confidence": 0.8,
}


class MonitoringDefaults(ScheduleSettings, NotificationRules):
    """The global defaults (one row). Servers inherit these unless they set their own."""

    adopt_learned = models.BooleanField(default=True)
    min_learned_confidence = models.FloatField(default=0.8)
    # The daily System Health message to every channel (notifications/watch.py): at this
    # time (UTC; null = off), last sent then.
    system_health_time = models.TimeField(null=True, blank=True)
    system_health_sent_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def load(cls) -> MonitoringDefaults:
        """The one row. Read on every upload, so kept for a second per process (a save in
        this process replaces it at once; one in another process shows within the second)."""
        cached = _defaults_cache.get("row")
        if cached is not None and time.monotonic() - _defaults_cache["at"] < 1.0:
            return copy.copy(cached)
        row, _ = cls.objects.get_or_create(pk=1, defaults=FACTORY_DEFAULTS)
        _defaults_cache.update(row=copy.copy(row), at=time.monotonic())
        return row

    def save(self, *args: object, **kwargs: object) -> None:
        super().save(*args, **kwargs)  # type: ignore[arg-type]
        _defaults_cache.update(row=copy.copy(self), at=time.monotonic())


_defaults_cache: dict[str, Any] = {}


class CollectEvery(models.TextChoices):
    OFF = "", pgettext_lazy("collect automatically", "off")
    HOURLY = "hourly", pgettext_lazy("collect automatically", "hourly")
    DAILY = "daily", pgettext_lazy("collect automatically", "daily")


class MaintenanceSettings(models.Model):
    """Retention and backups (one row, Settings → Maintenance). Null means "keep for ever"."""

    keep_runs_days = models.PositiveIntegerField(null=True, blank=True)
    keep_runs_count = models.PositiveIntegerField(null=True, blank=True)  # per job
    # Raw bodies of parsed reports may go sooner than their runs (unparsed ones: ingest).
    keep_raw_days = models.PositiveIntegerField(null=True, blank=True)
    # Null: DUPLISTATUS_AUDIT_RETENTION_DAYS.
    audit_retention_days = models.PositiveIntegerField(null=True, blank=True)
    # Null: each channel's own delivery log retention.
    delivery_log_days = models.PositiveIntegerField(null=True, blank=True)
    backups_kept = models.PositiveIntegerField(default=7)  # nightly backups; 0 = none
    last_purge_at = models.DateTimeField(null=True, blank=True)
    last_backup_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def load(cls) -> MaintenanceSettings:
        return cls.objects.get_or_create(pk=1)[0]


class Server(ScheduleSettings, NotificationRules):
    # Duplicati's machine-id, or "name:<name>" / "addr:<ip>" for versions that send none
    # (see ingest.parse.resolve_identity for the order).
    key = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200)
    alias = models.CharField(max_length=200, blank=True, default="")
    note = models.TextField(blank=True, default="")
    # The server's own Duplicati UI, linked as "Open Duplicati" (http or https only).
    url = models.URLField(max_length=500, blank=True, default="")
    # Retention override (null: the global setting, MaintenanceSettings).
    keep_runs_days = models.PositiveIntegerField(null=True, blank=True)
    keep_runs_count = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    # Collecting from the server's REST API (duplistatus/collect/). The password is in
    # `duplicati_secret`, encrypted ({"password": …}); a certificate the user trusted is
    # pinned: only the one with this SHA-256 fingerprint is accepted afterwards.
    duplicati_url = models.CharField(max_length=300, blank=True, default="")
    duplicati_secret = models.TextField(blank=True, default="")
    duplicati_certificate = models.TextField(blank=True, default="")  # PEM
    duplicati_fingerprint = models.CharField(max_length=64, blank=True, default="")
    collect_every = models.CharField(
        max_length=10, blank=True, default="", choices=CollectEvery.choices
    )
    next_collect_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.alias or self.name

    @property
    def machine_id(self) -> str:
        return self.key


class BackupJob(ScheduleSettings, NotificationRules):
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="jobs")
    name = models.CharField(max_length=200)
    backup_id = models.CharField(max_length=200, blank=True, default="")  # Duplicati's "DB-3"
    created_at = models.DateTimeField()

    # Summary columns, kept current by ingest.store so pages never aggregate over all runs.
    run_count = models.PositiveIntegerField(default=0)
    last_run = models.ForeignKey(
        "BackupRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_run_at = models.DateTimeField(null=True, blank=True)  # BeginTime of the latest run
    last_status = models.CharField(max_length=10, blank=True, default="")
    last_success_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    bytes_uploaded_total = models.BigIntegerField(default=0)  # /api/summary's totalUploadedSize

    # Schedule state, written at ingest and by the scanner (monitoring/). `alert_after` is
    # when the scanner must next look at the job (overdue, reminder, escalation, pause end).
    next_expected_at = models.DateTimeField(null=True, blank=True)
    alert_after = models.DateTimeField(null=True, blank=True)
    schedule_source = models.CharField(max_length=12, blank=True, default="")
    # What a configured interval steps from: the first run, or the latest run when the
    # schedule was last changed. Stepping from one fixed point keeps the time of day.
    schedule_anchor = models.DateTimeField(null=True, blank=True)
    overdue_since = models.DateTimeField(null=True, blank=True)
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    # What monitoring/learn.py inferred from the run history.
    learned_interval = models.CharField(max_length=40, blank=True, default="")
    learned_weekdays = models.JSONField(null=True, blank=True)
    learned_time_of_day = models.TimeField(null=True, blank=True)
    learned_anchor = models.DateTimeField(null=True, blank=True)
    learned_confidence = models.FloatField(null=True, blank=True)
    learned_grace_minutes = models.PositiveIntegerField(null=True, blank=True)
    # How early on-schedule runs start against the learned time of day.
    learned_early_minutes = models.PositiveIntegerField(null=True, blank=True)
    learned_description = models.CharField(max_length=100, blank=True, default="")
    # Until a schedule is learned with confidence: a cautious guess from the gaps between the
    # latest runs (learn.fallback_schedule), so that no job with a history goes unwatched.
    fallback_interval = models.CharField(max_length=40, blank=True, default="")
    fallback_grace_minutes = models.PositiveIntegerField(null=True, blank=True)
    # Set at ingest, cleared by the worker once it has learned from the new history.
    needs_learning = models.BooleanField(default=False)
    # Set at ingest, cleared by the worker once it has judged the new runs (anomaly/check.py);
    # runs up to this id have been judged.
    needs_anomaly_check = models.BooleanField(default=False)
    anomaly_checked_run_id = models.BigIntegerField(null=True, blank=True)
    # The detectors that flagged the latest judged run (or the job now: quota, unverified),
    # for the dashboard; emptied by the next normal run or by marking them expected.
    anomalies = models.JSONField(default=list, blank=True)
    last_anomaly_at = models.DateTimeField(null=True, blank=True)

    # The job's schedule as Duplicati itself has it (collect/schedule.py), read over its
    # REST API: repeat interval, allowed weekdays (0 = Sunday) and the next run it planned.
    duplicati_interval = models.CharField(max_length=40, blank=True, default="")
    duplicati_weekdays = models.JSONField(null=True, blank=True)
    duplicati_anchor = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["server__name", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["server", "name"], name="job_unique_per_server")
        ]
        indexes = [
            # The scanner's one query: jobs whose alert time has passed.
            models.Index(
                fields=["alert_after"],
                name="job_alert_after",
                condition=Q(alert_after__isnull=False),
            ),
            models.Index(
                fields=["id"], name="job_needs_learning", condition=Q(needs_learning=True)
            ),
            models.Index(
                fields=["id"], name="job_needs_anomaly_check", condition=Q(needs_anomaly_check=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.server} / {self.name}"


class RawReport(models.Model):
    """Every body we were sent, compressed, so a better parser can read it again later.

    Kept also when parsing failed (`parse_error` says why), so nothing a user sent is lost.
    """

    received_at = models.DateTimeField()
    content_type = models.CharField(max_length=200, blank=True, default="")
    query_string = models.TextField(blank=True, default="")
    remote_addr = models.CharField(max_length=100, blank=True, default="")
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    body_zstd = models.BinaryField()
    parse_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(
                fields=["received_at"], name="rawreport_failed", condition=~Q(parse_error="")
            )
        ]

    @property
    def body(self) -> bytes:
        import zstandard

        return zstandard.ZstdDecompressor().decompress(bytes(self.body_zstd))


class BackupRun(models.Model):
    # No index of its own: run_job_begin (job, begin_time) serves every query by job.
    job = models.ForeignKey(
        BackupJob, on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="runs")
    raw_report = models.ForeignKey(RawReport, null=True, on_delete=models.SET_NULL)
    # Identical bodies are the same run; the unique index turns a racing resend into a 409.
    body_sha256 = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField()
    report_format = models.CharField(max_length=10)  # "json" or "text"

    operation = models.CharField(max_length=40, default="Backup")  # Data.MainOperation
    status = models.CharField(max_length=10, choices=Status.choices)
    parsed_result = models.CharField(max_length=10, blank=True, default="")  # as Duplicati sent it
    interrupted = models.BooleanField(default=False)
    partial_backup = models.BooleanField(default=False)
    dryrun = models.BooleanField(default=False)
    version = models.CharField(max_length=100, blank=True, default="")

    begin_time = models.DateTimeField()
    # True when the report carried no BeginTime (old fatal reports) and we took it from the
    # first log line or the time of receipt.
    begin_time_estimated = models.BooleanField(default=False)
    end_time = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)

    messages_count = models.IntegerField(default=0)
    warnings_count = models.IntegerField(default=0)
    errors_count = models.IntegerField(default=0)

    # The figures the dashboard, charts and the original's API use.
    examined_files = models.BigIntegerField(default=0)
    opened_files = models.BigIntegerField(default=0)
    added_files = models.BigIntegerField(default=0)
    modified_files = models.BigIntegerField(default=0)
    deleted_files = models.BigIntegerField(default=0)
    size_of_examined_files = models.BigIntegerField(default=0)
    size_of_added_files = models.BigIntegerField(default=0)
    size_of_modified_files = models.BigIntegerField(default=0)
    files_with_error = models.BigIntegerField(default=0)
    bytes_uploaded = models.BigIntegerField(default=0)
    bytes_downloaded = models.BigIntegerField(default=0)
    known_file_count = models.BigIntegerField(default=0)
    known_file_size = models.BigIntegerField(default=0)
    backup_list_count = models.BigIntegerField(null=True, blank=True)
    last_backup_date = models.DateTimeField(null=True, blank=True)

    # Lossless copies of the rest: the whole Data object (nested results, backend statistics),
    # Extra, the log, and the message/warning/error lines split out of it.
    data = models.JSONField(default=dict)
    extra = models.JSONField(default=dict)
    log_lines = models.JSONField(default=list)
    messages = models.JSONField(default=list)
    warnings = models.JSONField(default=list)
    errors = models.JSONField(default=list)
    exception = models.TextField(blank=True, default="")
    available_versions = models.JSONField(default=list)
    next_scheduled_run = models.DateTimeField(null=True, blank=True)  # Extra.next-scheduled-run

    class Meta:
        ordering = ["-begin_time", "-id"]
        constraints = [
            # The original's duplicate rule: same machine, job and BeginTime.
            models.UniqueConstraint(
                fields=["job", "operation", "begin_time"], name="run_unique_per_job_begin"
            )
        ]
        indexes = [models.Index(fields=["job", "begin_time"], name="run_job_begin")]

    def __str__(self) -> str:
        return f"{self.job} @ {self.begin_time:%Y-%m-%d %H:%M} {self.status}"

    @property
    def is_backup(self) -> bool:
        return self.operation == "Backup"


class Event(models.Model):
    class Kind(models.TextChoices):
        BACKUP_RESULT = "backup_result"
        OVERDUE = "overdue"
        REMINDER = "reminder"
        ESCALATION = "escalation"
        RECOVERED = "recovered"
        ANOMALY = "anomaly"  # a run outside its job's normal (anomaly/detect.py)
        STORAGE = "storage"  # the destination is filling up

    kind = models.CharField(max_length=20, choices=Kind.choices)
    # No index of its own: event_job_kind (job, kind, created_at) serves it.
    job = models.ForeignKey(
        BackupJob, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    run = models.ForeignKey(BackupRun, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField()
    details = models.JSONField(default=dict)
    # Set by the worker that takes the event (conditional UPDATE ... WHERE claimed_at IS NULL).
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                # The outbox takes unprocessed events in id order.
                fields=["id"],
                name="event_unprocessed",
                condition=Q(processed_at=None),
            ),
            models.Index(fields=["job", "kind", "created_at"], name="event_job_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.job_id} {self.created_at:%Y-%m-%d %H:%M}"


class WorkerHeartbeat(models.Model):
    """When each worker process last finished a pass, so that a stopped worker shows (a
    banner on every page, /api/health, /metrics) instead of failing silently. Written at
    most every HEARTBEAT_PERIOD (worker.py)."""

    worker = models.CharField(max_length=200, unique=True)  # "host:pid"
    started_at = models.DateTimeField()
    # Indexed: every page reads the newest (worker_health.stopped).
    last_pass_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker} @ {self.last_pass_at:%Y-%m-%d %H:%M:%S}"


class WorkerOutage(models.Model):
    """A time when no worker completed a pass (worker_health.py), written by the first pass
    after it, which then reports it (`system_error`). `stopped_at` is unique: workers that
    resume together all see the same last pass, and only the one whose row is stored
    reports it."""

    # The last pass any worker completed before it (or, when none ever had, the oldest
    # report left waiting for one).
    stopped_at = models.DateTimeField(unique=True)
    resumed_at = models.DateTimeField()
    resumed_by = models.CharField(max_length=200)  # the worker ("host:pid")

    class Meta:
        ordering = ["-stopped_at"]

    def __str__(self) -> str:
        return f"no worker {self.stopped_at:%Y-%m-%d %H:%M} – {self.resumed_at:%Y-%m-%d %H:%M}"


class Collection(models.Model):
    """One pull of a server's history over its REST API (duplistatus/collect/). The table is
    the queue: a worker claims a queued row with a conditional UPDATE and writes its
    progress here as it goes, so pages can show it live."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="collections")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    requested_at = models.DateTimeField()
    requested_by = models.CharField(max_length=150, blank=True, default="")
    # Renewed while running; a claim older than the lease belongs to a worker that died.
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    backups_total = models.PositiveIntegerField(default=0)
    backups_done = models.PositiveIntegerField(default=0)
    entries_seen = models.PositiveIntegerField(default=0)
    runs_added = models.PositiveIntegerField(default=0)
    runs_skipped = models.PositiveIntegerField(default=0)  # already stored
    runs_ignored = models.PositiveIntegerField(default=0)  # not a backup, or unreadable
    current = models.CharField(max_length=200, blank=True, default="")  # the backup being read
    error_code = models.CharField(max_length=30, blank=True, default="")
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(
                fields=["requested_at"],
                name="collection_pending",
                condition=Q(state__in=["queued", "running"]),
            ),
            models.Index(fields=["server", "requested_at"], name="collection_server"),
        ]

    def __str__(self) -> str:
        return f"collect {self.server_id} {self.state}"

    @property
    def active(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)
