"""Notification channel kinds: pure transports from a rendered message to a destination.

``KINDS`` maps each kind name to its implementation (see :class:`base.ChannelKind`):

* ``ntfy``    - push via an ntfy server (:mod:`.ntfy`)
* ``email``   - SMTP mail, text + HTML (:mod:`.email`)
* ``webhook`` - signed JSON per Standard Webhooks (:mod:`.webhook`)
* ``apprise`` - any Apprise URL, if the optional package is installed (:mod:`.apprise`)

Typical use by the outbox::

    kind = channels.get(row.kind)
    config = kind.Config.model_validate(row.settings)   # pydantic.ValidationError if bad
    try:
        result = kind.send(config, message, timeout=15)
    except channels.TransientError as exc: ...          # retry later (exc.retry_after)
    except channels.PermanentError as exc: ...          # give up, show exc.message

Nothing here imports Django.
"""

from __future__ import annotations

from typing import Final

from . import apprise, email, ntfy, webhook
from .base import (
    ChannelKind,
    DeliveryError,
    Message,
    PermanentError,
    SendResult,
    TransientError,
    classify_http_status,
    redact,
)

__all__ = [
    "KINDS",
    "ChannelKind",
    "DeliveryError",
    "Message",
    "PermanentError",
    "SendResult",
    "TransientError",
    "classify_http_status",
    "get",
    "redact",
]

KINDS: Final[dict[str, ChannelKind]] = {
    ntfy.channel.kind: ntfy.channel,
    email.channel.kind: email.channel,
    webhook.channel.kind: webhook.channel,
    apprise.channel.kind: apprise.channel,
}


def get(kind: str) -> ChannelKind:
    """The channel kind called ``kind``; KeyError naming the known kinds if there is none."""
    try:
        return KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown channel kind {kind!r}; known: {', '.join(KINDS)}") from None
