"""Pages: the dashboard, a server, a job, a run. Thin: they read through board.py and
history.py, change settings through forms.py, and render."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from duplistatus import clock
from duplistatus.accounts import audit
from duplistatus.accounts.roles import admin_required, login_required
from duplistatus.backups.models import BackupJob, BackupRun, Collection, Event, Reminder, Server
from duplistatus.maintenance.details import ServerDetailsIn, save_details
from duplistatus.monitoring.intervals import format_weekdays
from duplistatus.monitoring.learn import describe_learned
from duplistatus.monitoring.settings import SETTING_FIELDS, ScheduleSettingsIn

from . import board, collect_views, forms, history, rule_views, run_details
from .templatetags import ui

JOB_RECENT_RUNS = 30  # the strip of results on a job's page
DASHBOARD_PAGE_SIZE = 50  # most-needing-attention first; a page renders in a few ms
PAUSES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "1w": timedelta(weeks=1)}
PAUSE_LABELS = {
    "1h": gettext_lazy("Pause 1h"),
    "1d": gettext_lazy("Pause 1d"),
    "1w": gettext_lazy("Pause 1w"),
}
# The schedule forms leave the pause to its own buttons (see pause()).
FORM_FIELDS = {name for name in SETTING_FIELDS if name != "paused_until"}
DETAIL_LABELS = {
    "alias": gettext_lazy("Display name"),
    "note": gettext_lazy("Note"),
    "url": gettext_lazy("Duplicati address"),
    "keep_runs_days": gettext_lazy("Keep runs for (days)"),
    "keep_runs_count": gettext_lazy("Keep the last N runs"),
}
# 0 = Sunday, as the schedules count; the names are Django's (translated in every language).
WEEKDAYS = [(day, WEEKDAYS_ABBR[(day - 1) % 7]) for day in range(7)]
REMINDERS = [value for value, _ in Reminder.choices]
# The dashboard's tiles and health filter, most urgent first; a tile filters by its health.
HEALTH_TILES = (
    ("failing", pgettext_lazy("health tile", "failing")),
    ("overdue", pgettext_lazy("health tile", "overdue")),
    ("late", pgettext_lazy("health tile", "late")),
    ("warning", pgettext_lazy("health tile", "with warnings")),
    ("ok", pgettext_lazy("health tile", "OK")),
    ("paused", pgettext_lazy("health tile", "paused or off")),
    ("unknown", pgettext_lazy("health tile", "unknown")),
)
SORT_COLUMNS = (
    ("health", gettext_lazy("Health")),
    ("server", gettext_lazy("Server")),
    ("job", gettext_lazy("Job")),
    ("status", gettext_lazy("Last status")),
    ("last_run", gettext_lazy("Last run")),
    ("next", gettext_lazy("Next expected")),
    ("runs", gettext_lazy("Runs")),
    ("storage", gettext_lazy("Storage")),
)
# What the jobs table's caption says it is sorted by (the sorts without a column too).
SORT_LABELS = {
    **dict(SORT_COLUMNS),
    "attention": gettext_lazy("what needs attention first"),
    "state": gettext_lazy("schedule state"),
}


def _form_context() -> dict[str, object]:
    """What the schedule form and the charts need on a job's or a server's page."""
    return {
        "weekdays": WEEKDAYS,
        "reminders": REMINDERS,
        "ranges": history.RANGE_LABELS,
        "default_range": history.DEFAULT_RANGE,
        "chart_strings": history.chart_strings(),
        "pauses": PAUSE_LABELS,
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    all_rows = board.listed_rows(BackupJob.objects.all(), now)
    query = board.Query.of(request.GET)
    found = board.select(all_rows, query)
    page = Paginator(found, DASHBOARD_PAGE_SIZE).get_page(request.GET.get("page"))
    servers = board.servers(all_rows)
    view = "cards" if request.GET.get("view") == "cards" else "table"
    urgent, urgent_count = board.needs_a_look(all_rows)
    context = {
        "summary": board.summarize(all_rows),
        "query": query,
        "page": page,
        "recent": board.recent_runs([row.job.pk for row in page]),
        "groups": board.by_server(list(page), board.server_healths(all_rows))
        if view == "cards"
        else [],
        "urgent": urgent,
        "urgent_count": urgent_count,
        "found": len(found),
        "servers": servers,
        "view": view,
        "tiles": HEALTH_TILES,
        "states": board.STATES,
        "statuses": [(status, ui.status_label(status)) for status in board.STATUSES],
        "sort_columns": SORT_COLUMNS,
        "sort_label": SORT_LABELS.get(query.sort, query.sort),
        "nav": "dashboard",
    }
    # "Collect all" and its live progress, for servers linked to Duplicati's REST API: read
    # from the servers already loaded, and one indexed query only when there are some.
    linked = any(row.server.duplicati_url for row in all_rows)
    context["linked_servers"] = linked
    context["collecting"] = (
        linked and Collection.objects.filter(state__in=["queued", "running"]).exists()
    )
    template = "web/_board.html" if request.headers.get("HX-Request") else "web/dashboard.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


def _schedule_facts(row: board.Row) -> dict[str, object]:
    schedule = row.schedule
    return {
        "interval": schedule.interval_text,
        "source": schedule.source,
        "weekdays": format_weekdays(schedule.weekdays) if schedule.weekdays else _("every day"),
        "tz": schedule.tz.key,
        "learned": describe_learned(row.job, schedule.tz),
        "grace": schedule.grace,
        "reminder": schedule.reminder_period,
        "escalation": schedule.escalation_after,
        "origins": schedule.origins,
        "enabled": schedule.monitoring_enabled,
        "paused_until": schedule.paused_until,
    }


@login_required
def server_page(
    request: HttpRequest,
    server_id: int,
    errors: dict[str, str] | None = None,
    connection: dict[str, object] | None = None,
    rule_errors: dict[str, str] | None = None,
) -> HttpResponse:
    server = get_object_or_404(Server, pk=server_id)
    rows = board.select(
        board.rows(BackupJob.objects.filter(server=server), clock.now()), board.Query()
    )
    return render(
        request,
        "web/server.html",
        {
            "server": server,
            "first_seen": history.first_seen(server),
            "rows": rows,
            "history": history.page(
                BackupRun.objects.filter(server=server), request.GET.get("page")
            ),
            "job_names": {row.job.pk: row.job.name for row in rows},
            "recent": board.recent_runs([row.job.pk for row in rows]),
            "health": board.server_healths(rows).get(server.pk, "unknown"),
            "settings": forms.posted(request.POST) if errors else forms.own_settings(server),
            "errors": errors or {},
            **_form_context(),
            **rule_views.panel_context(server, request.POST if rule_errors else None, rule_errors),
            **(connection or collect_views.connection_context(server)),
            **collect_views.status_context([server]),
            "one": True,
        },
        status=400 if errors or rule_errors else 200,
    )


@login_required
def job_page(
    request: HttpRequest,
    job_id: int,
    errors: dict[str, str] | None = None,
    rule_errors: dict[str, str] | None = None,
) -> HttpResponse:
    found = board.rows(BackupJob.objects.filter(pk=job_id), clock.now())
    if not found:
        raise Http404("no such job")
    row = found[0]
    return render(
        request,
        "web/job.html",
        {
            "row": row,
            "job": row.job,
            "schedule": _schedule_facts(row),
            "recent": board.recent_runs([row.job.pk], JOB_RECENT_RUNS)[row.job.pk],
            "history": history.page(row.job.runs.all(), request.GET.get("page")),
            "settings": forms.posted(request.POST) if errors else forms.own_settings(row.job),
            "errors": errors or {},
            **_form_context(),
            **rule_views.panel_context(row.job, request.POST if rule_errors else None, rule_errors),
        },
        status=400 if errors or rule_errors else 200,
    )


@login_required
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(BackupRun.objects.select_related("job__server"), pk=run_id)
    siblings = BackupRun.objects.filter(job_id=run.job_id).only("id")
    newer = siblings.filter(begin_time__gt=run.begin_time).order_by("begin_time", "id").first()
    older = siblings.filter(begin_time__lt=run.begin_time).order_by("-begin_time", "-id").first()
    return render(
        request,
        "web/run.html",
        {
            "run": run,
            "job": run.job,
            "statistics": run_details.statistics(run),
            "log_lines": run_details.log_lines(run.log_lines),
            "sections": run_details.sections(run.data),
            "newer": newer,
            "older": older,
            "anomalies": _anomalies_of(run),
        },
    )


@login_required
def job_metrics(request: HttpRequest, job_id: int) -> JsonResponse:
    job = get_object_or_404(BackupJob, pk=job_id)
    from duplistatus.anomaly import check as anomaly

    now = clock.now()
    data = history.series(job.runs.all(), request.GET.get("range", ""), now, {job.pk: job.name})
    # Each metric's normal band and the runs flagged outside it (anomaly/check.py).
    data.update(anomaly.chart_marks(job, now))
    return JsonResponse(data)


@login_required
def server_metrics(request: HttpRequest, server_id: int) -> JsonResponse:
    server = get_object_or_404(Server, pk=server_id)
    names = dict(server.jobs.values_list("id", "name"))
    data = history.series(
        BackupRun.objects.filter(server=server), request.GET.get("range", ""), clock.now(), names
    )
    return JsonResponse(data)


def _target(kind: str, pk: int) -> BackupJob | Server:
    return get_object_or_404(BackupJob if kind == "job" else Server, pk=pk)


def _page_of(target: BackupJob | Server) -> HttpResponse:
    if isinstance(target, BackupJob):
        return redirect("web:job", target.pk)
    return redirect("web:server", target.pk)


@require_POST
@admin_required
def schedule(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Save a job's or a server's schedule form."""
    target = _target(kind, pk)
    values, errors = forms.read(request.POST, only=FORM_FIELDS)
    if values is None:
        messages.error(request, _("Not saved: see the fields marked below."))
        if isinstance(target, BackupJob):
            return job_page(request, target.pk, errors=errors)
        return server_page(request, target.pk, errors=errors)
    changes = forms.save(request, target, values)
    messages.success(request, _("Schedule saved.") if changes else _("Nothing changed."))
    return _page_of(target)


