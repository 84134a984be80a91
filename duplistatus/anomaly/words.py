"""Findings in words: a value in its metric's unit, the normal range, the template variables
of an `anomaly` or `storage` event. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from duplistatus.humanize import format_duration, human_size, human_span

from .baseline import METRICS
from .detect import LABELS

OTHER_UNITS = {"free_space": "bytes", "days_since_verified": "days"}
METRIC_LABELS = {"free_space": "free space", "days_since_verified": "days since verification"}


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
    return f"{round(value):,}"


def normal_range(details: Mapping[str, Any]) -> str:
    metric, low, high = details.get("metric", ""), details.get("low"), details.get("high")
    if details.get("detector") == "unverified":
        return f"at least every {human_span(timedelta(days=high or 0))}"
    if details.get("detector") == "quota":
        return f"of {in_unit('free_space', high)}" if high else ""
    if low is not None and high is not None:
        return f"{in_unit(metric, low)} – {in_unit(metric, high)}"
    if low is not None:
        return f"at least {in_unit(metric, low)}"
    return ""


def variables(details: Mapping[str, Any]) -> dict[str, Any]:
    """The template variables of an anomaly or storage event (templates.ANOMALY_VARIABLES)."""
    metric = str(details.get("metric", ""))
    days_left = details.get("days_left")
    return {
        "anomaly": LABELS.get(str(details.get("detector", "")), ""),
        "detector": details.get("detector", ""),
        "message_type": details.get("message_type", ""),
        "severity": details.get("severity", ""),
        "metric": METRICS[metric].label if metric in METRICS else METRIC_LABELS.get(metric, ""),
        "value": in_unit(metric, details.get("value")),
        "normal_value": in_unit(metric, details.get("normal")),
        "normal_range": normal_range(details),
        "days_until_full": "" if days_left is None else round(days_left),
    }
