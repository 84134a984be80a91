"""Settings of an e-mail (SMTP) channel, validated where they enter.

Fields follow the original duplistatus (host, port, connection type, auth on/off, username,
password, sender name, from address, recipient), with two additions for self-hosted mail
servers: ``verify_certificate`` (opt-out for self-signed certificates) and ``ca_file``
(trust a private CA instead of opting out).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Final, Literal

import pydantic
from pydantic import Field

from duplistatus.validation import Invalid, gettext_noop

from ..base import ConfigModel

Security = Literal["none", "starttls", "tls"]
#: Usual port per connection type: plain SMTP, submission with STARTTLS, implicit TLS.
DEFAULT_PORTS: Final[dict[str, int]] = {"none": 25, "starttls": 587, "tls": 465}
DEFAULT_SENDER_NAME: Final = "duplistatus"

# A pragmatic addr-spec: dot-atom local part and a hostname (a bare name such as "localhost"
# is allowed for local relays). ASCII only, so no SMTPUTF8 support is needed from servers;
# CR, LF, spaces and angle brackets are excluded, so no header injection either.
_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS_RE: Final = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*")
_HOSTNAME_RE: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def validate_address(value: str) -> str:
    """``value`` stripped, if it is a plain e-mail address; ValueError with a clear text if not."""
    address = value.strip()
    if len(address) > 254 or not _ADDRESS_RE.fullmatch(address):
        raise Invalid(
            gettext_noop("'%(address)s' is not a valid e-mail address (expected name@example.com)"),
            address=address,
        )
    return address


def _split_addresses(value: Any) -> Any:
    """Accept a list, or one string with addresses separated by commas, semicolons or spaces."""
    if isinstance(value, str):
        return [part for part in re.split(r"[,;\s]+", value) if part]
    return value


class Config(ConfigModel):
    """An SMTP destination.

    ``port`` left empty means the usual port for ``security`` (25, 587 or 465).
    ``timeout`` (seconds), when set, replaces the caller's timeout for this channel.
    """

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "starttls"
    verify_certificate: bool = True
    ca_file: str | None = None
    auth: bool = False
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    sender_name: str = DEFAULT_SENDER_NAME
    from_address: str
    recipients: list[str] = Field(min_length=1, max_length=50)
    timeout: float | None = Field(default=None, gt=0, le=300)

    @pydantic.field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        host = value.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        if ":" in host:
            raise Invalid(
                gettext_noop("host must be a name or address only; put the port in 'port'")
            )
        if not host or len(host) > 253 or not _HOSTNAME_RE.fullmatch(host):
            raise Invalid(
                gettext_noop("host must be a host name (smtp.example.com) or an IP address")
            )
        return host

    @pydantic.field_validator("ca_file", "username", "password", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @pydantic.field_validator("ca_file", "username")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value else value

    @pydantic.field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        if value and any(ch in value for ch in "\r\n\0"):
            raise Invalid(gettext_noop("password must be a single line"))
        return value

    @pydantic.field_validator("sender_name")
    @classmethod
    def _sender_name(cls, value: str) -> str:
        name = " ".join(value.split())  # newlines in a header would be header injection
        if len(name) > 100:
            raise Invalid(gettext_noop("sender name must be at most 100 characters"))
        return name or DEFAULT_SENDER_NAME

    @pydantic.field_validator("from_address")
    @classmethod
    def _from_address(cls, value: str) -> str:
        return validate_address(value)

    @pydantic.field_validator("recipients", mode="before")
    @classmethod
    def _recipients_input(cls, value: Any) -> Any:
        return _split_addresses(value)

    @pydantic.field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        unique: dict[str, str] = {}
        for raw in value:
            address = validate_address(raw)
            unique.setdefault(address.lower(), address)
        if not unique:
            raise Invalid(gettext_noop("at least one recipient is needed"))
        return list(unique.values())

    @pydantic.model_validator(mode="after")
    def _auth(self) -> Config:
        if self.auth and not (self.username and self.password):
            raise Invalid(gettext_noop("authentication is on: username and password are required"))
        return self

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]
