"""Signing in and out, the password policy and the lockout after repeated failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from duplistatus import clock
from duplistatus.accounts import lockout
from duplistatus.accounts.models import AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase"
T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def login(client, password: str, username: str = "alice", **extra):
    return client.post("/login", {"username": username, "password": password}, **extra)


def test_sign_in_and_out(client, alice):
    page = client.get("/login")
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.content.decode()
    response = login(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/logout").status_code == 405  # only by POST (a form with a CSRF token)
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_next_goes_back_but_never_off_site(client, alice):
    response = client.post(
        "/login?next=/settings/monitoring",
        {"username": "alice", "password": PASSWORD, "next": "/settings/monitoring"},
    )
    assert response["Location"] == "/settings/monitoring"
    client.post("/logout")
    response = client.post(
        "/login", {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_lockout_after_repeated_failures(client, alice, settings):
    clock.set(T0)
    for attempt in range(settings.LOGIN_MAX_FAILURES):
        response = login(client, f"wrong {attempt}")
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    # Locked: even the right password is refused, without being checked.
    refused = login(client, PASSWORD)
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="user.locked", target="user alice").count() == 1
    # Another user on another address is not affected.
    assert lockout.locked_until("bob", "10.0.0.9") is None

    clock.advance(timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES, seconds=1))
    assert login(client, PASSWORD).status_code == 302
    assert not lockout.locked_until("alice", "127.0.0.1")


def test_an_address_trying_many_names_is_locked(client, alice, settings):
    clock.set(T0)
    for number in range(settings.LOGIN_MAX_FAILURES * 4):
        login(client, "guess", username=f"user{number}")
    assert "Too many failed sign-ins" in login(client, PASSWORD).content.decode()
    other_address = login(client, PASSWORD, REMOTE_ADDR="192.0.2.7")
    assert other_address.status_code == 302


def test_success_clears_the_failures(client, alice, settings):
    clock.set(T0)
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        login(client, "wrong")
    assert login(client, PASSWORD).status_code == 302
    client.post("/logout")
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        login(client, "wrong")
    assert login(client, PASSWORD).status_code == 302


def test_inactive_users_cannot_sign_in(client, alice):
    alice.is_active = False
    alice.save()
    assert login(client, PASSWORD).status_code == 200


def test_change_own_password_with_the_policy(client, alice):
    client.force_login(alice)
    weak = client.post(
        "/account/password",
        {"old_password": PASSWORD, "password1": "12345678", "password2": "12345678"},
    )
    assert weak.status_code == 400
    text = weak.content.decode()
    assert "too short" in text and "too common" in text and "entirely numeric" in text
    wrong_old = client.post(
        "/account/password",
        {
            "old_password": "nope",
            "password1": "another fine phrase",
            "password2": "another fine phrase",
        },
    )
    assert "not your current password" in wrong_old.content.decode()
    ok = client.post(
        "/account/password",
        {
            "old_password": PASSWORD,
            "password1": "another fine phrase",
            "password2": "another fine phrase",
        },
    )
    assert ok.status_code == 302
    assert client.get("/").status_code == 200  # still signed in
    alice.refresh_from_db()
    assert alice.check_password("another fine phrase")
    entry = AuditEntry.objects.get(action="user.password")
    assert (entry.actor, entry.target) == ("alice", "user alice")
