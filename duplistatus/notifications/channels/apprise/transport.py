"""Sending a notification through Apprise (optional dependency: ``duplistatus[apprise]``).

Apprise answers a notification with a plain success flag, so every failure it reports is
treated as transient and explained with the last warning or error it logged, redacted of the
URL and of every token-looking part of it. A URL that Apprise cannot use at all, or a missing
``apprise`` package, is permanent.
"""

from __future__ import annotations

import inspect
import ipaddress
import urllib.parse
from typing import Any, Final

from ..base import Message, PermanentError, SendResult, TransientError, redact
from ._support import apprise_logs, import_apprise
from .config import Config

NOT_INSTALLED: Final = "apprise is not installed: pip install duplistatus[apprise]"

_NOTIFY_TYPES: Final = {
    "success": "success",
    "recovered": "success",
    "warning": "warning",
    "overdue": "warning",
    "reminder": "warning",
    "error": "failure",
    "fatal": "failure",
    "escalation": "failure",
}


def url_secrets(url: str) -> list[str]:
    """The URL and each part of it that may be a credential, for :func:`redact`.

    Apprise URLs put tokens anywhere: user, password, host (``tgram://123:ABC/``), path
    segments and query values. Host names with dots and IP addresses are kept readable.
    """
    found = [url, url.partition("://")[2]]
    rest = url.partition("://")[2]
    netloc, _, tail = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        found.extend(part for part in userinfo.split(":", 1) if part)
        found.append(userinfo)
    host = hostport
    if hostport.rsplit(":", 1)[-1].isdigit():
        host = hostport.rsplit(":", 1)[0]
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if "." not in host and host.lower() != "localhost":
            found.append(hostport)
    path, _, query = tail.partition("?")
    found.extend(urllib.parse.unquote(segment) for segment in path.split("/") if segment)
    found.extend(value for _, value in urllib.parse.parse_qsl(query) if value)
    # Short pieces ("json", "1") are not secrets, and replacing them would garble the text.
    return [piece for piece in dict.fromkeys(found) if len(piece) >= 4]


def _set_timeouts(server: Any, timeout: float) -> None:
    for name in ("socket_connect_timeout", "socket_read_timeout"):
        if hasattr(server, name):
            setattr(server, name, timeout)


def notify(config: Config, message: Message, *, timeout: float = 15.0) -> SendResult:
    """Send ``message`` through the configured Apprise URL."""
    apprise = import_apprise()
    if apprise is None:
        raise PermanentError(NOT_INSTALLED)
    secrets = url_secrets(config.url)
    scheme = config.url.partition("://")[0]
    use_markdown = bool(message.body_markdown)
    body = message.body_markdown if use_markdown and message.body_markdown else message.body
    notify_type = _NOTIFY_TYPES.get(message.kind, "info")
    body_format = "markdown" if use_markdown else "text"
    with apprise_logs() as lines:
        sender = apprise.Apprise()
        if not sender.add(config.url) or len(sender) != 1:
            raise PermanentError(
                f"Apprise does not accept the configured {scheme}:// URL; check it against "
                "the Apprise documentation for that service"
            )
        server = next(iter(sender))
        _set_timeouts(server, timeout)
        service = str(getattr(server, "service_name", None) or scheme)
        options: dict[str, Any] = {}
        if "timeout" in inspect.signature(sender.notify).parameters:  # Apprise 2.x
            options["timeout"] = timeout * 2  # connect + read, as set on the plugin above
        ok = sender.notify(
            body=body,
            title=message.title,
            notify_type=notify_type,
            body_format=body_format,
            **options,
        )
    if not ok:
        reason = lines[-1] if lines else "no reason given"
        raise TransientError(redact(f"Apprise could not deliver via {service}: {reason}", secrets))
    return SendResult(f"Apprise delivered via {service}")
