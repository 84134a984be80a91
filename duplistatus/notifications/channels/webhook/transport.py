"""Delivering a notification to a webhook, signed the Standard Webhooks way.

Request: ``{method} {url}`` with the JSON document below as the body and these headers:

* ``webhook-id``: the delivery id; identical on every retry, so receivers drop duplicates;
* ``webhook-timestamp``: Unix seconds at sending time;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` made with
  the channel's ``whsec_`` secret (verify with any Standard Webhooks library, e.g. Python's
  ``standardwebhooks.Webhook(secret).verify(body, headers)``);
* ``Content-Type: application/json``, ``User-Agent: duplistatus``, plus the configured headers.

Body: ``Message.payload``, the documented notification document::

    {
      "type":   "<event kind: success | warning | error | fatal | overdue | reminder |
                 escalation | recovered | summary | test>",
      "event":  {...},          # what happened: id, kind, title, text, priority, time, ...
      "job":    {...},          # the backup job
      "server": {...},          # the machine running Duplicati
      "run":    {...} | null,   # the backup run, when the event is about one
      "links":  {...}           # URLs into duplistatus, e.g. the job page
    }

When a message has no payload (e.g. a bare test message), a minimal document of the same
shape is sent, built from the message itself.

A 2xx answer is success. 408, 425, 429 and 5xx are transient (``Retry-After`` honoured), any
other status is permanent; redirects are not followed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from standardwebhooks.webhooks import Webhook

from .. import _http
from ..base import Message, PermanentError, SendResult, stable_token, status_text
from .config import Config

USER_AGENT: Final = "duplistatus"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Set | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def build_payload(message: Message) -> dict[str, Any]:
    """The document sent for ``message``: its payload, or a minimal one of the same shape."""
    if message.payload:
        return dict(message.payload)
    created = message.created_at
    return {
        "type": message.kind,
        "event": {
            "id": message.delivery_id,
            "kind": message.kind,
            "title": message.title,
            "text": message.body,
            "priority": message.priority,
            "tags": list(message.tags),
            "time": _json_default(created) if created else None,
        },
        "job": None,
        "server": None,
        "run": None,
        "links": {"job": message.click_url} if message.click_url else {},
    }


def encode_body(message: Message) -> str:
    """The exact body text that is signed and sent."""
    try:
        return json.dumps(
            build_payload(message),
            ensure_ascii=False,
            separators=(",", ":"),
            default=_json_default,
        )
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"the notification payload cannot be sent as JSON: {exc}") from None


def signed_headers(config: Config, message: Message, body: str) -> dict[str, str]:
    """Standard Webhooks headers for ``body`` plus the configured ones."""
    msg_id = stable_token(message.delivery_id, allowed=r"!-~", max_length=200)
    now = datetime.now(UTC)  # receivers reject stale timestamps: always the sending time
    signature = Webhook(config.secret).sign(msg_id, now, body)
    headers = dict(config.headers)
    if not any(name.lower() == "user-agent" for name in headers):
        headers["User-Agent"] = USER_AGENT
    return {
        **headers,
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def deliver(config: Config, message: Message, *, timeout: float = 15.0) -> SendResult:
    """POST (or PUT/PATCH) the signed payload; raise TransientError/PermanentError on failure."""
    body = encode_body(message)
    secrets = [config.secret, *config.headers.values()]
    reply = _http.send(
        config.method,
        config.url,
        content=body.encode("utf-8"),
        headers=signed_headers(config, message, body),
        timeout=config.timeout or timeout,
        service="webhook",
        secrets=secrets,
    )
    where = _http.host_of(config.url)
    return SendResult(f"webhook at {where} answered {status_text(reply.status)}")
