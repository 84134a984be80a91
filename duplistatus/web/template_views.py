"""The message template pages: every kind × channel kind with what it uses now, an editor
with a live preview (htmx) and validation that points at the line, versions with their diff
and revert, a test send of the text being edited, the library, export and import.

Templates change through notifications.template_store, the same path as the API; every change
is audited. The e-mail HTML preview is shown in a sandboxed frame served by `preview_frame`
with its own Content-Security-Policy (inline styles only, no scripts), because e-mail HTML
is styled inline and the pages' own policy forbids that.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_POST

from duplistatus import clock
from duplistatus.accounts import audit
from duplistatus.accounts.roles import admin_required, admin_to_change, login_required
from duplistatus.backups.models import BackupRun
from duplistatus.notifications import languages, template_store, templates
from duplistatus.notifications.messages import KIND_LABELS
from duplistatus.notifications.models import Channel, Template
from duplistatus.notifications.template_store import (
    ImportInvalid,
    TemplateExists,
    TemplateFields,
    TemplateIn,
    VersionConflict,
)

from . import forms
from .notification_views import report_test

CHANNEL_NAMES = {
    "": gettext_lazy("All channels"),
    "email": gettext_lazy("E-mail"),
    "ntfy": "ntfy",
    "webhook": gettext_lazy("Webhook"),
    "apprise": "Apprise",
}
# A template's fields as the editor names them, to name one in an error.
FIELD_LABELS = {
    "title": gettext_lazy("Title"),
    "body": gettext_lazy("Body"),
    "format": gettext_lazy("Format"),
    "ntfy_priority": gettext_lazy("ntfy priority"),
    "ntfy_tags": gettext_lazy("ntfy tags"),
    "language": gettext_lazy("Language"),
}
# The page's examples of template syntax, kept out of its translated sentence.
SYNTAX_EXAMPLES = {
    "original": "{variable}",
    "jinja_variable": "{{ variable }}",
    "jinja_block": "{% if … %}",
}
# The same in the middle of a sentence ("The error template for e-mail").
CHANNEL_NAMES_IN_TEXT = {
    "": gettext_lazy("all channels"),
    "email": pgettext_lazy("in a sentence", "e-mail"),
    "ntfy": "ntfy",
    "webhook": pgettext_lazy("in a sentence", "webhook"),
    "apprise": "Apprise",
}
ALL = "all"  # "" (every channel kind) in URLs
PREVIEW_SESSION_KEY = "template_preview_html"
RECENT_RUNS = 10


def _url_kind(channel_kind: str) -> str:
    return channel_kind or ALL


def _channel_kind(url_kind: str) -> str:
    channel_kind = "" if url_kind == ALL else url_kind
    if channel_kind not in templates.CHANNEL_KINDS:
        raise Http404("unknown channel kind")
    return channel_kind


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    saved = {(t.kind, t.channel_kind): t for t in Template.objects.all()}
    rows = [
        {
            "kind": kind,
            "cells": [
                {
                    "url": reverse("web:settings-template", args=[kind, _url_kind(ck)]),
                    "saved": saved.get((kind, ck)),
                    "label": CHANNEL_NAMES[ck],
                }
                for ck in templates.CHANNEL_KINDS
            ],
        }
        for kind in templates.KINDS
    ]
    return render(
        request,
        "web/settings_templates.html",
        {
            "rows": rows,
            "channel_names": [CHANNEL_NAMES[ck] for ck in templates.CHANNEL_KINDS],
            "languages": template_store.library_languages(),
            "syntax": SYNTAX_EXAMPLES,
            "nav": "settings",
            "section": "templates",
        },
    )


@admin_to_change
def template_page(request: HttpRequest, kind: str, channel_kind: str) -> HttpResponse:
    """The editor. POST `action`: save, test (send the text as it is in the editor),
    revert (to `version`) or delete (back to the built-in)."""
    channel_kind = _channel_kind(channel_kind)
    if kind not in templates.KINDS:
        raise Http404("unknown kind")
    saved = Template.objects.filter(kind=kind, channel_kind=channel_kind).first()
    here = reverse("web:settings-template", args=[kind, _url_kind(channel_kind)])
    error: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action == "delete" and saved is not None:
            audit.record(request, "template.delete", template_store.label(saved), {})
            template_store.delete(saved)
            messages.success(request, _("Template removed; the built-in one applies again."))
            return redirect(here)
        if action == "revert" and saved is not None:
            return _revert(request, saved, here)
        try:
            fields = _fields(request.POST)
            if action == "test":
                return _test(request, kind, fields, here)
            _save(request, kind, channel_kind, saved, fields)
            return redirect(here)
        except templates.TemplateError as exc:
            error = exc.as_dict()
        except pydantic.ValidationError as exc:
            error = {"error": forms.problems(exc, FIELD_LABELS)}
        except (VersionConflict, TemplateExists) as exc:
            error = {"error": str(exc)}
        status = 400
        shown = _posted(request.POST)
    else:
        if saved:
            in_use = saved.resolved()
        else:  # what channels following the deployment's language get now
            with translation.override(languages.default()):
                in_use = templates.resolve(kind, channel_kind)
        shown = {
            "title": in_use.title,
            "body": in_use.body,
            "format": in_use.format,
            "ntfy_priority": in_use.priority,
            "ntfy_tags": ", ".join(in_use.tags),
            "language": saved.language if saved else "",
        }
    return render(
        request,
        "web/settings_template.html",
        {
            "kind": kind,
            "channel_kind": channel_kind,
            "channel_name": CHANNEL_NAMES[channel_kind],
            "channel_text": CHANNEL_NAMES_IN_TEXT[channel_kind],
            "saved": saved,
            "shown": shown,
            "error": error,
            "preview": None if error else _preview(request, kind, shown),
            "variables": templates.describe_variables(kind),
            "versions": saved.versions.order_by("-number") if saved else [],
            "diff": _diff(saved, request.GET.get("diff", "")),
            "channels": Channel.objects.filter(enabled=True),
            "runs": _recent_runs(kind),
            "formats": Template.Format.choices,
            "field_labels": FIELD_LABELS,
            "nav": "settings",
            "section": "templates",
        },
        status=status,
    )


@require_POST
@login_required
def preview(request: HttpRequest) -> HttpResponse:
    """The live preview of the editor's form (an htmx fragment); changes nothing."""
    kind = request.POST.get("kind", "")
    if kind not in templates.KINDS:
        return HttpResponse(_("unknown kind"), status=400)
    try:
        shown = _preview(request, kind, _posted(request.POST), strict=True)
    except templates.TemplateError as exc:
        return render(
            request,
            "web/_template_preview.html",
            {"error": exc.as_dict(), "field_labels": FIELD_LABELS},
        )
    return render(request, "web/_template_preview.html", {"preview": shown})


