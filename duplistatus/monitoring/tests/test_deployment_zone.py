"""The deployment's time zone (`TZ`) reaches the schedules: Django replaces os.environ["TZ"]
with its TIME_ZONE at start-up, which made every schedule UTC and a daily job at a local time
go overdue the day after each DST change. Run in a process of its own, started with TZ set,
as `duplistatus serve` and `duplistatus worker` are."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import subprocess_database_url

# Daily at 02:30 in Berlin through both DST changes of 2027 (28 March, 31 October): before
# each run, the job is `ok` and a scan finds nothing; its schedule steps in local time.
SCRIPT = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "duplistatus.settings"
import django
django.setup()
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo
from django.test import Client
from duplistatus import clock
from duplistatus.accounts.models import ApiToken
from duplistatus.backups.models import BackupJob, Event
from duplistatus.monitoring import monitor
from duplistatus.monitoring.intervals import resolve_local
from duplistatus.monitoring.tests.reports import upload

berlin = ZoneInfo("Europe/Berlin")
client = Client()
api = Client(HTTP_AUTHORIZATION="Bearer " + ApiToken.create("tz")[1])
seen = {"zone": clock.default_timezone().key}
for key in ("states", "expected_local", "timezone", "sources"):
    seen[key] = []
for name, first_day in (("Spring", date(2027, 3, 22)), ("Autumn", date(2027, 10, 25))):
    for day in range(14):
        run = resolve_local(datetime.combine(first_day + timedelta(days=day), time(2, 30)), berlin)
        clock.set(run - timedelta(minutes=1))
        if day:
            monitor.scan()
            job = api.get(f"/api/v1/jobs/{BackupJob.objects.get(name=name).pk}").json()
            seen["states"].append(job["state"])
            expected = datetime.fromisoformat(job["next_expected_at"]).astimezone(berlin)
            seen["expected_local"].append(expected.strftime("%H:%M"))
        clock.set(run + timedelta(minutes=6))
        upload(client, run, job=name)
        if day == 0:
            job_id = BackupJob.objects.get(name=name).pk
            api.patch(f"/api/v1/jobs/{job_id}", data={"interval": "1D"},
                      content_type="application/json")
        job = api.get(f"/api/v1/jobs/{BackupJob.objects.get(name=name).pk}").json()
        seen["timezone"].append(job["schedule"]["timezone"])
        seen["sources"].append(job["schedule"]["source"])
    # The job's window is over: its user turns monitoring off (it would go overdue).
    api.patch(f"/api/v1/jobs/{job_id}", data={"monitoring_enabled": False},
              content_type="application/json")
seen["events"] = list(Event.objects.exclude(kind="backup_result").values_list("kind", flat=True))
print(json.dumps(seen))
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_tz_sets_the_schedules_zone_and_a_local_daily_job_stays_ok_across_dst():
    env = {**os.environ, "TZ": "Europe/Berlin", "DATABASE_URL": subprocess_database_url()}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=110
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["zone"] == "Europe/Berlin"
    assert set(seen["timezone"]) == {"Europe/Berlin"}
    assert set(seen["sources"]) == {"configured"}
    assert seen["events"] == []
    assert seen["states"] == ["ok"] * 26
    # 02:30 local every day but the spring-forward day, which has no 02:30 (03:00 instead).
    assert seen["expected_local"] == ["02:30"] * 5 + ["03:00"] + ["02:30"] * 20
