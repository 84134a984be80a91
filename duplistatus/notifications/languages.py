"""The language a notification is written in: the channel's own, else the deployment's
(settings.LANGUAGE_CODE, set by DUPLISTATUS_LANGUAGE). The languages themselves are
settings.LANGUAGES; every code here is one of those.

Rendering a message for a channel happens inside `speaking(channel)`, so that everything
gettext, humanize and the built-in templates produce comes out in the channel's language."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from django.conf import settings
from django.utils import translation

ENGLISH = "en"


def names() -> dict[str, str]:
    """Code → the language's name in that language ("de" → "Deutsch"), in settings order."""
    return {code: str(name) for code, name in settings.LANGUAGES}


def codes() -> list[str]:
    return list(names())


def supported(code: str) -> str | None:
    """The language `code` names, as written in settings.LANGUAGES ("pt-BR", "pt_BR" and "pt"
    are "pt-br"; "zh", "zh-CN" and "zh-Hans" are "zh-hans"; "en-us" is "en"), or None."""
    wanted = code.strip().lower().replace("_", "-")
    known = codes()
    if wanted in known:
        return wanted
    base = wanted.split("-", 1)[0]
    if base in known:
        return base
    return next((c for c in known if base and c.startswith(base + "-")), None)


def check(code: str) -> str:
    """A channel's language as given to the API or a form: one of the codes (any case), or
    blank for the deployment's; ValueError naming the codes otherwise."""
    if not code.strip():
        return ""
    wanted = code.strip().lower().replace("_", "-")
    if wanted not in codes():
        raise ValueError(f"unknown language {code!r}; one of: {', '.join(codes())}")
    return wanted


def default() -> str:
    """The deployment's language (settings.LANGUAGE_CODE), as one of the codes."""
    return supported(settings.LANGUAGE_CODE) or ENGLISH


def of(channel: Any) -> str:
    """The language `channel` is written to: its own, else the deployment's."""
    return supported(getattr(channel, "language", "") or "") or default()


def speaking(channel: Any) -> AbstractContextManager[None]:
    """Within the block, gettext (and so humanize) speaks the channel's language."""
    return translation.override(of(channel))
