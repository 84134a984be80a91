"""The contract every notification channel kind implements, and helpers they share.

A *channel kind* (ntfy, e-mail, webhook, Apprise) is a pure transport: given its validated
``Config`` and a rendered :class:`Message`, ``send`` delivers it once and either returns a
:class:`SendResult` or raises a :class:`DeliveryError`. Kinds know nothing about Django, the
database, retries or scheduling; the outbox that calls them decides what to do with the outcome:

* :class:`TransientError` - worth retrying later (network trouble, timeouts, HTTP 5xx/408/429,
  SMTP 4xx). ``retry_after`` carries the server's hint in seconds when it gave one.
* :class:`PermanentError` - retrying will not help until someone changes the configuration
  (bad credentials, rejected recipients, other HTTP 4xx, untrusted certificates).

Error texts are shown to users and written to logs, so they must never contain a secret:
every kind passes its messages through :func:`redact` with the values of its
``secret_fields`` before raising.
"""

from __future__ import annotations

import email.utils
import hashlib
import http
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal, Protocol, Self, get_args, runtime_checkable

import pydantic

__all__ = [
    "EVENT_KINDS",
    "ChannelKind",
    "ConfigModel",
    "DeliveryError",
    "EventKind",
    "Message",
    "PermanentError",
    "SendResult",
    "TransientError",
    "classify_http_status",
    "parse_retry_after",
    "redact",
    "secret_values",
    "stable_token",
    "status_text",
    "view_label",
]

EventKind = Literal[
    "success",
    "warning",
    "error",
    "fatal",
    "overdue",
    "reminder",
    "escalation",
    "recovered",
    "anomaly",
    "storage",
    "channel_failing",
    "system_health",
    "system_error",
    "summary",
    "test",
]
EVENT_KINDS: Final[tuple[str, ...]] = get_args(EventKind)

REDACTED: Final = "***"


@dataclass(frozen=True)
class Message:
    """One notification, rendered and ready for any channel.

    ``delivery_id`` is stable across retries of the same delivery; receivers use it to drop
    duplicates (webhook-id header, e-mail Message-ID, ntfy sequence id).
    ``payload`` is the documented webhook JSON document (see the webhook kind's docstring).
    """

    delivery_id: str
    kind: str
    title: str
    body: str
    body_markdown: str | None = None
    body_html: str | None = None
    priority: int = 3
    # True when the priority was chosen on purpose (an escalation, a template) and should win
    # over a channel's own per-kind table.
    explicit_priority: bool = False
    tags: tuple[str, ...] = ()
    click_url: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    language: str | None = None  # what it is written in (a code of settings.LANGUAGES)
    # The words on a button or link to ``click_url``, in that language (default: view_label).
    link_label: str | None = None

    def __post_init__(self) -> None:
        if not self.delivery_id:
            raise ValueError("Message.delivery_id must not be empty")
        if not 1 <= self.priority <= 5:
            raise ValueError(f"Message.priority must be 1..5, not {self.priority}")


def view_label(url: str) -> str:
    """The words on a button or link that opens ``url``: a run page, a job page, or else
    the dashboard. English: a message brings them in its language (``Message.link_label``)."""
    path = urllib.parse.urlsplit(url).path
    if re.search(r"/runs/\d+/?$", path):
        return "Open run"
    if re.search(r"/jobs/\d+/?$", path):
        return "Open job"
    return "Open duplistatus"


@dataclass(frozen=True)
class SendResult:
    """A successful delivery. ``detail`` is a human-readable outcome for the delivery log."""

    detail: str


class DeliveryError(Exception):
    """A delivery failed. ``message`` is safe to show: it never contains a secret."""

    transient: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def redact_secrets(self, secrets: Iterable[str | None]) -> Self:
        """Remove ``secrets`` from this error's text (in place); returns the error."""
        self.message = redact(self.message, secrets)
        self.args = (self.message,)
        return self


