"""In a real browser (headless Chromium): every page renders with data and without script
errors; a user's journey; labels and keyboard use. The README's screenshots are taken here."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from duplistatus import clock
from duplistatus.backups.models import BackupJob
from duplistatus.notifications.models import Channel
from duplistatus.worker import Worker

from . import fleet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
PASSWORD = "correct horse battery"


def sign_in(page: Page, username: str = "alice", password: str = PASSWORD) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_attached()


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def test_journey(page: Page, admin, fleet_loaded):
    """Sign in, see the failed job, open its run, change the job's schedule, see it."""
    sign_in(page)
    failing = page.locator("tr.h-failing", has=page.get_by_role("rowheader", name="Documents"))
    expect(failing.locator(".badge.r-error")).to_have_text("Error")
    expect(page.locator("tr.h-overdue").first).to_contain_text("System")
    expect(page.locator(".tile.t-overdue .n")).to_have_text("1")
    shoot(page, "dashboard")

    failing.get_by_role("link", name=re.compile("ago")).click()  # the last run
    expect(page.get_by_role("heading", name="Backup of Documents")).to_be_visible()
    expect(page.locator("ol.log li.log-error")).to_contain_text("contract.pdf")
    expect(page.locator("ol.log li.log-information").first).to_be_visible()
    shoot(page, "run")

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Documents").click()
    expect(page.locator(".charts canvas")).to_have_count(5)
    # The job's normal bands (anomaly detection's baselines) are drawn on its charts.
    expect(page.locator(".charts figure[data-band-low]")).to_have_count(3)
    expect(page.locator(".charts figcaption").first).to_contain_text("normal")
    expect(page.get_by_text("in use")).to_be_visible()  # the learned schedule applies
    page.get_by_label("Interval").fill("12h")
    page.get_by_label("Grace (minutes)").fill("30")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("status")).to_contain_text("Schedule saved.")
    schedule = page.locator("section", has=page.get_by_role("heading", name="Schedule", exact=True))
    expect(schedule).to_contain_text("12h")
    expect(schedule).to_contain_text("configured")
    expect(schedule).to_contain_text("30 min")
    job = BackupJob.objects.get(name="Documents")
    assert (job.interval, job.grace_minutes, job.schedule_source) == ("12h", 30, "configured")
    shoot(page, "job")

    page.get_by_role("link", name="Settings").click()
    row = page.locator("tr", has=page.get_by_role("rowheader", name="Documents"))
    expect(row).to_contain_text("12h")
    expect(row.locator(".tag")).to_have_text("own")


def test_journey_to_a_notification(page: Page, admin, fleet_loaded, http_peer):
    """Sign in, see the failed job, open its run, add a phone (ntfy) channel, set the job's
    rule to send every run there, send a test to the local receiver, see it in the delivery
    log; then the job's next run, a success, reaches the phone by the rule."""
    deliver()  # the fleet's own events, from before there was anyone to tell
    sign_in(page)
    failing = page.locator("tr.h-failing", has=page.get_by_role("rowheader", name="Documents"))
    failing.get_by_role("link", name=re.compile("ago")).click()
    expect(page.get_by_role("heading", name="Backup of Documents")).to_be_visible()

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Channels").click()
    page.get_by_role("link", name="Add ntfy channel").click()
    page.get_by_label("Name", exact=True).fill("Phone")
    page.get_by_label("Server URL").fill(http_peer.url)
    page.get_by_label("Topic").fill("backups")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Channel “Phone” saved.")

    page.goto("/")
    page.get_by_role("link", name="Documents").first.click()
    rules = page.locator("section", has=page.get_by_role("heading", name="Notification rules"))
    rules.get_by_label("Runs that notify").select_option("all")
    run_to = rules.get_by_role("group", name="Run results go to")
    run_to.get_by_label(re.compile("these")).check()
    run_to.get_by_label("Phone (ntfy)").check()
    shoot(page, "rules")
    rules.get_by_role("button", name="Save rules").click()
    expect(page.get_by_role("status")).to_contain_text("Notification rules saved.")
    job = BackupJob.objects.get(name="Documents")
    phone = Channel.objects.get(name="Phone")
    assert (job.event_level, job.run_destinations) == ("all", [f"channel:{phone.pk}"])

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Channels").click()
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("Test to “Phone”: sent")
    assert [r.json()["topic"] for r in http_peer.received] == ["backups"]

    page.get_by_role("link", name="Delivery log").first.click()
    row = page.locator("table tbody tr").first
    expect(row).to_contain_text("Phone")
    expect(row).to_contain_text("test")
    expect(row).to_contain_text("sent")
    shoot(page, "deliveries")

    # The rule at work: Documents' next run succeeds; by default only warnings and errors
    # notify, but this job's rule says every run, to the phone.
    clock.set(fleet.NOW + timedelta(hours=18))
    fleet.replay(Client(), clock.now(), machine="a" * 32, server="nas", job="Documents")
    deliver()
    clock.reset()
    titles = [r.json()["title"] for r in http_peer.received]
    assert len(titles) == 2 and titles[1].startswith("✅ Documents on nas")
    page.reload()
    expect(page.locator("table tbody tr").first).to_contain_text("✅ Documents on nas")


