"""Saved message templates and their versions: every save is validated and kept as a new
version; versions can be listed, compared and reverted to; a set of templates can be exported
as JSON and imported again (all or nothing); the library in template_library/ installs the
same way. Rendering and the choice of template are in templates.py.

A template is saved for a message kind and a channel kind ("" = every channel kind); the
pair is unique.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pydantic
from django.db import IntegrityError, models, transaction
from django.db.models import Max
from django.utils import translation
from django.utils.translation import gettext_lazy

from duplistatus import clock

from . import languages, templates

__all__ = ["Template", "TemplateVersion"]

EXPORT_FORMAT = "duplistatus-templates"
EXPORT_VERSION = 1
LIBRARY_DIR = Path(__file__).resolve().parent / "template_library"
FIELDS = ("title", "body", "format", "ntfy_priority", "ntfy_tags", "language")


class Template(models.Model):
    class Format(models.TextChoices):
        PLAIN = "plain", gettext_lazy("plain text")
        MARKDOWN = "markdown", "Markdown"
        HTML = "html", "HTML"

    kind = models.CharField(max_length=20)  # success | … | summary | test
    channel_kind = models.CharField(max_length=20, blank=True, default="")  # "" = every kind
    title = models.TextField()  # a template itself; the rendered title is cut to 300 characters
    body = models.TextField()
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.PLAIN)
    ntfy_priority = models.PositiveSmallIntegerField(null=True, blank=True)  # None: the kind's
    ntfy_tags = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=10, blank=True, default="")
    version = models.PositiveIntegerField(default=0)  # the number of the latest version
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["kind", "channel_kind"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "channel_kind"], name="template_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} template ({self.channel_kind or 'all channels'})"

    def resolved(self) -> templates.ResolvedTemplate:
        return templates.ResolvedTemplate(
            self.title, self.body, self.format, self.ntfy_priority, tuple(self.ntfy_tags or ())
        )

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


class TemplateVersion(models.Model):
    """A template as it was saved: version 1 is the first save, every later save adds one."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.TextField()
    body = models.TextField()
    format = models.CharField(max_length=10, choices=Template.Format.choices)
    ntfy_priority = models.PositiveSmallIntegerField(null=True, blank=True)
    ntfy_tags = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=10, blank=True, default="")
    created_at = models.DateTimeField()
    changed_by = models.CharField(max_length=150, blank=True, default="")
    note = models.CharField(max_length=200, blank=True, default="")  # "imported", "revert to 2"

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="template_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.template_id} v{self.number}"

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


# --------------------------------------------------------------------------- what may be saved


class TemplateFields(pydantic.BaseModel):
    """The editable fields of a template (the API's body and an export's entries)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    title: str = pydantic.Field(min_length=1, max_length=1000)
    body: str = pydantic.Field(min_length=1, max_length=100_000)
    format: Literal["plain", "markdown", "html"] = "plain"
    ntfy_priority: int | None = pydantic.Field(None, ge=1, le=5)
    ntfy_tags: list[str] = pydantic.Field(default_factory=list, max_length=10)
    language: str = pydantic.Field("", max_length=10)

    @pydantic.field_validator("ntfy_tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        cleaned: list[str] = []
        for tag in value:
            tag = tag.strip()
            if len(tag) > 64 or any(ch in tag for ch in ",\r\n"):
                raise ValueError(f"tag {tag[:64]!r} must be at most 64 characters, without ','")
            if tag and tag not in cleaned:
                cleaned.append(tag)
        return cleaned


class TemplateIn(TemplateFields):
    """A template with the message kind and channel kind it is for."""

    kind: str
    channel_kind: str = ""

    @pydantic.field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in templates.KINDS:
            raise ValueError(f"unknown kind {value!r}; one of: {', '.join(templates.KINDS)}")
        return value

    @pydantic.field_validator("channel_kind")
    @classmethod
    def _channel_kind(cls, value: str) -> str:
        if value not in templates.CHANNEL_KINDS:
            known = ", ".join(repr(k) for k in templates.CHANNEL_KINDS)
            raise ValueError(f"unknown channel kind {value!r}; one of: {known}")
        return value


class TemplateExists(Exception):
    def __init__(self, existing: Template):
        super().__init__(f"a {existing} exists already (id {existing.pk}); change it instead")
        self.existing = existing


class VersionConflict(Exception):
    pass


def check(kind: str, data: TemplateFields) -> None:
    """Raise templates.TemplateError when the texts cannot be used for `kind`."""
    templates.validate_template(kind, data.title, data.body, data.format)


# --------------------------------------------------------------------------- saving


def create(data: TemplateIn, *, changed_by: str = "", note: str = "") -> Template:
    check(data.kind, data)
    now = clock.now()
    try:
        with transaction.atomic():
            template = Template.objects.create(
                kind=data.kind,
                channel_kind=data.channel_kind,
                updated_at=now,
                **_values(data),
            )
            _keep_version(template, now, changed_by, note)
    except IntegrityError:
        existing = Template.objects.filter(kind=data.kind, channel_kind=data.channel_kind).first()
        if existing is None:
            raise
        raise TemplateExists(existing) from None
    _changed()
    return template


def update(
    template: Template,
    data: TemplateFields,
    *,
    changed_by: str = "",
    note: str = "",
    expected_version: int | None = None,
) -> Template:
    """Save new texts as the next version. Saving what is already there adds no version.
    With `expected_version`, a save based on an older version is refused (VersionConflict)."""
    check(template.kind, data)
    with transaction.atomic():
        row = Template.objects.select_for_update().get(pk=template.pk)
        if expected_version is not None and row.version != expected_version:
            raise VersionConflict(
                f"the template changed since version {expected_version}: it is at version "
                f"{row.version} now; reload it and save again"
            )
        values = _values(data)
        if row.fields() != values:
            now = clock.now()
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            _keep_version(row, now, changed_by, note)
    _changed()
    return row


def revert(template: Template, number: int, *, changed_by: str = "") -> Template:
    """Make version `number`'s texts the current ones, as a new version."""
    old = template.versions.get(number=number)
    return update(
        template,
        TemplateFields(**old.fields()),
        changed_by=changed_by,
        note=f"revert to version {number}",
    )


