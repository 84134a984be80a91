"""Fixtures for page tests: users of each role, and the fleet (see fleet.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import fleet


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The real hasher costs ~0.5 s a password by design; tests do not need that.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("vera", password="a viewer's password")


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def admin(django_user_model):
    """An administrator who signs in through the browser (see test_browser.sign_in)."""
    from .test_browser import PASSWORD

    return django_user_model.objects.create_superuser("alice", password=PASSWORD)


@pytest.fixture
def fleet_loaded(client, transactional_db):
    fleet.build(client)


@pytest.fixture
def loaded(db, client):
    """The fleet uploaded through the API (with an anonymous client)."""
    fleet.build(client)


# --------------------------------------------------------------------------- browser tests
# Playwright drives Debian's Chromium (never a downloaded browser) against a live server in
# this process, so tests can move `duplistatus.clock` and the server sees it.

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def _static_files(django_db_blocker):
    """What `duplistatus setup` does before serving: hashed, compressed static files."""
    from django.core.management import call_command

    from duplistatus.web import assets

    if assets.missing():
        pytest.fail(f"front-end assets missing ({assets.missing()}): run `npm ci`")
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Playwright's sync API keeps an event loop running in
    this thread while it lives, so Django is told that its synchronous calls here are fine;
    both end with the module, before other tests run."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        playwright = sync_playwright().start()
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        playwright.stop()


@pytest.fixture
def live_url(transactional_db, _static_files):
    """The app served over HTTP in a thread, through the same middleware as production
    (WhiteNoise serves the static files, so no test-only static handler)."""
    from django.test.testcases import LiveServerThread

    thread = LiveServerThread("127.0.0.1", static_handler=lambda handler: handler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


@pytest.fixture
def page(browser, live_url):
    context = browser.new_context(
        base_url=live_url,
        viewport={"width": 1280, "height": 800},
        locale="en-GB",
        timezone_id="Europe/Berlin",
        color_scheme="light",
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    yield tab
    context.close()
    assert not errors, f"errors in the browser: {errors}"
