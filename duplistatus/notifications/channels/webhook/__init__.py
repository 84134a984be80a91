"""The webhook channel kind: a signed JSON POST (Standard Webhooks) to any HTTP endpoint.

See :mod:`.config` for the settings and :mod:`.transport` for the request and payload format.
"""

from __future__ import annotations

from typing import Final

from ..base import Message, SendResult
from . import config as _config
from .config import SECRET_PREFIX, Config, generate_secret
from .transport import build_payload, deliver, encode_body, signed_headers

__all__ = [
    "SECRET_PREFIX",
    "Config",
    "WebhookChannel",
    "build_payload",
    "channel",
    "deliver",
    "encode_body",
    "generate_secret",
    "signed_headers",
]


class WebhookChannel:
    kind: Final = "webhook"
    Config: Final = Config
    secret_fields: Final = ("secret", "headers")

    def send(
        self, config: _config.Config, message: Message, *, timeout: float = 15.0
    ) -> SendResult:
        return deliver(config, message, timeout=timeout)


channel = WebhookChannel()
