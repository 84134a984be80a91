"""Settings pages for notification rules (global, per server, per job) and device groups.

Each rule field is shown with the value in force and where it comes from; a form field left
on "inherit" takes the value from the level above. Rules change through
notifications.rule_settings, the same path as the API, and every change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_POST

from duplistatus import clock
from duplistatus.accounts import audit
from duplistatus.accounts.roles import admin_required, admin_to_change
from duplistatus.backups.models import BackupJob, MonitoringDefaults, Server
from duplistatus.notifications import policy, rule_settings, rules
from duplistatus.notifications.models import Channel, DeviceGroup
from duplistatus.notifications.rule_settings import GroupIn, RulesIn

from . import board, detector_form, forms

JOBS_PAGE_SIZE = 50
LEVELS = {
    "all": gettext_lazy("every run"),
    "warnings": gettext_lazy("warnings and errors"),
    "errors": gettext_lazy("errors only"),
    "off": pgettext_lazy("notify", "off"),
}
# Where a rule's value comes from, as a tag beside it.
ORIGINS = {
    "job": pgettext_lazy("rule from", "this job"),
    "server": pgettext_lazy("rule from", "server"),
    "global": pgettext_lazy("rule from", "global"),
    "default": pgettext_lazy("rule from", "built-in"),
}
# The same, as the short tag beside a job's rule in the table of all jobs.
TAGS = {
    "job": pgettext_lazy("rule tag", "job"),
    "server": pgettext_lazy("rule tag", "server"),
    "global": pgettext_lazy("rule tag", "global"),
    "default": pgettext_lazy("rule tag", "default"),
}
LABELS = {
    "event_level": gettext_lazy("Runs that notify"),
    "run_destinations": gettext_lazy("Run results go to"),
    "overdue_destinations": gettext_lazy("Overdue alerts and reminders go to"),
    "escalation_destinations": gettext_lazy("Escalations go to"),
    "extra_destinations": gettext_lazy("Also notify, each at its own level"),
    "recovery_notifications": gettext_lazy("Tell when an overdue job is back"),
    "escalate_after_failures": gettext_lazy("Escalate after this many failed runs in a row"),
}
# A device group's fields as web/_group_fields.html names them.
GROUP_LABELS = {
    "name": gettext_lazy("Name"),
    "mode": gettext_lazy("Mode"),
    "rotation_days": gettext_lazy("Rotation period (days)"),
    "rotation_start": gettext_lazy("Rotation starts on"),
    "timezone": gettext_lazy("Time zone"),
}
LIST_FIELDS = ("run_destinations", "overdue_destinations", "escalation_destinations")
Target = rule_settings.RuleTarget


# --------------------------------------------------------------------------- the form


@dataclass(frozen=True)
class RuleField:
    """One rule as the form shows it: what this level sets (`own`, None = inherits), and what
    it would inherit (`inherited`, as text, from `inherited_from`)."""

    name: str
    label: str | Promise
    own: Any
    inherited: str
    inherited_from: str

    @property
    def type(self) -> str:
        if self.name in LIST_FIELDS:
            return "destinations"
        return {
            "event_level": "level",
            "extra_destinations": "extra",
            "recovery_notifications": "onoff",
            "escalate_after_failures": "number",
        }[self.name]

    @property
    def chosen(self) -> set[str]:
        return set(self.own or []) if self.type == "destinations" else set()

    @property
    def extra_levels(self) -> dict[str, str]:
        if self.type != "extra":
            return {}
        return {item["destination"]: item["level"] for item in self.own or []}


def destinations() -> list[tuple[str, str]]:
    """Every destination a rule may name, as (reference, label)."""
    found = [("*", _("All channels not in a device group"))]
    found += [(f"channel:{c.pk}", f"{c.name} ({c.kind})") for c in Channel.objects.all()]
    found += [
        (f"group:{g.pk}", _("Device group %(name)s") % {"name": g.name})
        for g in DeviceGroup.objects.all()
    ]
    return found


def describe(name: str, value: Any, names: dict[str, str]) -> str:
    """A rule's value as the page says it."""
    if name == "event_level":
        return str(LEVELS.get(value, value))
    if name == "recovery_notifications":
        return _("yes") if value else _("no")
    if name == "escalate_after_failures":
        if not value:
            return _("never")
        return ngettext("after %(count)d failure", "after %(count)d failures", value) % {
            "count": value
        }
    if name == "escalation_destinations" and value is None:
        return _("the overdue destinations")
    if name == "extra_destinations":
        items = [
            _("%(destination)s: %(level)s")
            % {
                "destination": names.get(i["destination"], i["destination"]),
                "level": LEVELS.get(i["level"], i["level"]),
            }
            for i in value
        ]
        return ", ".join(items) or _("nobody")
    return ", ".join(names.get(ref, ref) for ref in value) or _("nobody")


