"""In a browser: the worker banner and the anomaly detectors' settings, seen as a user sees
them and checked by axe-core, in light and dark mode."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from duplistatus import clock
from duplistatus.backups.models import BackupJob

from .test_browser import axe_violations, sign_in


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_worker_banner_and_detector_settings_are_accessible(
    page: Page,
    admin,
    fleet_loaded,
    scheme,
):
    page.emulate_media(color_scheme=scheme)
    sign_in(page)
    photos = BackupJob.objects.get(server__name="nas", name="Photos")
    clock.advance(timedelta(minutes=30))  # no worker pass since the fleet's
    page.goto(f"/jobs/{photos.pk}")
    banner = page.get_by_role("alert").filter(has_text="has not completed a pass")
    expect(banner).to_contain_text("30 min ago")
    expect(banner.get_by_role("link", name="Open the log")).to_be_visible()
    page.get_by_text("Anomaly detectors").click()
    expect(page.get_by_label("Sensitivity").first).to_be_visible()
    assert axe_violations(page) == []
