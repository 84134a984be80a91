"""User names in their normal form (NFKC, case folded; see accounts.usernames), which
sign-in and the lockout now use. Two users whose names differ only in case or width
(`Bob` and `bob`) cannot both have it: one keeps it, the other is renamed `bob-<id>`, and
each rename is written to the audit log and printed, so an admin sees it."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

from duplistatus.accounts.usernames import normalize, normalized_renames


def forwards(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    AuditEntry = apps.get_model("accounts", "AuditEntry")
    LoginFailure = apps.get_model("accounts", "LoginFailure")
    names = dict(User.objects.values_list("pk", "username"))
    renames = normalized_renames(names)
    # Out of the way first, so that no rename meets a name another rename frees.
    for pk in renames:
        User.objects.filter(pk=pk).update(username=f"~renaming~{pk}")
    for pk, new in renames.items():
        User.objects.filter(pk=pk).update(username=new)
        if new != normalize(names[pk]):
            print(
                f"\n  user {names[pk]!r} renamed {new!r}: its name is {normalize(names[pk])!r} "
                "in normal form, which another user has",
                end="",
            )
            AuditEntry.objects.create(
                at=timezone.now(),
                actor="upgrade",
                action="user.rename",
                target=f"user {new}",
                changes={"from": names[pk], "to": new, "why": "same name as another user"},
            )
    for failure in LoginFailure.objects.all():
        if failure.username != normalize(failure.username):
            LoginFailure.objects.filter(pk=failure.pk).update(username=normalize(failure.username))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_auditentry_loginfailure"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
