"""Settings of an Apprise channel: one Apprise URL (a secret: it usually embeds tokens)."""

from __future__ import annotations

import pydantic
from pydantic import Field

from duplistatus.validation import Invalid, gettext_noop

from ..base import ConfigModel
from ._support import apprise_logs, import_apprise


class Config(ConfigModel):
    """An Apprise destination, e.g. ``tgram://bottoken/ChatID`` or ``discord://id/token``.

    When Apprise is installed the URL is checked against its plugins on validation; without
    it only the shape is checked and sending reports that Apprise is missing.
    """

    url: str = Field(repr=False)

    @pydantic.field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        url = value.strip()
        scheme, sep, rest = url.partition("://")
        if not sep or not scheme or not rest or any(ch.isspace() for ch in url):
            raise Invalid(
                gettext_noop("url must be one Apprise URL such as tgram://bottoken/ChatID")
            )
        apprise = import_apprise()
        if apprise is not None:
            with apprise_logs():  # Apprise logs rejected URLs in full; keep them out of logs
                plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
            if plugin is None:
                # Never echo the URL: it holds the service's credentials.
                raise Invalid(
                    gettext_noop(
                        "Apprise does not accept this %(scheme)s:// URL; check it against the "
                        "Apprise documentation for that service"
                    ),
                    scheme=scheme,
                )
        return url
