"""In Chromium: a newcomer adds a (fake) Duplicati server, collects, and sees its history,
charts and schedule."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from duplistatus import clock
from duplistatus.collect import queue
from duplistatus.collect.tests.fake_duplicati import schedule_dto
from duplistatus.collect.tests.fixtures import SUCCESS_MESSAGE, log_message

from .test_browser import PASSWORD, sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("alice", password=PASSWORD)


def test_add_a_duplicati_server_collect_and_see_its_history(page: Page, admin, start_duplicati):
    now = clock.now()
    fake = start_duplicati(generation="legacy", machine_id="nas-id", machine_name="nas")
    tonight = now.replace(hour=2, minute=0, second=0, microsecond=0) + timedelta(days=1)
    backup = fake.add_backup("1", "Photos", schedule_dto("1", "1D", tonight))
    result = json.loads(log_message(SUCCESS_MESSAGE))
    for day in range(60, 0, -1):
        begin = tonight - timedelta(days=day)
        result["BeginTime"] = begin.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        backup.add_result(json.dumps(result), int(begin.timestamp()))

    sign_in(page)
    page.get_by_role("link", name="Add a Duplicati server").click()
    page.get_by_label("Address").fill(fake.address)
    page.get_by_label("Password").fill("not it")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong password")
    page.get_by_label("Password").fill(fake.password)
    page.get_by_role("button", name="Add and collect").click()
    expect(page.get_by_role("heading", name="nas", exact=True)).to_be_visible()
    expect(page.locator("#collect-status tr[data-state=queued]")).to_be_visible()

    queue.run_pending()  # the worker's part
    # The status polls itself: it shows the outcome without a reload.
    expect(page.locator("#collect-status tr[data-state=done]")).to_contain_text("60")

    page.reload()
    page.locator("table.jobs").get_by_role("link", name="Photos").click()
    expect(page.locator(".charts canvas")).to_have_count(5)
    schedule = page.locator("section", has=page.get_by_role("heading", name="Schedule", exact=True))
    expect(schedule).to_contain_text("1D")
    expect(schedule).to_contain_text("Duplicati · its schedule")
    expect(page.get_by_text(re.compile(r"^60$")).first).to_be_visible()
