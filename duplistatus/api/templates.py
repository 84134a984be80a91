"""Message templates under /api/v1/templates: list, add, change (each save a new version),
versions with diff and revert, preview, test send, export/import and the library.

A template that cannot be used is refused with 400 and
`{error, field, line, column, allowed}`: the message names the field and line, and `allowed`
lists the variables the template's kind may use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Body, Field, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from duplistatus.accounts import audit
from duplistatus.accounts.models import ApiToken
from duplistatus.backups.models import BackupRun
from duplistatus.notifications import languages, template_store, templates
from duplistatus.notifications.models import Channel
from duplistatus.notifications.template_store import (
    ImportInvalid,
    Template,
    TemplateExists,
    TemplateFields,
    TemplateIn,
    VersionConflict,
)

from .notify import DeliveryOut, delivery_out

router = Router(tags=["templates"])


class TemplateOut(Schema):
    id: int
    kind: str
    channel_kind: str = Field(description='"" = every channel kind')
    title: str
    body: str
    format: str
    ntfy_priority: int | None
    ntfy_tags: list[str]
    language: str
    version: int
    updated_at: datetime


class TemplateUpdate(TemplateFields):
    expected_version: int | None = Field(
        None, description="refuse the save (409) if the template is no longer at this version"
    )
    # What GET returns may be sent back as it is: these are checked or ignored.
    kind: str | None = Field(None, description="cannot change")
    channel_kind: str | None = Field(None, description="cannot change")
    id: int | None = Field(None, description="ignored")
    version: int | None = Field(None, description="ignored; see expected_version")
    updated_at: datetime | None = Field(None, description="ignored")


class TemplateErrorOut(Schema):
    error: str
    field: str | None = None
    line: int | None = None
    column: int | None = None
    allowed: list[str] = []


class ImportErrorOut(Schema):
    error: str
    errors: list[dict[str, Any]]


class VersionOut(Schema):
    number: int
    title: str
    body: str
    format: str
    ntfy_priority: int | None
    ntfy_tags: list[str]
    language: str
    created_at: datetime
    changed_by: str
    note: str


class DiffOut(Schema):
    template_id: int
    from_version: int
    to_version: int
    changes: list[dict[str, Any]] = Field(
        description="{field, before, after, diff?}; title and body carry a unified diff"
    )


class RevertIn(Schema):
    version: int


class PreviewIn(Schema):
    kind: str
    title: str | None = Field(None, description="with body: the template to render")
    body: str | None = None
    format: str = "plain"
    channel_kind: str = Field(
        "", description="without title and body: render what this channel kind gets now"
    )
    run_id: int | None = Field(None, description="a real run's data instead of sample data")
    language: str = Field(
        "", description="render as a channel in this language gets it (blank: the deployment's)"
    )


class PreviewOut(Schema):
    title: str
    body: str = Field(description="the body as rendered, in its format")
    text: str = Field(description="the plain text every channel gets")
    html: str = Field(description="the e-mail HTML part")
    format: str
    variables: dict[str, Any] = Field(description="the values the preview used")


class ImportOut(Schema):
    created: list[TemplateOut]
    updated: list[TemplateOut]
    unchanged: list[TemplateOut]
    # Library installs: the user's own templates left as they were (replace_own=false).
    kept: list[TemplateOut] = []


class VariablesOut(Schema):
    kind: str
    variables: dict[str, str]


class BuiltinOut(Schema):
    kind: str
    channel_kind: str
    title: str
    body: str
    format: str


def template_out(t: Template) -> TemplateOut:
    return TemplateOut(
        id=t.pk,
        kind=t.kind,
        channel_kind=t.channel_kind,
        title=t.title,
        body=t.body,
        format=t.format,
        ntfy_priority=t.ntfy_priority,
        ntfy_tags=list(t.ntfy_tags or []),
        language=t.language,
        version=t.version,
        updated_at=t.updated_at,
    )


def _who(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.get_username()
    token = getattr(request, "auth", None)
    return f"token:{token.name}" if isinstance(token, ApiToken) else ""


def _invalid(exc: templates.TemplateError) -> Status[dict[str, Any]]:
    return Status(400, exc.as_dict())


# --------------------------------------------------------------------------- list, add, change


@router.get("/templates", response=list[TemplateOut], summary="Saved templates")
def list_templates(
    request: HttpRequest, kind: str | None = None, channel_kind: str | None = None
) -> list[TemplateOut]:
    rows = Template.objects.all()
    if kind:
        rows = rows.filter(kind=kind)
    if channel_kind is not None:
        rows = rows.filter(channel_kind=channel_kind)
    return [template_out(t) for t in rows]


@router.post(
    "/templates",
    response={201: TemplateOut, 400: TemplateErrorOut, 409: TemplateErrorOut},
    summary="Add a template for a kind (and channel kind); validated first",
)
def create_template(request: HttpRequest, body: TemplateIn) -> Status[Any]:
    try:
        template = template_store.create(body, changed_by=_who(request))
    except templates.TemplateError as exc:
        return _invalid(exc)
    except TemplateExists as exc:
        return Status(409, {"error": str(exc)})
    _audit(request, "template.create", template)
    return Status(201, template_out(template))


@router.get(
    "/templates/variables",
    response=list[VariablesOut],
    summary="The variables each kind may use, with what they mean",
)
def variables(request: HttpRequest) -> list[VariablesOut]:
    return [
        VariablesOut(kind=k, variables=templates.describe_variables(k)) for k in templates.KINDS
    ]


@router.get(
    "/templates/builtin",
    response=list[BuiltinOut],
    summary="The built-in templates (what a kind uses when nothing is saved)",
)
def builtin(request: HttpRequest, language: str = "") -> list[BuiltinOut]:
    """In `language` (blank: the deployment's, which channels without their own use)."""
    code = languages.supported(language) if language else languages.default()
    if code is None:
        known = ", ".join(languages.codes())
        raise HttpError(422, f"unknown language {language!r}; one of: {known}")
    out = []
    for kind in templates.KINDS:
        for channel_kind in templates.CHANNEL_KINDS:
            if channel_kind and (kind, channel_kind) not in templates.VARIANTS:
                continue
            t = templates.builtin(kind, channel_kind, code)
            out.append(BuiltinOut(kind=kind, channel_kind=channel_kind, **_texts(t)))
    return out


def _texts(t: templates.ResolvedTemplate) -> dict[str, str]:
    return {"title": t.title, "body": t.body, "format": t.format}


@router.post(
    "/templates/preview",
    response={200: PreviewOut, 400: TemplateErrorOut},
    summary="Render a template (or the one a channel kind uses now) with sample or real data",
)
def preview(request: HttpRequest, body: PreviewIn) -> Status[Any]:
    if body.channel_kind not in templates.CHANNEL_KINDS:
        return Status(400, {"error": f"unknown channel kind {body.channel_kind!r}"})
    if (body.title is None) != (body.body is None):
        return Status(400, {"error": "send title and body, or neither for the template in use"})
    language = languages.supported(body.language) if body.language else None
    if body.language and language is None:
        known = ", ".join(languages.codes())
        return Status(400, {"error": f"unknown language {body.language!r}; one of: {known}"})
    run = None
    if body.run_id is not None:
        run = get_object_or_404(BackupRun.objects.select_related("job__server"), pk=body.run_id)
    try:
        shown = template_store.preview(
            body.kind,
            body.title,
            body.body,
            body.format,
            channel_kind=body.channel_kind,
            run=run,
            language=language,
        )
    except templates.TemplateError as exc:
        return _invalid(exc)
    return Status(
        200,
        PreviewOut(
            title=shown.rendered.title,
            body=shown.body,
            text=shown.rendered.body,
            html=shown.html,
            format=shown.template.format,
            variables=shown.values,
        ),
    )


@router.get(
    "/templates/export", response=dict, summary="The saved templates as a JSON set to share"
)
def export(request: HttpRequest, kind: str | None = None, language: str | None = None) -> dict:
    rows = Template.objects.all()
    if kind:
        rows = rows.filter(kind=kind)
    if language is not None:
        rows = rows.filter(language=language)
    return template_store.export(rows)


@router.post(
    "/templates/import",
    response={200: ImportOut, 400: ImportErrorOut},
    summary="Import a JSON set: everything is checked first; all or nothing",
)
def import_set(request: HttpRequest, body: Body[dict[str, Any]]) -> Status[Any]:
    try:
        result = template_store.import_set(body, changed_by=_who(request))
    except ImportInvalid as exc:
        return Status(400, {"error": exc.message, "errors": exc.errors})
    return Status(200, _import_out(request, result, "template.import"))


def _import_out(request: HttpRequest, result: Any, action: str) -> ImportOut:
    if result.saved:
        audit.record(request, action, "templates", {"saved": result.saved})
    return ImportOut(
        created=[template_out(t) for t in result.created],
        updated=[template_out(t) for t in result.updated],
        unchanged=[template_out(t) for t in result.unchanged],
        kept=[template_out(t) for t in result.kept],
    )


@router.get(
    "/templates/library", response=dict[str, str], summary="Languages of the template library"
)
def library_languages(request: HttpRequest) -> dict[str, str]:
    return template_store.library_languages()


@router.get(
    "/templates/library/{language}", response=dict, summary="One language's set, as an export"
)
def library_set(request: HttpRequest, language: str) -> dict:
    try:
        return template_store.library(language)
    except KeyError:
        raise HttpError(404, f"no library for language {language!r}") from None


@router.post(
    "/templates/library/{language}",
    response={200: ImportOut, 400: ImportErrorOut},
    summary="Install the library's templates for a language (for every channel kind)",
    description="Your own templates of those kinds (texts that are no library's) are kept, "
    "and listed under `kept`, unless `replace_own=true`; a replaced one stays as a version.",
)
def install_library(request: HttpRequest, language: str, replace_own: bool = False) -> Status[Any]:
    try:
        result = template_store.install_library(
            language, replace_own=replace_own, changed_by=_who(request)
        )
    except KeyError:
        raise HttpError(404, f"no library for language {language!r}") from None
    except ImportInvalid as exc:  # a broken library file is our bug; say so plainly
        return Status(400, {"error": exc.message, "errors": exc.errors})
    return Status(200, _import_out(request, result, "template.library"))


@router.get("/templates/{template_id}", response=TemplateOut, summary="One template")
def get_template(request: HttpRequest, template_id: int) -> TemplateOut:
    return template_out(get_object_or_404(Template, pk=template_id))


@router.put(
    "/templates/{template_id}",
    response={200: TemplateOut, 400: TemplateErrorOut, 409: TemplateErrorOut},
    summary="Change a template; validated first, kept as a new version",
)
def put_template(request: HttpRequest, template_id: int, body: TemplateUpdate) -> Status[Any]:
    template = get_object_or_404(Template, pk=template_id)
    if body.kind not in (None, template.kind) or body.channel_kind not in (
        None,
        template.channel_kind,
    ):
        raise HttpError(422, "a template's kind and channel kind cannot change; add a new one")
    fields = TemplateFields(**body.model_dump(include=set(template_store.FIELDS)))
    before = template.version
    try:
        template = template_store.update(
            template, fields, changed_by=_who(request), expected_version=body.expected_version
        )
    except templates.TemplateError as exc:
        return _invalid(exc)
    except VersionConflict as exc:
        return Status(409, {"error": str(exc)})
    if template.version != before:
        _audit(request, "template.update", template)
    return Status(200, template_out(template))


@router.delete(
    "/templates/{template_id}",
    response={204: None},
    summary="Remove a template (and its versions); the kind falls back to the next in line",
)
def delete_template(request: HttpRequest, template_id: int) -> Status[None]:
    template = get_object_or_404(Template, pk=template_id)
    _audit(request, "template.delete", template)
    template_store.delete(template)
    return Status(204, None)


# --------------------------------------------------------------------------- versions


@router.get(
    "/templates/{template_id}/versions",
    response=list[VersionOut],
    summary="Every saved version, newest first",
)
def versions(request: HttpRequest, template_id: int) -> list[Any]:
    template = get_object_or_404(Template, pk=template_id)
    return list(template.versions.order_by("-number"))


@router.get(
    "/templates/{template_id}/diff",
    response=DiffOut,
    summary="What changed between two versions (default: the latest against the one before)",
)
def diff(
    request: HttpRequest,
    template_id: int,
    from_version: int | None = None,
    to_version: int | None = None,
) -> DiffOut:
    template = get_object_or_404(Template, pk=template_id)
    after = to_version or template.version
    before = from_version or max(1, after - 1)
    numbers = set(template.versions.values_list("number", flat=True))
    for number in (before, after):
        if number not in numbers:
            raise HttpError(404, f"template {template_id} has no version {number}")
    return DiffOut(
        template_id=template.pk,
        from_version=before,
        to_version=after,
        changes=template_store.diff(template, before, after),
    )


@router.post(
    "/templates/{template_id}/revert",
    response={200: TemplateOut, 400: TemplateErrorOut},
    summary="Make an earlier version current again (kept as a new version)",
)
def revert(request: HttpRequest, template_id: int, body: RevertIn) -> Status[Any]:
    template = get_object_or_404(Template, pk=template_id)
    if not template.versions.filter(number=body.version).exists():
        raise HttpError(404, f"template {template_id} has no version {body.version}")
    try:
        template = template_store.revert(template, body.version, changed_by=_who(request))
    except templates.TemplateError as exc:  # an old version that the kind no longer accepts
        return _invalid(exc)
    _audit(request, "template.revert", template, reverted_to=body.version)
    return Status(200, template_out(template))


# --------------------------------------------------------------------------- test send


@router.post(
    "/templates/{template_id}/test",
    response=DeliveryOut,
    summary="Send this template, rendered with sample data, to a channel now",
)
def test_send(request: HttpRequest, template_id: int, channel: int) -> DeliveryOut:
    template = get_object_or_404(Template, pk=template_id)
    destination = get_object_or_404(Channel, pk=channel)
    return delivery_out(template_store.send_test(template, destination))


def _audit(request: HttpRequest, action: str, template: Template, **extra: Any) -> None:
    audit.record(
        request, action, template_store.label(template), {"version": template.version, **extra}
    )
