"""Settings pages for monitoring: global defaults, server defaults, and every job's schedule
with a bulk edit. Everyone signed in may look; only admins may change (403 otherwise)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from duplistatus import clock
from duplistatus.accounts.roles import admin_required, admin_to_change
from duplistatus.backups.models import FACTORY_DEFAULTS, BackupJob, MonitoringDefaults
from duplistatus.monitoring import monitor
from duplistatus.monitoring.settings import SETTING_FIELDS, DefaultsIn, ScheduleSettingsIn

from . import board, forms
from .views import REMINDERS, WEEKDAYS

JOBS_PAGE_SIZE = 50


@admin_to_change
def monitoring(request: HttpRequest) -> HttpResponse:
    defaults = MonitoringDefaults.load()
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = forms.read(request.POST, defaults=True)
        if values is not None:
            changes = forms.save(request, defaults, values)
            messages.success(request, _("Defaults saved.") if changes else _("Nothing changed."))
            return redirect("web:settings-monitoring")
    all_rows = board.listed_rows(BackupJob.objects.all(), clock.now())
    query = board.Query.of(request.GET)
    found = board.select(all_rows, board.Query(q=query.q, server=query.server, sort="server"))
    servers = board.servers(all_rows)
    own = sorted(
        {
            row.server
            for row in all_rows
            if any(getattr(row.server, name) not in (None, "") for name in SETTING_FIELDS)
        },
        key=lambda server: str(server).casefold(),
    )
    return render(
        request,
        "web/settings_monitoring.html",
        {
            "defaults": defaults,
            "settings": forms.posted(request.POST)
            if errors
            else forms.own_settings(defaults, forms.DEFAULTS_FIELDS),
            "errors": errors,
            "servers": servers,
            "servers_with_settings": own,
            "query": query,
            "page": Paginator(found, JOBS_PAGE_SIZE).get_page(request.GET.get("page")),
            "found": len(found),
            "weekdays": WEEKDAYS,
            "reminders": REMINDERS,
            "nav": "settings",
            "section": "monitoring",
        },
        status=400 if errors else 200,
    )


@require_POST
@admin_required
def monitoring_bulk(request: HttpRequest) -> HttpResponse:
    """The same settings on every ticked job; only the fields whose box is ticked change."""
    job_ids = [int(pk) for pk in request.POST.getlist("job") if pk.isdigit()]
    only = {name for name in SETTING_FIELDS if request.POST.get("change_" + name)}
    back = _back(request)
    if not job_ids or not only:
        messages.error(request, _("Tick at least one job and one setting to change."))
        return back
    values, errors = forms.read(request.POST, only=only)
    if values is None:
        problems = "; ".join(
            _("%(field)s: %(problem)s") % {"field": forms.LABELS.get(name, name), "problem": text}
            for name, text in errors.items()
        )
        messages.error(request, _("Not saved: %(problems)s") % {"problems": problems})
        return back
    count = forms.save_many(request, job_ids, values)
    messages.success(
        request,
        ngettext("Changed %(count)d job.", "Changed %(count)d jobs.", count) % {"count": count},
    )
    return back


@require_POST
@admin_required
def monitoring_action(request: HttpRequest) -> HttpResponse:
    """What an admin may do at once over all jobs: scan now, restart reminders, monitoring
    on or off for every job (not only the page shown), reset the global defaults."""
    action = request.POST.get("action", "")
    now = clock.now()
    if action == "scan":
        result = monitor.scan(now)
        jobs = ngettext("%(count)d job", "%(count)d jobs", result.examined)
        alerts = ngettext("%(count)d new alert queued", "%(count)d new alerts queued", result.total)
        messages.success(
            request,
            _("Scanned %(jobs)s: %(alerts)s.")
            % {
                "jobs": jobs % {"count": result.examined},
                "alerts": alerts % {"count": result.total},
            },
        )
    elif action == "reset_reminders":
        count = monitor.reset_reminders(now)
        messages.success(
            request,
            ngettext(
                "Reminders restarted from now for %(count)d overdue job.",
                "Reminders restarted from now for %(count)d overdue jobs.",
                count,
            )
            % {"count": count},
        )
    elif action in ("enable_all", "disable_all"):
        on = action == "enable_all"
        job_ids = list(BackupJob.objects.values_list("pk", flat=True))
        count = forms.save_many(request, job_ids, ScheduleSettingsIn(monitoring_enabled=on))
        if on:
            text = ngettext(
                "Monitoring on for the %(count)d job.",
                "Monitoring on for all %(count)d jobs.",
                count,
            )
        else:
            text = ngettext(
                "Monitoring off for the %(count)d job.",
                "Monitoring off for all %(count)d jobs.",
                count,
            )
        messages.success(request, text % {"count": count})
    elif action == "reset_defaults":
        factory = {name: None for name in SETTING_FIELDS} | FACTORY_DEFAULTS
        changes = forms.save(request, MonitoringDefaults.load(), DefaultsIn(**factory))
        messages.success(
            request,
            _("Global defaults reset.") if changes else _("They were the defaults already."),
        )
    else:
        messages.error(request, _("Unknown action."))
    return redirect("web:settings-monitoring")


def _back(request: HttpRequest) -> HttpResponse:
    """To the page the form was on (its filters and page), if that is one of ours."""
    url = request.POST.get("back", "")
    if url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return redirect(url)
    return redirect("web:settings-monitoring")
