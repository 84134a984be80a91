"""The anomaly detectors' settings on the rules forms (web/_detector_fields.html), at every
level (global, server, job) like the other rules: each setting of each detector with what
this level sets ("" = inherit) and what it would inherit, from where. Read back from a posted
form with an error per field in plain words; the settings themselves are checked by
anomaly/detect.py's check_settings, the same check the API makes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from duplistatus.anomaly.detect import DEFAULTS, DETECTORS, check_settings

MIN_HISTORY = "min_history"
# What each detector looks for, in a user's words.
DETECTOR_LABELS = {
    "source_vanished": (
        gettext_lazy("Source vanished"),
        gettext_lazy("Far fewer files or bytes examined than normal: a disk or share not there."),
    ),
    "change_burst": (
        gettext_lazy("Change burst"),
        gettext_lazy(
            "Far more files changed or bytes uploaded than normal, as when ransomware "
            "encrypts files."
        ),
    ),
    "slow_run": (gettext_lazy("Slow run"), gettext_lazy("The run took far longer than normal.")),
    "storage_shrink": (
        gettext_lazy("Storage shrank"),
        gettext_lazy("The backup at the destination got much smaller since the previous run."),
    ),
    "versions_falling": (
        gettext_lazy("Versions falling"),
        gettext_lazy("Backup versions disappeared since the previous run."),
    ),
    "quota": (
        gettext_lazy("Destination filling up"),
        gettext_lazy(
            "At the recent rate the destination is full soon, or Duplicati reported a quota "
            "problem."
        ),
    ),
    "unverified": (
        gettext_lazy("Not verified"),
        gettext_lazy("No successful verification of the destination for a while."),
    ),
}
# Each setting's label and what its number means.
SETTING_LABELS = {
    MIN_HISTORY: (
        gettext_lazy("Runs learned before judging"),
        gettext_lazy("no job is judged before it has this many runs"),
    ),
    "enabled": (gettext_lazy("Detector"), ""),
    "sensitivity": (
        gettext_lazy("Sensitivity"),
        gettext_lazy("width of the normal band; higher means fewer alarms"),
    ),
    "factor": (gettext_lazy("Times normal"), gettext_lazy("and at least this many times normal")),
    "drop": (
        gettext_lazy("Drop"),
        gettext_lazy("a fraction of normal, between 0 and 1 (0.5 = half)"),
    ),
    "min_seconds": (
        gettext_lazy("Seconds longer"),
        gettext_lazy("and at least this many seconds longer than normal"),
    ),
    "horizon_days": (
        gettext_lazy("Days ahead"),
        gettext_lazy("warn when it is full within this many days"),
    ),
    "window": (
        gettext_lazy("Runs in the trend"),
        gettext_lazy("how many recent runs the rate is read from"),
    ),
    "days": (
        # A count of days; plain "Days" is the schedule's weekdays (Chinese: 星期).
        pgettext_lazy("a number of days", "Days"),
        gettext_lazy("warn after this many days without a successful verification"),
    ),
}
# versions_falling counts versions: its drop is no fraction.
VERSIONS_DROP = (
    gettext_lazy("Versions lost"),
    gettext_lazy("warn when at least this many disappear in one run"),
)


@dataclass(frozen=True)
class Setting:
    """One input: `own` is what this level sets as the form shows it ("" = inherit;
    "on"/"off" for a detector's switch), `inherited` what it would be without it."""

    name: str  # the input's name
    label: str
    help: str
    switch: bool  # on/off, else a number
    own: str
    inherited: str
    inherited_from: str  # where that comes from, as the page names it
    error: str = ""


@dataclass(frozen=True)
class Detector:
    name: str
    label: str
    help: str
    switch: Setting
    numbers: list[Setting]


@dataclass(frozen=True)
class DetectorForm:
    min_history: Setting
    detectors: list[Detector]

    @property
    def is_set(self) -> bool:
        """This level sets something (or has an error): the form opens on it."""
        every = [self.min_history] + [s for d in self.detectors for s in (d.switch, *d.numbers)]
        return any(s.own or s.error for s in every)


def input_name(detector: str, key: str | None = None) -> str:
    return f"det-{detector}" if key is None else f"det-{detector}-{key}"


def build(
    own: Mapping[str, Any] | None,
    above: list[tuple[str, dict[str, Any]]],
    posted: QueryDict | None = None,
    errors: Mapping[str, str] | None = None,
    *,
    origins: Mapping[str, str],
) -> DetectorForm:
    """The form for a level whose own settings are `own`, below the `above` layers (nearest
    first, as (origin, rule layer)); showing `posted` values instead when a form comes back
    with `errors`. `origins` names each origin (job, server, global, default) on the page."""
    own = own or {}
    errors = errors or {}

    def setting(detector: str, key: str | None, label: tuple[Any, Any]) -> Setting:
        name = input_name(detector, key)
        value = own.get(detector) if key is None else (own.get(detector) or {}).get(key)
        default = DEFAULTS[detector] if key is None else DEFAULTS[detector][key]
        switch = isinstance(default, bool)
        inherited, origin = _inherited(detector, key, above, default)
        return Setting(
            name=name,
            label=str(label[0]),
            help=str(label[1]),
            switch=switch,
            own=posted.get(name, "").strip() if posted is not None else _shown(value),
            inherited=_shown(inherited) if not switch else (_("on") if inherited else _("muted")),
            inherited_from=origins[origin],
            error=errors.get(name, ""),
        )

    detectors = []
    for name in DETECTORS:
        label, help_ = DETECTOR_LABELS[name]
        numbers = []
        for key in DEFAULTS[name]:
            if key == "enabled":
                continue
            labels = VERSIONS_DROP if (name, key) == ("versions_falling", "drop") else None
            numbers.append(setting(name, key, labels or SETTING_LABELS[key]))
        detectors.append(
            Detector(
                name=name,
                label=str(label),
                help=str(help_),
                switch=setting(name, "enabled", SETTING_LABELS["enabled"]),
                numbers=numbers,
            )
        )
    return DetectorForm(setting(MIN_HISTORY, None, SETTING_LABELS[MIN_HISTORY]), detectors)


def _inherited(
    detector: str, key: str | None, above: list[tuple[str, dict[str, Any]]], default: Any
) -> tuple[Any, str]:
    """The value from the nearest level above that sets it, else the built-in one: how
    detect.merge_settings merges them, key by key."""
    for origin, layer in above:
        settings = layer.get("anomaly_detectors") or {}
        value = settings.get(detector)
        if key is not None:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is not None:
            return value, origin
    return default, "default"


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def read(post: QueryDict) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """A level's own detector settings from a posted form (None: it inherits all of them),
    and an error per input that is wrong."""
    own: dict[str, Any] = {}
    errors: dict[str, str] = {}
    raw = post.get(input_name(MIN_HISTORY), "").strip()
    if raw:
        number = _number(raw)
        if number is None or number != int(number) or number < 1:
            errors[input_name(MIN_HISTORY)] = _("Enter a whole number of runs, at least 1.")
        else:
            own[MIN_HISTORY] = int(number)
    for detector in DETECTORS:
        settings: dict[str, Any] = {}
        for key, default in DEFAULTS[detector].items():
            name = input_name(detector, key)
            raw = post.get(name, "").strip()
            if not raw:
                continue
            if isinstance(default, bool):
                if raw in ("on", "off"):
                    settings[key] = raw == "on"
                continue
            number = _number(raw)
            if number is None:
                errors[name] = _("Enter a number, such as %(example)s.") % {
                    "example": _shown(default)
                }
                continue
            value: float | int = (
                int(number) if isinstance(default, int) and number == int(number) else number
            )
            try:
                check_settings({detector: {key: value}})
            except ValueError:
                errors[name] = (
                    _("Enter a fraction between 0 and 1, such as 0.5 for half.")
                    if key == "drop" and isinstance(default, float)
                    else _("Enter a number above 0.")
                )
                continue
            settings[key] = value
        if settings:
            own[detector] = settings
    return own or None, errors


def _number(raw: str) -> float | None:
    """A number as people type it ("2.5" or "2,5"); None when it is none."""
    try:
        number = float(raw.replace(",", "."))
    except ValueError:
        return None
    return number if math.isfinite(number) else None
