"""Findings in words: a value in its metric's unit, the normal range, the template variables
of an `anomaly` or `storage` event, in the active language. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_noop, pgettext_lazy

from duplistatus.humanize import format_duration, human_size, human_span

from .baseline import METRICS
from .detect import LABELS

OTHER_UNITS = {"free_space": "bytes", "days_since_verified": "days"}
METRIC_LABELS = {
    "free_space": gettext_noop("free space"),
    "days_since_verified": gettext_noop("days since verification"),
}
# The notification spec's message types and the severities, as the run page labels them (the
# values themselves stay as they are in the template variables and the webhook document).
MESSAGE_TYPE_LABELS = {
    "Anomaly": pgettext_lazy("message type", "Anomaly"),
    "Performance Warning": pgettext_lazy("message type", "Performance Warning"),
    "Storage Warning": pgettext_lazy("message type", "Storage Warning"),
}
SEVERITY_LABELS = {
    "warning": pgettext_lazy("severity", "warning"),
    "critical": pgettext_lazy("severity", "critical"),
}


def in_unit(metric: str, value: float | None) -> str:
    if value is None:
        return ""
    unit = METRICS[metric].unit if metric in METRICS else OTHER_UNITS.get(metric, "")
    if unit == "bytes":
        return human_size(int(value))
    if unit == "seconds":
        return format_duration(value)
    if unit == "days":
        return human_span(timedelta(days=value))
    return number_format(round(value), force_grouping=True)


def normal_range(details: Mapping[str, Any]) -> str:
    metric, low, high = details.get("metric", ""), details.get("low"), details.get("high")
    if details.get("detector") == "unverified":
        return gettext("at least every %(span)s") % {"span": human_span(timedelta(days=high or 0))}
    if details.get("detector") == "quota":
        # The normal free space "of 2.0 TiB" (the destination's size).
        return gettext("of %(size)s") % {"size": in_unit("free_space", high)} if high else ""
    if low is not None and high is not None:
        return f"{in_unit(metric, low)} – {in_unit(metric, high)}"
    if low is not None:
        return gettext("at least %(low)s") % {"low": in_unit(metric, low)}
    return ""


def metric_label(metric: str) -> str:
    """A metric's name in the active language ('files examined')."""
    label = METRICS[metric].label if metric in METRICS else METRIC_LABELS.get(metric, "")
    return gettext(label) if label else ""


def detector_label(detector: str) -> str:
    """A detector's name in the active language ('slow run')."""
    label = LABELS.get(detector, "")
    return gettext(label) if label else ""


def shown(details: Mapping[str, Any]) -> dict[str, str]:
    """The event's message type and severity as the page labels them."""
    message_type = str(details.get("message_type", ""))
    severity = str(details.get("severity", ""))
    return {
        "message_type_label": str(MESSAGE_TYPE_LABELS.get(message_type, message_type)),
        "severity_label": str(SEVERITY_LABELS.get(severity, severity)),
    }


def variables(details: Mapping[str, Any]) -> dict[str, Any]:
    """The template variables of an anomaly or storage event (templates.ANOMALY_VARIABLES)."""
    metric = str(details.get("metric", ""))
    days_left = details.get("days_left")
    return {
        "anomaly": detector_label(str(details.get("detector", ""))),
        "detector": details.get("detector", ""),
        "message_type": details.get("message_type", ""),
        "severity": details.get("severity", ""),
        "metric": metric_label(metric),
        "value": in_unit(metric, details.get("value")),
        "normal_value": in_unit(metric, details.get("normal")),
        "normal_range": normal_range(details),
        "days_until_full": "" if days_left is None else round(days_left),
    }