def deliver() -> None:
    worker = Worker()
    worker.last_scan = clock.now()  # about sending, not scanning
    worker.run_once()


def test_every_page_renders(page: Page, admin, fleet_loaded):
    sign_in(page)
    photos = BackupJob.objects.get(server__name="nas", name="Photos")
    for path, heading in (
        ("/?view=cards", "Dashboard"),
        (f"/servers/{photos.server_id}", "nas"),
        (f"/jobs/{photos.pk}", "Photos"),
        (f"/runs/{photos.last_run_id}", "Backup of Photos"),
        ("/settings/monitoring", "Monitoring"),
        ("/settings/notifications", "Notification channels"),
        ("/settings/notifications/rules", "Notification rules"),
        ("/settings/notifications/groups", "Device groups"),
        ("/settings/notifications/deliveries", "Delivery log"),
        ("/settings/notifications/templates", "Message templates"),
        ("/settings/notifications/templates/error/email", "The error template for e-mail"),
        ("/settings/users", "Users"),
        ("/settings/tokens", "API tokens"),
        ("/settings/audit", "Audit log"),
        ("/account/password", "Change your password"),
    ):
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_attached()
        # Times are shown in the browser's zone (Europe/Berlin here), not in UTC.
        for element in page.locator("time[data-local]").all()[:3]:
            expect(element).not_to_contain_text("UTC")
    page.goto(f"/servers/{photos.server_id}")
    expect(page.locator(".charts canvas")).to_have_count(5)
    expect(page.locator(".u-legend").first).to_contain_text("Documents")
    shoot(page, "server")
    # Bulk edit: the same interval on two jobs.
    page.goto("/settings/monitoring")
    page.get_by_label("Select nas / Photos").check()
    page.get_by_label("Select nas / Documents").check()
    bulk = page.get_by_role("group", name="Change the ticked jobs")
    bulk.locator("input[name=change_interval]").check()
    bulk.get_by_label("Interval").fill("1D")
    bulk.get_by_role("button", name="Apply to ticked jobs").click()
    expect(page.get_by_role("status")).to_contain_text("Changed 2 jobs.")
    rows = page.locator("table.schedules tbody tr", has=page.locator(".tag", has_text="own"))
    expect(rows).to_have_count(2)
    page.get_by_role("heading", name="Job schedules").scroll_into_view_if_needed()
    page.mouse.wheel(0, 200)
    shoot(page, "settings")