class TransientError(DeliveryError):
    """Retrying later may succeed. ``retry_after`` is the server's hint in seconds, if any."""

    transient: ClassVar[bool] = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Retrying will not help until the configuration (or the receiving side) changes."""


class ConfigModel(pydantic.BaseModel):
    """Base for every kind's ``Config``.

    Unknown fields are errors (a typo must not silently drop a setting), and pydantic is told
    not to echo input values in its errors, because some fields hold secrets.
    """

    model_config = pydantic.ConfigDict(extra="forbid", hide_input_in_errors=True)


@runtime_checkable
class ChannelKind(Protocol):
    """What the outbox needs from a channel kind."""

    # Read-only properties, so that implementations may declare them as plain (or Final)
    # class attributes; reading them works the same: ``kind.Config.model_validate(...)``.
    @property
    def kind(self) -> str:
        """The kind's name, the key in ``channels.KINDS`` (e.g. ``"ntfy"``)."""
        ...

    @property
    def Config(self) -> type[pydantic.BaseModel]:  # noqa: N802 - named like the class it is
        """The pydantic model of this kind's settings."""
        ...

    @property
    def secret_fields(self) -> tuple[str, ...]:
        """Names of ``Config`` fields holding secrets: masked in the UI, redacted from errors."""
        ...

    def send(self, config: Any, message: Message, *, timeout: float = 15.0) -> SendResult:
        """Deliver ``message`` once; raise TransientError or PermanentError on failure."""
        ...


def secret_values(config: pydantic.BaseModel, fields: Iterable[str]) -> list[str]:
    """The secret strings held in ``fields`` of ``config`` (dict values and list items too)."""
    found: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            if value:
                found.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                collect(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                collect(item)

    for name in fields:
        collect(getattr(config, name, None))
    return found


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of any secret replaced by ``***``.

    URL-quoted spellings are replaced too, because secrets often travel inside URLs. Longer
    secrets go first so that one secret containing another is replaced whole.
    """
    variants: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        variants.add(secret)
        variants.add(urllib.parse.quote(secret, safe=""))
        variants.add(urllib.parse.quote_plus(secret, safe=""))
    for variant in sorted(variants, key=len, reverse=True):
        text = text.replace(variant, REDACTED)
    return text


def stable_token(value: str, *, allowed: str = r"-_A-Za-z0-9", max_length: int = 64) -> str:
    """``value`` if it is made of ``allowed`` characters and short enough, else a stable stand-in.

    Delivery ids end up in places with strict syntax (ntfy sequence ids, Message-ID headers).
    The stand-in keeps the readable part and appends a hash of the original, so two different
    ids never collapse into one and the same id always maps to the same token.
    """
    if re.fullmatch(f"[{allowed}]{{1,{max_length}}}", value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    readable = re.sub(f"[^{allowed}]+", "-", value).strip("-")
    readable = readable[: max_length - len(digest) - 1]
    return f"{readable}-{digest}" if readable else digest


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return str(item)
    return None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means "-0000"
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _error_detail(body: bytes | str) -> str:
    """A short, human-readable error from a response body: the JSON ``error`` or a text line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    if not text:
        return ""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        for key in ("error", "message", "detail", "title", "error_description"):
            value = document.get(key)
            if isinstance(value, dict):  # {"error": {"message": "..."}}
                value = value.get("message")
            if isinstance(value, str) and value.strip():
                return _shorten(value)
        return ""
    if text.startswith("<"):  # an HTML error page says nothing useful in one line
        return ""
    return _shorten(text.splitlines()[0])


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_text(status: int) -> str:
    """``"403 forbidden"`` for 403; just the number for codes without a standard phrase."""
    try:
        return f"{status} {http.HTTPStatus(status).phrase.lower()}"
    except ValueError:
        return str(status)


def classify_http_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    service: str = "the server",
    secrets: Iterable[str | None] = (),
) -> None:
    """Return if ``status`` is 2xx; otherwise raise the matching :class:`DeliveryError`.

    Transient: 408, 425, 429 and 5xx (with ``Retry-After`` parsed into ``retry_after``).
    Permanent: everything else, including redirects, which this code never follows because
    re-sending a POST elsewhere silently is worse than asking the user to fix the URL.
    """
    if 200 <= status < 300:
        return
    secrets = list(secrets)
    detail = _error_detail(body)
    text = f"{service} answered {status_text(status)}" + (f": {detail}" if detail else "")
    if status in (408, 425, 429) or 500 <= status < 600:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        raise TransientError(redact(text, secrets), retry_after=retry_after)
    if 300 <= status < 400:
        location = _header(headers, "Location")
        if location:
            text += f" (redirected to {location}; update the URL)"
    raise PermanentError(redact(text, secrets))
