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
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
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

StrOrPromise = str | Promise  # a label: text, or text translated when it is shown
DELIVERIES_PAGE_SIZE = 50
KIND_NAMES = {
    "ntfy": "ntfy",
    "email": gettext_lazy("E-mail"),
    "webhook": gettext_lazy("Webhook"),
    "apprise": "Apprise",
}
# A delivery's status as the pages and messages say it.
STATUS_NAMES = {
    Delivery.Status.QUEUED: pgettext_lazy("delivery", "queued"),
    Delivery.Status.SENDING: pgettext_lazy("delivery", "sending"),
    Delivery.Status.RETRYING: pgettext_lazy("delivery", "retrying"),
    Delivery.Status.SENT: pgettext_lazy("delivery", "sent"),
    Delivery.Status.DEAD: pgettext_lazy("delivery", "dead"),
    Delivery.Status.BATCHED: pgettext_lazy("delivery", "batched"),
    Delivery.Status.SUPPRESSED: pgettext_lazy("delivery", "suppressed"),
}
HTTP_METHODS = tuple((method, method) for method in ("POST", "GET", "PUT", "PATCH", "DELETE"))
# ntfy's names for its five priorities, as its apps show them.
PRIORITY_NAMES = {
    1: pgettext_lazy("ntfy priority", "1 · min"),
    2: pgettext_lazy("ntfy priority", "2 · low"),
    3: pgettext_lazy("ntfy priority", "3 · default"),
    4: pgettext_lazy("ntfy priority", "4 · high"),
    5: pgettext_lazy("ntfy priority", "5 · max"),
}
ACTION_FIELDS = {"action_label": "label", "action_url": "url", "action_method": "method"}
# 0 = Sunday here; Django's (translated) abbreviations start on Monday.
WEEKDAY_CHOICES = tuple((str(day), WEEKDAYS_ABBR[(day - 1) % 7]) for day in range(7))


@dataclass(frozen=True)
class Setting:
    """One of a kind's settings as a form field. `type`: text, url, number, select,
    checkbox, list (comma-separated) or secret (write-only). `choices`: (value, label)."""

    name: str
    label: StrOrPromise
    type: str = "text"
    hint: StrOrPromise = ""
    choices: tuple[tuple[str, StrOrPromise], ...] = ()


