"""The e-mail channel kind: notifications as multipart (text + HTML) mail over SMTP.

See :mod:`.config` for the settings and :mod:`.transport` for the message and error rules.
"""

from __future__ import annotations

from typing import Final

from ..base import Message, SendResult
from . import config as _config
from .config import DEFAULT_PORTS, Config, validate_address
from .transport import build_email, message_id, send_email

__all__ = [
    "DEFAULT_PORTS",
    "Config",
    "EmailChannel",
    "build_email",
    "channel",
    "message_id",
    "send_email",
    "validate_address",
]


class EmailChannel:
    kind: Final = "email"
    Config: Final = Config
    secret_fields: Final = ("password",)

    def send(
        self, config: _config.Config, message: Message, *, timeout: float = 15.0
    ) -> SendResult:
        return send_email(config, message, timeout=timeout)


channel = EmailChannel()
