"""Look-alike user names: `ｖictim` (full-width v) and `VICTIM` are `victim` for signing in,
for the lockout and for creating users; existing names are brought to that form without two
users silently ending up as one."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest
from django.apps import apps

from duplistatus import clock
from duplistatus.accounts import lockout
from duplistatus.accounts.models import AuditEntry, LoginFailure
from duplistatus.accounts.usernames import normalize, normalized_renames

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase"
T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def victim(django_user_model):
    return django_user_model.objects.create_user("victim", password=PASSWORD)


def login(client, username: str, password: str):
    return client.post("/login", {"username": username, "password": password})


def test_a_look_alike_name_neither_bypasses_nor_clears_the_lock(client, victim, settings):
    clock.set(T0)
    for attempt in range(settings.LOGIN_MAX_FAILURES):
        login(client, "victim", f"wrong {attempt}")
    # Once, the full-width name signed in with the right password and cleared the lock.
    refused = login(client, "ｖictim", PASSWORD)
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert lockout.locked_until("victim", "") is not None


def test_look_alike_names_share_the_guesses(client, victim, settings):
    clock.set(T0)
    spellings = ["ｖictim", "VICTIM", "Victim", "ＶＩＣＴＩＭ", " victim "]
    for spelling in spellings[: settings.LOGIN_MAX_FAILURES]:
        assert login(client, spelling, "a guess").status_code == 200
    assert "Too many failed sign-ins" in login(client, "victim", PASSWORD).content.decode()
    assert set(LoginFailure.objects.values_list("username", flat=True)) == {"victim"}


def test_any_spelling_of_the_name_signs_in(client, victim):
    response = login(client, "ＶＩＣＴＩＭ", PASSWORD)
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == victim.pk


def test_new_names_are_stored_in_normal_form_and_look_alikes_refused(
    admin_client, django_user_model, victim
):
    form = {"role": "viewer", "password1": PASSWORD, "password2": PASSWORD}
    clash = admin_client.post("/settings/users", form | {"username": "ｖICTIM"})
    assert clash.status_code == 400 and "A user with this name exists." in clash.content.decode()
    created = admin_client.post("/settings/users", form | {"username": "Ｖera"})
    assert created.status_code == 302
    assert django_user_model.objects.filter(username="vera").exists()


def test_normalize():
    assert normalize("ｖictim") == normalize("VICTIM") == normalize(" Victim") == "victim"
    assert normalize("Straße") == "strasse"
    assert normalize("ﬁle") == "file"  # a ligature


def test_existing_names_are_normalised_and_collisions_renamed_not_merged(django_user_model):
    migration = importlib.import_module("duplistatus.accounts.migrations.0003_normalize_usernames")

    # Names as an older version could store them (its create form compared case only).
    def old_user(name: str, password: str):
        user = django_user_model(username=name)  # as stored, without Django's NFKC
        user.set_password(password)
        user.save()
        return user

    bob = old_user("Bob", "first")
    bob2 = old_user("ｂob", "second")
    bob3 = old_user("bob", "third")
    ann = old_user("ANN", "fourth")
    migration.forwards(apps, None)

    names = dict(django_user_model.objects.values_list("pk", "username"))
    assert names == {
        bob.pk: f"bob-{bob.pk}",
        bob2.pk: f"bob-{bob2.pk}",
        bob3.pk: "bob",
        ann.pk: "ann",
    }
    # Every user keeps their own password: nobody was merged into someone else.
    assert django_user_model.objects.get(pk=bob2.pk).check_password("second")
    renamed = AuditEntry.objects.filter(action="user.rename").order_by("id")
    assert [(e.changes["from"], e.changes["to"]) for e in renamed] == [
        ("Bob", f"bob-{bob.pk}"),
        ("ｂob", f"bob-{bob2.pk}"),
    ]


def test_renames_without_a_user_of_the_normal_name_keep_the_oldest():
    assert normalized_renames({3: "Eve", 5: "EVE", 7: "zed"}) == {3: "eve", 5: "eve-5"}
    # "eve-3" is free; a rename never takes a name that exists.
