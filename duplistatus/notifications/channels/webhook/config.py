"""Settings of a webhook channel, validated where they enter.

The signing secret follows Standard Webhooks: ``whsec_`` + base64 of 24..64 random bytes.
A blank secret is generated during validation, so once the model is saved it stays stable
and can be shown to the user to configure the receiver.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Any, Final, Literal

import pydantic
from pydantic import Field

from duplistatus.validation import Invalid, gettext_noop

from ..base import ConfigModel

SECRET_PREFIX: Final = "whsec_"
_HEADER_NAME_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")  # RFC 9110 token
#: Headers this code sets itself; letting users override them would break the contract.
RESERVED_HEADERS: Final = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)


def generate_secret() -> str:
    """A new Standard Webhooks signing secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class Config(ConfigModel):
    """A webhook destination. Header values are treated as secrets (they often carry tokens).

    ``timeout`` (seconds), when set, replaces the caller's timeout for this channel.
    """

    url: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    secret: str = Field(default="", validate_default=True, repr=False)  # blank: generated
    timeout: float | None = Field(default=None, gt=0, le=300)

    @pydantic.field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        import httpx

        value = value.strip()
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            raise Invalid(gettext_noop("url is not a valid URL")) from None
        if url.scheme not in ("http", "https") or not url.host:
            raise Invalid(gettext_noop("url must be an http:// or https:// URL"))
        return value

    @pydantic.field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @pydantic.field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        cleaned: dict[str, str] = {}
        for name, header_value in value.items():
            name = name.strip()
            if not _HEADER_NAME_RE.fullmatch(name):
                raise Invalid(gettext_noop("'%(name)s' is not a valid HTTP header name"), name=name)
            if name.lower() in RESERVED_HEADERS:
                raise Invalid(
                    gettext_noop("header '%(name)s' is set by duplistatus and cannot be changed"),
                    name=name,
                )
            if any(n.lower() == name.lower() for n in cleaned):
                raise Invalid(gettext_noop("header '%(name)s' is given twice"), name=name)
            # Values are secrets: the error names the header, never the value.
            if not all(ch == "\t" or " " <= ch <= "~" for ch in header_value):
                raise Invalid(
                    gettext_noop(
                        "value of header '%(name)s' must be printable ASCII on a single line"
                    ),
                    name=name,
                )
            cleaned[name] = header_value.strip()
        return cleaned

    @pydantic.field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return generate_secret()
        encoded = value.removeprefix(SECRET_PREFIX)
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not 24 <= len(raw) <= 64:
            raise Invalid(
                gettext_noop(
                    "secret must be 'whsec_' followed by base64 of 24 to 64 random bytes "
                    "(leave it blank to generate one)"
                )
            )
        return SECRET_PREFIX + encoded
