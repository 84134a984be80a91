"""Publishing a notification to an ntfy server.

One HTTP request: ``POST {server_url}`` with ntfy's publish-as-JSON document
(``topic``, ``title``, ``message``, ``priority``, ``tags``, ``click``, ``actions``, ``icon``,
``markdown``, ``sequence_id``), authenticated with ``Authorization: Bearer <token>`` or Basic.

Duplicates: ntfy assigns message ids itself, so the delivery id cannot be the message id.
Instead it travels twice:

* as ``sequence_id`` (derived with :func:`sequence_id`; ntfy allows ``[-_A-Za-z0-9]{1,64}``).
  Since ntfy 2.16, clients replace a notification with a newer one of the same sequence id,
  so a retry after a lost reply updates the notification instead of ringing twice. Older
  servers ignore the field.
* as the ``X-Duplistatus-Delivery`` header, for proxies and request logs.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Final

from .. import _http
from ..base import (
    Message,
    PermanentError,
    SendResult,
    classify_http_status,
    redact,
    stable_token,
    status_text,
    view_label,
)
from .config import Config

#: ntfy's default message size limit; longer bodies become attachments or are refused, so cut.
MAX_MESSAGE_BYTES: Final = 4096
_TRUNCATED: Final = "\n… (truncated)"
USER_AGENT: Final = "duplistatus"
DELIVERY_HEADER: Final = "X-Duplistatus-Delivery"


def sequence_id(delivery_id: str) -> str:
    """The ntfy sequence id for a delivery: the id itself when ntfy accepts it as one."""
    return stable_token(delivery_id, allowed=r"-_A-Za-z0-9", max_length=64)


def _truncate(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    room = limit - len(_TRUNCATED.encode("utf-8"))
    return encoded[:room].decode("utf-8", "ignore") + _TRUNCATED


def build_publish(config: Config, message: Message) -> dict[str, Any]:
    """The JSON document ntfy receives for ``message``."""
    use_markdown = config.markdown and bool(message.body_markdown)
    text = message.body_markdown if use_markdown and message.body_markdown else message.body
    document: dict[str, Any] = {
        "topic": config.topic,
        "message": _truncate(text),
        "priority": (
            message.priority
            if message.explicit_priority
            else config.priority_for(message.kind, message.priority)
        ),
        "sequence_id": sequence_id(message.delivery_id),
    }
    if message.title:
        document["title"] = message.title
    tags = list(dict.fromkeys([*message.tags, *config.tags]))
    if tags:
        document["tags"] = tags
    if message.click_url:
        document["click"] = message.click_url
    actions: list[dict[str, Any]] = []
    if config.view_action and message.click_url:
        label = message.link_label or view_label(message.click_url)
        actions.append({"action": "view", "label": label, "url": message.click_url})
    if config.http_action is not None:
        actions.append(
            {
                "action": "http",
                "label": config.http_action.label,
                "url": config.http_action.url,
                "method": config.http_action.method,
            }
        )
    if actions:
        document["actions"] = actions
    if config.icon_url:
        document["icon"] = config.icon_url
    if use_markdown:
        document["markdown"] = True
    return document


def _headers(config: Config, message: Message) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: stable_token(message.delivery_id, allowed=r"!-~", max_length=200),
    }
    if config.access_token:
        headers["Authorization"] = f"Bearer {config.access_token}"
    elif config.username and config.password:
        pair = f"{config.username}:{config.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return headers


def _secrets(config: Config) -> list[str | None]:
    """Everything that must not appear in an error, including the encoded Basic credentials."""
    found: list[str | None] = [config.access_token, config.password]
    if config.username and config.password:
        pair = f"{config.username}:{config.password}".encode()
        found.append(base64.b64encode(pair).decode("ascii"))
    return found


def publish(config: Config, message: Message, *, timeout: float = 15.0) -> SendResult:
    """Publish ``message``; raise TransientError/PermanentError on failure."""
    secrets = _secrets(config)
    body = json.dumps(build_publish(config, message), ensure_ascii=False).encode("utf-8")
    reply = _http.request(
        "POST",
        config.server_url,
        content=body,
        headers=_headers(config, message),
        timeout=timeout,
        service="ntfy",
        secrets=secrets,
    )
    where = f"ntfy at {_http.host_of(config.server_url)}"
    if reply.status in (401, 403):
        # ntfy's own texts ("unauthorized", "forbidden") do not say what to change.
        if config.access_token or config.username:
            text = f"{where} rejected the credentials ({status_text(reply.status)})"
        else:
            text = (
                f"{where} refused to publish to this topic ({status_text(reply.status)}): "
                "the topic is reserved or the server requires an access token or login"
            )
        raise PermanentError(redact(text, secrets))
    classify_http_status(reply.status, reply.headers, reply.body, service=where, secrets=secrets)
    try:
        message_id = json.loads(reply.body).get("id")
    except (ValueError, AttributeError):
        message_id = None
    if isinstance(message_id, str) and message_id:
        return SendResult(f"ntfy accepted message id {message_id}")
    return SendResult(f"ntfy accepted the message ({status_text(reply.status)})")


def subscribe_url(config: Config) -> str:
    """``ntfy://HOST/TOPIC`` for the QR code the ntfy app scans (port and path kept if any)."""
    import httpx

    url = httpx.URL(config.server_url)
    host = url.host if ":" not in url.host else f"[{url.host}]"
    if url.port:
        host += f":{url.port}"
    prefix = url.path.rstrip("/")
    return f"ntfy://{host}{prefix}/{config.topic}"
