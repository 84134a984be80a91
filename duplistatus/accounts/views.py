"""Account pages: sign in and out, one's own language and password, and for admins users, API
tokens and the audit log. Every change an admin makes here is audited."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from duplistatus import clock

from . import audit, language, lockout
from .forms import (
    LoginForm,
    PasswordChangeForm,
    PreferenceForm,
    SetPasswordForm,
    TokenForm,
    UserCreateForm,
)
from .models import ApiToken, AuditEntry, Preference
from .roles import (
    ADMIN,
    ROLE_NAMES,
    ROLES,
    active_admins,
    admin_required,
    login_required,
    role_of,
    set_role,
)

User = get_user_model()


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: LoginForm) -> HttpResponse:
        lockout.clear(form.get_user().get_username())
        return super().form_valid(form)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """One's own settings: the language of the pages (the password has a page of its own)."""
    form = PreferenceForm(
        request.POST or None, initial={"language": language.saved_language(request.user)}
    )
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["language"]
        Preference.objects.update_or_create(user=request.user, defaults={"language": code})
        language.use_now(request, code)  # so the message below is in the new language
        messages.success(request, _("Saved."))
        response = redirect("accounts:account")
        language.remember_in_cookie(response, code)
        return response
    return render(
        request,
        "accounts/account.html",
        {"form": form, "nav": "account"},
        status=400 if form.errors else 200,
    )


@login_required
def password(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not request.user.check_password(form.cleaned_data["old_password"]):
            form.add_error("old_password", _("This is not your current password."))
        elif new := form.password_for(request.user):
            request.user.set_password(new)
            request.user.save(update_fields=["password"])
            update_session_auth_hash(request, request.user)  # stay signed in
            audit.record(request, "user.password", f"user {request.user.get_username()}", {})
            messages.success(request, _("Password changed."))
            return redirect("web:dashboard")
    return render(
        request,
        "accounts/password.html",
        {"form": form, "nav": "account"},
        status=400 if form.errors else 200,
    )


@admin_required
def users(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = User(username=form.cleaned_data["username"])
        if new := form.password_for(user):
            user.set_password(new)
            set_role(user, form.cleaned_data["role"])
            user.save()
            audit.record(
                request, "user.create", f"user {user.username}", {"role": form.cleaned_data["role"]}
            )
            messages.success(request, _("Created %(name)s.") % {"name": user.username})
            return redirect("accounts:users")
    locked = lockout.locked_usernames()
    rows = [
        (user, role_of(user), user.username in locked) for user in User.objects.order_by("username")
    ]
    return render(
        request,
        "accounts/users.html",
        {
            "form": form,
            "rows": rows,
            "roles": list(ROLE_NAMES.items()),
            "nav": "settings",
            "section": "users",
        },
        status=400 if form.errors else 200,
    )


@require_POST
@admin_required
def user_change(request: HttpRequest, user_id: int) -> HttpResponse:
    """One action on one user: role, activate/deactivate, unlock, set password, delete."""
    user = get_object_or_404(User, pk=user_id)
    action = request.POST.get("action", "")
    target = f"user {user.username}"
    with transaction.atomic():
        # The last active admin can neither lose the role nor be switched off.
        losing_admin = (
            user.is_superuser
            and user.is_active
            and (
                (action == "role" and request.POST.get("role") != ADMIN)
                or action in ("deactivate", "delete")
            )
        )
        if losing_admin and active_admins() <= 1:
            messages.error(request, _("There must be at least one active admin."))
            return redirect("accounts:users")
        if action == "role" and request.POST.get("role") in ROLES:
            before = role_of(user)
            set_role(user, request.POST["role"])
            user.save(update_fields=["is_superuser", "is_staff"])
            audit.record(
                request, "user.role", target, audit.diff({"role": before}, {"role": role_of(user)})
            )
        elif action in ("activate", "deactivate"):
            user.is_active = action == "activate"
            user.save(update_fields=["is_active"])
            audit.record(request, f"user.{action}", target, {"active": user.is_active})
        elif action == "unlock":
            lockout.clear(user.username)
            audit.record(request, "user.unlock", target, {})
        elif action == "password":
            form = SetPasswordForm(request.POST)
            new = form.password_for(user) if form.is_valid() else ""
            if not new:
                errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
                messages.error(
                    request,
                    _("Password not set: %(errors)s")
                    % {"errors": errors or _("fill in both fields")},
                )
                return redirect("accounts:users")
            user.set_password(new)
            user.save(update_fields=["password"])
            lockout.clear(user.username)
            audit.record(request, "user.password", target, {})
        elif action == "delete":
            if user.pk == request.user.pk:
                messages.error(request, _("You cannot delete yourself."))
                return redirect("accounts:users")
            user.delete()
            audit.record(request, "user.delete", target, {})
        else:
            messages.error(request, _("Unknown action."))
            return redirect("accounts:users")
    messages.success(request, _("%(name)s: done.") % {"name": user.username})
    return redirect("accounts:users")


@admin_required
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        row, secret = ApiToken.create(form.cleaned_data["name"], is_admin=form.is_admin)
        access = "admin" if row.is_admin else "read-only"
        audit.record(
            request, "token.create", f"token {row.name} ({row.prefix}…)", {"access": access}
        )
        # Shown on this response only, never stored or logged.
        form = TokenForm()
    response = render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "tokens": ApiToken.objects.all(),
            "secret": secret,
            "nav": "settings",
            "section": "tokens",
        },
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@admin_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    row = get_object_or_404(ApiToken, pk=token_id, revoked_at=None)
    row.revoked_at = clock.now()
    row.save(update_fields=["revoked_at"])
    audit.record(request, "token.revoke", f"token {row.name} ({row.prefix}…)", {})
    messages.success(request, _("Revoked %(name)s.") % {"name": row.name})
    return redirect("accounts:tokens")


AUDIT_PAGE_SIZE = 50


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.all()
    query = request.GET.get("q", "").strip()
    if query:
        entries = entries.filter(
            Q(actor__icontains=query) | Q(action__icontains=query) | Q(target__icontains=query)
        )
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(
            audit.csv_rows(entries.iterator()), content_type="text/csv; charset=utf-8"
        )
        stamp = f"{clock.now():%Y%m%d-%H%M%S}"
        response["Content-Disposition"] = f'attachment; filename="duplistatus-audit-{stamp}.csv"'
        return response
    return render(
        request,
        "accounts/audit.html",
        {
            "page": Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page")),
            "q": query,
            "retention_days": audit.retention().days,
            "nav": "settings",
            "section": "audit",
        },
    )
