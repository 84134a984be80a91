"""The UI in every language: the catalogues are complete, and every page of the site, rendered
in each language, shows no English a translator missed.

How untranslated text is found: each page is rendered in English and in the language; a piece
of visible text (a text node, or a title, aria-label, placeholder or alt) that reads the same in
both, holds an English word, and is not data (a server, job or file name, a log line: anything
stored in the database) is a string someone forgot to mark or translate."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils.translation import to_locale

from duplistatus.tests.site import paths
from duplistatus.web.tests import fleet

LANGUAGES = ["de", "fr", "es", "pt-br", "zh-hans", "hi"]
LOCALE = Path(settings.LOCALE_PATHS[0]) if settings.LOCALE_PATHS else None
WORD = re.compile(r"[A-Za-z]{3,}")
ADDRESS = re.compile(r"^\w+://\S+$")  # a URL reads the same in every language
# Words that read the same in a language and in English, as whole pieces of text.
SAME_IN = {
    # Names and units that every language writes the same way.
    "*": {
        "duplistatus",
        "Duplicati",
        "API",
        "ntfy",
        "NTFY",
        "SMTP",
        "Apprise",
        "OK",
        "UTC",
        "KiB",
        "MiB",
        "GiB",
        "TiB",
        "PiB",
        "HTML",
        "JSON",
        "URL",
        "HTTP",
        "HTTPS",
        "Markdown",
        "STARTTLS",
        "TLS",
        "Prometheus",
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "Jinja",
        "SQLite",
        "PostgreSQL",
        "Webhook",
    },
    # Words that are the same word in the language (checked by the translators).
    "de": {
        "Status",
        "Server",
        "Backup",
        "Backups",
        "Token",
        "Tokens",
        "Name",
        "Version",
        "Job",
        "Jobs",
        "Pause",
        "global",
        "Tags",
        "Failover",
        "Rotation",
        "Position",
        "Format",
    },
    "fr": {
        "Version",
        "Versions",
        "Message",
        "Messages",
        "Type",
        "Actions",
        "Description",
        "Total",
        "Source",
        "anomalies",
        "Pause",
        "global",
        "Note",
        "Maintenance",
        "Mode",
        "Rotation",
        "rotation",
        "Position",
        "E-mail",
        "Format",
    },
    "es": {"Total", "Error", "Servidor", "Detector", "global", "Extra"},
    "pt-br": {
        "Total",
        "Status",
        "Backup",
        "Backups",
        "Token",
        "Tokens",
        "global",
        "E-mail",
        "Detector",
    },
    "zh-hans": set(),
    "hi": set(),
}
ATTRIBUTES = {"title", "aria-label", "placeholder", "alt"}


class VisibleText(HTMLParser):
    """The pieces of text a person sees or hears on a page, leaving out what the page marks as
    deliberately not in its language: `translate="no"` (names, code) and `lang="…"` of another
    language (the language picker names each language in itself)."""

    HIDDEN = {"script", "style", "code", "kbd", "samp"}  # code reads the same in every language
    VOID = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.page_language = ""
        self._open: list[tuple[str, bool]] = []  # (tag, hides its text)

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "html":
            self.page_language = (found.get("lang") or "").lower()
            return
        language = (found.get("lang") or "").lower()
        hides = (
            tag in self.HIDDEN
            or found.get("translate") == "no"
            or bool(language and language != self.page_language)
        )
        if self._hidden or hides:
            if tag not in self.VOID:
                self._open.append((tag, True))
            return
        for name, value in attrs:
            if value and name in ATTRIBUTES:
                self._add(value)
        if tag == "input" and found.get("type") in ("submit", "button") and found.get("value"):
            self._add(found["value"])
        if tag not in self.VOID:
            self._open.append((tag, False))

    def handle_endtag(self, tag):
        # Close up to the matching tag (HTML lets some end tags be left out).
        for at in range(len(self._open) - 1, -1, -1):
            if self._open[at][0] == tag:
                del self._open[at:]
                break

    @property
    def _hidden(self) -> bool:
        return any(hides for _, hides in self._open)

    def handle_data(self, data):
        if not self._hidden:
            self._add(data)

    def _add(self, text: str) -> None:
        text = " ".join(text.split())
        if text:
            self.pieces.append(text)


def visible(html: str) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    return set(parser.pieces)


def stored_text() -> list[str]:
    """Every string in the database: names, paths, messages, log lines (data, not UI)."""
    found: list[str] = []
    for model in apps.get_models():
        fields = [
            f.name
            for f in model._meta.get_fields()
            if isinstance(f, (models.CharField, models.TextField)) and not f.choices
        ]
        if fields:
            for row in model.objects.values_list(*fields):
                found += [value for value in row if isinstance(value, str) and value]
    return found


def is_data(words: list[str], data: list[str]) -> bool:
    return all(any(word in value for value in data) for word in words)


def pages(everything: dict[str, object]) -> list[str]:
    skip = ("/api/", "/static/", "/i18n/", "/logout", "/metrics")
    return [p for p in paths(everything) if not p.startswith(skip)]


def rendered(client, path: str, language: str):
    response = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
    if "text/html" not in response.get("Content-Type", ""):
        return response, set()
    assert response["Content-Language"].lower() == language, path
    return response, visible(response.content.decode())


def left_in_english(english: set[str], other: set[str], language: str, data: list[str]):
    """Pieces that read the same in English and in `language` and hold an English word that is
    neither a name both languages share nor data."""
    allowed = SAME_IN["*"] | SAME_IN[language]
    left = []
    for piece in english & other:
        words = [word for word in WORD.findall(piece) if word not in allowed]
        if piece not in allowed and words and not ADDRESS.match(piece) and not is_data(words, data):
            left.append(piece)
    return sorted(left)


@pytest.mark.django_db
def test_every_page_in_every_language_has_no_english_left(client, admin_client, everything):
    fleet.build(client)
    data = stored_text()
    # Every page of the site, and the pages a mistake leads to (not found, not allowed).
    walked = pages(everything) + ["/jobs/999999", "/runs/999999"]
    assert len(walked) >= 30, walked
    left = {}
    for path in walked:
        english_response, english = rendered(admin_client, path, "en")
        if not english:
            continue
        for language in LANGUAGES:
            response, other = rendered(admin_client, path, language)
            assert response.status_code == english_response.status_code, (language, path)
            if found := left_in_english(english, other, language, data):
                left[(language, path)] = found
    assert not left, "\n".join(f"{lang} {path}: {found}" for (lang, path), found in left.items())


@pytest.mark.django_db
def test_the_sign_in_page_in_every_language_has_no_english_left(client):
    _, english = rendered(client, "/login", "en")
    for language in LANGUAGES:
        _, other = rendered(client, "/login", language)
        assert not left_in_english(english, other, language, []), language


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w+\}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_is_complete(language):
    """Every message translated, none fuzzy, and each translation keeps the placeholders."""
    assert LOCALE is not None
    po = LOCALE / to_locale(language) / "LC_MESSAGES" / "django.po"
    with po.open("rb") as handle:
        catalogue = read_po(handle)
    assert len(catalogue) > 300
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        if not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        wanted = sorted(PLACEHOLDER.findall(ids[-1]))
        if len(ids) == 1:
            kept = [sorted(PLACEHOLDER.findall(strings[0])) == wanted]
        else:  # a plural's singular may say "one file" without its count
            kept = [set(PLACEHOLDER.findall(string)) <= set(wanted) for string in strings]
            kept.append(sorted(PLACEHOLDER.findall(strings[-1])) == wanted)
        if not all(kept):
            problems.append(f"placeholders changed: {ids[0]!r}")
    assert not problems, "\n".join(problems)