@login_required
@xframe_options_sameorigin
@csp_override(
    {
        "default-src": ["'none'"],
        "style-src": ["'unsafe-inline'"],
        "img-src": ["data:"],
        "frame-ancestors": ["'self'"],
    }
)
def preview_frame(request: HttpRequest) -> HttpResponse:
    """The e-mail HTML of the latest preview in this session, for the sandboxed frame."""
    html = request.session.get(PREVIEW_SESSION_KEY, "")
    if not html:
        html = format_html("<p>{}</p>", _("No preview yet."))
    return HttpResponse(html, content_type="text/html")


@require_POST
@admin_required
def install_library(request: HttpRequest) -> HttpResponse:
    """Install a language's set; when that would replace templates of the user's own, first
    ask, naming them, whether to keep or replace them."""
    own = request.POST.get("own", "")
    try:
        language = template_store.library_code(request.POST.get("language", ""))
        if own not in ("keep", "replace"):
            replaced = template_store.own_templates_replaced(language)
            if replaced:
                return render(
                    request,
                    "web/settings_templates_library.html",
                    {
                        "language": language,
                        "language_name": template_store.library_languages()[language],
                        "replaced": replaced,
                        "nav": "settings",
                        "section": "templates",
                    },
                )
        result = template_store.install_library(
            language, replace_own=own == "replace", changed_by=_who(request)
        )
    except KeyError:
        raise Http404("no such library") from None
    _audit_import(request, result, "template.library")
    if result.kept:
        text = _("Library (%(language)s) installed: %(counts)s; kept your own: %(kept)s.")
    else:
        text = _("Library (%(language)s) installed: %(counts)s.")
    messages.success(
        request,
        text
        % {
            "language": language,
            "counts": _counts(result),
            "kept": ", ".join(map(str, result.kept)),
        },
    )
    return redirect("web:settings-templates")