def delete(template: Template) -> None:
    """Forget a template and its versions; its kind falls back to the next one in line."""
    template.delete()
    _changed()


def _values(data: TemplateFields) -> dict[str, Any]:
    return {name: getattr(data, name) for name in FIELDS}


def _keep_version(template: Template, now: Any, changed_by: str, note: str) -> None:
    template.version += 1
    template.save()
    TemplateVersion.objects.create(
        template=template,
        number=template.version,
        created_at=now,
        changed_by=changed_by[:150],
        note=note[:200],
        **template.fields(),
    )


def _changed() -> None:
    templates.forget_cache()
    transaction.on_commit(templates.forget_cache)


# --------------------------------------------------------------------------- versions


def diff(template: Template, before: int, after: int) -> list[dict[str, Any]]:
    """What changed from version `before` to version `after`, field by field; title and body
    also as a unified diff."""
    old = template.versions.get(number=before).fields()
    new = template.versions.get(number=after).fields()
    changes = []
    for name in FIELDS:
        if old[name] == new[name]:
            continue
        change: dict[str, Any] = {"field": name, "before": old[name], "after": new[name]}
        if name in ("title", "body"):
            change["diff"] = unified_diff(
                old[name], new[name], f"{name} v{before}", f"{name} v{after}"
            )
        changes.append(change)
    return changes