def test_template_editor_previews_as_you_type(page: Page, admin):
    sign_in(page)
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Templates").click()
    page.get_by_role("link", name=re.compile(": warning template for E-mail$")).click()
    preview = page.locator("#preview")
    expect(preview.locator(".preview-title")).to_have_text("⚠️ Documents on Office NAS: Warning")
    frame = page.frame_locator("iframe.preview-html")
    expect(frame.locator("body")).to_contain_text("finished with")  # the e-mail HTML

    page.get_by_label("Title").fill("Look at {backup_name} on {server_name}")
    expect(preview.locator(".preview-title")).to_have_text("Look at Documents on nas")
    page.get_by_label("Body").fill("Fine\nBroken: {no_such_thing}")
    expect(preview.get_by_role("alert")).to_contain_text("Body, line 2")
    expect(preview.get_by_role("alert")).to_contain_text("no_such_thing")
    page.get_by_label("Body").fill("<p>Hello <b>{server_name}</b></p>")
    page.get_by_label("Format").select_option("html")
    expect(frame.locator("b")).to_have_text("nas")
    shoot(page, "template-editor")
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("status")).to_contain_text("Template saved as version 1.")
    expect(page.get_by_role("rowheader", name="1 (current)")).to_be_visible()


def test_dashboard_at_a_glance(page: Page, admin, fleet_loaded):
    """Health before schedule (a failing job on time is not OK), tiles that filter, headers
    that show their sort, strips of recent runs whose popups the keyboard reaches, cards
    grouped by server with the server's worst health."""
    sign_in(page)
    page.evaluate("window.notReloaded = true")
    documents = page.locator("tr", has=page.get_by_role("rowheader", name="Documents"))
    expect(documents.locator(".c-health .badge")).to_have_text("Failing")
    look = page.get_by_role("region", name=re.compile("Needs a look"))
    expect(look).to_contain_text("System")
    expect(look).to_contain_text("overdue since")
    expect(look).to_contain_text("Documents")

    # Tiles filter when clicked, and say which one is on.
    page.locator(".tile.t-failing").click()
    expect(page).to_have_url(re.compile(r"\?health=failing"))
    expect(page.locator("table.jobs tbody tr")).to_have_count(3)
    expect(page.locator("table.jobs tbody .c-health .badge")).to_have_text(["Failing"] * 3)
    expect(page.locator(".tile.t-failing")).to_have_attribute("aria-current", "true")
    page.locator(".tile.t-ok").click()
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    expect(page.locator("table.jobs tbody .c-job a")).to_have_text(["Photos"])
    page.locator(".tile").first.click()
    expect(page.locator("table.jobs tbody tr")).to_have_count(6)

    # Sortable headers show it, and their direction once sorted.
    job_header = page.get_by_role("columnheader", name="Job")
    marker = "(el) => getComputedStyle(el.querySelector('a'), '::after').content"
    assert "↕" in job_header.evaluate(marker)
    job_header.get_by_role("link").click()
    expect(job_header).to_have_attribute("aria-sort", "ascending")
    assert "▲" in job_header.evaluate(marker)
    names = page.locator("table.jobs tbody .c-job a").all_inner_texts()
    assert names == sorted(names, key=str.casefold)
    job_header.get_by_role("link").click()
    expect(job_header).to_have_attribute("aria-sort", "descending")
    assert "▼" in job_header.evaluate(marker)

    # The strip: one Tab stop, arrows move along it, the focused bar's popup shows.
    strip = page.get_by_role("group", name="Recent runs of Documents")
    newest = strip.locator(".bar").last
    newest.focus()
    expect(newest.locator(".tip")).to_be_visible()
    expect(newest.locator(".tip")).to_contain_text("Error")
    page.keyboard.press("ArrowLeft")
    previous = strip.locator(".bar").nth(-2)
    expect(previous).to_be_focused()
    expect(previous.locator(".tip")).to_contain_text("Success")
    assert previous.locator(".tip").bounding_box()["height"] > 5
    shoot(page, "dashboard-strip")
    assert page.evaluate("window.notReloaded") is True  # tiles and sorting swapped by htmx

    page.get_by_label("Cards").check()
    groups = page.locator("section.server-group")
    expect(groups).to_have_count(4)
    office = groups.filter(has=page.get_by_role("heading", name=re.compile("office-pc")))
    expect(office.locator("h2 .badge")).to_have_text("Overdue")
    expect(office.locator("li.card")).to_have_count(2)
    shoot(page, "dashboard-cards")


