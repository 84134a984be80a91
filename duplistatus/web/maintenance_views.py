"""Maintenance pages: delete a run, job or server (after a confirmation that names what goes
and how much), merge servers and jobs, Settings → Maintenance. Thin: the work is in
duplistatus.maintenance."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from duplistatus import applog
from duplistatus.accounts import audit
from duplistatus.accounts.roles import admin_required, admin_to_change, is_admin
from duplistatus.backups.models import BackupJob, BackupRun, MaintenanceSettings, Server
from duplistatus.maintenance import backup, delete, merge, retention


@admin_required
def delete_confirm(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """GET: what would go. POST: delete it, then back to the page above it."""
    target: BackupRun | BackupJob | Server
    if kind == "run":
        target = get_object_or_404(BackupRun.objects.select_related("job__server"), pk=pk)
        impact = delete.impact_of_run(target)
        back = ("web:job", target.job_id)
    elif kind == "job":
        target = get_object_or_404(BackupJob.objects.select_related("server"), pk=pk)
        impact = delete.impact_of_job(target)
        back = ("web:server", target.server_id)
    else:
        target = get_object_or_404(Server, pk=pk)
        impact = delete.impact_of_server(target)
        back = ("web:dashboard", None)
    if request.method == "POST":
        done = getattr(delete, f"delete_{kind}")(target, request)
        messages.success(request, _("Deleted %(what)s.") % {"what": done.describe()})
        return redirect(back[0], *([back[1]] if back[1] else []))
    return render(
        request,
        "web/delete_confirm.html",
        {"kind": kind, "target": target, "impact": impact, "back": back},
    )


@admin_required
def merge_page(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Pick what to merge into (likely duplicates first), see what will happen, merge."""
    model = Server if kind == "server" else BackupJob
    source = get_object_or_404(model, pk=pk)
    if kind == "server":
        candidates = list(Server.objects.exclude(pk=pk))
        suggested = {
            (d.newer if d.older.pk == pk else d.older).pk: d.reason
            for d in merge.likely_duplicates()
            if pk in (d.older.pk, d.newer.pk)
        }
    else:
        candidates = list(BackupJob.objects.select_related("server").exclude(pk=pk))
        same = _("same server")
        suggested = {j.pk: same for j in candidates if j.server_id == source.server_id}
    candidates.sort(key=lambda c: (c.pk not in suggested, str(c).casefold()))
    into = next(
        (c for c in candidates if str(c.pk) == request.POST.get("into", request.GET.get("into"))),
        None,
    )
    if request.method == "POST" and into is not None:
        try:
            if kind == "server":
                result = merge.merge_servers(
                    source, into, name=request.POST.get("name", ""), request=request
                )
            else:
                result = merge.merge_jobs(
                    source, into, name=request.POST.get("name", ""), request=request
                )
        except merge.MergeError as exc:
            messages.error(request, _("Not merged: %(why)s.") % {"why": exc})
        else:
            moved = ngettext(
                "Merged: %(count)s run moved, %(already)s already there.",
                "Merged: %(count)s runs moved, %(already)s already there.",
                result.moved_runs,
            )
            messages.success(
                request,
                moved
                % {
                    "count": number_format(result.moved_runs, force_grouping=True),
                    "already": number_format(result.duplicate_runs, force_grouping=True),
                },
            )
            return redirect(f"web:{kind}", into.pk)
    impact = None
    if into is not None:
        impact = (
            delete.impact_of_server(source) if kind == "server" else delete.impact_of_job(source)
        )
    return render(
        request,
        "web/merge.html",
        {
            "kind": kind,
            "source": source,
            "candidates": [(c, suggested.get(c.pk, "")) for c in candidates],
            "into": into,
            "impact": impact,
        },
    )


