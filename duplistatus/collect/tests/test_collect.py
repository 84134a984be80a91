"""Collecting a fake Duplicati server's history into the store, end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from duplistatus import clock, crypto
from duplistatus.backups.models import BackupJob, BackupRun, Collection, Event, Server
from duplistatus.collect import queue
from duplistatus.collect.collect import open_client
from duplistatus.monitoring import monitor

from .fake_duplicati import schedule_dto
from .fixtures import FATAL_MESSAGE, REPORT_2_1, SUCCESS_MESSAGE, log_message, payload

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    clock.set(NOW)
    yield
    clock.reset()


def shifted(message: str, begin: datetime) -> str:
    """The real message with another BeginTime/EndTime (a different run of the same job)."""
    result = json.loads(message)
    result["BeginTime"] = begin.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    result["EndTime"] = (begin + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(result)


def daily_history(backup, days: int, *, start: datetime) -> None:
    success = log_message(SUCCESS_MESSAGE)
    for day in range(days):
        begin = start + timedelta(days=day)
        backup.add_result(shifted(success, begin), int(begin.timestamp()))


def linked_server(fake, key: str | None = None) -> Server:
    return Server.objects.create(
        key=key or fake.machine_id,
        name=fake.machine_name,
        created_at=NOW,
        last_seen_at=NOW,
        duplicati_url=f"http://{fake.address}",
        duplicati_secret=crypto.encrypt({"password": fake.password}),
    )


def collect(server: Server) -> Collection:
    queue.request(server, "test")
    (done,) = queue.run_pending()
    return done


@pytest.mark.parametrize("generation", ["2.1", "legacy"])
def test_imports_the_whole_history_over_several_pages(start_duplicati, generation):
    fake = start_duplicati(generation=generation)
    photos = fake.add_backup(
        "2",
        "Photos",
        schedule_dto("2", "1D", NOW.replace(hour=2) + timedelta(days=1)),
    )
    daily_history(photos, 1100, start=NOW.replace(hour=2) - timedelta(days=1100))
    photos.add_result(log_message(FATAL_MESSAGE), 1_724_763_640)
    server = linked_server(fake)

    done = collect(server)

    assert (done.state, done.error) == ("done", "")
    assert (done.runs_added, done.runs_skipped, done.entries_seen) == (1101, 0, 1101)
    assert (done.backups_total, done.backups_done) == (1, 1)
    job = BackupJob.objects.get(server=server, name="Photos")
    assert job.run_count == 1101 and job.backup_id == "DB-2"
    assert BackupRun.objects.filter(job=job, status="Fatal").count() == 1
    assert job.last_run_at == NOW.replace(hour=2) - timedelta(days=1)
    # Months of history notify nobody.
    assert not Event.objects.filter(kind="backup_result").exists()
    # Schedule from Duplicati itself, and the job is expected tonight.
    assert (job.duplicati_interval, job.schedule_source) == ("1D", "duplicati")
    assert job.next_expected_at == NOW.replace(hour=2) + timedelta(days=1)


def test_collecting_twice_adds_nothing_and_later_runs_notify(start_duplicati):
    fake = start_duplicati()
    docs = fake.add_backup("1", "Docs")
    daily_history(docs, 30, start=NOW - timedelta(days=30))
    server = linked_server(fake)
    assert collect(server).runs_added == 30

    again = collect(server)
    assert (again.runs_added, again.runs_skipped) == (0, 30)
    assert BackupRun.objects.count() == 30

    # A run the server made while duplistatus could not hear it arrives by collecting, and
    # notifies like an upload would.
    daily_history(docs, 1, start=NOW - timedelta(hours=1))
    third = collect(server)
    assert (third.runs_added, third.runs_skipped) == (1, 30)
    assert Event.objects.filter(kind="backup_result").count() == 1


def test_a_pushed_run_is_not_counted_twice(start_duplicati, client):
    report = json.loads(payload(REPORT_2_1))
    fake = start_duplicati(machine_id=report["Extra"]["machine-id"])
    backup = fake.add_backup("3", report["Extra"]["backup-name"])
    backup.add_result(json.dumps(report["Data"]), 1_742_768_889)
    daily_history(backup, 2, start=NOW - timedelta(days=2))
    pushed = client.post("/api/upload", payload(REPORT_2_1), content_type="application/json")
    assert pushed.status_code == 200
    server = Server.objects.get(key=report["Extra"]["machine-id"])
    server.duplicati_url = f"http://{fake.address}"
    server.duplicati_secret = crypto.encrypt({"password": fake.password})
    server.save()

    done = collect(server)

    assert (done.runs_added, done.runs_skipped) == (2, 1)
    job = BackupJob.objects.get(server=server)
    assert job.run_count == 3 and BackupRun.objects.filter(job=job).count() == 3


def test_other_operations_and_unknown_types_are_ignored(start_duplicati):
    fake = start_duplicati()
    backup = fake.add_backup("1", "Docs")
    success = json.loads(log_message(SUCCESS_MESSAGE))
    backup.add_result(json.dumps({**success, "MainOperation": "Restore"}), 1_724_700_000)
    backup.add_result(json.dumps({**success, "MainOperation": "Frobnicate"}), 1_724_700_001)
    backup.add_result("not JSON at all", 1_724_700_002)
    backup.add_result("{}", 1_724_700_003, row_type="Information")
    backup.add_result(log_message(SUCCESS_MESSAGE), 1_724_700_004)

    done = collect(linked_server(fake))

    assert (done.state, done.runs_added, done.runs_ignored) == ("done", 1, 4)
    assert list(BackupRun.objects.values_list("operation", flat=True)) == ["Backup"]


@pytest.mark.parametrize("generation", ["2.1", "legacy"])
def test_wrong_password_fails_in_words_and_keeps_nothing(start_duplicati, generation):
    fake = start_duplicati(generation=generation)
    fake.add_backup("1", "Docs").add_result(log_message(SUCCESS_MESSAGE), 1)
    server = linked_server(fake)
    server.duplicati_secret = crypto.encrypt({"password": "wrong"})
    server.save()

    done = collect(server)

    assert (done.state, done.error_code) == ("failed", "wrong_password")
    assert "Wrong password" in done.error
    assert not BackupRun.objects.exists()


def test_another_installation_at_the_address_is_refused(start_duplicati):
    fake = start_duplicati(machine_id="someone-else")
    done = collect(linked_server(fake, key="my-machine"))
    assert (done.state, done.error_code) == ("failed", "wrong_server")


def test_duplicati_schedule_sits_between_configured_and_learned(start_duplicati):
    fake = start_duplicati()
    anchor = NOW.replace(hour=3) + timedelta(days=1)
    backup = fake.add_backup("1", "Docs", schedule_dto("1", "1W", anchor, ["Monday"]))
    daily_history(backup, 3, start=NOW - timedelta(days=3))
    server = linked_server(fake)
    collect(server)
    job = BackupJob.objects.get(name="Docs")
    schedule = monitor.job_schedule(job)
    assert (schedule.source, schedule.interval_text) == ("duplicati", "1W")
    assert schedule.weekdays == {1}

    job.interval = "12h"  # a schedule the user configured wins
    job.save()
    assert monitor.job_schedule(job).source == "configured"


def test_a_queued_collection_is_claimed_once(start_duplicati):
    fake = start_duplicati()
    server = linked_server(fake)
    first = queue.request(server)
    assert queue.request(server) == first  # one at a time per server
    assert queue.claim().pk == first.pk
    assert queue.claim() is None
    # A worker that died mid-collection: after the lease another one takes over.
    assert queue.claim(NOW + queue.LEASE + timedelta(seconds=1)).pk == first.pk


def test_periodic_collection_is_queued_when_due(start_duplicati):
    fake = start_duplicati()
    server = linked_server(fake)
    server.collect_every = "hourly"
    server.save()
    assert queue.request_periodic(NOW) == 1
    assert queue.request_periodic(NOW) == 0
    queue.run_pending()
    assert queue.request_periodic(NOW + timedelta(minutes=59)) == 0
    assert queue.request_periodic(NOW + timedelta(hours=1)) == 1


def test_the_password_is_never_logged(start_duplicati, caplog):
    caplog.set_level("DEBUG")
    fake = start_duplicati(password="s3cret-pass-phrase")
    fake.add_backup("1", "Docs").add_result(log_message(SUCCESS_MESSAGE), 1)
    server = linked_server(fake)
    assert collect(server).state == "done"
    server.duplicati_secret = crypto.encrypt({"password": "other-s3cret"})
    server.save()
    assert collect(server).error_code == "wrong_password"
    assert "s3cret" not in caplog.text
    assert "s3cret" not in repr(open_client(server))


def test_old_collections_are_forgotten_but_each_servers_latest_stays(start_duplicati):
    fake = start_duplicati()
    server = linked_server(fake)
    first, second = collect(server), collect(server)
    clock.set(NOW + queue.KEEP + timedelta(days=1))
    assert queue.purge(clock.now()) == 1
    assert list(Collection.objects.values_list("pk", flat=True)) == [second.pk]
    assert first.pk != second.pk


def test_a_legacy_server_without_a_password(start_duplicati):
    fake = start_duplicati(generation="legacy", password="")
    fake.add_backup("1", "Docs").add_result(log_message(SUCCESS_MESSAGE), 1)
    server = linked_server(fake)
    assert (collect(server).state, BackupRun.objects.count()) == ("done", 1)
