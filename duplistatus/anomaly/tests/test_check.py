"""Each detector end to end: real-shaped reports uploaded over HTTP, the worker run on the test
clock, and the message at a real HTTP receiver standing in for ntfy."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from conftest import CORPUS
from duplistatus import clock
from duplistatus.backups.models import BackupJob, Event
from duplistatus.notifications import summary
from duplistatus.notifications.channels.tests.peers import HttpPeer
from duplistatus.worker import Worker

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday
GiB = 1 << 30


@pytest.fixture
def peer():
    peer = HttpPeer()
    peer.start()
    yield peer
    peer.stop()


def report(day: int, rng: random.Random, *, job="Photos", **changes) -> dict:
    """A day's report of a healthy job (about 50,000 files, 200 MB uploaded, 10 minutes,
    versions kept at 14, verified after the backup), with `changes` applied to Data or to
    BackendStatistics."""
    doc = json.loads(V21.read_text())
    doc["Extra"].update({"backup-name": job, "machine-name": "nas", "machine-id": "a" * 32})
    begin = T0 + timedelta(days=day)
    seconds = 600 * rng.uniform(0.9, 1.1)
    data = doc["Data"]
    backend = data["BackendStatistics"]
    data.update(
        BeginTime=begin.isoformat(),
        EndTime=(begin + timedelta(seconds=seconds)).isoformat(),
        Duration=str(timedelta(seconds=int(seconds))),
        ExaminedFiles=50_000 + day * 10 + rng.randint(-30, 30),
        SizeOfExaminedFiles=int(300 * GiB * rng.uniform(0.998, 1.002)),
        AddedFiles=int(150 * rng.uniform(0.6, 1.6)),
        ModifiedFiles=int(80 * rng.uniform(0.6, 1.6)),
    )
    backend.update(
        BytesUploaded=int(200e6 * rng.uniform(0.6, 1.6)),
        KnownFileSize=int(250 * GiB + day * 150e6),
        BackupListCount=min(14, day + 1),
        TotalQuotaSpace=4096 * GiB,
        FreeQuotaSpace=int(3000 * GiB - day * 150e6),
    )
    for key, value in changes.items():
        (data if key in data else backend)[key] = value
    return doc


def upload(client, doc: dict) -> None:
    response = client.post("/api/upload", data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 200, response.content


def setup_channel(auth_client, peer: HttpPeer, **extra) -> int:
    body = {
        "kind": "ntfy",
        "name": "phone",
        "rate_per_minute": 0,
        "batch_threshold": 0,
        "config": {"server_url": peer.url, "topic": "backups"},
        **extra,
    }
    response = auth_client.post("/api/v1/channels", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def history(client, days: int = 10, seed: int = 1, **per_run) -> random.Random:
    rng = random.Random(seed)
    for day in range(days):
        upload(client, report(day, rng, **per_run))
    return rng


def work(at: datetime) -> None:
    clock.set(at)
    Worker().run_once()


def received(peer: HttpPeer) -> list[dict]:
    return [r.json() for r in peer.received]


DAY10 = T0 + timedelta(days=10, hours=1)


def test_a_healthy_history_sends_nothing(client, auth_client, peer):
    setup_channel(auth_client, peer)
    clock.set(T0)
    history(client, days=20)
    work(T0 + timedelta(days=20))
    assert received(peer) == []
    assert Event.objects.filter(kind__in=["anomaly", "storage"]).count() == 0
    assert BackupJob.objects.get().needs_anomaly_check is False


def test_share_not_mounted(client, auth_client, peer, django_user_model):
    setup_channel(auth_client, peer)
    clock.set(T0)
    rng = history(client)
    work(DAY10 - timedelta(hours=1))  # the history itself is normal
    upload(client, report(10, rng, ExaminedFiles=0, SizeOfExaminedFiles=0, AddedFiles=0))
    work(DAY10)
    [message] = received(peer)
    assert message["title"] == "🔍 Photos on nas: source vanished"
    assert "Files examined: **0**, normal 44,8" in message["message"]
    assert message["priority"] == 5  # critical is sent as an error: event level "warnings"
    [event] = Event.objects.filter(kind="anomaly")
    assert (event.details["detector"], event.details["severity"]) == ("source_vanished", "critical")
    assert BackupJob.objects.get().anomalies == ["source_vanished"]
    # The summary report and the dashboard (its tile and its filter) show it.
    values, payload = summary.summary_values(DAY10)
    assert "Anomalies:\nnas / Photos — source vanished" in values["summary_text"]
    assert payload["counts"]["anomaly"] == 1
    client.force_login(django_user_model.objects.create_user("ann", password="x" * 12))
    board = client.get("/").content.decode()
    assert '<span class="n">1</span><span class="l">anomaly</span>' in board
    assert "1 of 1 jobs match" in client.get("/?status=anomaly").content.decode()
    # The next normal run clears the dashboard's mark.
    upload(client, report(11, rng))
    work(DAY10 + timedelta(days=1))
    assert BackupJob.objects.get().anomalies == []
    assert "0 of 1 jobs match" in client.get("/?status=anomaly").content.decode()


def test_ransomware_sized_change_burst(client, auth_client, peer, django_user_model):
    setup_channel(auth_client, peer)
    clock.set(T0)
    rng = history(client)
    upload(client, report(10, rng, BytesUploaded=40 * GiB, ModifiedFiles=48_000))
    work(DAY10)
    [message] = received(peer)
    assert message["title"] == "🔍 Photos on nas: change burst"
    assert "Files added or modified: **48," in message["message"]
    event = Event.objects.get(kind="anomaly")
    assert {event.details["metric"], event.details["also"][0]["metric"]} == {
        "changed_files",
        "bytes_uploaded",
    }
    # The job page's charts get the normal band and the flagged run.
    client.force_login(django_user_model.objects.create_user("ann", password="x" * 12))
    charts = client.get(f"/jobs/{event.job_id}/metrics?range=all").json()
    uploaded = charts["bands"]["uploaded"]
    assert uploaded["low"] < 200e6 < uploaded["high"] < 40 * GiB
    assert charts["flagged"]["uploaded"] == [int((T0 + timedelta(days=10)).timestamp())]
    assert "storage" not in charts["flagged"]


def test_slow_run_is_a_performance_warning(client, auth_client, peer):
    setup_channel(auth_client, peer)
    clock.set(T0)
    rng = history(client)
    begin = T0 + timedelta(days=10)
    upload(
        client,
        report(10, rng, EndTime=(begin + timedelta(minutes=32)).isoformat(), Duration="00:32:00"),
    )
    work(DAY10)
    [message] = received(peer)
    assert message["title"] == "🔍 Photos on nas: slow run"
    assert message["message"].startswith("**Performance Warning** (warning)")
    assert message["priority"] == 4


def test_storage_shrink_and_versions_falling(client, auth_client, peer):
    setup_channel(auth_client, peer)
    clock.set(T0)
    rng = history(client, days=20)
    upload(client, report(20, rng, KnownFileSize=120 * GiB, BackupListCount=5))
    work(T0 + timedelta(days=20, hours=1))
    assert sorted(m["title"] for m in received(peer)) == [
        "🔍 Photos on nas: storage shrank",
        "🔍 Photos on nas: versions falling",
    ]


def test_destination_full_within_the_horizon(client, auth_client, peer):
    setup_channel(auth_client, peer)
    clock.set(T0)
    rng = random.Random(1)
    for day in range(12):  # something else fills the disk: 20 GiB a day, 100 GiB left
        upload(client, report(day, rng, FreeQuotaSpace=(320 - day * 20) * GiB))
    work(T0 + timedelta(days=12))
    [message] = received(peer)
    assert message["title"] == "💾 Photos on nas: destination filling up"
    assert "will be full in about **5 days**" in message["message"]
    event = Event.objects.get(kind="storage")
    assert event.details["days_left"] == pytest.approx(5, abs=0.6)
    # The next day's run does not repeat it; Duplicati's own quota error is reported anyway
    # the day after (as critical).
    upload(client, report(12, rng, FreeQuotaSpace=80 * GiB))
    work(T0 + timedelta(days=12, hours=12))
    assert len(received(peer)) == 1


def test_reported_quota_warning_without_history(client, auth_client, peer):
    setup_channel(auth_client, peer)
    clock.set(T0)
    upload(client, report(0, random.Random(1), ReportedQuotaWarning=True))
    work(T0 + timedelta(hours=1))
    [message] = received(peer)
    assert message["title"] == "💾 Photos on nas: destination filling up"
    assert "reported a quota problem" in message["message"]


def test_unverified_for_thirty_days(client, auth_client, peer):
    setup_channel(auth_client, peer)
    clock.set(T0)
    rng = random.Random(1)
    for day in range(0, 36, 3):
        # Verification after the backup turned off (--backup-test-samples=0) from day 3.
        upload(client, report(day, rng, **({"TestResults": None} if day >= 3 else {})))
    work(T0 + timedelta(days=34))
    [message] = received(peer)
    assert message["title"] == "🔍 Photos on nas: not verified"
    event = Event.objects.get(kind="anomaly")
    assert (event.details["detector"], event.details["value"]) == ("unverified", 34)


def test_muted_per_job_and_tuned_globally(client, auth_client, peer):
    setup_channel(auth_client, peer)
    clock.set(T0)
    rng = history(client)
    job = BackupJob.objects.get()
    response = auth_client.patch(
        f"/api/v1/jobs/{job.pk}/rules",
        data={"anomaly_detectors": {"slow_run": {"enabled": False}}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["effective"]["anomaly_detectors"]["slow_run"]["enabled"] is False
    assert body["effective"]["anomaly_detectors"]["change_burst"]["factor"] == 8.0
    assert body["origins"]["anomaly_detectors"] == "job"
    bad = auth_client.patch(
        "/api/v1/rules",
        data={"anomaly_detectors": {"slow_run": {"factr": 3}}},
        content_type="application/json",
    )
    assert bad.status_code == 422 and "no setting 'factr'" in json.dumps(bad.json())
    begin = T0 + timedelta(days=10)
    upload(
        client,
        report(10, rng, EndTime=(begin + timedelta(minutes=32)).isoformat(), Duration="00:32:00"),
    )
    work(DAY10)
    assert received(peer) == []


def test_marked_expected_teaches_the_baseline(client, auth_client, peer, django_user_model):
    setup_channel(auth_client, peer)
    clock.set(T0)
    rng = history(client)
    upload(client, report(10, rng, BytesUploaded=40 * GiB))
    work(DAY10)
    assert len(received(peer)) == 1
    event = Event.objects.get(kind="anomaly")
    listed = auth_client.get("/api/v1/events?kind=anomaly").json()
    assert [e["id"] for e in listed] == [event.pk]
    # The run page shows it, with a button that marks it expected (the API does the same).
    admin = django_user_model.objects.create_superuser("ann", password="x" * 12)
    client.force_login(admin)
    page = client.get(f"/runs/{event.run_id}").content.decode()
    assert "change burst" in page and "Mark expected" in page
    response = client.post(f"/anomalies/{event.pk}/expected")
    assert response.status_code == 302
    assert "expected</span>" in client.get(f"/runs/{event.run_id}").content.decode()
    event.refresh_from_db()
    assert event.details["expected"] is True
    assert BackupJob.objects.get().anomalies == []
    other = Event.objects.create(
        kind="anomaly", job=event.job, run=event.run, created_at=DAY10, details={}
    )
    response = auth_client.post(f"/api/v1/events/{other.pk}/expected")
    assert response.status_code == 200, response.content
    assert response.json()["details"]["expected"] is True
    # The job now uploads 40 GiB a day (a new disk was added): after enough such runs that
    # are each marked expected, it is the new normal.
    for day in range(11, 30):
        upload(client, report(day, rng, BytesUploaded=40 * GiB))
        work(T0 + timedelta(days=day, hours=1))
        for flagged in Event.objects.filter(kind="anomaly", details__expected__isnull=True):
            auth_client.post(f"/api/v1/events/{flagged.pk}/expected")
    upload(client, report(30, rng, BytesUploaded=41 * GiB))
    work(T0 + timedelta(days=30, hours=1))
    late = Event.objects.filter(kind="anomaly", run__begin_time__gte=T0 + timedelta(days=30))
    assert [e.details for e in late] == []


def test_an_existing_history_is_not_reported_all_at_once(client, auth_client, peer):
    setup_channel(auth_client, peer)
    clock.set(T0)
    rng = history(client)
    # Before anomaly detection existed, a run with nothing examined came and went.
    upload(client, report(10, rng, ExaminedFiles=0, SizeOfExaminedFiles=0))
    for day in range(11, 14):
        upload(client, report(day, rng))
    work(T0 + timedelta(days=14))
    assert received(peer) == []
    job = BackupJob.objects.get()
    assert job.anomaly_checked_run_id == job.last_run_id
