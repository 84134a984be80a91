"""Notifications in each channel's language: a channel set to one of the seven UI languages
gets its messages written in it (the built-in texts, the durations, the words a channel kind
adds), received by real peers (an ntfy-like HTTP receiver, an SMTP server); the language is
checked where it enters (API, settings form); library sets answer to the other spellings of
their codes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from conftest import CORPUS
from duplistatus import clock
from duplistatus.backups.models import BackupJob, Event
from duplistatus.notifications import outbox, template_store, templates
from duplistatus.notifications.models import Channel, Delivery
from duplistatus.notifications.tests.api import add_channel
from duplistatus.worker import Worker

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
OVERDUE = timedelta(days=1, hours=3)
# English duration words ("minutes" is French too).
ENGLISH_SPAN = re.compile(r"\b(?:days?|hours?|ago|less than a minute)\b")

# Per language, as the API may be given it: the failed backup's title and the escalation's
# title (job first, then what happened; "1 day 3 hours" in the language's words).
EXPECTED = {
    "en": ("en", "❌ Photos on nas: Error", "🚨 Overdue for 1 day 3 hours: Photos on nas"),
    "de": ("DE", "❌ Photos fehlgeschlagen · nas", "🚨 Photos: 1 Tag 3 Stunden überfällig · nas"),
    "fr": ("fr", "❌ Échec de Photos · nas", "🚨 Photos : 1 jour 3 heures de retard · nas"),
    "es": ("es", "❌ Photos falló · nas", "🚨 Photos: 1 día 3 horas de retraso · nas"),
    "pt-br": ("pt-BR", "❌ Photos falhou · nas", "🚨 Photos: 1 dia 3 horas de atraso · nas"),
    "zh-hans": ("zh-Hans", "❌ Photos 备份失败 · nas", "🚨 Photos：已逾期 1天3小时 · nas"),
    "hi": ("hi", "❌ Photos का बैकअप विफल · nas", "🚨 Photos: 1 दिन 3 घंटे से बैकअप नहीं · nas"),
}


def upload(client, *, status: str = "Error", job: str = "Photos") -> None:
    doc = json.loads(V21.read_text())
    doc["Extra"].update({"backup-name": job, "machine-name": "nas"})
    doc["Data"].update(BeginTime=T0.isoformat(), ParsedResult=status, ErrorsActualLength=1)
    response = client.post("/api/upload", data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 200, response.content


def failed_and_escalated(client) -> None:
    """A failed backup, and the job overdue for 1 day 3 hours and escalated."""
    clock.set(T0 + timedelta(minutes=5))
    upload(client)
    job = BackupJob.objects.get()
    Event.objects.create(
        kind="escalation",
        job=job,
        created_at=clock.now(),
        details={"overdue_seconds": OVERDUE.total_seconds()},
    )
    worker = Worker()
    worker.last_scan = clock.now()  # about sending, not about finding overdue jobs
    worker.run_once()
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    templates.forget_cache()  # saved templates are cached per process, across tests
    yield
    templates.forget_cache()


@pytest.mark.parametrize("language", EXPECTED)
def test_a_channel_gets_its_messages_in_its_language(client, auth_client, http_peer, language):
    given, failed_title, escalation_title = EXPECTED[language]
    channel = add_channel(
        auth_client, "ntfy", {"server_url": http_peer.url, "topic": "backups"}, language=given
    )
    assert channel["language"] == language
    failed_and_escalated(client)

    by_kind = {}
    for request in http_peer.received:
        delivery = Delivery.objects.get(uid=request.header("X-Duplistatus-Delivery"))
        by_kind[delivery.kind] = request.json()
    assert set(by_kind) == {"error", "escalation"}
    failed, escalation = by_kind["error"], by_kind["escalation"]
    assert failed["title"] == failed_title
    assert escalation["title"] == escalation_title
    if language != "en":
        assert not ENGLISH_SPAN.search(escalation["title"] + escalation["message"])
    # The words the channel adds itself come from the translation catalogue of the
    # channel's language (English where it has none yet), not the reader's or the server's.
    with translation.override(language):
        open_run, open_job = translation.gettext("Open run"), translation.gettext("Open job")
    assert [a["label"] for a in failed["actions"]] == [open_run]
    assert [a["label"] for a in escalation["actions"]] == [open_job]


def test_an_email_in_german(client, auth_client, smtp_server):
    mailbox, port = smtp_server()
    config = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "duplistatus@example.com",
        "recipients": ["ops@example.com"],
    }
    add_channel(auth_client, "email", config, language="de")
    failed_and_escalated(client)

    mails = {mail["Subject"]: mail for mail in mailbox.messages()}
    assert set(mails) == {"❌ Photos fehlgeschlagen · nas", EXPECTED["de"][2]}
    failed = mails["❌ Photos fehlgeschlagen · nas"]
    assert failed["Content-Language"] == "de"
    text = failed.get_body(("plain",)).get_content()
    html = failed.get_body(("html",)).get_content()
    assert "Die Sicherung Photos auf nas ist mit 1 Fehler fehlgeschlagen." in text
    assert "Die Sicherung Photos auf nas ist mit 1 Fehler fehlgeschlagen." in html
    escalation = mails[EXPECTED["de"][2]].get_body(("plain",)).get_content()
    assert "Überfällig: 1 Tag 3 Stunden" in escalation
    assert "Bitte Rechner und Duplicati prüfen." in escalation
    assert not ENGLISH_SPAN.search(escalation)


def test_without_a_language_of_its_own_a_channel_follows_the_deployment(
    auth_client, http_peer, settings
):
    add_channel(auth_client, "ntfy", {"server_url": http_peer.url, "topic": "t"})
    channel = Channel.objects.get()
    assert channel.language == ""
    assert outbox.send_test(channel).status == "sent"
    settings.LANGUAGE_CODE = "hi"  # DUPLISTATUS_LANGUAGE=hi
    assert outbox.send_test(channel).status == "sent"
    titles = [r.json()["title"] for r in http_peer.received]
    assert titles == ["duplistatus test message", "🧪 duplistatus परीक्षण"]


def test_the_channel_language_is_checked_by_the_api(auth_client, http_peer):
    config = {"server_url": http_peer.url, "topic": "t"}
    body = {"kind": "ntfy", "name": "x", "config": config, "language": "klingon"}
    response = auth_client.post("/api/v1/channels", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/json")
    problem = json.dumps(response.json(), ensure_ascii=False)
    assert "unknown language 'klingon'" in problem
    assert "en, de, fr, es, pt-br, zh-hans, hi" in problem
    assert not Channel.objects.exists()

    channel = add_channel(auth_client, "ntfy", config)
    assert channel["language"] == ""
    url = f"/api/v1/channels/{channel['id']}"

    def patch(language: str):
        return auth_client.patch(url, data={"language": language}, content_type="application/json")

    assert patch("zh-Hans").json()["language"] == "zh-hans"
    assert patch("pt").status_code == 422  # one of the seven codes, exactly
    assert patch("").json()["language"] == ""  # back to the deployment's
    assert auth_client.get(url).json()["language"] == ""


def test_the_channel_form_offers_the_languages_by_their_own_names(admin_client, http_peer):
    form = admin_client.get("/settings/notifications/channels/new?kind=ntfy").content.decode()
    for code, name in (("de", "Deutsch"), ("zh-hans", "简体中文"), ("hi", "हिन्दी")):
        assert f'<option value="{code}" lang="{code}">{name}</option>' in form
    assert "(English)" in form  # what blank means
    fields = {"kind": "ntfy", "name": "Phone", "server_url": http_peer.url, "topic": "t"}
    new = "/settings/notifications/channels/new"
    response = admin_client.post(new, fields | {"language": "hi"})
    assert response.status_code == 302, response.content.decode()
    channel = Channel.objects.get()
    assert channel.language == "hi"
    form = admin_client.get(f"/settings/notifications/channels/{channel.pk}").content.decode()
    assert '<option value="hi" lang="hi" selected>हिन्दी</option>' in form
    url = f"/settings/notifications/channels/{channel.pk}"
    response = admin_client.post(url, fields | {"language": "xx"})
    assert response.status_code == 400 and "unknown language" in response.content.decode()
    assert admin_client.post(url, fields | {"language": ""}).status_code == 302
    channel.refresh_from_db()
    assert channel.language == ""


def test_an_installed_library_set_follows_a_channels_own_language(client, auth_client, http_peer):
    assert auth_client.post("/api/v1/templates/library/de").status_code == 200
    own = {"server_url": http_peer.url, "topic": "t"}
    add_channel(auth_client, "ntfy", own | {"topic": "french"}, language="fr")
    add_channel(auth_client, "ntfy", own | {"topic": "default"})  # the deployment's: installed
    failed_and_escalated(client)
    titles = {(r.json()["topic"], r.json()["title"]) for r in http_peer.received}
    assert titles == {
        ("french", "❌ Échec de Photos · nas"),
        ("french", "🚨 Photos : 1 jour 3 heures de retard · nas"),
        ("default", "❌ Photos fehlgeschlagen · nas"),
        ("default", "🚨 Photos: 1 Tag 3 Stunden überfällig · nas"),
    }


def test_a_changed_template_is_sent_as_written_in_every_language(auth_client):
    assert auth_client.post("/api/v1/templates/library/de").status_code == 200
    template = auth_client.get("/api/v1/templates?kind=error").json()[0]
    changed = {"title": "Kaputt: {backup_name}", "body": template["body"], "language": "de"}
    response = auth_client.put(
        f"/api/v1/templates/{template['id']}", data=changed, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    for language in EXPECTED:
        assert templates.resolve("error", "ntfy", language).title == "Kaputt: {backup_name}"
        assert templates.resolve("fatal", "ntfy", "de").title.startswith("🛑 {backup_name}:")


def test_library_and_builtin_answer_to_every_spelling(auth_client):
    for spelling in ("pt", "pt-BR", "pt_br"):
        document = auth_client.get(f"/api/v1/templates/library/{spelling}")
        assert document.status_code == 200
        assert {t["language"] for t in document.json()["templates"]} == {"pt-br"}
    assert auth_client.get("/api/v1/templates/library/zh-Hans").status_code == 200
    assert auth_client.get("/api/v1/templates/library/xx").status_code == 404
    hindi = auth_client.get("/api/v1/templates/builtin?language=hi").json()
    assert {t["title"] for t in hindi if t["kind"] == "test"} == {"🧪 duplistatus परीक्षण"}
    assert auth_client.get("/api/v1/templates/builtin?language=xx").status_code == 422

    preview = auth_client.post(
        "/api/v1/templates/preview",
        data={"kind": "reminder", "channel_kind": "ntfy", "language": "zh-Hans"},
        content_type="application/json",
    )
    assert preview.status_code == 200, preview.content
    assert preview.json()["title"] == "⏰ Documents 仍未备份（已逾期 1天1小时）· Office NAS"


@pytest.mark.django_db(transaction=True)
def test_templates_installed_from_the_portuguese_set_stay_library_texts():
    """Before pt-br was its code, the set was "pt": the migration renames what it installed,
    so those templates still follow a channel's own language."""
    before = [("notifications", "0006_anomaly_channel_failing")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_template = executor.loader.project_state(before).apps.get_model("notifications", "Template")
    entry = next(e for e in template_store.library("pt-br")["templates"] if e["kind"] == "test")
    old_template.objects.create(
        kind="test",
        channel_kind="",
        title=entry["title"],
        body=entry["body"],
        language="pt",
        version=1,
        updated_at=T0,
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert template_store.Template.objects.get().language == "pt-br"
    assert templates.resolve("test", "ntfy").title == "🧪 Teste do duplistatus"
    assert templates.resolve("test", "ntfy", "hi").title == "🧪 duplistatus परीक्षण"
