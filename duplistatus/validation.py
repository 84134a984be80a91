"""Validation errors in the words of the person reading them, in their language.

Pydantic's own messages ("Input should be greater than or equal to 0") are English and
cannot be translated, so `message` says each error type again in a translatable text.
Our validators raise:

* in code that runs under Django: `ValueError(gettext("…"))`, translated when raised;
* in code that must not import Django (the channel kinds, the clock): `Invalid`, whose
  text is marked with `gettext_noop` so that makemessages finds it and is translated here,
  when it is shown.

This module imports Django only inside `message`, so that the channel kinds and the clock
can use `Invalid` and `gettext_noop` without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pydantic
    from pydantic_core import ErrorDetails


def gettext_noop(text: str) -> str:
    """Marks `text` for translation (makemessages looks for this name) and returns it as is."""
    return text


class Invalid(ValueError):
    """A value refused, by code that does not import Django. `text` (marked with
    `gettext_noop`) holds `%(name)s` placeholders that `values` fill; `str()` is English."""

    def __init__(self, text: str, **values: Any) -> None:
        super().__init__(text % values if values else text)
        self.text = text
        self.values = values


# Each error type pydantic may report for a form field, as "<label>: <text>" reads it.
_TEXTS = {
    # Translators: these texts follow a field's label, e.g. "Port: must be a whole number".
    "missing": gettext_noop("is required"),
    "int_parsing": gettext_noop("must be a whole number"),
    "int_type": gettext_noop("must be a whole number"),
    "int_from_float": gettext_noop("must be a whole number"),
    "float_parsing": gettext_noop("must be a number"),
    "float_type": gettext_noop("must be a number"),
    "bool_parsing": gettext_noop("must be true or false"),
    "bool_type": gettext_noop("must be true or false"),
    "string_type": gettext_noop("must be text"),
    "list_type": gettext_noop("must be a list"),
    "dict_type": gettext_noop("must be a set of names and values"),
    "model_type": gettext_noop("must be a set of names and values"),
    "model_attributes_type": gettext_noop("must be a set of names and values"),
    "time_parsing": gettext_noop("must be a time, e.g. 08:30"),
    "time_type": gettext_noop("must be a time, e.g. 08:30"),
    "date_parsing": gettext_noop("must be a date, e.g. 2026-01-31"),
    "date_type": gettext_noop("must be a date, e.g. 2026-01-31"),
    "date_from_datetime_parsing": gettext_noop("must be a date, e.g. 2026-01-31"),
    "date_from_datetime_inexact": gettext_noop("must be a date, e.g. 2026-01-31"),
    "datetime_parsing": gettext_noop("must be a date and time, e.g. 2026-01-31 08:00"),
    "datetime_type": gettext_noop("must be a date and time, e.g. 2026-01-31 08:00"),
    "datetime_from_date_parsing": gettext_noop("must be a date and time, e.g. 2026-01-31 08:00"),
    "extra_forbidden": gettext_noop("is not a known setting"),
}
_LIMITS = {
    "greater_than_equal": ("ge", gettext_noop("must be greater than or equal to %(limit)s")),
    "greater_than": ("gt", gettext_noop("must be greater than %(limit)s")),
    "less_than_equal": ("le", gettext_noop("must be less than or equal to %(limit)s")),
    "less_than": ("lt", gettext_noop("must be less than %(limit)s")),
}


def message(error: ErrorDetails) -> str:
    """One pydantic error as a text to show after the field's label."""
    from django.utils.translation import gettext, ngettext

    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        if isinstance(cause, Invalid):
            text = gettext(cause.text)
            return text % cause.values if cause.values else text
        return str(cause) if cause is not None else error["msg"]
    if kind in _TEXTS:
        return gettext(_TEXTS[kind])
    if kind in _LIMITS:
        key, text = _LIMITS[kind]
        return gettext(text) % {"limit": _number(ctx.get(key))}
    if kind in ("literal_error", "enum"):
        # pydantic joins the choices with an English "or": list them with commas instead.
        choices = str(ctx.get("expected", "")).replace(" or ", ", ")
        return gettext("must be one of: %(choices)s") % {"choices": choices}
    if kind == "string_too_short":
        count = int(ctx.get("min_length", 1))
        if count == 1:
            return gettext("must not be empty")
        return ngettext(
            "must be at least %(count)d character long",
            "must be at least %(count)d characters long",
            count,
        ) % {"count": count}
    if kind == "string_too_long":
        count = int(ctx.get("max_length", 0))
        return ngettext(
            "must be at most %(count)d character long",
            "must be at most %(count)d characters long",
            count,
        ) % {"count": count}
    if kind == "too_short":
        count = int(ctx.get("min_length", 1))
        return ngettext(
            "needs at least %(count)d entry", "needs at least %(count)d entries", count
        ) % {"count": count}
    if kind == "too_long":
        count = int(ctx.get("max_length", 0))
        return ngettext(
            "may have at most %(count)d entry", "may have at most %(count)d entries", count
        ) % {"count": count}
    return error["msg"]  # a type no form field here can produce: pydantic's English


def _number(value: Any) -> str:
    """A limit as the reader writes numbers: 0 (not 0.0), 0,5 in German."""
    from django.utils.formats import number_format

    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return number_format(value) if isinstance(value, int | float) else str(value)


def problems(exc: pydantic.ValidationError, labels: Mapping[str, Any] | None = None) -> str:
    """A pydantic error as one line for a page: "Label: what is wrong; …". A field is named by
    its label: the one of its whole path ("http_action.url"), else of its first part, else
    its name; an error of the whole form shows without a name."""
    from django.utils.translation import gettext

    labels = labels or {}
    parts = []
    for error in exc.errors(include_input=False):
        loc = [str(part) for part in error["loc"]]
        text = message(error)
        if not loc:
            parts.append(text)
            continue
        field = labels.get(".".join(loc)) or labels.get(loc[0]) or ".".join(loc)
        # Translators: a form field's label, then what is wrong with its value.
        parts.append(gettext("%(field)s: %(problem)s") % {"field": field, "problem": text})
    return "; ".join(parts)
