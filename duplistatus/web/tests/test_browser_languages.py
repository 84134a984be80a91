"""The UI in German and Hindi in a real browser at phone width: long German words and
Devanagari text must not push anything off the screen or cut a button's label. The README's
screenshot in another language is taken here too."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from duplistatus.backups.models import BackupJob, BackupRun

from .test_browser import PASSWORD, shoot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

# Everything that is not inside a box meant to scroll sideways must fit the screen.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth, found = [];
  // The skip link waits off the screen until it has focus; sr-only text is clipped on purpose.
  const scrolls = '.table-wrap, pre, ol.log, .sr-only, .strip .tip, a.skip';
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || el.closest(scrolls)) continue;
    const name = el.tagName.toLowerCase() + (el.className ? '.' + el.className : '');
    const text = String(el.innerText || el.value || '').trim().slice(0, 40);
    if (box.right > width + 1 || box.left < -1) found.push(`${name} "${text}" off the screen`);
    const style = getComputedStyle(el);
    if (el.matches('button, a, label, th, summary, .badge, .tile')
        && style.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1)
      found.push(`${name} "${text}" cut off`);
  }
  return found.slice(0, 12);
}"""


def signed_in(browser: Browser, live_url: str, language: str, width: int, height: int) -> Page:
    context = browser.new_context(
        base_url=live_url,
        viewport={"width": width, "height": height},
        is_mobile=width < 600,
        has_touch=width < 600,
        locale=language,  # the browser's Accept-Language
        timezone_id="Asia/Kolkata" if language == "hi" else "Europe/Berlin",
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", language)
    page.locator("input[name=username]").fill("alice")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:has(input[name=password]) button[type=submit]").click()
    expect(page.locator("table.jobs")).to_be_visible()
    return page


@pytest.mark.parametrize("language", ["de", "hi"])
def test_every_page_fits_a_phone_in_long_languages(
    browser, live_url, admin, fleet_loaded, language
):
    page = signed_in(browser, live_url, language, 390, 844)
    shoot(page, f"phone-{language}")
    job = BackupJob.objects.get(server__name="nas", name="Documents")
    run = BackupRun.objects.filter(job=job).order_by("-begin_time").first()
    assert run is not None
    problems = {}
    for path in (
        "/",
        f"/jobs/{job.pk}",
        f"/servers/{job.server_id}",
        f"/runs/{run.pk}",
        "/account",
        "/settings/monitoring",
        "/settings/notifications/channels",
        "/settings/notifications/channels/new?kind=email",
        "/settings/notifications/rules",
        "/settings/notifications/templates",
        "/settings/notifications/templates/warning/email",
        "/settings/notifications/deliveries",
        "/settings/maintenance",
        "/settings/users",
        "/settings/tokens",
    ):
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", language)
        if found := page.evaluate(OVERFLOWING):
            problems[path] = found
    page.context.close()
    assert not problems, problems


def test_readme_screenshot_in_german(browser, live_url, admin, fleet_loaded):
    page = signed_in(browser, live_url, "de", 1280, 800)
    expect(page.get_by_role("heading", name="Übersicht")).to_be_visible()
    shoot(page, "dashboard-de")
    page.context.close()
