"""GET /metrics, scraped as Prometheus would and read with prometheus_client's own parser."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import corpus_body
from duplistatus import clock
from duplistatus.worker import Worker

pytestmark = pytest.mark.django_db

SUCCESS = "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def upload(client, *, job: str, status: str, begin: datetime) -> None:
    body, content_type = corpus_body(SUCCESS)
    doc = json.loads(body)
    doc["Extra"].update({"backup-name": job, "machine-name": "nas"})
    doc["Data"].update(BeginTime=begin.isoformat(), ParsedResult=status)
    response = client.post("/api/upload", data=json.dumps(doc), content_type=content_type)
    assert response.status_code == 200, response.content


def scrape(client, **headers) -> dict[str, list]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family.samples for family in families}


def value(samples, name: str, **labels) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_metrics_need_a_token_or_an_allowed_address(client, api_token, settings):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {api_token}").status_code == 200
    # The test client comes from 127.0.0.1.
    settings.METRICS_ALLOW = [ipaddress.ip_network("127.0.0.0/8")]
    assert client.get("/metrics").status_code == 200
    settings.METRICS_ALLOW = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics").status_code == 401
    settings.METRICS_ENABLED = False
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {api_token}").status_code == 404


def test_jobs_deliveries_queue_and_worker(client, auth_client, api_token, http_peer):
    channel = auth_client.post(
        "/api/v1/channels",
        data={
            "kind": "webhook",
            "name": "hook",
            "config": {"url": f"{http_peer.url}hook"},
            "rate_per_minute": 0,
        },
        content_type="application/json",
    )
    assert channel.status_code == 201, channel.content
    clock.set(T0)
    upload(client, job="Photos", status="Success", begin=T0 - timedelta(days=1))
    upload(client, job="Photos", status="Error", begin=T0 - timedelta(minutes=30))
    upload(client, job="Docs", status="Success", begin=T0 - timedelta(minutes=20))
    worker = Worker()
    worker.run_once()
    worker.heartbeat()
    assert http_peer.received, "the failed run reached the webhook receiver"

    families = scrape(client, HTTP_AUTHORIZATION=f"Bearer {api_token}")

    status = families["duplistatus_job_last_status"]
    assert (
        value(
            status,
            "duplistatus_job_last_status",
            job="Photos",
            server="nas",
            duplistatus_job_last_status="Error",
        )
        == 1
    )
    assert (
        value(
            status,
            "duplistatus_job_last_status",
            job="Photos",
            duplistatus_job_last_status="Success",
        )
        == 0
    )
    assert (
        value(
            status, "duplistatus_job_last_status", job="Docs", duplistatus_job_last_status="Success"
        )
        == 1
    )
    runs = families["duplistatus_job_runs"]
    assert value(runs, "duplistatus_job_runs_total", job="Photos") == 2
    last_run = families["duplistatus_job_last_run_timestamp_seconds"]
    assert (
        value(last_run, "duplistatus_job_last_run_timestamp_seconds", job="Docs")
        == (T0 - timedelta(minutes=20)).timestamp()
    )
    assert (
        value(
            families["duplistatus_job_consecutive_failures"],
            "duplistatus_job_consecutive_failures",
            job="Photos",
        )
        == 1
    )
    assert "duplistatus_job_state" in families
    assert (
        value(
            families["duplistatus_job_storage_size_bytes"],
            "duplistatus_job_storage_size_bytes",
            job="Docs",
        )
        > 0
    )

    sent = value(
        families["duplistatus_deliveries"], "duplistatus_deliveries", channel="hook", status="sent"
    )
    assert sent >= 1
    latency = families["duplistatus_delivery_latency_seconds"]
    # Buckets are cumulative: none holds more than the sends, +Inf holds them all.
    buckets = [s.value for s in latency if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] == sent
    assert (
        value(latency, "duplistatus_delivery_latency_seconds_bucket", channel="hook", le="+Inf")
        == sent
    )
    assert value(families["duplistatus_delivery_queue"], "duplistatus_delivery_queue") == 0
    workers = families["duplistatus_worker_last_pass_timestamp_seconds"]
    assert [s.value for s in workers] == [T0.timestamp()]


def test_prometheus_gets_openmetrics_when_it_asks(client, api_token):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

    clock.set(T0)
    upload(client, job="Photos", status="Warning", begin=T0 - timedelta(hours=1))
    response = client.get(
        "/metrics",
        HTTP_AUTHORIZATION=f"Bearer {api_token}",
        HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in om_parse(response.content.decode())}
    assert families["duplistatus_job_last_status"].type == "stateset"
    warning = [
        s
        for s in families["duplistatus_job_last_status"].samples
        if s.labels["duplistatus_job_last_status"] == "Warning"
    ]
    assert [s.value for s in warning] == [1]


def test_a_waiting_delivery_shows_in_the_queue(client, auth_client, api_token, closed_port):
    auth_client.post(
        "/api/v1/channels",
        data={
            "kind": "webhook",
            "name": "down",
            "config": {"url": f"http://127.0.0.1:{closed_port}/hook"},
            "rate_per_minute": 0,
        },
        content_type="application/json",
    )
    clock.set(T0)
    upload(client, job="Photos", status="Error", begin=T0 - timedelta(minutes=5))
    Worker().run_once()  # the receiver is down: the delivery waits for its retry
    clock.set(T0 + timedelta(minutes=10))
    families = scrape(client, HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert value(families["duplistatus_delivery_queue"], "duplistatus_delivery_queue") == 1
    age = value(
        families["duplistatus_delivery_queue_oldest_age_seconds"],
        "duplistatus_delivery_queue_oldest_age_seconds",
    )
    assert age == pytest.approx(600, abs=1)
    assert (
        value(
            families["duplistatus_deliveries"],
            "duplistatus_deliveries",
            channel="down",
            status="retrying",
        )
        == 1
    )


def test_the_grafana_dashboard_asks_only_for_metrics_we_export(client, api_token):
    import re
    from pathlib import Path

    dashboard = Path(__file__).resolve().parents[3] / "docs" / "grafana-dashboard.json"
    wanted = set(re.findall(r"duplistatus_\w+", dashboard.read_text()))
    clock.set(T0)
    upload(client, job="Photos", status="Success", begin=T0 - timedelta(hours=1))
    worker = Worker()
    worker.run_once()
    worker.heartbeat()
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {api_token}")
    exported = {
        sample.name
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    } | {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert wanted <= exported, wanted - exported