def form_fields(
    target: Target, names: dict[str, str], posted: QueryDict | None = None
) -> list[RuleField]:
    """The form's fields with this level's values, or with `posted` ones when a form comes
    back with errors."""
    above = rule_settings.inherited(target)
    own = rules.layer(target) if posted is None else _posted(posted)
    return [
        RuleField(
            name=name,
            label=LABELS[name],
            own=None if own[name] in (None, "") else own[name],
            inherited=describe(name, above.values[name], names),
            inherited_from=ORIGINS[above.origins[name]],
        )
        for name in rules.RULE_FIELDS
        if name in LABELS  # the anomaly detectors' settings have a form of their own
    ]


def detector_fields(
    target: Target, posted: QueryDict | None = None, errors: dict[str, str] | None = None
) -> detector_form.DetectorForm:
    return detector_form.build(
        target.anomaly_detectors,
        rule_settings.layers_above(target),
        posted,
        errors,
        origins=ORIGINS,
    )


def read(post: QueryDict, detectors: dict[str, Any] | None = None) -> RulesIn:
    """The posted form as RulesIn with every field set (None = inherit), the detectors'
    settings as read by detector_form; pydantic's ValidationError when something is off."""
    return RulesIn.model_validate({**_posted(post), "anomaly_detectors": detectors})


def _posted(post: QueryDict) -> dict[str, Any]:
    values: dict[str, Any] = {}
    values["event_level"] = post.get("event_level") or None
    values["recovery_notifications"] = {"on": True, "off": False}.get(
        post.get("recovery_notifications", "")
    )
    raw = post.get("escalate_after_failures", "").strip()
    values["escalate_after_failures"] = raw or None
    for name in LIST_FIELDS:
        values[name] = post.getlist(name) if post.get(f"{name}__mode") == "set" else None
    if post.get("extra_destinations__mode") == "set":
        values["extra_destinations"] = [
            {"destination": key.removeprefix("extra:"), "level": level}
            for key, level in post.items()
            if key.startswith("extra:") and level
        ]
    else:
        values["extra_destinations"] = None
    return values


def save(request: HttpRequest, target: Target, label: str) -> dict[str, str]:
    """Apply the posted rules to `target`. When they are invalid nothing is saved and every
    error comes back at once: the detector settings' by input, to be shown next to each, the
    others (under "__all__") said in the message."""
    detectors, errors = detector_form.read(request.POST)
    try:
        values = read(request.POST, detectors)
    except pydantic.ValidationError as exc:
        errors["__all__"] = forms.problems(exc, LABELS)
    if errors:
        said = [errors["__all__"]] if "__all__" in errors else []
        if set(errors) - {"__all__"}:
            said.append(_("see the anomaly detector settings marked below."))
        messages.error(request, _("Not saved: %(problems)s") % {"problems": "; ".join(said)})
        return errors
    before = _own(target)
    rule_settings.apply_rules(target, values)
    changes = audit.diff(before, _own(target))
    if changes:
        audit.record(request, "rules.change", label, changes)
    messages.success(request, _("Notification rules saved.") if changes else _("Nothing changed."))
    return {}


def _own(target: Target) -> dict[str, Any]:
    """Every rule field this level sets, None where it inherits (for the audit log)."""
    own = rule_settings.own(target)
    return {name: own.get(name) for name in rules.RULE_FIELDS}


