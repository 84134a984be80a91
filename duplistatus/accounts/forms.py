"""Forms for signing in and managing users. Passwords go through Django's validators
(AUTH_PASSWORD_VALIDATORS in settings: the password policy)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from duplistatus import clock

from . import audit, lockout
from .roles import ROLE_NAMES
from .usernames import normalize


class LoginForm(AuthenticationForm):
    """Django's login form, refusing names (and addresses) that failed too often. The name
    is normalised (usernames.py) both for signing in and for counting failures."""

    def clean_username(self) -> str:
        return normalize(self.cleaned_data.get("username") or "")

    def clean(self) -> dict[str, Any]:
        username = normalize(self.data.get("username") or "")
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        until = lockout.locked_until(username, address)
        if until is not None:
            minutes = max(1, int((until - clock.now()).total_seconds() // 60) + 1)
            raise forms.ValidationError(
                ngettext(
                    "Too many failed sign-ins. Try again in about %(minutes)d minute.",
                    "Too many failed sign-ins. Try again in about %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
                code="locked",
            )
        try:
            return super().clean()
        except forms.ValidationError:
            if lockout.record_failure(username, address):
                audit.record(self.request, "user.locked", f"user {username}", {"failures": True})
            raise


class NewPasswordMixin(forms.Form):
    password1 = forms.CharField(
        label=_("New password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("New password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def password_for(self, user: Any) -> str:
        """The new password, checked against the policy for `user`."""
        first = self.cleaned_data.get("password1", "")
        if first != self.cleaned_data.get("password2", ""):
            self.add_error("password2", _("The two passwords differ."))
            return ""
        try:
            password_validation.validate_password(first, user)
        except forms.ValidationError as exc:
            self.add_error("password1", exc)
            return ""
        return first


class UserCreateForm(NewPasswordMixin):
    username = forms.RegexField(
        label=_("Username"),
        regex=r"^[\w.@+-]{1,150}$",
        max_length=150,
        help_text=_("Letters, digits and @ . + - _"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label=_("Role"), choices=list(ROLE_NAMES.items()), initial="viewer")

    field_order = ["username", "role", "password1", "password2"]

    def clean_username(self) -> str:
        name = normalize(self.cleaned_data["username"])
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError(_("A user with this name exists."))
        return name


class PasswordChangeForm(NewPasswordMixin):
    old_password = forms.CharField(
        label=_("Current password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["old_password", "password1", "password2"]


class SetPasswordForm(NewPasswordMixin):
    pass


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What uses it, e.g. homepage")
    )
    access = forms.ChoiceField(
        label=_("Access"),
        choices=[
            ("read-only", _("Read-only: may read everything, changes get 403")),
            ("admin", _("Admin: may also change settings")),
        ],
        initial="read-only",
        required=False,  # a post without the choice makes the token that can do less
        help_text=_("A dashboard only needs to read."),
    )

    @property
    def is_admin(self) -> bool:
        return self.cleaned_data.get("access") == "admin"


class LanguageSelect(forms.Select):
    """Each option says which language it is in, so a screen reader reads `Deutsch` as
    German."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if value:
            option["attrs"]["lang"] = value
        return option


class PreferenceForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("Browser default")), *settings.LANGUAGES],
        required=False,
        help_text=_("Browser default: the language your browser asks for, if we have it."),
        widget=LanguageSelect,
    )
