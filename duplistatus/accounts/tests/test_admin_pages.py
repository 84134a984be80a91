"""Users, API tokens and the audit log, as an admin manages them in the pages."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from duplistatus import clock
from duplistatus.accounts import audit
from duplistatus.accounts.models import ApiToken, AuditEntry

pytestmark = pytest.mark.django_db


def test_create_a_viewer_who_may_look_but_not_change(admin_client, client, django_user_model):
    refused = admin_client.post(
        "/settings/users",
        {"username": "vera", "role": "viewer", "password1": "vera", "password2": "vera"},
    )
    assert refused.status_code == 400 and "too short" in refused.content.decode()
    created = admin_client.post(
        "/settings/users",
        {
            "username": "vera",
            "role": "viewer",
            "password1": "a viewer's passphrase",
            "password2": "a viewer's passphrase",
        },
    )
    assert created.status_code == 302
    vera = django_user_model.objects.get(username="vera")
    assert not vera.is_superuser and vera.check_password("a viewer's passphrase")
    entry = AuditEntry.objects.get(action="user.create")
    assert (entry.actor, entry.target, entry.changes) == ("admin", "user vera", {"role": "viewer"})

    client.force_login(vera)
    assert client.get("/settings/monitoring").status_code == 200
    assert client.post("/settings/monitoring", {"grace_minutes": "5"}).status_code == 403
    assert client.get("/settings/users").status_code == 403


def test_roles_and_the_last_admin(admin_client, admin_user, django_user_model):
    vera = django_user_model.objects.create_user("vera", password="x")
    admin_client.post(f"/settings/users/{vera.pk}", {"action": "role", "role": "admin"})
    vera.refresh_from_db()
    assert vera.is_superuser
    admin_client.post(f"/settings/users/{vera.pk}", {"action": "deactivate"})
    # admin is now the only active admin: it cannot lose the role or be switched off.
    response = admin_client.post(
        f"/settings/users/{admin_user.pk}", {"action": "role", "role": "viewer"}, follow=True
    )
    assert "at least one active admin" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_superuser
    assert [e.action for e in AuditEntry.objects.order_by("id")] == ["user.role", "user.deactivate"]
    assert AuditEntry.objects.get(action="user.role").changes == {
        "role": {"from": "viewer", "to": "admin"}
    }


def test_set_password_unlock_and_delete(admin_client, django_user_model):
    vera = django_user_model.objects.create_user("vera", password="x")
    admin_client.post(
        f"/settings/users/{vera.pk}",
        {"action": "password", "password1": "new passphrase ok", "password2": "new passphrase ok"},
    )
    vera.refresh_from_db()
    assert vera.check_password("new passphrase ok")
    admin_client.post(f"/settings/users/{vera.pk}", {"action": "unlock"})
    admin_client.post(f"/settings/users/{vera.pk}", {"action": "delete"})
    assert not django_user_model.objects.filter(username="vera").exists()
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["user.password", "user.unlock", "user.delete"]
    assert "new passphrase" not in str(list(AuditEntry.objects.values_list("changes", flat=True)))


def test_tokens_created_and_revoked_in_the_pages(admin_client, client):
    page = admin_client.post("/settings/tokens", {"name": "homepage"})
    html = page.content.decode()
    assert page["Cache-Control"] == "no-store"
    row = ApiToken.objects.get(name="homepage")
    secret = html.split('id="secret" class="secret" value="')[1].split('"')[0]
    assert secret.startswith(row.prefix)
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    assert secret not in admin_client.get("/settings/tokens").content.decode()  # shown once

    admin_client.post(f"/settings/tokens/{row.pk}/revoke")
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert [e.action for e in AuditEntry.objects.order_by("id")] == ["token.create", "token.revoke"]
    assert secret not in str(list(AuditEntry.objects.values_list("target", "changes")))


def test_audit_log_page_search_csv_and_retention(admin_client, settings):
    t0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    clock.set(t0)
    audit.record(
        None,
        "job.schedule",
        "job 3 (nas / Photos)",
        {"interval": {"from": None, "to": "1D"}},
    )
    clock.set(t0 + timedelta(days=1))
    audit.record(None, "server.details", "server 1 (nas)", {"alias": {"from": "", "to": "NAS"}})
    html = admin_client.get("/settings/audit").content.decode()
    assert "job.schedule" in html and "∅ → 1D" in html
    assert "server.details" not in admin_client.get("/settings/audit?q=job").content.decode()

    response = admin_client.get("/settings/audit?format=csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(audit.CSV_COLUMNS)
    assert [r[3] for r in rows[1:]] == ["server.details", "job.schedule"]
    assert rows[1][0] == "2026-01-11T12:00:00+00:00" and rows[1][1] == "cli"

    # Writing an entry drops those older than the retention.
    clock.set(t0 + timedelta(days=settings.AUDIT_RETENTION_DAYS, hours=13))
    audit.record(None, "defaults.schedule", "global defaults", {})
    assert list(AuditEntry.objects.values_list("action", flat=True)) == [
        "defaults.schedule",
        "server.details",
    ]


def test_csv_cells_never_start_a_formula():
    assert audit._cell("=1+1") == "'=1+1"
    assert audit._cell("@SUM(A1)") == "'@SUM(A1)"
    assert audit._cell("nas / Photos") == "nas / Photos"


def test_api_token_actions_are_attributed(rf):
    from django.contrib.auth.models import AnonymousUser

    row, _ = ApiToken.create("ci")
    request = rf.patch("/api/v1/jobs/1", REMOTE_ADDR="198.51.100.4")
    request.user = AnonymousUser()
    request.auth = row
    entry = audit.record(request, "job.schedule", "job 1", {})
    assert (entry.actor, entry.remote_addr, entry.user) == ("token:ci", "198.51.100.4", None)


def test_a_read_only_token_made_in_the_pages_reads_but_changes_nothing(admin_client, client):
    page = admin_client.post("/settings/tokens", {"name": "dashboard", "access": "read-only"})
    html = page.content.decode()
    secret = html.split('id="secret" class="secret" value="')[1].split('"')[0]
    assert not ApiToken.objects.get(name="dashboard").is_admin
    assert "read-only" in html
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get("/api/v1/monitoring/defaults", **bearer).status_code == 200
    refused = client.patch(
        "/api/v1/monitoring/defaults",
        {"grace_minutes": 5},
        content_type="application/json",
        **bearer,
    )
    assert refused.status_code == 403
    assert "may read but not change" in refused.json()["error"]
    assert AuditEntry.objects.get().changes == {"access": "read-only"}

    admin_client.post("/settings/tokens", {"name": "automation", "access": "admin"})
    assert ApiToken.objects.get(name="automation").is_admin
