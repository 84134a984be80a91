"""In a real browser (headless Chromium, which asks for en-GB): the account page switches the
language and the page after saving speaks it; signing out keeps it; the sign-in page's picker
switches back as soon as a language is chosen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

PASSWORD = "correct horse battery"


def test_switching_language_on_the_account_page(page: Page, django_user_model):
    django_user_model.objects.create_user("alice", password=PASSWORD)
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Dashboard", exact=True)).to_be_visible()
    page.get_by_role("link", name="Account").click()
    page.get_by_label("Language").select_option(label="Deutsch")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("link", name="Konto")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("status")).to_contain_text("Gespeichert.")
    page.get_by_role("link", name="Übersicht", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "de")

    # Signed out, the sign-in page keeps the language (the cookie the account page set)...
    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    # ...and its picker switches back as soon as a language is chosen (no button press).
    page.get_by_label("Sprache").select_option(label="English")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