def test_job_page_starts_with_its_history(page: Page, admin, fleet_loaded):
    """Summary, strip, charts (failed runs marked) and history come before the settings."""
    sign_in(page)
    documents = BackupJob.objects.get(name="Documents")
    page.goto(f"/jobs/{documents.pk}")
    expect(page.locator(".charts canvas")).to_have_count(5)
    top = {
        name: page.locator(selector).first.bounding_box()["y"]
        for name, selector in (
            ("strip", ".strip"),
            ("charts", "#charts-h"),
            ("history", "#history-h"),
            ("settings", "#settings"),
            ("schedule form", "#edit-h"),
            ("rules", "text=Notification rules"),
        )
    }
    assert top["strip"] < top["charts"] < top["history"] < top["settings"], top
    assert top["settings"] <= min(top["schedule form"], top["rules"]), top
    assert top["charts"] < 800, f"charts below the fold: {top}"
    key = page.locator("[data-charts-marks]")
    expect(key).to_be_visible()
    expect(key).to_contain_text("failed (1)")
    expect(page.locator("figure.chart").first).to_have_attribute(
        "aria-label", re.compile("1 failed marked")
    )
    page.get_by_role("link", name="Schedule, pause and notifications").click()
    expect(page).to_have_url(re.compile("#settings$"))


def test_dashboard_updates_in_place_and_dark_mode(page: Page, admin, fleet_loaded):
    sign_in(page)
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Search").fill("mail")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"\?q=mail"))
    page.get_by_label("Cards").check()
    expect(page.locator("ul.cards li.card")).to_have_count(1)
    assert page.evaluate("window.notReloaded") is True  # swapped by htmx, not reloaded

    page.get_by_label("Search").fill("")
    page.get_by_role("button", name="Switch between light and dark mode").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("ul.cards li.card")).to_have_count(6)
    shoot(page, "dashboard-dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")  # remembered


def test_labels_and_keyboard(page: Page, admin, fleet_loaded):
    sign_in(page)
    photos = BackupJob.objects.get(server__name="nas", name="Photos")
    for path in (
        "/",
        f"/jobs/{photos.pk}",
        f"/servers/{photos.server_id}",
        "/settings/monitoring",
        "/settings/notifications/rules",
        "/settings/notifications/groups",
        "/settings/notifications/channels/new?kind=email",
        "/settings/notifications/templates",
        "/settings/notifications/templates/warning/ntfy",
        "/settings/notifications/deliveries",
        "/settings/users",
    ):
        page.goto(path)
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll(
                     'input:not([type=hidden]), select, textarea, button')]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                               && !(el.tagName === 'BUTTON' && el.textContent.trim()))
                 .map(el => el.outerHTML.slice(0, 80))"""
        )
        assert unlabelled == [], path
        assert page.locator("main#main").count() == 1
        assert page.locator("nav[aria-label=Main]").count() == 1

    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#main$"))
    # From the search box, Tab walks through the filters; a job link opens with Enter.
    page.get_by_label("Search").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Health")).to_be_focused()
    page.locator(f'a[href="/jobs/{photos.pk}"]').focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Photos", exact=True)).to_be_visible()


def test_phone_layout(browser, live_url, admin, fleet_loaded):
    context = browser.new_context(
        base_url=live_url, viewport={"width": 390, "height": 800}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    sign_in(page)
    expect(page.locator("table.jobs th.c-server").first).to_be_hidden()
    expect(page.locator("table.jobs tbody tr")).to_have_count(6)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways"
    # Every row says which server its job is on, and the first job is above the fold.
    for row in page.locator("table.jobs tbody tr").all():
        expect(row.locator(".on-phone")).to_be_visible()
    expect(page.locator("table.jobs tbody tr").first.locator(".on-phone")).to_contain_text(
        "office-pc"
    )
    first = page.locator("table.jobs tbody tr").first.bounding_box()
    assert first and first["y"] + first["height"] <= 800, f"first job at {first}"
    shoot(page, "phone")
    # A job's page: dates in its history stay on one line.
    page.goto(f"/jobs/{BackupJob.objects.get(server__name='nas', name='Photos').pk}")
    started = page.locator("table.runs tbody time").first
    line = page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight) || 22")
    box = started.bounding_box()
    assert box and box["height"] < 1.5 * line, f"a date wraps: {box}"
    # Settings pages too: wide tables scroll inside their box, the page itself does not.
    photos = BackupJob.objects.get(server__name="nas", name="Photos")
    for path in (
        f"/jobs/{photos.pk}",
        "/settings/monitoring",
        "/settings/notifications/rules",
        "/settings/notifications/channels/new?kind=email",
        "/settings/notifications/templates",
        "/settings/notifications/templates/warning/email",
        "/settings/notifications/deliveries",
    ):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                 .filter(el => el.getBoundingClientRect().right > 392)
                 .map(el => el.tagName + '.' + el.className).slice(0, 8)"""
        )
        assert width <= 390, f"{path} scrolls sideways ({width} px): {wide}"
    context.close()


