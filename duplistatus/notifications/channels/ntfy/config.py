"""Settings of an ntfy channel, validated where they enter (form, API, stored JSON).

Defaults follow the original duplistatus (docs/compatibility.md): server ``https://ntfy.sh/``,
a blank topic becomes ``duplistatus-`` + 12 random lowercase letters/digits, optional access
token. The generated topic is written into the validated model, so once the model is saved
(``model_dump()``) the topic stays the same on every later load.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

import pydantic
from pydantic import Field

from duplistatus.validation import Invalid, gettext_noop

from ..base import EVENT_KINDS, ConfigModel, EventKind

DEFAULT_SERVER_URL: Final = "https://ntfy.sh/"
TOPIC_PREFIX: Final = "duplistatus-"
_TOPIC_RE: Final = re.compile(r"[-_A-Za-z0-9]{1,64}")  # ntfy's own rule for topic names

#: Priority per event kind (ntfy scale: 1 min, 2 low, 3 default, 4 high, 5 max/urgent).
DEFAULT_PRIORITIES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "fatal": 5,
        "escalation": 5,
        "error": 4,
        "overdue": 4,
        "warning": 3,
        "reminder": 3,
        "test": 3,
        "success": 2,
        "recovered": 2,
        "summary": 2,
    }
)
_PRIORITY_NAMES: Final = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5}


def generate_topic() -> str:
    """A fresh, hard-to-guess topic: on public servers the topic name is the only secret."""
    alphabet = string.ascii_lowercase + string.digits
    return TOPIC_PREFIX + "".join(secrets.choice(alphabet) for _ in range(12))


# The messages leave out which field they are about: the error names it (a page by its label).
def _http_url(value: str) -> str:
    import httpx

    value = value.strip()
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        raise Invalid(gettext_noop("is not a valid URL")) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise Invalid(gettext_noop("must be an http:// or https:// URL"))
    # httpx keeps what it cannot parse as a host ("ntfy dot sh"): a space never belongs there.
    if any(ch.isspace() for ch in value):
        raise Invalid(gettext_noop("must not contain spaces, e.g. https://ntfy.sh"))
    return value


def _single_line(value: str | None) -> str | None:
    if value is None:
        return None
    if any(ch in value for ch in "\r\n\0"):
        raise Invalid(gettext_noop("must be a single line"))
    return value


class HttpAction(ConfigModel):
    """An extra ntfy action button that calls a URL (e.g. trigger a backup via a webhook)."""

    label: str = Field(min_length=1, max_length=40)
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"

    @pydantic.field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        value = value.strip()
        if not value or any(ch in value for ch in ",;\r\n"):
            raise Invalid(
                gettext_noop("action label must be non-empty text without ',', ';' or newlines")
            )
        return value

    @pydantic.field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


class Config(ConfigModel):
    """An ntfy destination.

    Priority rule: the priority of a notification is ``priorities[message.kind]``; the table
    starts as :data:`DEFAULT_PRIORITIES` and the user's entries replace single rows. Only
    for an event kind the table does not know does ``message.priority`` apply, or when the
    message says its priority was set on purpose (``explicit_priority``: raised by an
    escalation rule, or chosen in the template).
    """

    server_url: str = DEFAULT_SERVER_URL
    topic: str = Field(default="", validate_default=True)  # blank: generated on validation
    access_token: str | None = Field(default=None, repr=False)
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    priorities: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    tags: list[str] = Field(default_factory=list, max_length=10)
    view_action: bool = True
    http_action: HttpAction | None = None
    icon_url: str | None = None
    markdown: bool = True

    @pydantic.field_validator("server_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        import httpx

        value = value.strip() or DEFAULT_SERVER_URL
        if "://" not in value:
            value = "https://" + value  # people type "ntfy.example.com"
        _http_url(value)
        url = httpx.URL(value)
        if url.userinfo:
            raise Invalid(
                gettext_noop(
                    "must not contain credentials; use an access token or a username and password"
                )
            )
        if url.query or url.fragment:
            raise Invalid(gettext_noop("must not have a query string or fragment"))
        # Publishing as JSON goes to the server root; keep a trailing slash so a path prefix
        # (ntfy behind a reverse proxy at /ntfy/) stays part of it.
        return value if value.endswith("/") else value + "/"

    @pydantic.field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return generate_topic()
        if not _TOPIC_RE.fullmatch(value):
            raise Invalid(
                gettext_noop(
                    "topic may only contain letters, digits, '-' and '_' (at most 64 characters)"
                )
            )
        return value

    @pydantic.field_validator("access_token", "username", "password", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @pydantic.field_validator("access_token", "username")
    @classmethod
    def _no_surrounding_space(cls, value: str | None, info: pydantic.ValidationInfo) -> str | None:
        value = _single_line(value.strip() if value else value)
        if value and info.field_name == "username" and ":" in value:
            raise Invalid(gettext_noop("username must not contain ':'"))
        return value

    @pydantic.field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        return _single_line(value)

    @pydantic.field_validator("priorities", mode="before")
    @classmethod
    def _priorities(cls, value: Any) -> Any:
        if value is None:
            return dict(DEFAULT_PRIORITIES)
        if not isinstance(value, Mapping):
            raise Invalid(
                gettext_noop("priorities must be a mapping of event kind to priority 1..5")
            )
        merged: dict[str, int] = dict(DEFAULT_PRIORITIES)
        for kind, raw in value.items():
            if kind not in EVENT_KINDS:
                raise Invalid(
                    gettext_noop("unknown event kind '%(kind)s' in priorities; known: %(known)s"),
                    kind=kind,
                    known=", ".join(EVENT_KINDS),
                )
            merged[kind] = _priority(raw, kind)
        return merged

    @pydantic.field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        cleaned: list[str] = []
        for tag in value:
            tag = tag.strip()
            if not tag:
                continue
            if len(tag) > 64 or any(ch in tag for ch in ",\r\n"):
                raise Invalid(
                    gettext_noop("tag '%(tag)s' must be at most 64 characters, without ','"),
                    tag=tag[:64],
                )
            if tag not in cleaned:
                cleaned.append(tag)
        return cleaned

    @pydantic.field_validator("icon_url", mode="before")
    @classmethod
    def _icon_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _http_url(value) if value.strip() else None
        return value

    @pydantic.model_validator(mode="after")
    def _credentials(self) -> Config:
        if self.access_token and (self.username or self.password):
            raise Invalid(
                gettext_noop("use either an access token or a username and password, not both")
            )
        if bool(self.username) != bool(self.password):
            raise Invalid(gettext_noop("username and password must be given together"))
        return self

    def priority_for(self, kind: str, fallback: int) -> int:
        """The ntfy priority of an event ``kind`` (see the class docstring for the rule)."""
        return self.priorities.get(kind, fallback)


def _priority(raw: Any, kind: EventKind | str) -> int:
    if isinstance(raw, str):
        name = raw.strip().lower()
        if name in _PRIORITY_NAMES:
            return _PRIORITY_NAMES[name]
        if name.isdigit():
            raw = int(name)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 5:
        raise Invalid(
            gettext_noop(
                "priority for '%(kind)s' must be 1..5 (or min/low/default/high/max), not %(value)s"
            ),
            kind=kind,
            value=repr(raw),
        )
    return raw