def unified_diff(old: str, new: str, fromfile: str, tofile: str) -> str:
    """A unified diff of two texts. A last line without a newline is marked the way git
    marks it, instead of running into the next line of the diff."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile, tofile
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


# --------------------------------------------------------------------------- export and import


def export(rows: Any = None) -> dict[str, Any]:
    rows = Template.objects.all() if rows is None else rows
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": clock.now().isoformat(),
        "templates": [
            {"kind": t.kind, "channel_kind": t.channel_kind, **t.fields()}
            for t in rows.order_by("kind", "channel_kind")
        ],
    }


@dataclass
class ImportResult:
    created: list[Template] = field(default_factory=list)
    updated: list[Template] = field(default_factory=list)
    unchanged: list[Template] = field(default_factory=list)
    # The user's own templates a library install left as they were (see install_library).
    kept: list[Template] = field(default_factory=list)

    @property
    def saved(self) -> list[str]:
        """What was added or changed, for the audit log: kind/channel kind and version."""
        changed = [*self.created, *self.updated]
        return [f"{t.kind}/{t.channel_kind or '*'} v{t.version}" for t in changed]


class ImportInvalid(Exception):
    """The set was not imported; `errors` says what to fix, per template."""

    def __init__(self, message: str, errors: list[dict[str, Any]]):
        super().__init__(message)
        self.message = message
        self.errors = errors


def parse_set(document: Any) -> list[TemplateIn]:
    """Check a whole export document; raise ImportInvalid listing every problem found."""
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise ImportInvalid(f'not a template set: "format" must be "{EXPORT_FORMAT}"', [])
    if document.get("version") != EXPORT_VERSION:
        raise ImportInvalid(
            f"unsupported version {document.get('version')!r}; this duplistatus reads "
            f"version {EXPORT_VERSION}",
            [],
        )
    entries = document.get("templates")
    if not isinstance(entries, list) or not entries:
        raise ImportInvalid('"templates" must be a non-empty list', [])
    errors: list[dict[str, Any]] = []
    parsed: list[TemplateIn] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(entries):
        where: dict[str, Any] = {"index": index}
        if isinstance(entry, dict):
            where |= {"kind": entry.get("kind"), "channel_kind": entry.get("channel_kind", "")}
        try:
            data = TemplateIn.model_validate(entry)
        except pydantic.ValidationError as exc:
            for problem in exc.errors(include_url=False, include_input=False):
                name = ".".join(str(p) for p in problem["loc"]) or None
                errors.append(where | {"field": name, "error": problem["msg"]})
            continue
        key = (data.kind, data.channel_kind)
        if key in seen:
            errors.append(where | {"field": None, "error": "this kind and channel kind repeat"})
            continue
        seen.add(key)
        try:
            check(data.kind, data)
        except templates.TemplateError as exc:
            errors.append(where | exc.as_dict())
            continue
        parsed.append(data)
    if errors:
        raise ImportInvalid(f"{len(errors)} problem(s); nothing was imported", errors)
    return parsed


def import_set(document: Any, *, changed_by: str = "", note: str = "imported") -> ImportResult:
    """Check everything first, then save all templates in one transaction: each one that is
    new or differs from what is saved gets a new version; nothing changes if any is invalid."""
    entries = parse_set(document)
    result = ImportResult()
    with transaction.atomic():
        for data in entries:
            existing = (
                Template.objects.select_for_update()
                .filter(kind=data.kind, channel_kind=data.channel_kind)
                .first()
            )
            if existing is None:
                result.created.append(create(data, changed_by=changed_by, note=note))
                continue
            before = existing.version
            saved = update(existing, data, changed_by=changed_by, note=note)
            (result.updated if saved.version != before else result.unchanged).append(saved)
    return result


# --------------------------------------------------------------------------- the library


def library_languages() -> dict[str, str]:
    """Language code → name, for the sets in template_library/ (one per UI language)."""
    return {
        code: _read_library(code)["name"]
        for code in languages.codes()
        if (LIBRARY_DIR / f"{code}.toml").is_file()
    }


def library_code(language: str) -> str:
    """The code of the library set `language` names ("pt" and "pt-BR" are "pt-br", "zh-Hans"
    is "zh-hans"); KeyError when there is none."""
    code = languages.supported(language)
    if code is None or not (LIBRARY_DIR / f"{code}.toml").is_file():
        raise KeyError(language)
    return code


def library(language: str) -> dict[str, Any]:
    """A library set as an export document (KeyError for an unknown language)."""
    code = library_code(language)
    source = _read_library(code)
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "templates": [
            {
                "kind": kind,
                "channel_kind": "",
                "title": source[kind]["title"],
                "body": source[kind]["body"].strip("\n"),
                "format": source[kind].get("format", "plain"),
                "ntfy_priority": source[kind].get("ntfy_priority"),
                "ntfy_tags": source[kind].get("ntfy_tags", []),
                "language": code,
            }
            for kind in templates.KINDS
            if kind in source
        ],
    }


@cache
def library_templates(language: str) -> dict[str, templates.ResolvedTemplate]:
    """A library set by kind, ready to render (the built-in texts of a language other than
    English); KeyError for an unknown language. Read once per process."""
    return {
        entry["kind"]: templates.ResolvedTemplate(
            entry["title"],
            entry["body"],
            entry["format"],
            entry["ntfy_priority"],
            tuple(entry["ntfy_tags"]),
            library=entry["language"],
        )
        for entry in library(language)["templates"]
    }


def install_library(
    language: str, *, replace_own: bool = False, changed_by: str = ""
) -> ImportResult:
    """Install a language's set. The user's own templates (see `own_templates_replaced`)
    are kept unless `replace_own`; the templates they replace stay as versions either way."""
    language = library_code(language)
    document = library(language)
    kept = [] if replace_own else own_templates_replaced(language)
    keep = {t.kind for t in kept}
    document["templates"] = [e for e in document["templates"] if e["kind"] not in keep]
    if document["templates"]:
        result = import_set(document, changed_by=changed_by, note=f"library {language}")
    else:
        result = ImportResult()
    result.kept = kept
    return result


def own_templates_replaced(language: str) -> list[Template]:
    """The saved templates installing `language` would change that are the user's own: their
    texts are no language's library texts (a library template is replaced without asking)."""
    saved = {t.kind: t for t in Template.objects.filter(channel_kind="")}
    library_texts = [
        _values(TemplateIn.model_validate(entry))
        for code in library_languages()
        for entry in library(code)["templates"]
    ]
    own = []
    for entry in library(language)["templates"]:
        template = saved.get(entry["kind"])
        if template is None:
            continue
        current = template.fields()
        if current != _values(TemplateIn.model_validate(entry)) and current not in library_texts:
            own.append(template)
    return own


