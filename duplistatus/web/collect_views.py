"""Collecting from Duplicati servers in the UI: add a server by its address, link an existing
one, test the connection, collect one or all, and the live status (htmx polls it)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from duplistatus import wakeup
from duplistatus.accounts import audit
from duplistatus.accounts.roles import admin_required, login_required
from duplistatus.backups.models import CollectEvery, Collection, Server
from duplistatus.collect import link, queue
from duplistatus.collect.client import CollectError, format_fingerprint

# Which form field an error belongs next to.
ERROR_FIELD = {
    "wrong_password": "password",
    "certificate_untrusted": "trust",
    "certificate_changed": "trust",
}


def status_context(servers: list[Server] | None = None) -> dict:
    collections = latest_collections(servers)
    return {"collections": collections, "polling": any(c.active for c in collections)}


def latest_collections(servers: list[Server] | None = None) -> list[Collection]:
    """The latest collection of each server (of `servers`, or of every linked one)."""
    if servers is None:
        servers = list(Server.objects.filter(queue.collectable()))
    latest = []
    for server in servers:
        found = server.collections.first()
        if found is not None:
            found.server = server
            latest.append(found)
    return latest


def connection_context(server: Server | None, request: HttpRequest | None = None) -> dict:
    posted = request.POST if request is not None and request.method == "POST" else {}
    return {
        "collect_every_choices": CollectEvery.choices,
        "form": {
            "address": posted.get("address", server.duplicati_url if server else ""),
            "collect_every": posted.get("collect_every", server.collect_every if server else ""),
        },
        "pinned": format_fingerprint(server.duplicati_fingerprint)
        if server and server.duplicati_fingerprint
        else "",
        "connection_errors": {},
    }


def _link(request: HttpRequest, server: Server | None) -> tuple[dict, Server | None]:
    """Test (and, unless only testing, save) the posted connection."""
    context = connection_context(server, request)
    post = request.POST
    try:
        linked = link.test_connection(
            post.get("address", ""),
            post.get("password", ""),
            server=server,
            trust_fingerprint=post.get("trust", ""),
        )
    except CollectError as exc:
        context["connection_errors"] = {ERROR_FIELD.get(exc.code, "address"): exc.message}
        if exc.fingerprint and exc.code in ("certificate_untrusted", "certificate_changed"):
            context["offer_trust"] = exc.fingerprint
            context["offer_trust_shown"] = format_fingerprint(exc.fingerprint)
        return context, None
    context["tested"] = linked
    if post.get("action") == "test":
        return context, None
    before = {
        "url": server.duplicati_url if server else "",
        "fingerprint": server.duplicati_fingerprint if server else "",
        "collect_every": server.collect_every if server else "",
    }
    saved = link.save(linked, server, post.get("collect_every", ""))
    changes = audit.diff(
        before,
        {
            "url": saved.duplicati_url,
            "fingerprint": saved.duplicati_fingerprint,
            "collect_every": saved.collect_every,
        },
    )
    changes["password"] = "set"  # that it changed, never what it is
    audit.record(request, "server.duplicati", f"server {saved.pk} ({saved.name})", changes)
    return context, saved


@admin_required
def add_server(request: HttpRequest) -> HttpResponse:
    """Add a Duplicati server by its address and password; its history is collected at once."""
    context = connection_context(None, request)
    if request.method == "POST":
        context, saved = _link(request, None)
        if saved is not None:
            queue.request(saved, f"user:{request.user.get_username()}")
            wakeup.wake_on_commit()
            messages.success(
                request, _("Added %(server)s; collecting its history now.") % {"server": saved}
            )
            return redirect("web:server", saved.pk)
    return render(request, "web/server_add.html", {**context, "nav": "dashboard"})


@require_POST
@admin_required
def server_connection(request: HttpRequest, server_id: int) -> HttpResponse:
    server = get_object_or_404(Server, pk=server_id)
    if request.POST.get("action") == "unlink":
        link.unlink(server)
        audit.record(
            request,
            "server.duplicati",
            f"server {server.pk} ({server.name})",
            {"url": {"from": server.duplicati_url, "to": ""}},
        )
        messages.success(request, _("The Duplicati address and password are forgotten."))
        return redirect("web:server", server.pk)
    context, saved = _link(request, server)
    if saved is not None:
        messages.success(request, _("Connection saved."))
        return redirect("web:server", server.pk)
    from .views import server_page

    return server_page(request, server.pk, connection=context)


@require_POST
@admin_required
def collect_server(request: HttpRequest, server_id: int) -> HttpResponse:
    server = get_object_or_404(Server, pk=server_id)
    if not server.duplicati_url:
        messages.error(request, _("Set the server's Duplicati address and password first."))
        return redirect("web:server", server.pk)
    queue.request(server, f"user:{request.user.get_username()}")
    wakeup.wake_on_commit()
    if request.headers.get("HX-Request"):
        return collect_status(request, server_id)
    return redirect("web:server", server.pk)


@login_required
def collect_status(request: HttpRequest, server_id: int) -> HttpResponse:
    server = get_object_or_404(Server, pk=server_id)
    return render(
        request,
        "web/_collect_status.html",
        {"server": server, **status_context([server]), "one": True},
    )


@require_POST
@admin_required
def collect_all(request: HttpRequest) -> HttpResponse:
    queued = queue.request_all(f"user:{request.user.get_username()}")
    wakeup.wake_on_commit()
    if request.headers.get("HX-Request"):
        return collect_all_status(request)
    count = len(queued)
    messages.success(
        request,
        ngettext("Collecting from %(count)s server.", "Collecting from %(count)s servers.", count)
        % {"count": count},
    )
    return redirect("web:dashboard")


@login_required
def collect_all_status(request: HttpRequest) -> HttpResponse:
    return render(request, "web/_collect_status.html", {**status_context(), "one": False})