@require_POST
@admin_required
def pause(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Pause for a while, until a given time, or resume (monitoring only: runs are still
    stored; no overdue alerts until the pause ends, then monitoring resumes by itself)."""
    target = _target(kind, pk)
    choice = request.POST.get("pause", "")
    if choice == "resume":
        until = None
    elif choice in PAUSES:
        until = clock.now() + PAUSES[choice]
    else:
        values, errors = forms.read(request.POST, only={"paused_until"})
        if values is None or values.paused_until is None:
            messages.error(request, _("Give the date and time the pause ends."))
            return _page_of(target)
        until = values.paused_until
        if until <= clock.now():
            messages.error(request, _("Not paused: the pause must end in the future."))
            return _page_of(target)
    forms.save(request, target, ScheduleSettingsIn(paused_until=until), action="pause")
    messages.success(
        request, _("Monitoring resumed.") if until is None else _("Monitoring paused.")
    )
    return _page_of(target)


def _anomalies_of(run: BackupRun) -> list[dict[str, Any]]:
    """What the anomaly detectors found in this run, in words, for the run page."""
    from duplistatus.anomaly import words

    found = Event.objects.filter(run=run, kind__in=[Event.Kind.ANOMALY, Event.Kind.STORAGE])
    return [
        {"event": event, **words.variables(event.details), **words.shown(event.details)}
        for event in found.order_by("id")
    ]


@require_POST
@admin_required
def run_expected(request: HttpRequest, event_id: int) -> HttpResponse:
    """The user says a flagged run was expected: it counts as normal from now on."""
    from duplistatus.anomaly import check as anomaly

    event = get_object_or_404(Event.objects.select_related("job"), pk=event_id, kind="anomaly")
    anomaly.mark_expected(event, by=request.user.get_username())
    audit.record(
        request,
        "anomaly.expected",
        f"run {event.run_id} of job {event.job_id} ({event.job.name})",
        {"expected": {"from": False, "to": True}, "detector": event.details.get("detector")},
    )
    messages.success(request, _("Marked as expected: this run now counts as normal."))
    return redirect("web:run", event.run_id) if event.run_id else redirect("web:job", event.job_id)


@require_POST
@admin_required
def server_reset(request: HttpRequest, server_id: int) -> HttpResponse:
    """Drop the server's own schedule settings: its jobs inherit the global defaults again
    (a pause stays; it has its own buttons)."""
    server = get_object_or_404(Server, pk=server_id)
    values = ScheduleSettingsIn(**dict.fromkeys(FORM_FIELDS))
    changes = forms.save(request, server, values, action="reset")
    messages.success(request, _("Server defaults reset.") if changes else _("Nothing to reset."))
    return redirect("web:server", server.pk)


@require_POST
@admin_required
def server_details(request: HttpRequest, server_id: int) -> HttpResponse:
    server = get_object_or_404(Server, pk=server_id)
    try:
        values = ServerDetailsIn(
            alias=request.POST.get("alias", ""),
            note=request.POST.get("note", ""),
            url=request.POST.get("url", ""),
            keep_runs_days=request.POST.get("keep_runs_days") or None,
            keep_runs_count=request.POST.get("keep_runs_count") or None,
        )
    except ValidationError as exc:
        messages.error(
            request, _("Not saved: %(problems)s") % {"problems": forms.problems(exc, DETAIL_LABELS)}
        )
        return redirect("web:server", server.pk)
    save_details(server, values, request)
    messages.success(request, _("Saved."))
    return redirect("web:server", server.pk)
