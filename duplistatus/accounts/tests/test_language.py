"""Which language the pages speak: the user's own choice, else the sign-in page's picker,
else the browser, else DUPLISTATUS_LANGUAGE, else English. German comes from the seed
catalogue in duplistatus/locale (compiled when the test session starts, as on start-up)."""

from __future__ import annotations

import gettext
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.staticfiles.finders import get_finder
from django.test import override_settings

from duplistatus import clock, startup
from duplistatus.accounts.models import Preference
from duplistatus.i18n import LOCALE_DIR, compile_catalogues, language_from_env

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase"
LANGUAGES = django_settings.LANGUAGES
COOKIE = django_settings.LANGUAGE_COOKIE_NAME


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]*)"', response.content.decode()).group(1)


def chosen(response) -> str:
    """The option selected in the page's (one) language picker."""
    return re.search(
        r"<option [^>]*\bselected\b[^>]*>([^<]*)</option>", response.content.decode()
    ).group(1)


def nav(response) -> str:
    return re.search(r"<header.*</header>", response.content.decode(), re.S).group(0)


# --------------------------------------------------------------------------- the sign-in page


def test_the_browser_asking_for_german_gets_german(client):
    page = client.get("/login", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    text = page.content.decode()
    assert html_lang(page) == "de" and page["Content-Language"] == "de"
    assert "<h1>Anmelden</h1>" in text  # ours (the seed catalogue)
    assert "Benutzername" in text  # Django's own, from Django's catalogue
    assert "Accept-Language" in page["Vary"]


def test_a_browser_that_says_nothing_gets_english(client):
    page = client.get("/login")
    assert html_lang(page) == "en" and "<h1>Sign in</h1>" in page.content.decode()


def test_the_sign_in_pages_picker_switches_at_once(client):
    page = client.get("/login?next=/settings/users", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    # Every language, each in its own name and marked as such, the current one chosen.
    for code, name in LANGUAGES:
        assert f'<option value="{code}" lang="{code}"' in text and f">{name}</option>" in text
    assert '<option value="en" lang="en" selected>English</option>' in text
    picker = re.search(r'<form class="language-picker" method="post" action="([^"]+)"', text)
    back = re.search(r'<input type="hidden" name="next" value="([^"]+)">\s*<label', text)
    assert back.group(1) == "/login?next=/settings/users"

    switched = client.post(
        picker.group(1), {"language": "de", "next": back.group(1)}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert switched.status_code == 302 and switched["Location"] == "/login?next=/settings/users"
    assert switched.cookies[COOKIE].value == "de"
    assert switched.cookies[COOKIE]["max-age"] == django_settings.LANGUAGE_COOKIE_AGE
    after = client.get(switched["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert html_lang(after) == "de" and "<h1>Anmelden</h1>" in after.content.decode()
    assert '<option value="de" lang="de" selected>Deutsch</option>' in after.content.decode()


def test_the_lockout_message_counts_in_german(client, alice, settings):
    clock.set(datetime(2026, 5, 4, 8, 0, tzinfo=UTC))
    for attempt in range(settings.LOGIN_MAX_FAILURES):
        client.post("/login", {"username": "alice", "password": f"wrong {attempt}"})

    def refusal() -> str:
        page = client.post(
            "/login", {"username": "alice", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="de"
        )
        return re.search(r'role="alert"><p>(.*?)</p>', page.content.decode()).group(1)

    # Both forms, chosen by the catalogue's Plural-Forms.
    assert re.fullmatch(
        r"Zu viele fehlgeschlagene Anmeldungen\. Versuchen Sie es in etwa 1\d Minuten erneut\.",
        refusal(),
    )
    clock.advance(timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES - 1, seconds=30))
    assert refusal().endswith("in etwa 1 Minute erneut.")


# --------------------------------------------------------------------------- signed in


def test_the_users_own_choice_beats_cookie_and_browser(client, alice):
    Preference.objects.create(user=alice, language="de")
    client.force_login(alice)
    client.cookies[COOKIE] = "fr"
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="es")
    assert html_lang(page) == "de" and page["Content-Language"] == "de"
    assert ">Übersicht</a>" in nav(page) and ">Konto</a>" in nav(page)
    # Without a choice of their own, the cookie (the sign-in page's picker) applies.
    Preference.objects.filter(user=alice).update(language="")
    assert html_lang(client.get("/", HTTP_ACCEPT_LANGUAGE="es")) == "fr"


def test_the_account_page_saves_the_language_and_it_applies_at_once(client, alice):
    client.force_login(alice)
    page = client.get("/account", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert ">Account</a>" in nav(page)  # the header links here (instead of "Password")
    assert 'href="/account/password"' in text  # and this page to the password page
    assert chosen(page) == "Browser default"
    assert '<option value="zh-hans" lang="zh-hans">简体中文</option>' in text

    saved = client.post("/account", {"language": "de"}, HTTP_ACCEPT_LANGUAGE="en")
    assert saved.status_code == 302 and saved["Location"] == "/account"
    assert Preference.objects.get(user=alice).language == "de"
    assert saved.cookies[COOKIE].value == "de"  # for the sign-in page after signing out
    after = client.get("/account", HTTP_ACCEPT_LANGUAGE="en")
    assert html_lang(after) == "de"
    assert ">Konto</a>" in nav(after) and "Gespeichert." in after.content.decode()
    assert chosen(after) == "Deutsch"

    client.post("/logout")
    signed_out = client.get("/login", HTTP_ACCEPT_LANGUAGE="en")
    assert "<h1>Anmelden</h1>" in signed_out.content.decode()


def test_browser_default_follows_the_browser_again(client, alice):
    Preference.objects.create(user=alice, language="de")
    client.force_login(alice)
    client.cookies[COOKIE] = "de"
    saved = client.post("/account", {"language": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert saved.cookies[COOKIE]["max-age"] == 0  # the picker's cookie is dropped too
    after = client.get("/account", HTTP_ACCEPT_LANGUAGE="en")
    assert html_lang(after) == "en" and "Saved." in after.content.decode()
    assert html_lang(client.get("/", HTTP_ACCEPT_LANGUAGE="de")) == "de"


def test_a_language_we_do_not_have_is_refused(client, alice):
    client.force_login(alice)
    refused = client.post("/account", {"language": "tlh"})
    assert refused.status_code == 400 and not Preference.objects.exists()


def test_the_account_page_needs_a_session(client):
    assert client.get("/account")["Location"] == "/login?next=/account"


# --------------------------------------------------------------------------- the deployment


@override_settings(LANGUAGE_CODE="de")
def test_the_deployments_language_applies_when_the_browser_says_nothing(client):
    assert html_lang(client.get("/login")) == "de"
    # The browser's own wish comes first.
    assert html_lang(client.get("/login", HTTP_ACCEPT_LANGUAGE="en-GB")) == "en"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("de", "de"),
        ("DE", "de"),
        ("de-AT", "de"),
        ("en_US", "en"),
        ("pt-BR", "pt-br"),
        ("pt_BR", "pt-br"),
        ("pt", "pt-br"),
        ("zh-Hans", "zh-hans"),
        ("zh_CN", "zh-hans"),
        (" hi ", "hi"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_duplistatus_language_is_read_as_people_write_it(value, code):
    assert language_from_env(value, LANGUAGES) == (code, None)


@pytest.mark.parametrize("value", ["klingon", "pt-PT", "zh-Hant", "ru"])
def test_a_language_duplistatus_lacks_falls_back_to_english_and_says_so(value):
    code, problem = language_from_env(value, LANGUAGES)
    assert code == "en" and repr(value) in problem and "zh-hans" in problem


def settings_in_a_process(tmp_path: Path, language: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "duplistatus.settings",
        "DUPLISTATUS_DATA_DIR": str(tmp_path),
        "DUPLISTATUS_LANGUAGE": language,
    }
    code = "from django.conf import settings; print(settings.LANGUAGE_CODE)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_settings_read_duplistatus_language(tmp_path):
    good = settings_in_a_process(tmp_path, "zh_Hans")
    assert good.stdout.strip() == "zh-hans" and good.stderr == ""
    bad = settings_in_a_process(tmp_path, "Klingon")
    assert bad.returncode == 0 and bad.stdout.strip() == "en"  # the service still starts
    assert "DUPLISTATUS_LANGUAGE='Klingon' is not a language duplistatus has" in bad.stderr


# --------------------------------------------------------------------------- catalogues

PO = r"""msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

msgid "Dashboard"
msgstr "Übersicht"

#, fuzzy
msgid "Settings"
msgstr "Einstellungen?"

msgctxt "role"
msgid "viewer"
msgstr "Betrachter"

msgid "%(n)d day"
msgid_plural "%(n)d days"
msgstr[0] "%(n)d Tag"
msgstr[1] "%(n)d Tage"
"""


def test_catalogues_compile_without_gettext_tools_and_only_when_changed(tmp_path, monkeypatch):
    po = tmp_path / "de" / "LC_MESSAGES" / "django.po"
    po.parent.mkdir(parents=True)
    po.write_text(PO, encoding="utf-8")
    monkeypatch.setenv("PATH", "")  # no msgfmt to be found: babel does it in process

    assert compile_catalogues([tmp_path]) == [po.with_suffix(".mo")]
    with po.with_suffix(".mo").open("rb") as mo:
        read = gettext.GNUTranslations(mo)
    assert read.gettext("Dashboard") == "Übersicht"
    assert read.gettext("Settings") == "Settings"  # fuzzy: nobody checked it
    assert read.pgettext("role", "viewer") == "Betrachter"
    assert read.ngettext("%(n)d day", "%(n)d days", 3) == "%(n)d Tage"

    # Unchanged: nothing to do (a restart stays cheap).
    built = po.with_suffix(".mo").stat().st_mtime_ns
    assert compile_catalogues([tmp_path]) == []
    assert po.with_suffix(".mo").stat().st_mtime_ns == built
    # A newer .po is compiled again.
    later = time.time() + 5
    po.write_text(PO.replace("Übersicht", "Startseite"), encoding="utf-8")
    os.utime(po, (later, later))
    assert compile_catalogues([tmp_path]) == [po.with_suffix(".mo")]
    with po.with_suffix(".mo").open("rb") as mo:
        assert gettext.GNUTranslations(mo).gettext("Dashboard") == "Startseite"


def test_a_broken_catalogue_is_reported_and_skipped(tmp_path, caplog):
    po = tmp_path / "fr" / "LC_MESSAGES" / "django.po"
    po.parent.mkdir(parents=True)
    # Say, a merge left its conflict markers in.
    conflict = '<<<<<<< HEAD\nmsgid "Dashboard"\nmsgstr "Tableau"\n=======\n>>>>>>> fr\n'
    po.write_text(conflict, encoding="utf-8")
    assert compile_catalogues([tmp_path]) == []
    assert not po.with_suffix(".mo").exists()
    assert "Could not compile the catalogue" in caplog.text and str(po) in caplog.text


def test_the_projects_catalogues_are_compiled_and_up_to_date():
    catalogues = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/django.po"))
    assert catalogues, "the seed catalogue is missing"
    assert compile_catalogues() == []  # the test session compiled them, as start-up does
    for po in catalogues:
        assert po.with_suffix(".mo").stat().st_mtime >= po.stat().st_mtime


def test_setup_compiles_the_catalogues(settings, tmp_path):
    """`duplistatus setup` (and so `serve`) compiles a catalogue whose .mo is missing, as
    after a fresh checkout or an upgrade."""
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "app.css").write_text("body {}")  # collecting all static files takes long
    settings.DATA_DIR = tmp_path
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATICFILES_DIRS = [sources]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    get_finder.cache_clear()
    mo = LOCALE_DIR / "de" / "LC_MESSAGES" / "django.mo"
    mo.unlink()
    said: list[str] = []
    try:
        assert startup.prepare(verbosity=1, echo=said.append) == 0
    finally:
        get_finder.cache_clear()
        compile_catalogues()  # whatever happened, the other tests need it
    assert f"Compiled {mo}" in said
    with mo.open("rb") as compiled:
        assert gettext.GNUTranslations(compiled).gettext("Sign in") == "Anmelden"
