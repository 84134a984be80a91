"""Maintenance pages: delete a run, job or server (after a confirmation that names what goes
and how much), merge servers and jobs, Settings → Maintenance. Thin: the work is in
duplistatus.maintenance."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from duplistatus.accounts.roles import admin_required
from duplistatus.backups.models import BackupJob, BackupRun, Server
from duplistatus.maintenance import delete, merge


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
        messages.success(request, f"Deleted {done.describe()}.")
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
        suggested = {j.pk: "same server" for j in candidates if j.server_id == source.server_id}
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
            messages.error(request, f"Not merged: {exc}.")
        else:
            messages.success(
                request,
                f"Merged: {result.moved_runs:,} run(s) moved, {result.duplicate_runs:,} "
                "already there.",
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
