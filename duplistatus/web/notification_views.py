"""Settings pages for notification channels and the delivery log. Everyone signed in may
look; only admins may change (403 otherwise). Channels change through
notifications.channel_settings, the same path as the API; every change is audited."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import time
from typing import Any

import pydantic
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from duplistatus import clock
from duplistatus.accounts import audit
from duplistatus.accounts.roles import admin_required, admin_to_change, is_admin, login_required
from duplistatus.api.notify import _counts
from duplistatus.notifications import languages, outbox
from duplistatus.notifications import messages as notification_messages
from duplistatus.notifications.channel_settings import (
    ChannelIn,
    ChannelSettingsError,
    apply_channel,
    shown_config,
)
from duplistatus.notifications.channels import ntfy
from duplistatus.notifications.channels.base import EVENT_KINDS
from duplistatus.notifications.channels.ntfy.config import DEFAULT_PRIORITIES
from duplistatus.notifications.models import Channel, Delivery, DeviceGroup

from . import forms

DELIVERIES_PAGE_SIZE = 50
KIND_NAMES = {"ntfy": "ntfy", "email": "E-mail", "webhook": "Webhook", "apprise": "Apprise"}
HTTP_METHODS = ("POST", "GET", "PUT", "PATCH", "DELETE")
# ntfy's names for its five priorities, as its apps show them.
PRIORITY_NAMES = {1: "1 · min", 2: "2 · low", 3: "3 · default", 4: "4 · high", 5: "5 · max"}
ACTION_FIELDS = {"action_label": "label", "action_url": "url", "action_method": "method"}
WEEKDAY_CHOICES = ("0", "1", "2", "3", "4", "5", "6")
WEEKDAY_NAMES = {"0": "Sun", "1": "Mon", "2": "Tue", "3": "Wed", "4": "Thu", "5": "Fri", "6": "Sat"}


@dataclass(frozen=True)
class Setting:
    """One of a kind's settings as a form field. `type`: text, url, number, select,
    checkbox, list (comma-separated) or secret (write-only)."""

    name: str
    label: str
    type: str = "text"
    hint: str = ""
    choices: tuple[str, ...] = ()


SETTINGS: dict[str, list[Setting]] = {
    "ntfy": [
        Setting("server_url", "Server URL", "url", "e.g. https://ntfy.sh"),
        Setting("topic", "Topic", hint="blank = generated"),
        Setting("access_token", "Access token", "secret", "or a username and password"),
        Setting("username", "Username", hint="with a password; not with an access token"),
        Setting("password", "Password", "secret"),
        Setting("priorities", "Priority of each message kind", "priorities"),
        Setting("tags", "Tags", "list", "comma-separated; emoji names show as icons"),
        Setting("icon_url", "Icon URL", "url", "an image the notification shows"),
        Setting("markdown", "Format messages as Markdown", "checkbox"),
        Setting("view_action", "“Open” button to the job's page", "checkbox"),
        Setting("action_label", "Action button", hint="an extra button that calls a URL"),
        Setting("action_url", "Action button URL", "url"),
        Setting("action_method", "Action button method", "select", choices=HTTP_METHODS),
    ],
    "email": [
        Setting("host", "SMTP host"),
        Setting("port", "Port", "number", "blank = the usual port for the security"),
        Setting("security", "Security", "select", choices=("none", "starttls", "tls")),
        Setting("verify_certificate", "Verify the server's certificate", "checkbox"),
        Setting(
            "ca_file", "CA certificate file", hint="for a private CA: a PEM path on this server"
        ),
        Setting("username", "Username", hint="blank = no authentication"),
        Setting("password", "Password", "secret"),
        Setting("from_address", "From address"),
        Setting("sender_name", "Sender name", hint="the name the e-mails come from"),
        Setting("recipients", "Recipients", "list", "comma-separated"),
    ],
    "webhook": [
        Setting("url", "URL", "url"),
        Setting("secret", "Signing secret", "secret", "blank = generated"),
    ],
    "apprise": [Setting("url", "Apprise URL", "secret", "e.g. tgram://bottoken/ChatID")],
}
# Settings every kind has, by section. "kinds" is a set of message kinds to tick.
COMMON_SECTIONS: list[tuple[str, list[Setting]]] = [
    (
        "What it receives",
        [
            Setting("event_kinds", "Message kinds", "kinds", "none ticked: every kind"),
            Setting("language", _("Language"), "language", _("of its messages")),
        ],
    ),
    (
        "When",
        [
            Setting("timezone", "Time zone", hint="for the hours below; blank = server TZ"),
            Setting("quiet_start", "Quiet hours from", "time", "only urgent kinds pass"),
            Setting("quiet_end", "Quiet hours until", "time"),
            Setting("urgent_kinds", "Urgent kinds", "kinds", "these pass quiet hours"),
        ],
    ),
    (
        "Pace",
        [
            Setting("rate_per_minute", "Messages a minute", "number", "0 = no limit"),
            Setting("burst", "Burst", "number", "sent at once before the rate applies"),
            Setting("batch_threshold", "Digest above", "number", "due at once; 0 = never"),
        ],
    ),
    (
        "As a device in a group",
        [
            Setting("group_id", "Device group", "group", "none: not a device"),
            Setting("group_position", "Position in the group", "number", "lower goes first"),
            Setting(
                "min_priority", "Minimum priority", "select", choices=("1", "2", "3", "4", "5")
            ),
            Setting("active_start", "Active from", "time", "outside active hours, skipped"),
            Setting("active_end", "Active until", "time"),
        ],
    ),
    (
        "Privacy",
        [
            Setting("hide_log_text", "Leave out log text", "checkbox"),
            Setting("hide_paths", "Leave out file paths", "checkbox"),
            Setting("use_server_alias", "Name servers by their alias", "checkbox"),
            Setting("log_retention_days", "Keep its delivery log (days)", "number"),
        ],
    ),
    (
        "Summary report",
        [
            Setting(
                "summary_schedule", "Send a summary", "select", choices=("", "daily", "weekly")
            ),
            Setting("summary_time", "At", "time", "local time"),
            Setting("summary_weekday", "On (weekly)", "select", choices=WEEKDAY_CHOICES),
        ],
    ),
]
COMMON = [setting for _title, settings in COMMON_SECTIONS for setting in settings]
LABELS = {setting.name: setting.label for setting in COMMON}


@login_required
def channels(request: HttpRequest) -> HttpResponse:
    rows = list(Channel.objects.all())
    counts = _counts(Channel.objects.all())
    admin = is_admin(request.user)
    for channel in rows:
        channel.queued = counts[channel.pk]["queued"]
        channel.dead = counts[channel.pk]["dead"]
        # The subscribe link holds the topic, which lets anyone read the channel.
        channel.subscribe = _subscribe(channel) if admin else None
    return render(
        request,
        "web/settings_notifications.html",
        {
            "channels": rows,
            "kinds": KIND_NAMES,
            "nav": "settings",
            "section": "notifications",
            "base_url": notification_messages.base_url(),
            "base_url_is_guessed": notification_messages.base_url_is_guessed(),
        },
    )


@admin_to_change
def channel_form(request: HttpRequest, channel_id: int | None = None) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=channel_id) if channel_id else None
    kind = channel.kind if channel else request.POST.get("kind") or request.GET.get("kind", "")
    if kind not in SETTINGS:
        raise Http404("unknown channel kind")
    error = ""
    if request.method == "POST":
        target = channel or Channel(kind=kind, created_at=clock.now(), event_kinds=[])
        before = _snapshot(target) if channel else {}
        try:
            values = _read(request.POST, kind)
            if not values["name"]:
                raise ChannelSettingsError("name: a name is required")
            apply_channel(target, values, new=channel is None)
        except ChannelSettingsError as exc:
            error = str(exc)
        else:
            after = _snapshot(target)
            changes = {
                k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v
            }
            audit.record(
                request,
                "channel.add" if channel is None else "channel.change",
                _name(target),
                changes,
            )
            messages.success(request, f"Channel “{target.name}” saved.")
            return redirect("web:settings-notifications")
        shown = _posted(request.POST, kind)
    else:
        shown = _stored(channel or Channel(kind=kind, name="", config={}), is_admin(request.user))
    fields = [
        {
            "setting": s,
            "value": shown.get(s.name),
            "stored": bool(channel) and s.name in channel.secrets_set,
        }
        for s in SETTINGS[kind]
    ]
    common = [
        (title, [{"setting": s, "value": shown.get(s.name)} for s in settings])
        for title, settings in COMMON_SECTIONS
    ]
    return render(
        request,
        "web/settings_channel.html",
        {
            "channel": channel,
            "kind": kind,
            "kind_name": KIND_NAMES[kind],
            "shown": shown,
            "fields": fields,
            "common": common,
            "groups": DeviceGroup.objects.all(),
            "event_kinds": EVENT_KINDS,
            "priority_names": PRIORITY_NAMES,
            "weekday_names": WEEKDAY_NAMES,
            "languages": languages.names(),
            "default_language": languages.names()[languages.default()],
            "error": error,
            "nav": "settings",
            "section": "notifications",
        },
        status=400 if error else 200,
    )


@require_POST
@admin_required
def channel_delete(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=channel_id)
    audit.record(request, "channel.delete", _name(channel), _snapshot(channel))
    channel.delete()
    messages.success(request, f"Channel “{channel.name}” deleted.")
    return redirect("web:settings-notifications")


@require_POST
@admin_required
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=channel_id)
    delivery = outbox.send_test(channel)
    reply = delivery.detail or delivery.last_error or "no reply"
    audit.record(request, "channel.test", _name(channel), {"status": delivery.status})
    text = f"Test to “{channel.name}”: {delivery.status} — {reply}"
    if delivery.status == Delivery.Status.SENT:
        messages.success(request, text)
    else:
        messages.error(request, text)
    return redirect("web:settings-notifications")


@require_POST
@admin_required
def channel_test_all(request: HttpRequest) -> HttpResponse:
    """A test to every enabled channel, one after another; one line of result for each."""
    results = []
    for channel in Channel.objects.filter(enabled=True):
        delivery = outbox.send_test(channel)
        audit.record(request, "channel.test", _name(channel), {"status": delivery.status})
        results.append((channel, delivery))
    if not results:
        messages.error(request, "No enabled channel to test.")
    for channel, delivery in results:
        text = f"Test to “{channel.name}”: {delivery.status} — "
        text += delivery.detail or delivery.last_error or "no reply"
        if delivery.status == Delivery.Status.SENT:
            messages.success(request, text)
        else:
            messages.error(request, text)
    return redirect("web:settings-notifications")


@login_required
def deliveries(request: HttpRequest) -> HttpResponse:
    rows = Delivery.objects.select_related("channel").order_by("-created_at", "-id")
    status = request.GET.get("status", "")
    channel = request.GET.get("channel", "")
    if status:
        rows = rows.filter(status=status)
    if channel.isdigit():
        rows = rows.filter(channel_id=int(channel))
    return render(
        request,
        "web/settings_deliveries.html",
        {
            "page": Paginator(rows, DELIVERIES_PAGE_SIZE).get_page(request.GET.get("page")),
            "statuses": Delivery.Status.values,
            "channels": Channel.objects.all(),
            "status": status,
            "channel": channel,
            "retryable": (
                Delivery.Status.DEAD,
                Delivery.Status.RETRYING,
                Delivery.Status.SUPPRESSED,
            ),
            "queue": outbox.backlog(clock.now()),
            "nav": "settings",
            "section": "deliveries",
        },
    )


@require_POST
@admin_required
def delivery_retry(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery, pk=delivery_id)
    before = delivery.status
    outbox.retry(delivery)
    audit.record(
        request,
        "delivery.retry",
        f"delivery {delivery.pk} ({delivery.title})",
        {"status": {"from": before, "to": delivery.status}},
    )
    messages.success(request, f"Delivery {delivery.pk} queued again.")
    url = request.POST.get("back", "")
    if url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return redirect(url)
    return redirect("web:settings-deliveries")


# --------------------------------------------------------------------------- helpers


def _read(post: QueryDict, kind: str) -> dict[str, Any]:
    """The posted form as apply_channel values. Secrets left empty are not sent, so the
    stored ones stay."""
    config: dict[str, Any] = {}
    action: dict[str, str] = {}
    for s in SETTINGS[kind]:
        raw = post.get(s.name, "").strip()
        if s.name in ACTION_FIELDS:
            action[ACTION_FIELDS[s.name]] = raw
        elif s.type == "priorities":
            config[s.name] = {
                k: post[f"priority_{k}"] for k in EVENT_KINDS if post.get(f"priority_{k}")
            }
        elif s.type == "list":
            config[s.name] = [item.strip() for item in raw.split(",") if item.strip()]
        elif s.type == "checkbox":
            config[s.name] = s.name in post
        elif s.type == "secret":
            if raw:
                config[s.name] = raw
        elif s.type == "number":
            config[s.name] = raw or None
        else:
            config[s.name] = raw
    if kind == "email":
        config["auth"] = bool(config["username"])
    if action:  # one optional button: given when it has a label or a URL
        has_button = action.get("label") or action.get("url")
        config["http_action"] = action if has_button else None
    values: dict[str, Any] = {
        "name": post.get("name", "").strip(),
        "enabled": "enabled" in post,
        "config": config,
    }
    common: dict[str, Any] = {}
    for s in COMMON:
        raw = post.get(s.name, "").strip()
        if s.type == "language":
            common[s.name] = raw  # blank: the deployment's language
        elif s.type == "checkbox":
            common[s.name] = s.name in post
        elif s.type == "kinds":
            common[s.name] = post.getlist(s.name)
        elif raw or s.type in ("time", "group") or s.name in ("timezone", "summary_schedule"):
            common[s.name] = raw or None  # a blank number keeps what is stored
    try:
        checked = ChannelIn.model_validate(common)
    except pydantic.ValidationError as exc:
        raise ChannelSettingsError(forms.problems(exc, LABELS)) from None
    values.update({name: getattr(checked, name) for name in checked.model_fields_set})
    return values


def _posted(post: QueryDict, kind: str) -> dict[str, Any]:
    """What to show again after an error: the posted values, never a secret."""
    shown: dict[str, Any] = {"name": post.get("name", ""), "enabled": "enabled" in post}
    for s in [*SETTINGS[kind], *COMMON]:
        if s.type == "priorities":
            shown[s.name] = {k: post.get(f"priority_{k}", "") for k in EVENT_KINDS}
        elif s.type == "checkbox":
            shown[s.name] = s.name in post
        elif s.type == "kinds":
            shown[s.name] = post.getlist(s.name)
        elif s.type != "secret":
            shown[s.name] = post.get(s.name, "")
    return shown


def _stored(channel: Channel, may_edit: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"name": channel.name, "enabled": channel.enabled}
    config = shown_config(channel, may_edit=may_edit)
    action = config.get("http_action") or {}
    for s in SETTINGS[channel.kind]:
        value = config.get(s.name)
        if s.name in ACTION_FIELDS:
            value = action.get(ACTION_FIELDS[s.name])
        if s.type == "priorities":
            value = {k: str(v) for k, v in {**DEFAULT_PRIORITIES, **(value or {})}.items()}
        if s.type == "list" and isinstance(value, list):
            value = ", ".join(value)
        if s.type != "secret":
            shown[s.name] = value
    for s in COMMON:
        shown[s.name] = _plain(getattr(channel, s.name))
    return shown


def _snapshot(channel: Channel) -> dict[str, Any]:
    """For the audit log: what may be shown, and which secrets are set (never their values)."""
    return {
        "kind": channel.kind,
        "name": channel.name,
        "enabled": channel.enabled,
        **{f"config.{k}": v for k, v in channel.config.items()},
        **{s.name: _plain(getattr(channel, s.name)) for s in COMMON},
        "secrets_set": channel.secrets_set,
    }


def _plain(value: Any) -> Any:
    return value.strftime("%H:%M") if isinstance(value, time) else value


def _name(channel: Channel) -> str:
    return f"channel {channel.pk} ({channel.name})"


def _subscribe(channel: Channel) -> dict[str, str] | None:
    """For an ntfy channel: the app's subscribe URL, the topic's web page, a QR code."""
    if channel.kind != "ntfy":
        return None
    import segno  # only this page draws QR codes

    # Only where to subscribe: the stored config alone lacks its secrets (a username's
    # password), and validating it whole would refuse it.
    config = ntfy.Config.model_validate(
        {"server_url": channel.config.get("server_url", ""), "topic": channel.config["topic"]}
    )
    url = ntfy.subscribe_url(config)
    svg = io.BytesIO()
    segno.make(url, error="m").save(svg, kind="svg", scale=4, border=2)
    return {
        "url": url,
        "web": f"{config.server_url.rstrip('/')}/{config.topic}",
        "qr": "data:image/svg+xml;base64," + base64.b64encode(svg.getvalue()).decode(),
    }
