"""The first admin made at first start, and `duplistatus resetpassword`."""

from __future__ import annotations

import io

import pytest

from duplistatus import cli
from duplistatus.accounts.models import AuditEntry, LoginFailure

pytestmark = pytest.mark.django_db


def test_setup_creates_admin_once_with_a_random_password(capsys, client, django_user_model):
    assert cli.main(["setup", "--quiet"]) == 0
    out = capsys.readouterr().out
    password = out.split("shown only this once:")[1].split()[0]
    admin = django_user_model.objects.get()
    assert admin.username == "admin" and admin.is_superuser
    assert client.post("/login", {"username": "admin", "password": password}).status_code == 302
    assert AuditEntry.objects.get().actor == "cli"

    assert cli.main(["setup", "--quiet"]) == 0  # the second start changes nothing
    assert "password" not in capsys.readouterr().out
    assert django_user_model.objects.count() == 1


def test_setup_takes_the_password_from_the_environment(capsys, monkeypatch, django_user_model):
    monkeypatch.setenv("DUPLISTATUS_ADMIN_PASSWORD", "admin")
    assert cli.main(["setup", "--quiet"]) == 2  # against the policy: refused, loudly
    assert "password policy" in capsys.readouterr().out
    assert not django_user_model.objects.exists()

    monkeypatch.setenv("DUPLISTATUS_ADMIN_PASSWORD", "set by the operator 42")
    assert cli.main(["setup", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "set by the operator" not in out  # never echoed
    assert django_user_model.objects.get().check_password("set by the operator 42")


def test_resetpassword(capsys, monkeypatch, django_user_model):
    django_user_model.objects.create_superuser("admin", password="forgotten one")
    LoginFailure.objects.create(username="admin", at="2026-01-01T00:00:00Z")

    assert cli.main(["resetpassword", "admin", "--random"]) == 0
    password = capsys.readouterr().out.strip().splitlines()[-1]
    assert django_user_model.objects.get().check_password(password)
    assert not LoginFailure.objects.exists()

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["resetpassword", "admin", "--password-stdin"]) == 1
    assert "too short" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))
    assert cli.main(["resetpassword", "admin", "--password-stdin"]) == 0
    assert django_user_model.objects.get().check_password("a brand new passphrase")

    assert cli.main(["resetpassword", "nobody", "--random"]) == 1
    assert [e.action for e in AuditEntry.objects.all()] == ["user.password", "user.password"]


def test_token_create_read_only(capsys, client):
    from duplistatus.accounts.models import ApiToken

    assert cli.main(["token", "create", "--read-only", "homepage"]) == 0
    out = capsys.readouterr().out
    assert "read-only API token 'homepage'" in out
    secret = out.strip().splitlines()[-1]
    assert not ApiToken.objects.get(name="homepage").is_admin
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get("/api/v1/jobs", **bearer).status_code == 200
    refused = client.post("/api/v1/monitoring/scan", **bearer)
    assert refused.status_code == 403 and refused.json()["error"]

    assert cli.main(["token", "create", "ci"]) == 0  # without the flag: an admin token
    assert ApiToken.objects.get(name="ci").is_admin
    capsys.readouterr()
    assert cli.main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "homepage" in listing and "read-only" in listing and "\tadmin\t" in listing