@login_required
def export(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(template_store.export(), json_dumps_params={"indent": 2})
    stamp = clock.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="duplistatus-templates-{stamp}.json"'
    return response


@require_POST
@admin_required
def import_file(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise ImportInvalid(_("choose a file exported from duplistatus"), [])
        try:
            document = json.loads(upload.read())
        except (ValueError, UnicodeDecodeError):
            raise ImportInvalid(_("the file is not JSON"), []) from None
        result = template_store.import_set(document, changed_by=_who(request))
    except ImportInvalid as exc:
        details = "; ".join(
            f"#{e.get('index')} {e.get('kind') or ''}: {e.get('error')}" for e in exc.errors
        )
        if details:
            text = _("Nothing imported: %(problem)s: %(details)s")
        else:
            text = _("Nothing imported: %(problem)s")
        messages.error(request, text % {"problem": exc.message, "details": details})
        return redirect("web:settings-templates")
    _audit_import(request, result, "template.import")
    messages.success(request, _("Imported: %(counts)s.") % {"counts": _counts(result)})
    return redirect("web:settings-templates")


# --------------------------------------------------------------------------- helpers


def _fields(post: QueryDict) -> TemplateFields:
    priority = post.get("ntfy_priority", "")
    return TemplateFields(
        title=post.get("title", ""),
        body=post.get("body", "").replace("\r\n", "\n"),
        format=post.get("format", "plain"),  # type: ignore[arg-type]  # pydantic checks it
        ntfy_priority=int(priority) if priority.isdigit() else None,
        ntfy_tags=[t for t in post.get("ntfy_tags", "").split(",") if t.strip()],
        language=post.get("language", "").strip(),
    )


def _posted(post: QueryDict) -> dict[str, Any]:
    return {
        name: post.get(name, "").replace("\r\n", "\n")
        for name in ("title", "body", "format", "ntfy_priority", "ntfy_tags", "language")
    } | {"run": post.get("run", "")}


def _preview(
    request: HttpRequest, kind: str, shown: dict[str, Any], *, strict: bool = False
) -> template_store.Preview | None:
    """Render the shown texts; the HTML part goes to the session for the frame. Without
    `strict`, a template that cannot be rendered gives no preview instead of an error."""
    run = None
    if str(shown.get("run", "")).isdigit():
        run = BackupRun.objects.select_related("job__server").filter(pk=int(shown["run"])).first()
    try:
        result = template_store.preview(
            kind, shown["title"], shown["body"], shown["format"] or "plain", run=run
        )
    except templates.TemplateError:
        if strict:
            raise
        return None
    request.session[PREVIEW_SESSION_KEY] = result.html
    return result


def _save(
    request: HttpRequest,
    kind: str,
    channel_kind: str,
    saved: Template | None,
    fields: TemplateFields,
) -> None:
    who = _who(request)
    if saved is None:
        data = TemplateIn(kind=kind, channel_kind=channel_kind, **fields.model_dump())
        template = template_store.create(data, changed_by=who)
        action = "template.create"
    else:
        expected = request.POST.get("version", "")
        before = saved.version
        template = template_store.update(
            saved,
            fields,
            changed_by=who,
            expected_version=int(expected) if expected.isdigit() else None,
        )
        if template.version == before:
            messages.success(request, _("Nothing changed."))
            return
        action = "template.update"
    audit.record(request, action, template_store.label(template), {"version": template.version})
    messages.success(
        request, _("Template saved as version %(version)s.") % {"version": template.version}
    )


def _revert(request: HttpRequest, saved: Template, here: str) -> HttpResponse:
    number = request.POST.get("revert_to", "")
    if not number.isdigit() or not saved.versions.filter(number=int(number)).exists():
        raise Http404("no such version")
    try:
        template = template_store.revert(saved, int(number), changed_by=_who(request))
    except templates.TemplateError as exc:
        messages.error(
            request,
            _("Version %(number)s cannot be used any more: %(problem)s")
            % {"number": number, "problem": exc.message},
        )
        return redirect(here)
    audit.record(
        request,
        "template.revert",
        template_store.label(template),
        {"version": template.version, "reverted_to": int(number)},
    )
    messages.success(
        request,
        _("Version %(number)s is current again (as version %(version)s).")
        % {"number": number, "version": template.version},
    )
    return redirect(here)


def _test(request: HttpRequest, kind: str, fields: TemplateFields, here: str) -> HttpResponse:
    """Send the editor's text (saved or not), rendered with sample data, to a channel."""
    channel = get_object_or_404(Channel, pk=request.POST.get("channel") or 0)
    template_store.check(kind, fields)
    draft = Template(kind=kind, **fields.model_dump())
    delivery = template_store.send_test(draft, channel)
    audit.record(
        request,
        "template.test",
        f"{kind} template → channel {channel.pk} ({channel.name})",
        {"status": delivery.status},
    )
    report_test(
        request,
        delivery,
        _("Test of the %(kind)s template to “%(name)s”: %(status)s — %(reply)s"),
        kind=KIND_LABELS.get(kind, kind),
        name=channel.name,
    )
    return redirect(here)


def _diff(saved: Template | None, number: str) -> dict[str, Any] | None:
    """What version `number` changed against the one before it, if both exist."""
    if saved is None or not number.isdigit() or int(number) < 2:
        return None
    after = int(number)
    if saved.versions.filter(number__in=(after - 1, after)).count() != 2:
        return None
    return {"number": after, "changes": template_store.diff(saved, after - 1, after)}


def _recent_runs(kind: str) -> list[BackupRun]:
    if kind not in templates.RUN_KINDS and kind not in templates.MONITOR_KINDS:
        return []
    return list(
        BackupRun.objects.select_related("job__server").order_by("-begin_time")[:RECENT_RUNS]
    )


def _who(request: HttpRequest) -> str:
    return request.user.get_username() if request.user.is_authenticated else ""


def _counts(result: template_store.ImportResult) -> str:
    return _("%(added)d added, %(changed)d changed, %(unchanged)d unchanged") % {
        "added": len(result.created),
        "changed": len(result.updated),
        "unchanged": len(result.unchanged),
    }


def _audit_import(request: HttpRequest, result: template_store.ImportResult, action: str) -> None:
    if result.saved:
        audit.record(request, action, "templates", {"saved": result.saved})