def panel_context(
    target: Target, posted: QueryDict | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    """What the rules form (web/_rules_fields.html) needs on any page; with the `posted`
    values when the form comes back with `errors`."""
    found = destinations()
    return {
        "rule_fields": form_fields(target, dict(found), posted),
        "detectors": detector_fields(target, posted, errors),
        "destinations": found,
        "levels": LEVELS,
    }


# --------------------------------------------------------------------------- pages


@admin_to_change
def rules_page(request: HttpRequest) -> HttpResponse:
    """The global rules, and every job's rules in force with where each comes from."""
    defaults = MonitoringDefaults.load()
    errors: dict[str, str] = {}
    if request.method == "POST":
        errors = save(request, defaults, "global notification rules")
        if not errors:
            return redirect("web:settings-rules")
    all_rows = board.listed_rows(BackupJob.objects.all(), clock.now())
    query = board.Query.of(request.GET)
    found = board.select(all_rows, board.Query(q=query.q, server=query.server, sort="server"))
    page = Paginator(found, JOBS_PAGE_SIZE).get_page(request.GET.get("page"))
    # Rules are read for the jobs on this page only.
    shown = BackupJob.objects.select_related("server").in_bulk([row.job.pk for row in page])
    context = panel_context(defaults, request.POST if errors else None, errors)
    names = dict(context["destinations"])
    jobs = []
    for row in page:
        job = shown.get(row.job.pk)
        if job is None:  # deleted since it was listed
            continue
        resolved = rule_settings.effective(job, defaults)
        jobs.append(
            {
                "job": job,
                "cells": [
                    (
                        describe(name, resolved.values[name], names),
                        TAGS.get(resolved.origins[name], resolved.origins[name]),
                    )
                    for name in ("event_level", "run_destinations", "overdue_destinations")
                ],
            }
        )
    return render(
        request,
        "web/settings_rules.html",
        {
            **context,
            "page": page,
            "jobs": jobs,
            "query": query,
            "servers": board.servers(all_rows),
            "nav": "settings",
            "section": "rules",
        },
        status=400 if errors else 200,
    )


@require_POST
@admin_required
def rules_bulk(request: HttpRequest) -> HttpResponse:
    """Ticked jobs: notify at a level, or drop their own rules (inherit everything)."""
    job_ids = [int(pk) for pk in request.POST.getlist("job") if pk.isdigit()]
    action = request.POST.get("action", "")
    if not job_ids or not (action in LEVELS or action == "reset"):
        messages.error(request, _("Tick at least one job and choose what to do."))
        return redirect("web:settings-rules")
    if action == "reset":
        count = rule_settings.reset(job_ids)
    else:
        count = BackupJob.objects.filter(pk__in=job_ids).update(event_level=action)
    audit.record(request, f"rules.bulk.{action}", f"{count} jobs", {"job_ids": job_ids})
    if action == "reset":
        text = ngettext(
            "%(count)d job inherits its rules again.",
            "%(count)d jobs inherit their rules again.",
            count,
        )
    else:
        text = ngettext(
            "%(count)d job notifies: %(level)s.", "%(count)d jobs notify: %(level)s.", count
        )
    messages.success(request, text % {"count": count, "level": LEVELS.get(action, action)})
    return redirect("web:settings-rules")


@require_POST
@admin_required
def target_rules(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Save a job's or a server's rules form (on its page, shown again with the errors)."""
    from . import views

    if kind == "job":
        job = get_object_or_404(BackupJob.objects.select_related("server"), pk=pk)
        errors = save(request, job, f"job {job.pk} ({job.server} / {job.name})")
        return (
            views.job_page(request, pk, rule_errors=errors) if errors else redirect("web:job", pk)
        )
    server = get_object_or_404(Server, pk=pk)
    errors = save(request, server, f"server {server.pk} ({server})")
    return (
        views.server_page(request, pk, rule_errors=errors) if errors else redirect("web:server", pk)
    )


@admin_to_change
def groups(request: HttpRequest) -> HttpResponse:
    """Device groups with their devices; add a group."""
    if request.method == "POST":
        group = DeviceGroup(name="devices")
        if _save_group(request, group, new=True):
            return redirect("web:settings-group", group.pk)
    channels = list(Channel.objects.all())
    rows = [_group_row(group, channels) for group in DeviceGroup.objects.all()]
    return render(
        request,
        "web/settings_groups.html",
        {"rows": rows, "nav": "settings", "section": "groups", "shown": {"mode": "failover"}},
    )


@admin_to_change
def group_page(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(DeviceGroup, pk=group_id)
    if request.method == "POST":
        if _save_group(request, group, new=False):
            return redirect("web:settings-group", group.pk)
    channels = list(Channel.objects.all())
    return render(
        request,
        "web/settings_group.html",
        {
            **_group_row(group, channels),
            "others": [c for c in channels if c.group_id is None],
            "shown": group,
            "nav": "settings",
            "section": "groups",
        },
    )


@require_POST
@admin_required
def group_delete(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(DeviceGroup, pk=group_id)
    audit.record(request, "group.delete", f"device group {group.pk} ({group.name})", {})
    group.delete()  # its devices stay, as channels outside any group
    messages.success(
        request, _("Device group “%(name)s” deleted; its devices are kept.") % {"name": group.name}
    )
    return redirect("web:settings-groups")


def _group_row(group: DeviceGroup, channels: list[Channel]) -> dict[str, Any]:
    """A group, all its devices in order, and the one a message would go to right now."""
    members = sorted(
        (c for c in channels if c.group_id == group.pk), key=lambda c: (c.group_position, c.pk)
    )
    on_duty = policy.pick_device(
        group, policy.group_members(group, members), clock.now(), clock.default_timezone()
    )
    return {"group": group, "members": members, "on_duty": on_duty}


def _save_group(request: HttpRequest, group: DeviceGroup, *, new: bool) -> bool:
    post = request.POST
    try:
        values = GroupIn.model_validate(
            {
                "name": post.get("name", "").strip(),
                "mode": post.get("mode") or "failover",
                "rotation_days": post.get("rotation_days") or 7,
                "rotation_start": post.get("rotation_start") or None,
                "timezone": post.get("timezone", "").strip(),
            }
        )
    except pydantic.ValidationError as exc:
        messages.error(
            request, _("Not saved: %(problems)s") % {"problems": forms.problems(exc, GROUP_LABELS)}
        )
        return False
    before = {} if new else _group_snapshot(group)
    rule_settings.apply_group(group, values)
    audit.record(
        request,
        "group.add" if new else "group.change",
        f"device group {group.pk} ({group.name})",
        audit.diff(before, _group_snapshot(group)),
    )
    messages.success(request, _("Device group “%(name)s” saved.") % {"name": group.name})
    return True


def _group_snapshot(group: DeviceGroup) -> dict[str, Any]:
    return {
        "name": group.name,
        "mode": group.mode,
        "rotation_days": group.rotation_days,
        "rotation_start": group.rotation_start.isoformat() if group.rotation_start else None,
        "timezone": group.timezone,
    }
