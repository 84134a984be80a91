"""The ntfy channel kind: push notifications to phones and desktops through an ntfy server.

See :mod:`.config` for the settings and :mod:`.transport` for the wire format.
"""

from __future__ import annotations

from typing import Final

from ..base import Message, SendResult
from . import config as _config
from .config import DEFAULT_PRIORITIES, DEFAULT_SERVER_URL, Config, HttpAction, generate_topic
from .transport import build_publish, publish, sequence_id, subscribe_url

__all__ = [
    "DEFAULT_PRIORITIES",
    "DEFAULT_SERVER_URL",
    "Config",
    "HttpAction",
    "NtfyChannel",
    "build_publish",
    "channel",
    "generate_topic",
    "sequence_id",
    "subscribe_url",
]


class NtfyChannel:
    kind: Final = "ntfy"
    Config: Final = Config
    secret_fields: Final = ("access_token", "password")

    def send(
        self, config: _config.Config, message: Message, *, timeout: float = 15.0
    ) -> SendResult:
        return publish(config, message, timeout=timeout)


channel = NtfyChannel()