SETTINGS: dict[str, list[Setting]] = {
    "ntfy": [
        Setting(
            "server_url", gettext_lazy("Server URL"), "url", gettext_lazy("e.g. https://ntfy.sh")
        ),
        Setting("topic", gettext_lazy("Topic"), hint=gettext_lazy("blank = generated")),
        Setting(
            "access_token",
            gettext_lazy("Access token"),
            "secret",
            gettext_lazy("or a username and password"),
        ),
        Setting(
            "username",
            gettext_lazy("Username"),
            hint=gettext_lazy("with a password; not with an access token"),
        ),
        Setting("password", gettext_lazy("Password"), "secret"),
        Setting("priorities", gettext_lazy("Priority of each message kind"), "priorities"),
        Setting(
            "tags",
            gettext_lazy("Tags"),
            "list",
            gettext_lazy("comma-separated; emoji names show as icons"),
        ),
        Setting(
            "icon_url",
            gettext_lazy("Icon URL"),
            "url",
            gettext_lazy("an image the notification shows"),
        ),
        Setting("markdown", gettext_lazy("Format messages as Markdown"), "checkbox"),
        Setting("view_action", gettext_lazy("“Open” button to the job's page"), "checkbox"),
        Setting(
            "action_label",
            gettext_lazy("Action button"),
            hint=gettext_lazy("an extra button that calls a URL"),
        ),
        Setting("action_url", gettext_lazy("Action button URL"), "url"),
        Setting(
            "action_method", gettext_lazy("Action button method"), "select", choices=HTTP_METHODS
        ),
    ],
    "email": [
        Setting("host", gettext_lazy("SMTP host")),
        Setting(
            "port",
            gettext_lazy("Port"),
            "number",
            gettext_lazy("blank = the usual port for the security"),
        ),
        Setting(
            "security",
            gettext_lazy("Security"),
            "select",
            choices=(
                ("none", pgettext_lazy("security", "none")),
                ("starttls", "STARTTLS"),
                ("tls", "TLS"),
            ),
        ),
        Setting("verify_certificate", gettext_lazy("Verify the server's certificate"), "checkbox"),
        Setting(
            "ca_file",
            gettext_lazy("CA certificate file"),
            hint=gettext_lazy("for a private CA: a PEM path on this server"),
        ),
        Setting(
            "username", gettext_lazy("Username"), hint=gettext_lazy("blank = no authentication")
        ),
        Setting("password", gettext_lazy("Password"), "secret"),
        Setting("from_address", gettext_lazy("From address")),
        Setting(
            "sender_name",
            gettext_lazy("Sender name"),
            hint=gettext_lazy("the name the e-mails come from"),
        ),
        Setting("recipients", gettext_lazy("Recipients"), "list", gettext_lazy("comma-separated")),
    ],
    "webhook": [
        Setting("url", gettext_lazy("URL"), "url"),
        Setting(
            "secret", gettext_lazy("Signing secret"), "secret", gettext_lazy("blank = generated")
        ),
    ],
    "apprise": [
        Setting(
            "url",
            gettext_lazy("Apprise URL"),
            "secret",
            gettext_lazy("e.g. tgram://bottoken/ChatID"),
        )
    ],
}
# The kinds' settings that the form shows under another name (the action button's parts).
_NESTED = {f"http_action.{part}": name for name, part in ACTION_FIELDS.items()}
# Each kind's settings by name (and by path, for a nested one), to name them in an error.
CONFIG_LABELS = {
    kind: {s.name: s.label for s in settings}
    | {path: s.label for path, name in _NESTED.items() for s in settings if s.name == name}
    for kind, settings in SETTINGS.items()
}
# Settings every kind has, by section. "kinds" is a set of message kinds to tick.
COMMON_SECTIONS: list[tuple[StrOrPromise, list[Setting]]] = [
    (
        gettext_lazy("What it receives"),
        [
            Setting(
                "event_kinds",
                gettext_lazy("Message kinds"),
                "kinds",
                gettext_lazy("none ticked: every kind"),
            ),
            Setting(
                "language", gettext_lazy("Language"), "language", gettext_lazy("of its messages")
            ),
        ],
    ),
    (
        gettext_lazy("When"),
        [
            Setting(
                "timezone",
                gettext_lazy("Time zone"),
                hint=gettext_lazy("for the hours below; blank = server TZ"),
            ),
            Setting(
                "quiet_start",
                gettext_lazy("Quiet hours from"),
                "time",
                gettext_lazy("only urgent kinds pass"),
            ),
            Setting("quiet_end", gettext_lazy("Quiet hours until"), "time"),
            Setting(
                "urgent_kinds",
                gettext_lazy("Urgent kinds"),
                "kinds",
                gettext_lazy("these pass quiet hours"),
            ),
        ],
    ),
    (
        gettext_lazy("Pace"),
        [
            Setting(
                "rate_per_minute",
                gettext_lazy("Messages a minute"),
                "number",
                gettext_lazy("0 = no limit"),
            ),
            Setting(
                "burst",
                gettext_lazy("Burst"),
                "number",
                gettext_lazy("sent at once before the rate applies"),
            ),
            Setting(
                "batch_threshold",
                gettext_lazy("Digest above"),
                "number",
                gettext_lazy("due at once; 0 = never"),
            ),
        ],
    ),
    (
        gettext_lazy("As a device in a group"),
        [
            Setting(
                "group_id",
                gettext_lazy("Device group"),
                "group",
                gettext_lazy("none: not a device"),
            ),
            Setting(
                "group_position",
                gettext_lazy("Position in the group"),
                "number",
                gettext_lazy("lower goes first"),
            ),
            Setting(
                "min_priority",
                gettext_lazy("Minimum priority"),
                "select",
                choices=tuple((str(n), str(n)) for n in range(1, 6)),
            ),
            Setting(
                "active_start",
                gettext_lazy("Active from"),
                "time",
                gettext_lazy("outside active hours, skipped"),
            ),
            Setting("active_end", gettext_lazy("Active until"), "time"),
        ],
    ),
    (
        gettext_lazy("Privacy"),
        [
            Setting("hide_log_text", gettext_lazy("Leave out log text"), "checkbox"),
            Setting("hide_paths", gettext_lazy("Leave out file paths"), "checkbox"),
            Setting("use_server_alias", gettext_lazy("Name servers by their alias"), "checkbox"),
            Setting("log_retention_days", gettext_lazy("Keep its delivery log (days)"), "number"),
        ],
    ),
    (
        gettext_lazy("Summary report"),
        [
            Setting(
                "summary_schedule",
                gettext_lazy("Send a summary"),
                "select",
                choices=(
                    ("", pgettext_lazy("summary", "no")),
                    ("daily", pgettext_lazy("summary", "daily")),
                    ("weekly", pgettext_lazy("summary", "weekly")),
                ),
            ),
            Setting(
                "summary_time",
                pgettext_lazy("summary time", "At"),
                "time",
                gettext_lazy("local time"),
            ),
            Setting(
                "summary_weekday", gettext_lazy("On (weekly)"), "select", choices=WEEKDAY_CHOICES
            ),
        ],
    ),
]
COMMON = [setting for _section, settings in COMMON_SECTIONS for setting in settings]
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
                raise ChannelSettingsError(_("Name: a name is required"))
            apply_channel(target, values, new=channel is None)
        except ChannelSettingsError as exc:
            # The kind's settings refused: named by their labels, not their config keys.
            error = forms.problems(exc.invalid, CONFIG_LABELS[kind]) if exc.invalid else str(exc)
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
            messages.success(request, _("Channel “%(name)s” saved.") % {"name": target.name})
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
    messages.success(request, _("Channel “%(name)s” deleted.") % {"name": channel.name})
    return redirect("web:settings-notifications")


@require_POST
@admin_required
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=channel_id)
    delivery = outbox.send_test(channel)
    audit.record(request, "channel.test", _name(channel), {"status": delivery.status})
    _test_result(request, channel, delivery)
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
        messages.error(request, _("No enabled channel to test."))
    for channel, delivery in results:
        _test_result(request, channel, delivery)
    return redirect("web:settings-notifications")


def _test_result(request: HttpRequest, channel: Channel, delivery: Delivery) -> None:
    """One line: how a test to `channel` went, with the server's reply."""
    report_test(
        request, delivery, _("Test to “%(name)s”: %(status)s — %(reply)s"), name=channel.name
    )


def report_test(request: HttpRequest, delivery: Delivery, text: str, **values: object) -> None:
    """Flash how a test send went: `text` (translated) filled with `values`, the delivery's
    status and the server's reply; a success only when it was sent."""
    said = text % {
        **values,
        "status": STATUS_NAMES.get(delivery.status, delivery.status),
        "reply": delivery.detail or delivery.last_error or _("no reply"),
    }
    if delivery.status == Delivery.Status.SENT:
        messages.success(request, said)
    else:
        messages.error(request, said)


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
            "statuses": STATUS_NAMES,
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
    messages.success(request, _("Delivery %(id)s queued again.") % {"id": delivery.pk})
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
