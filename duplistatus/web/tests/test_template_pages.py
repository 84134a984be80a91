"""The template pages: the editor saves versions, refuses a broken template saying where,
previews live (sample data or a real run), sends a test of the text being edited to a real
receiver, compares and reverts versions; the library, export and import; viewers look."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from duplistatus import clock
from duplistatus.accounts.models import AuditEntry
from duplistatus.backups.models import BackupJob
from duplistatus.notifications.models import Channel, Template

from . import fleet

pytestmark = pytest.mark.django_db

EDITOR = "/settings/notifications/templates/warning/ntfy"
PREVIEW = "/settings/notifications/templates/preview"


def form(**changes) -> dict:
    return {
        "kind": "warning",
        "title": "{backup_name} warned",
        "body": "Job {backup_name} on {server_name}\nwarnings: {warnings_count}",
        "format": "plain",
        "ntfy_priority": "",
        "ntfy_tags": "warning, floppy_disk",
        "language": "en",
        "action": "save",
        **changes,
    }


def test_every_kind_is_listed_and_the_editor_starts_from_what_is_in_use(admin_client):
    html = admin_client.get("/settings/notifications/templates").content.decode()
    # Each kind in words ("fatal" is "fatal error"; a German page says "Schwerer Fehler").
    for label in ("success", "warning", "error", "fatal error", "overdue", "recovered", "summary"):
        assert f'<th scope="row">{label}</th>' in html
    german = admin_client.get("/settings/notifications/templates", HTTP_ACCEPT_LANGUAGE="de")
    assert '<th scope="row">Schwerer Fehler</th>' in german.content.decode()
    assert html.count(">built-in<span") == 75  # 15 kinds × 5 channel kinds, none saved

    html = admin_client.get(EDITOR).content.decode()
    assert "**{backup_name}** on **{server_alias}**" in html  # ntfy's built-in Markdown
    assert '<option value="markdown" selected>' in html
    # The preview is rendered on the server too, with sample data.
    assert '<dd class="preview-title">⚠️ Documents on Office NAS: Warning</dd>' in html


def test_save_change_diff_and_revert(admin_client):
    response = admin_client.post(EDITOR, form())
    assert response.status_code == 302
    template = Template.objects.get(kind="warning", channel_kind="ntfy")
    assert (template.version, template.ntfy_tags) == (1, ["warning", "floppy_disk"])

    admin_client.post(EDITOR, form(title="{backup_name}: check it", version="1"))
    template.refresh_from_db()
    assert (template.version, template.title) == (2, "{backup_name}: check it")

    html = admin_client.get(EDITOR + "?diff=2").content.decode()
    assert "Changes from version 1 to 2" in html
    assert "-{backup_name} warned" in html and "+{backup_name}: check it" in html
    assert "Revert to 1</button>" in html

    response = admin_client.post(EDITOR, {"action": "revert", "revert_to": "1"}, follow=True)
    assert "Version 1 is current again (as version 3)." in response.content.decode()
    template.refresh_from_db()
    assert (template.version, template.title) == (3, "{backup_name} warned")
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["template.create", "template.update", "template.revert"]
    listing = admin_client.get("/settings/notifications/templates").content.decode()
    assert ">saved, v3<span" in listing


def test_broken_template_is_refused_with_its_line_and_nothing_saved(admin_client):
    response = admin_client.post(EDITOR, form(body="Fine first line\nthen {not_a_variable}"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Body, line 2" in html and "not_a_variable" in html
    assert "Allowed variables:" in html and "backup_name" in html
    assert "then {not_a_variable}</textarea>" in html  # what was typed is kept
    assert not Template.objects.exists()

    response = admin_client.post(EDITOR, form(body="{% if %}"))
    assert response.status_code == 400 and not Template.objects.exists()


def test_someone_else_saved_first(admin_client):
    admin_client.post(EDITOR, form())
    admin_client.post(EDITOR, form(title="newer", version="1"))
    response = admin_client.post(EDITOR, form(title="based on v1", version="1"))
    assert response.status_code == 400
    assert "changed since version 1" in response.content.decode()
    assert Template.objects.get().title == "newer"


def test_live_preview_with_sample_data_a_real_run_and_errors(admin_client):
    response = admin_client.post(PREVIEW, form(), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<dd class="preview-title">Documents warned</dd>' in html
    assert "Job Documents on nas\nwarnings: " in html

    # The e-mail part is served to the sandboxed frame, under its own strict policy.
    frame = admin_client.get("/settings/notifications/templates/preview-frame")
    assert "Job Documents on nas" in frame.content.decode()
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    policy = frame["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'self'" in policy

    with clock.frozen(fleet.NOW):
        fleet.build(admin_client)
    mail = BackupJob.objects.get(name="Mail")
    html = admin_client.post(PREVIEW, form(run=str(mail.last_run_id))).content.decode()
    assert '<dd class="preview-title">Mail warned</dd>' in html
    assert "Job Mail on office-pc" in html

    html = admin_client.post(PREVIEW, form(title="{nope}")).content.decode()
    assert 'role="alert"' in html and "Title, line 1" in html and "nope" in html
    assert not Template.objects.exists()  # previews never save


def test_test_send_of_the_unsaved_text_reaches_the_receiver(admin_client, http_peer):
    channel = Channel(kind="ntfy", name="Phone", created_at=clock.now(), updated_at=clock.now())
    channel.set_config({"server_url": http_peer.url, "topic": "backups"})
    channel.save()
    response = admin_client.post(
        EDITOR, form(action="test", channel=str(channel.pk), title="TEST {backup_name}")
    )
    assert response.status_code == 302
    assert [r.json()["title"] for r in http_peer.received] == ["TEST Documents"]
    assert http_peer.received[0].json()["tags"] == ["warning", "floppy_disk"]
    assert not Template.objects.exists()  # a test does not save
    assert AuditEntry.objects.get(action="template.test").changes == {"status": "sent"}


def test_test_send_names_the_kind_in_words(admin_client, http_peer):
    channel = Channel(kind="ntfy", name="Phone", created_at=clock.now(), updated_at=clock.now())
    channel.set_config({"server_url": http_peer.url, "topic": "backups"})
    channel.save()
    response = admin_client.post(
        "/settings/notifications/templates/fatal/ntfy",
        form(kind="fatal", action="test", channel=str(channel.pk)),
        follow=True,
    )
    page = response.content.decode()
    assert "Test of the fatal error template to “Phone”: sent" in page


def test_library_export_import_and_delete(admin_client):
    response = admin_client.post(
        "/settings/notifications/templates/library", {"language": "de"}, follow=True
    )
    assert "Library (de) installed:" in response.content.decode()
    installed = Template.objects.count()
    assert installed > 0 and set(Template.objects.values_list("language", flat=True)) == {"de"}

    exported = admin_client.get("/settings/notifications/templates/export")
    assert "attachment;" in exported["Content-Disposition"]
    document = json.loads(exported.content)
    assert len(document["templates"]) == installed

    Template.objects.all().delete()
    upload = SimpleUploadedFile("set.json", exported.content, content_type="application/json")
    response = admin_client.post(
        "/settings/notifications/templates/import", {"file": upload}, follow=True
    )
    assert f"Imported: {installed} added" in response.content.decode()
    assert Template.objects.count() == installed

    document["templates"][0]["body"] = "{% if %}"
    document["templates"][1]["title"] = "changed"
    upload = SimpleUploadedFile("bad.json", json.dumps(document).encode())
    response = admin_client.post(
        "/settings/notifications/templates/import", {"file": upload}, follow=True
    )
    assert "Nothing imported: 1 problem(s)" in response.content.decode()
    assert not Template.objects.filter(title="changed").exists()  # all or nothing

    first = Template.objects.order_by("kind", "channel_kind").first()
    url = f"/settings/notifications/templates/{first.kind}/{first.channel_kind or 'all'}"
    admin_client.post(url, {"action": "delete"})
    assert not Template.objects.filter(pk=first.pk).exists()
    assert "built-in" in admin_client.get(url).content.decode()


def test_library_install_asks_before_replacing_the_users_own(admin_client):
    admin_client.post(EDITOR.replace("/ntfy", "/all"), form(title="MY OWN {backup_name}"))
    [own] = Template.objects.all()
    library = "/settings/notifications/templates/library"

    page = admin_client.post(library, {"language": "de"})
    html = page.content.decode()
    assert page.status_code == 200 and "MY OWN {backup_name}" in html and str(own) in html
    assert "Install, keep my templates" in html and "Install and replace them" in html
    assert Template.objects.count() == 1  # nothing installed before the answer

    response = admin_client.post(library, {"language": "de", "own": "keep"}, follow=True)
    assert f"kept your own: {own}" in response.content.decode()
    assert Template.objects.get(pk=own.pk).title == "MY OWN {backup_name}"
    assert Template.objects.filter(language="de").count() == Template.objects.count() - 1

    admin_client.post(library, {"language": "de", "own": "replace"})
    assert Template.objects.get(pk=own.pk).language == "de"


def test_viewer_reads_and_previews_but_cannot_change(viewer_client):
    assert viewer_client.get("/settings/notifications/templates").status_code == 200
    html = viewer_client.get(EDITOR).content.decode()
    assert '<fieldset class="plain" disabled>' in html and "Save template" not in html
    assert viewer_client.post(PREVIEW, form()).status_code == 200
    denied = [
        viewer_client.post(EDITOR, form()),
        viewer_client.post("/settings/notifications/templates/library", {"language": "de"}),
        viewer_client.post("/settings/notifications/templates/import", {}),
    ]
    assert [r.status_code for r in denied] == [403, 403, 403]
    assert not Template.objects.exists()


def test_unknown_kinds_are_404(admin_client):
    assert admin_client.get("/settings/notifications/templates/nope/all").status_code == 404
    assert admin_client.get("/settings/notifications/templates/warning/fax").status_code == 404