# --------------------------------------------------------------------------- accessibility
AXE = Path(__file__).resolve().parents[3] / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): " + v.help + " — " +
         v.nodes.slice(0, 4).map(n => n.target.join(" ")).join(", "));
}"""


def axe_violations(page: Page) -> list[str]:
    """Serious and critical WCAG problems axe-core finds on the page as it is now."""
    if not AXE.is_file():
        pytest.fail("axe-core missing: run `npm ci` (it is a dev dependency)")
    if not page.evaluate("() => !!window.axe"):
        # Through the DevTools protocol: the page's CSP allows no inline script tag.
        page.evaluate(AXE.read_text())
    return page.evaluate(AXE_RUN)


def every_page(photos: BackupJob) -> list[str]:
    return [
        "/",
        "/?view=cards",
        "/?health=failing",
        f"/servers/{photos.server_id}",
        f"/jobs/{photos.pk}",
        f"/runs/{photos.last_run_id}",
        "/settings/monitoring",
        "/settings/notifications",
        "/settings/notifications/channels/new?kind=ntfy",
        "/settings/notifications/channels/new?kind=email",
        "/settings/notifications/rules",
        "/settings/notifications/groups",
        "/settings/notifications/deliveries",
        "/settings/notifications/templates",
        "/settings/notifications/templates/error/email",
        "/settings/users",
        "/settings/tokens",
        "/settings/audit",
        "/account",
        "/account/password",
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_problems(page: Page, admin, fleet_loaded, scheme):
    """axe-core over every page, in light and dark mode: no serious or critical violation
    (contrast, names of links and controls, links told apart by more than colour...)."""
    page.emulate_media(color_scheme=scheme)
    page.goto("/login")
    found = {"/login": axe_violations(page)}
    sign_in(page)
    photos = BackupJob.objects.get(server__name="nas", name="Photos")
    for path in every_page(photos):
        page.goto(path)
        expect(page.locator("main#main")).to_be_attached()
        found[path] = axe_violations(page)
    # A strip's popup, shown by keyboard focus, is checked as shown.
    page.goto("/")
    page.locator(".strip .bar:not([tabindex='-1'])").first.focus()
    found["/ (strip popup)"] = axe_violations(page)
    problems = {path: violations for path, violations in found.items() if violations}
    assert problems == {}, "\n".join(f"{path}: {v}" for path, vs in problems.items() for v in vs)
