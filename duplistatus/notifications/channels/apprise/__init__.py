"""The Apprise channel kind: one Apprise URL reaching any of its ~100 services.

Apprise is an optional dependency (``pip install duplistatus[apprise]``) and is imported only
when used. See :mod:`.transport` for how failures are reported.
"""

from __future__ import annotations

from typing import Final

from ..base import Message, SendResult
from . import config as _config
from .config import Config
from .transport import NOT_INSTALLED, notify, url_secrets

__all__ = ["NOT_INSTALLED", "AppriseChannel", "Config", "channel", "notify", "url_secrets"]


class AppriseChannel:
    kind: Final = "apprise"
    Config: Final = Config
    secret_fields: Final = ("url",)

    def send(
        self, config: _config.Config, message: Message, *, timeout: float = 15.0
    ) -> SendResult:
        return notify(config, message, timeout=timeout)


channel = AppriseChannel()
