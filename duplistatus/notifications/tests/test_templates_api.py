"""Templates through /api/v1/templates, end to end: validation on save, versions with diff and
revert, export and import, preview with sample data and with an uploaded run, a test send to a
real ntfy receiver, and a customized template reaching real receivers after an upload."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from conftest import CORPUS, corpus_body
from duplistatus import clock
from duplistatus.backups.models import BackupRun
from duplistatus.notifications import templates
from duplistatus.notifications.channels.tests.peers import HttpPeer
from duplistatus.notifications.models import Delivery, Template, TemplateVersion
from duplistatus.notifications.tests.api import add_channel
from duplistatus.worker import Worker

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
FATAL = "v2.0.6.3_backup_fatal_json_rafamunoz-photos-mega.json"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

ERROR_TEMPLATE = {
    "kind": "error",
    "title": "FAILED {backup_name}@{server_name}",
    "body": "Errors: {errors_count}\n{% if log_text %}Log:\n{{ log_text }}\n{% endif %}",
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    templates.forget_cache()
    yield
    templates.forget_cache()


@pytest.fixture
def peer():
    server = HttpPeer()
    server.start()
    yield server
    server.stop()


def post(client, url: str, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def put(client, url: str, body):
    return client.put(url, data=json.dumps(body), content_type="application/json")


def create(client, **fields) -> dict:
    response = post(client, "/api/v1/templates", ERROR_TEMPLATE | fields)
    assert response.status_code == 201, response.content
    return response.json()


def upload(client, *, status="Error", machine="nas") -> None:
    doc = json.loads(V21.read_text())
    doc["Extra"].update({"backup-name": "Photos", "machine-name": machine})
    doc["Data"].update(BeginTime=T0.isoformat(), ParsedResult=status, ErrorsActualLength=2)
    doc["LogLines"] = ["2026-03-02 03:00:01 +01 - [Error-Duplicati.Library.Main-Fail]: disk full"]
    response = client.post("/api/upload", data=json.dumps(doc), content_type="application/json")
    assert response.status_code == 200, response.content


def run_worker() -> None:
    worker = Worker()
    worker.last_scan = clock.now()  # about sending, not scanning
    worker.run_once()


# --------------------------------------------------------------------------- saving


def test_a_token_is_required(client):
    assert client.get("/api/v1/templates").status_code == 401
    assert post(client, "/api/v1/templates/preview", ERROR_TEMPLATE).status_code == 401


def test_save_refuses_unknown_variables_with_line_and_allowed(auth_client):
    body = ERROR_TEMPLATE | {"body": "Errors: {errors_count}\nSee {run_link}"}
    response = post(auth_client, "/api/v1/templates", body)
    assert response.status_code == 400
    error = response.json()
    assert error["field"] == "body" and error["line"] == 2 and error["column"] == 6
    assert "line 2" in error["error"] and "'run_link'" in error["error"]
    assert "did you mean 'run_url'?" in error["error"]
    assert error["allowed"] == templates.allowed_variables("error")
    assert not Template.objects.exists()

    bad_title = post(auth_client, "/api/v1/templates", ERROR_TEMPLATE | {"title": "{% if x"})
    assert bad_title.status_code == 400 and bad_title.json()["field"] == "title"
    bad_kind = post(auth_client, "/api/v1/templates", ERROR_TEMPLATE | {"kind": "nope"})
    assert bad_kind.status_code == 422


def test_one_template_per_kind_and_channel_kind(auth_client):
    create(auth_client)
    create(auth_client, channel_kind="email")
    again = post(auth_client, "/api/v1/templates", ERROR_TEMPLATE)
    assert again.status_code == 409 and "exists already" in again.json()["error"]
    assert (
        post(auth_client, "/api/v1/templates", ERROR_TEMPLATE | {"channel_kind": "fax"}).status_code
        == 422
    )
    listed = auth_client.get("/api/v1/templates?kind=error").json()
    assert [t["channel_kind"] for t in listed] == ["", "email"]


def test_versions_diff_and_revert(auth_client):
    template = create(auth_client)
    url = f"/api/v1/templates/{template['id']}"
    assert template["version"] == 1
    changed = ERROR_TEMPLATE | {
        "body": "Errors: {errors_count}\nRun: {run_url}",
        "ntfy_priority": 5,
    }
    del changed["kind"]
    second = put(auth_client, url, changed)
    assert second.status_code == 200 and second.json()["version"] == 2
    assert put(auth_client, url, changed).json()["version"] == 2  # nothing changed, no version

    invalid = put(auth_client, url, changed | {"body": "{nope}"})
    assert invalid.status_code == 400 and invalid.json()["line"] == 1
    assert auth_client.get(url).json()["version"] == 2

    versions = auth_client.get(url + "/versions").json()
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[0]["changed_by"] == "token:tests"
    assert versions[1]["body"] == ERROR_TEMPLATE["body"]

    diff = auth_client.get(url + "/diff").json()
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    by_field = {c["field"]: c for c in diff["changes"]}
    assert set(by_field) == {"body", "ntfy_priority"}
    assert by_field["ntfy_priority"] == {"field": "ntfy_priority", "before": None, "after": 5}
    assert "+Run: {run_url}" in by_field["body"]["diff"]
    assert "-{% if log_text %}Log:" in by_field["body"]["diff"]
    assert auth_client.get(url + "/diff?from_version=1&to_version=9").status_code == 404

    reverted = post(auth_client, url + "/revert", {"version": 1})
    assert reverted.status_code == 200
    assert reverted.json()["version"] == 3
    assert reverted.json()["body"] == ERROR_TEMPLATE["body"]
    assert reverted.json()["ntfy_priority"] is None
    latest = auth_client.get(url + "/versions").json()[0]
    assert (latest["number"], latest["note"]) == (3, "revert to version 1")
    assert post(auth_client, url + "/revert", {"version": 7}).status_code == 404

    stale = put(auth_client, url, changed | {"title": "x {status}", "expected_version": 2})
    assert stale.status_code == 409 and "version 3" in stale.json()["error"]

    # What GET returns can be sent back changed; the kind cannot change.
    current = auth_client.get(url).json()
    edited = put(auth_client, url, current | {"title": "edited {status}", "expected_version": 3})
    assert edited.status_code == 200 and edited.json()["version"] == 4
    moved = put(auth_client, url, current | {"kind": "warning"})
    assert moved.status_code == 422 and "cannot change" in moved.json()["error"]


def test_delete_falls_back_to_the_builtin(auth_client):
    template = create(auth_client)
    assert templates.resolve("error", "webhook").title == ERROR_TEMPLATE["title"]
    assert auth_client.delete(f"/api/v1/templates/{template['id']}").status_code == 204
    assert templates.resolve("error", "webhook") == templates.DEFAULTS["error"]
    assert not TemplateVersion.objects.exists()


# --------------------------------------------------------------------------- export and import


def test_export_then_import_round_trip(auth_client):
    create(auth_client)
    create(auth_client, channel_kind="email", body="<p>{errors_count} errors</p>", format="html")
    exported = auth_client.get("/api/v1/templates/export").json()
    assert exported["format"] == "duplistatus-templates" and exported["version"] == 1
    assert len(exported["templates"]) == 2

    for template in auth_client.get("/api/v1/templates").json():
        auth_client.delete(f"/api/v1/templates/{template['id']}")
    imported = post(auth_client, "/api/v1/templates/import", exported)
    assert imported.status_code == 200, imported.content
    assert len(imported.json()["created"]) == 2
    again = auth_client.get("/api/v1/templates/export").json()
    assert again["templates"] == exported["templates"]

    # The same set again changes nothing; a changed one is a new version.
    assert len(post(auth_client, "/api/v1/templates/import", exported).json()["unchanged"]) == 2
    exported["templates"][0]["title"] = "Changed {backup_name}"
    result = post(auth_client, "/api/v1/templates/import", exported).json()
    assert [t["version"] for t in result["updated"]] == [2]
    assert [v.note for v in TemplateVersion.objects.filter(number=2)] == ["imported"]


def test_an_invalid_set_imports_nothing(auth_client):
    existing = create(auth_client)
    document = {
        "format": "duplistatus-templates",
        "version": 1,
        "templates": [
            ERROR_TEMPLATE | {"title": "would change {backup_name}"},
            {"kind": "warning", "title": "new {backup_name}", "body": "fine"},
            {"kind": "overdue", "title": "{backup_name}", "body": "ok\n{log_text}"},
            {"kind": "test", "title": "x", "body": "y", "color": "red"},
        ],
    }
    response = post(auth_client, "/api/v1/templates/import", document)
    assert response.status_code == 400
    body = response.json()
    assert "nothing was imported" in body["error"]
    overdue, unknown_field = body["errors"]
    assert (overdue["index"], overdue["kind"], overdue["line"]) == (2, "overdue", 2)
    assert "log_text" not in overdue["allowed"]
    assert (unknown_field["index"], unknown_field["field"]) == (3, "color")

    assert Template.objects.count() == 1
    row = Template.objects.get()
    assert (row.pk, row.version, row.title) == (existing["id"], 1, ERROR_TEMPLATE["title"])
    assert TemplateVersion.objects.count() == 1

    wrong = post(auth_client, "/api/v1/templates/import", {"format": "other", "templates": []})
    assert wrong.status_code == 400 and "not a template set" in wrong.json()["error"]


def test_library_install(auth_client):
    assert auth_client.get("/api/v1/templates/library").json()["de"] == "Deutsch"
    response = post(auth_client, "/api/v1/templates/library/de")
    assert response.status_code == 200
    assert len(response.json()["created"]) == len(templates.KINDS)
    rows = auth_client.get("/api/v1/templates").json()
    assert {t["language"] for t in rows} == {"de"} and {t["channel_kind"] for t in rows} == {""}
    assert "fehlgeschlagen" in templates.resolve("error", "email").title
    assert len(post(auth_client, "/api/v1/templates/library/de").json()["unchanged"]) == len(
        templates.KINDS
    )
    french = post(auth_client, "/api/v1/templates/library/fr").json()
    assert len(french["updated"]) == len(templates.KINDS)
    assert post(auth_client, "/api/v1/templates/library/xx").status_code == 404


def test_library_install_keeps_the_users_own_templates_unless_told(auth_client):
    own = create(auth_client)  # the error message, for every channel kind
    german = post(auth_client, "/api/v1/templates/library/de").json()
    assert [t["id"] for t in german["kept"]] == [own["id"]]
    assert len(german["created"]) == len(templates.KINDS) - 1
    assert Template.objects.get(pk=own["id"]).title == ERROR_TEMPLATE["title"]

    # Library texts are replaced by another language without asking; the own one is kept.
    french = post(auth_client, "/api/v1/templates/library/fr").json()
    assert len(french["updated"]) == len(templates.KINDS) - 1
    assert [t["id"] for t in french["kept"]] == [own["id"]]

    replaced = post(auth_client, "/api/v1/templates/library/fr?replace_own=true").json()
    assert [t["id"] for t in replaced["updated"]] == [own["id"]] and replaced["kept"] == []
    row = Template.objects.get(pk=own["id"])
    assert row.language == "fr"
    assert row.versions.get(number=1).title == ERROR_TEMPLATE["title"]  # still a version


def test_diff_of_a_last_line_without_newline(auth_client):
    template = create(auth_client, body="Errors: {errors_count}\nLast line")
    url = f"/api/v1/templates/{template['id']}"
    assert put(auth_client, url, ERROR_TEMPLATE | {"body": "Errors: {errors_count}\nNew line"})
    [change] = auth_client.get(url + "/diff").json()["changes"]
    lines = change["diff"].splitlines()
    assert "-Last line" in lines and "+New line" in lines
    assert lines.count("\\ No newline at end of file") == 2


# --------------------------------------------------------------------------- preview


def test_preview_with_sample_data(auth_client):
    response = post(auth_client, "/api/v1/templates/preview", ERROR_TEMPLATE)
    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["title"] == "FAILED Documents@nas"
    assert preview["text"].startswith("Errors: 2\nLog:\n2026-03-02")
    assert preview["html"].startswith('<div style="font-family:sans-serif"><p>Errors: 2<br>')

    html = {
        "kind": "warning",
        "title": "{status}",
        "body": "<b>{server_alias}</b>",
        "format": "html",
    }
    rendered = post(auth_client, "/api/v1/templates/preview", html).json()
    assert (rendered["body"], rendered["text"]) == ("<b>Office NAS</b>", "Office NAS")

    in_use = {"kind": "error", "channel_kind": "email"}
    email = post(auth_client, "/api/v1/templates/preview", in_use).json()
    assert email["format"] == "html" and email["html"] == email["body"]
    assert "failed: Error, 2 error(s)" in email["text"]
    assert post(auth_client, "/api/v1/templates/preview", {"kind": "x"}).status_code == 400

    broken = post(auth_client, "/api/v1/templates/preview", ERROR_TEMPLATE | {"body": "a\n{x}"})
    assert broken.status_code == 400
    assert broken.json()["line"] == 2 and "backup_name" in broken.json()["allowed"]


def test_a_hostile_preview_is_refused_quickly_with_the_limit_it_hit(auth_client):
    doubling = (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}"
    )
    started = time.monotonic()
    response = post(auth_client, "/api/v1/templates/preview", ERROR_TEMPLATE | {"body": doubling})
    # The render stops at 250 ms; parsing and checking come on top (on a busy machine too).
    assert time.monotonic() - started < 3
    assert response.status_code == 400
    assert "longer than 200,000 characters" in response.json()["error"]


def test_preview_with_an_uploaded_run(client, auth_client):
    body, content_type = corpus_body(FATAL)
    assert client.post("/api/upload", data=body, content_type=content_type).status_code == 200
    run = BackupRun.objects.select_related("job__server").get()
    template = {
        "kind": "fatal",
        "title": "{status}: {backup_name} on {server_name}",
        "body": "{{ exception | truncate(80) }}\n{run_url}",
        "run_id": run.pk,
    }
    preview = post(auth_client, "/api/v1/templates/preview", template).json()
    assert preview["title"] == f"Fatal: {run.job.name} on {run.job.server.name}"
    assert preview["text"].startswith(run.exception[:30])
    assert preview["text"].endswith(f"/runs/{run.pk}")
    assert preview["variables"]["backup_name"] == run.job.name

    overdue = {"kind": "overdue", "title": "{backup_name}", "body": "{backup_interval}"}
    with_run = post(auth_client, "/api/v1/templates/preview", overdue | {"run_id": run.pk})
    assert with_run.status_code == 200 and with_run.json()["title"] == run.job.name
    missing = post(auth_client, "/api/v1/templates/preview", template | {"run_id": 999999})
    assert missing.status_code == 404


def test_sizes_in_messages_say_their_binary_units(client, auth_client):
    """Sizes are computed in steps of 1,024, so they are labelled KiB, GiB (not KB, GB)."""
    body = V21.read_bytes()
    assert client.post("/api/upload", data=body, content_type="application/json").status_code == 200
    run = BackupRun.objects.get()
    template = {
        "kind": "success",
        "title": "{backup_name}",
        "body": "{uploaded_size} up, {storage_size} stored, {file_size} examined",
        "run_id": run.pk,
    }
    preview = post(auth_client, "/api/v1/templates/preview", template).json()
    # 1,834 B uploaded; 7,736,156,915 B stored; 7,714,963,409 B examined.
    assert preview["text"] == "1.8 KiB up, 7.2 GiB stored, 7.2 GiB examined"
    sample = post(auth_client, "/api/v1/templates/preview", template | {"run_id": None}).json()
    assert "GiB" in sample["text"] and "GB" not in sample["text"].replace("GiB", "")


# --------------------------------------------------------------------------- sending


def test_test_send_reaches_a_real_ntfy_receiver(auth_client, peer):
    channel = add_channel(auth_client, "ntfy", {"server_url": peer.url, "topic": "backups"})
    template = create(
        auth_client,
        title="Test of {backup_name}",
        body="**{errors_count}** errors",
        format="markdown",
        ntfy_priority=1,
    )
    response = post(auth_client, f"/api/v1/templates/{template['id']}/test?channel={channel['id']}")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "sent"
    [request] = peer.received
    published = request.json()
    assert published["title"] == "Test of Documents"
    assert published["message"] == "**2** errors" and published["markdown"] is True
    delivery = Delivery.objects.get()
    assert (delivery.kind, delivery.priority, delivery.body) == ("test", 1, "2 errors")
    missing = post(auth_client, f"/api/v1/templates/{template['id']}/test?channel=999")
    assert missing.status_code == 404


def test_a_customized_error_template_is_what_receivers_get(client, auth_client, peer):
    add_channel(auth_client, "ntfy", {"server_url": peer.url, "topic": "backups"})
    create(auth_client, ntfy_priority=2)
    clock.set(T0 + timedelta(minutes=2))
    upload(client)
    run_worker()

    [request] = peer.received
    published = request.json()
    assert published["title"] == "FAILED Photos@nas"
    assert published["message"].startswith("Errors: 2\nLog:\n")
    assert "disk full" in published["message"]
    assert "markdown" not in published  # a plain template is sent as plain text
    delivery = Delivery.objects.get()
    assert delivery.kind == "error" and delivery.priority == 2


def test_a_template_that_hits_a_limit_when_sent_gets_the_builtin_and_the_log_says_so(
    client, auth_client, peer
):
    add_channel(auth_client, "ntfy", {"server_url": peer.url, "topic": "backups"})
    # Fine with the sample data (Documents); a loop in a loop for the real job (Photos).
    body = (
        "{% if backup_name != 'Documents' %}{% for a in range(100000) %}"
        "{% for b in range(100000) %}{% endfor %}{% endfor %}{% endif %}{backup_name}"
    )
    create(auth_client, body=body)
    clock.set(T0 + timedelta(minutes=2))
    upload(client)
    started = time.monotonic()
    run_worker()
    assert time.monotonic() - started < 10  # once: hours, with the worker stuck in the loop

    [request] = peer.received
    assert request.json()["title"] == "❌ Photos on nas: Error"  # the built-in text
    [entry] = auth_client.get("/api/v1/deliveries").json()  # the delivery log
    assert entry["status"] == "sent"
    assert entry["detail"].startswith(
        "the error template for ntfy failed (the template repeats too often (more than "
        "100,000 loop rounds and calls)); sent the built-in text"
    )


def test_email_html_escapes_the_server_name_and_the_text_part_does_not(
    client, auth_client, smtp_server
):
    mailbox, port = smtp_server()
    config = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "duplistatus@example.com",
        "recipients": ["ops@example.com"],
    }
    add_channel(auth_client, "email", config)
    clock.set(T0 + timedelta(minutes=2))
    upload(client, machine="<script>alert(1)</script>")
    run_worker()

    [mail] = mailbox.messages()
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>" in html
    assert "<script>" not in html
    assert "Backup Photos on <script>alert(1)</script> failed: Error, 2 error(s)" in text
    assert "disk full" in text and "Open the run: http://" in text