def _read_library(code: str) -> dict[str, Any]:
    """One of the library's files, by its language code (one of languages.codes())."""
    if code not in languages.codes():
        raise KeyError(code)
    return tomllib.loads((LIBRARY_DIR / f"{code}.toml").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- test send


def send_test(template: Template, channel: Any) -> Any:
    """Send `template`, rendered with sample data, to `channel` now; returns the delivery.

    It goes through the outbox like every message: build_delivery renders it (with this
    template in place of the test template), then it is saved, claimed and sent. It is sent
    as kind `test`, so receivers that act on failures (webhooks) do not take it for real."""
    from . import messages, outbox  # the outbox imports the models, which import this module

    now = clock.now()
    with languages.speaking(channel):
        values = templates.sample_context(template.kind, base_url=messages.base_url())
    with templates.using("test", template.resolved()):
        delivery = outbox.build_delivery(channel, "test", values, now)
    delivery.save()
    outbox.claim_and_send(delivery, now)
    delivery.refresh_from_db()
    return delivery


def label(template: Template) -> str:
    """How the audit log names a template."""
    return f"template {template.pk} ({template.kind}/{template.channel_kind or '*'})"


# --------------------------------------------------------------------------- preview


@dataclass(frozen=True)
class Preview:
    template: templates.ResolvedTemplate
    values: dict[str, Any]  # what the template was rendered with
    rendered: templates.Rendered

    @property
    def body(self) -> str:
        """The body as rendered, in its format."""
        return self.rendered.html or self.rendered.markdown or self.rendered.body

    @property
    def html(self) -> str:
        """The e-mail HTML part."""
        from . import outbox

        return self.rendered.html or outbox.text_to_html(self.rendered.body)


def preview(
    kind: str,
    title: str | None = None,
    body: str | None = None,
    format: str = "plain",
    *,
    channel_kind: str = "",
    run: Any = None,
    language: str | None = None,
) -> Preview:
    """Render a template (without title and body: the one `channel_kind` uses now) with
    sample data, or with a real run's, as a channel in `language` gets it (default: the
    deployment's, which channels without their own follow). TemplateError when it cannot
    be used."""
    with translation.override(language or languages.default()):
        return _preview(kind, title, body, format, channel_kind, run)


def _preview(
    kind: str, title: str | None, body: str | None, format: str, channel_kind: str, run: Any
) -> Preview:
    from . import messages

    if kind not in templates.KINDS:
        known = ", ".join(templates.KINDS)
        raise templates.TemplateError(f"unknown kind {kind!r}; one of: {known}")
    if title is None or body is None:
        template = templates.resolve(kind, channel_kind)
    else:
        templates.validate_template(kind, title, body, format)
        template = templates.ResolvedTemplate(title, body, format)
    if run is not None:
        values = templates.run_context(run, kind)
    else:
        values = templates.sample_context(kind, base_url=messages.base_url())
    rendered = templates.render_template(template, values, seconds=templates.PREVIEW_SECONDS)
    return Preview(template, values, rendered)


# --------------------------------------------------------------------------- for resolve()


def stamp() -> tuple[int, int | None]:
    """Changes whenever a template is saved, reverted, imported or deleted: every save adds a
    version row with a higher id, and a delete lowers the count."""
    return (
        Template.objects.count(),
        TemplateVersion.objects.aggregate(last=Max("id"))["last"],
    )


def load_resolved() -> dict[tuple[str, str], templates.ResolvedTemplate]:
    """The saved templates; one that is a library text as installed is marked with its
    language, so that channels in other languages get the library text in theirs."""
    found = {}
    for t in Template.objects.all():
        resolved = t.resolved()
        if t.language and _is_library_text(t):
            resolved = replace(resolved, library=t.language)
        found[(t.kind, t.channel_kind)] = resolved
    return found


def _is_library_text(template: Template) -> bool:
    try:
        entry = library_templates(template.language).get(template.kind)
    except KeyError:
        return False
    return (
        entry is not None
        and entry.library == template.language
        and (
            (entry.title, entry.body, entry.format, entry.priority, entry.tags)
            == (
                template.title,
                template.body,
                template.format,
                template.ntfy_priority,
                tuple(template.ntfy_tags or ()),
            )
        )
    )
