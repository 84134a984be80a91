"""`GET /metrics`: the state of every job, channel, the queue and the workers for Prometheus.

Everything is read from the database at scrape time, so any web process answers for the whole
deployment (several web and worker processes share nothing else). Figures that the database
keeps as counts of rows that retention removes (deliveries, unparsed reports) are gauges, not
counters: a counter must never go down.

Access: an API token (`Authorization: Bearer …`, read-only is enough; Prometheus'
`authorization:` scrape setting) or an address in DUPLISTATUS_METRICS_ALLOW.
DUPLISTATUS_METRICS=0 turns the endpoint off (404).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.exposition import choose_encoder

from duplistatus import clock
from duplistatus.accounts.models import ApiToken
from duplistatus.backups.models import (
    BackupJob,
    BackupRun,
    Event,
    RawReport,
    Server,
    Status,
    WorkerHeartbeat,
)
from duplistatus.notifications.models import Channel, Delivery
from duplistatus.web import board

# Upper bounds of the delivery latency buckets, in seconds (send time of one attempt).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Workers not heard of for this long are left out (they were stopped or replaced).
WORKER_FORGOTTEN_AFTER = timedelta(days=1)
JOB_LABELS = ["server", "job", "job_id"]


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        return JsonResponse({"error": "metrics are turned off (DUPLISTATUS_METRICS=0)"}, status=404)
    if not _may_scrape(request):
        return JsonResponse(
            {"error": "send Authorization: Bearer <API token>, or scrape from an allowed address"},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    # Prometheus asks for OpenMetrics when it can; anything else gets the classic text format.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)


def _may_scrape(request: HttpRequest) -> bool:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and ApiToken.authenticate(header[7:].strip()) is not None:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOW)


def _seconds(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class _Collector:
    def collect(self) -> Iterator[Metric]:
        now = clock.now()
        yield from _jobs(now)
        yield from _deliveries()
        yield from _service(now)


def _jobs(now: datetime) -> Iterator[Metric]:
    rows = board.listed_rows(BackupJob.objects.all(), now)
    last_runs = {
        run["id"]: run
        for run in BackupRun.objects.filter(
            id__in=[row.job.last_run_id for row in rows if row.job.last_run_id]
        ).values("id", "bytes_uploaded", "size_of_examined_files", "examined_files")
    }

    def gauge(name: str, doc: str, unit: str = "") -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=JOB_LABELS, unit=unit)

    last_run = gauge("duplistatus_job_last_run_timestamp", "BeginTime of the latest run", "seconds")
    last_success = gauge(
        "duplistatus_job_last_success_timestamp",
        "BeginTime of the latest successful run",
        "seconds",
    )
    next_expected = gauge(
        "duplistatus_job_next_expected_timestamp", "When the next run is expected", "seconds"
    )
    duration = gauge("duplistatus_job_last_run_duration", "Duration of the latest run", "seconds")
    uploaded = gauge("duplistatus_job_last_run_uploaded", "Bytes the latest run uploaded", "bytes")
    source = gauge(
        "duplistatus_job_source_size", "Size of the files the latest run examined", "bytes"
    )
    source_files = gauge("duplistatus_job_source_files", "Files the latest run examined")
    storage = gauge(
        "duplistatus_job_storage_size", "Size of the backup at its destination", "bytes"
    )
    versions = gauge("duplistatus_job_versions", "Backup versions at the destination")
    failures = gauge("duplistatus_job_consecutive_failures", "Failed runs in a row")
    runs = CounterMetricFamily("duplistatus_job_runs", "Backup runs stored", labels=JOB_LABELS)
    status = StateSetMetricFamily(
        "duplistatus_job_last_status", "Result of the latest run", labels=JOB_LABELS
    )
    state = StateSetMetricFamily(
        "duplistatus_job_state", "Schedule state (ok, late, overdue, …)", labels=JOB_LABELS
    )
    labels_of = {row.job.pk: [str(row.job.server), row.job.name, str(row.job.pk)] for row in rows}
    for row in rows:
        job = row.job
        labels = labels_of[job.pk]
        run = last_runs.get(job.last_run_id or 0)
        for family, value in (
            (last_run, _seconds(job.last_run_at)),
            (next_expected, _seconds(job.next_expected_at)),
            (duration, job.last_duration),
            (storage, job.storage if run else None),
            (versions, job.versions),
            (uploaded, run and run["bytes_uploaded"]),
            (source, run and run["size_of_examined_files"]),
            (source_files, run and run["examined_files"]),
        ):
            if value is not None:
                family.add_metric(labels, value)
        failures.add_metric(labels, job.consecutive_failures)
        runs.add_metric(labels, job.run_count)
        last = job.last_status or Status.UNKNOWN
        status.add_metric(labels, {choice: choice == last for choice in Status.values})
        state.add_metric(labels, {name: name == row.state for name in board.STATES})
    # The latest success is not among the dashboard's columns: one more small query.
    for job_id, at in BackupJob.objects.filter(last_success_at__isnull=False).values_list(
        "id", "last_success_at"
    ):
        if job_id in labels_of:  # not a job that arrived after the listing
            last_success.add_metric(labels_of[job_id], at.timestamp())
    yield from (last_run, last_success, next_expected, duration, uploaded, source, source_files)
    yield from (storage, versions, failures, runs, status, state)


def _deliveries() -> Iterator[Metric]:
    names = dict(Channel.objects.values_list("id", "name"))
    count = GaugeMetricFamily(
        "duplistatus_deliveries",
        "Deliveries in the delivery log, by channel and status",
        labels=["channel", "status"],
    )
    for channel_id, status, n in (
        Delivery.objects.order_by()
        .values_list("channel_id", "status")
        .annotate(n=Count("id"))
        .values_list("channel_id", "status", "n")
    ):
        count.add_metric([names.get(channel_id, str(channel_id)), status], n)
    yield count

    latency = GaugeHistogramMetricFamily(
        "duplistatus_delivery_latency_seconds",
        "Send time of the deliveries in the delivery log, by channel",
        labels=["channel"],
    )
    sent = Delivery.objects.filter(status=Delivery.Status.SENT, latency_ms__isnull=False)
    by_channel: dict[int, list[float]] = {}
    for channel_id, ms in sent.order_by().values_list("channel_id", "latency_ms"):
        by_channel.setdefault(channel_id, []).append(ms / 1000)
    for channel_id, seconds in by_channel.items():
        buckets = [(str(le), sum(1 for s in seconds if s <= le)) for le in LATENCY_BUCKETS]
        buckets.append(("+Inf", len(seconds)))
        latency.add_metric([names.get(channel_id, str(channel_id))], buckets, sum(seconds))
    yield latency

    channel_failures = GaugeMetricFamily(
        "duplistatus_channel_consecutive_failures",
        "Failed sends in a row per channel",
        labels=["channel"],
    )
    for name, failures in Channel.objects.values_list("name", "consecutive_failures"):
        channel_failures.add_metric([name], failures)
    yield channel_failures


def _service(now: datetime) -> Iterator[Metric]:
    waiting = Delivery.objects.filter(
        status__in=[Delivery.Status.QUEUED, Delivery.Status.RETRYING, Delivery.Status.SENDING]
    ).aggregate(n=Count("id"), oldest=Min("created_at"))
    yield GaugeMetricFamily(
        "duplistatus_delivery_queue", "Deliveries waiting to be sent", value=waiting["n"]
    )
    oldest = waiting["oldest"]
    yield GaugeMetricFamily(
        "duplistatus_delivery_queue_oldest_age_seconds",
        "Age of the oldest delivery waiting to be sent (0 when none waits)",
        value=(now - oldest).total_seconds() if oldest else 0,
    )
    yield GaugeMetricFamily(
        "duplistatus_events_unprocessed",
        "Events the worker has not turned into deliveries yet",
        value=Event.objects.filter(processed_at=None).count(),
    )
    workers = GaugeMetricFamily(
        "duplistatus_worker_last_pass_timestamp_seconds",
        "When each worker process last finished a pass",
        labels=["worker"],
    )
    for name, at in WorkerHeartbeat.objects.filter(
        last_pass_at__gte=now - WORKER_FORGOTTEN_AFTER
    ).values_list("worker", "last_pass_at"):
        workers.add_metric([name], at.timestamp())
    yield workers
    reports = RawReport.objects.exclude(parse_error="").aggregate(
        n=Count("id"), latest=Max("received_at")
    )
    yield GaugeMetricFamily(
        "duplistatus_unparsed_reports",
        "Kept report bodies that could not be parsed",
        value=reports["n"],
    )
    latest_report = Server.objects.aggregate(at=Max("last_seen_at"))["at"]
    if latest_report is not None:
        yield GaugeMetricFamily(
            "duplistatus_last_report_received_timestamp_seconds",
            "When the latest report arrived from any server",
            value=latest_report.timestamp(),
        )