class RetentionForm(forms.ModelForm):
    class Meta:
        model = MaintenanceSettings
        fields = [
            "keep_runs_days",
            "keep_runs_count",
            "keep_raw_days",
            "delivery_log_days",
            "audit_retention_days",
            "backups_kept",
        ]
        labels = {
            "keep_runs_days": gettext_lazy("Keep runs for (days)"),
            "keep_runs_count": gettext_lazy("Keep the last N runs of each job"),
            "keep_raw_days": gettext_lazy("Keep report bodies for (days)"),
            "delivery_log_days": gettext_lazy("Keep the delivery log for (days)"),
            "audit_retention_days": gettext_lazy("Keep the audit log for (days)"),
            "backups_kept": gettext_lazy("Nightly backups kept"),
        }
        help_texts = {
            "keep_runs_days": gettext_lazy(
                "Empty: for ever. The latest run of every job always stays."
            ),
            "keep_runs_count": gettext_lazy("Empty: all. A server can set its own on its page."),
            "keep_raw_days": gettext_lazy(
                "The reports as Duplicati sent them; the runs stay. Empty: as long as their run."
            ),
            "delivery_log_days": gettext_lazy("Empty: each channel's own setting."),
            "audit_retention_days": gettext_lazy("Empty: DUPLISTATUS_AUDIT_RETENTION_DAYS (365)."),
            "backups_kept": gettext_lazy("In the data dir's backups folder; 0: no nightly backup."),
        }
        widgets = {name: forms.NumberInput(attrs={"min": 0}) for name in fields}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("keep_runs_days", "keep_runs_count", "keep_raw_days"):
            if data.get(name) == 0:
                self.add_error(name, _("At least 1, or empty to keep everything."))
        return data


@admin_to_change
def maintenance(request: HttpRequest) -> HttpResponse:
    """Settings → Maintenance: retention, clean-up (dry run first), likely duplicate
    servers, backups."""
    row = MaintenanceSettings.load()
    form = RetentionForm(instance=row)
    preview = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "save":
            before = {name: getattr(row, name) for name in RetentionForm.Meta.fields}
            form = RetentionForm(request.POST, instance=row)
            if form.is_valid():
                form.save()
                after = {name: getattr(row, name) for name in RetentionForm.Meta.fields}
                if changes := audit.diff(before, after):
                    audit.record(request, "maintenance.settings", "retention", changes)
                messages.success(request, _("Saved.") if changes else _("Nothing changed."))
                return redirect("web:settings-maintenance")
        elif action == "preview":
            preview = retention.plan()
        elif action == "cleanup":
            done = retention.purge()
            audit.record(request, "maintenance.cleanup", "retention", done.as_dict())
            messages.success(request, _("Cleaned up: %(what)s.") % {"what": _describe(done)})
            return redirect("web:settings-maintenance")
        elif action == "backup":
            path = backup.backup_now()
            audit.record(request, "database.backup", path.name, {"size": path.stat().st_size})
            messages.success(request, _("Backed up to %(file)s.") % {"file": path.name})
            return redirect("web:settings-maintenance")
    return render(
        request,
        "web/settings_maintenance.html",
        {
            "section": "maintenance",
            "form": form,
            "row": row,
            "preview": preview,
            "preview_text": _describe(preview) if preview is not None else "",
            "duplicates": merge.likely_duplicates(),
            "backups": [(p.name, p.stat().st_size) for p in backup.backup_files()],
            "is_admin": is_admin(request.user),
        },
        status=400 if form.errors else 200,
    )


def _describe(plan: retention.Plan) -> str:
    def count(text: str, n: int) -> str:
        return text % {"count": number_format(n, force_grouping=True)}

    parts = [
        count(ngettext("%(count)s run", "%(count)s runs", plan.runs), plan.runs),
        count(
            ngettext("%(count)s report body", "%(count)s report bodies", plan.raw_reports),
            plan.raw_reports,
        ),
        count(
            ngettext(
                "%(count)s delivery log entry", "%(count)s delivery log entries", plan.deliveries
            ),
            plan.deliveries,
        ),
        count(
            ngettext(
                "%(count)s audit log entry", "%(count)s audit log entries", plan.audit_entries
            ),
            plan.audit_entries,
        ),
    ]
    return ", ".join(parts)


@admin_required
def backup_download(request: HttpRequest, name: str) -> FileResponse:
    """One of the nightly backups, by its listed name only (never a path)."""
    found = next((p for p in backup.backup_files() if p.name == name), None)
    if found is None:
        raise Http404("no such backup")
    audit.record(request, "database.download", name, {})
    return FileResponse(open(found, "rb"), as_attachment=True, filename=name)


@admin_required
def log_page(request: HttpRequest) -> HttpResponse:
    """Settings → Log: the application log, newest first, by level and text."""
    level = request.GET.get("level", "")
    search = request.GET.get("q", "").strip()[:200]
    return render(
        request,
        "web/settings_log.html",
        {
            "section": "log",
            "entries": applog.select(applog.entries(), level, search),
            "levels": applog.LEVELS,
            "level": level,
            "q": search,
            "path": applog.log_file(),
        },
    )


@admin_required
def log_download(request: HttpRequest) -> HttpResponse:
    path = applog.log_file()
    if not path.exists():
        raise Http404("no log yet")
    return FileResponse(open(path, "rb"), as_attachment=True, filename="duplistatus.log")
