"""Template helpers: times, sizes, durations and status badges.

Times are stored in UTC. Pages print them in UTC with a `<time datetime=…>` element, and
static/web/app.js rewrites them in the browser's time zone and the page's language
(conversion at the edge). Words and number formats here follow the active language.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta

from django import template
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language, gettext, ngettext, pgettext, pgettext_lazy

from duplistatus import clock
from duplistatus.humanize import decimal_mark, human_size
from duplistatus.monitoring.health import LABELS as HEALTH_LABELS
from duplistatus.notifications.messages import KIND_LABELS

register = template.Library()

STATE_LABELS = {
    "ok": pgettext_lazy("schedule state", "OK"),
    "late": pgettext_lazy("schedule state", "Late"),
    "overdue": pgettext_lazy("schedule state", "Overdue"),
    "paused": pgettext_lazy("schedule state", "Paused"),
    "disabled": pgettext_lazy("schedule state", "Disabled"),
    "unknown": pgettext_lazy("schedule state", "Unknown"),
}
# A run's result as we label it (the badges, the strips' popups, the status filter); the
# value itself is Duplicati's and stays as it is in data, URLs and the API.
STATUS_LABELS = {
    "Success": pgettext_lazy("run status", "Success"),
    "Warning": pgettext_lazy("run status", "Warning"),
    "Error": pgettext_lazy("run status", "Error"),
    "Fatal": pgettext_lazy("run status", "Fatal"),
    "Unknown": pgettext_lazy("run status", "Unknown"),
}
# Duplicati's operations as we name them (the run pages and history); others as Duplicati
# names them.
OPERATION_LABELS = {
    "Backup": pgettext_lazy("Duplicati operation", "Backup"),
    "Restore": pgettext_lazy("Duplicati operation", "Restore"),
    "Test": pgettext_lazy("Duplicati operation", "Test"),
    "Compact": pgettext_lazy("Duplicati operation", "Compact"),
    "Repair": pgettext_lazy("Duplicati operation", "Repair"),
    "Delete": pgettext_lazy("Duplicati operation", "Delete"),
    "Vacuum": pgettext_lazy("Duplicati operation", "Vacuum"),
    "List": pgettext_lazy("Duplicati operation", "List"),
}
# Where a job's interval comes from (monitoring.schedule.Schedule.source) …
SOURCE_LABELS = {
    "duplicati": pgettext_lazy("schedule source", "Duplicati"),
    "configured": pgettext_lazy("schedule source", "configured"),
    "learned": pgettext_lazy("schedule source", "learned"),
    "default": pgettext_lazy("schedule source", "default"),
    "fallback": pgettext_lazy("schedule source", "fallback"),
}
# … and each of its settings (Schedule.origins).
ORIGIN_LABELS = {
    "job": pgettext_lazy("setting origin", "job"),
    "server": pgettext_lazy("setting origin", "server"),
    "global": pgettext_lazy("setting origin", "global"),
    "its schedule": pgettext_lazy("setting origin", "its schedule"),
    "duplicati": pgettext_lazy("setting origin", "Duplicati"),
    "learned": pgettext_lazy("setting origin", "learned"),
    "fallback": pgettext_lazy("setting origin", "fallback"),
}


def _relative_text(unit: str, count: int, future: bool) -> str:
    """'in 3 h', '2 days ago': one whole message per unit and direction, for translators."""
    if unit == "y":
        text = (
            ngettext("in %(count)s y", "in %(count)s y", count)
            if future
            else ngettext("%(count)s y ago", "%(count)s y ago", count)
        )
    elif unit == "d":
        text = (
            ngettext("in %(count)s day", "in %(count)s days", count)
            if future
            else ngettext("%(count)s day ago", "%(count)s days ago", count)
        )
    elif unit == "h":
        text = (
            ngettext("in %(count)s h", "in %(count)s h", count)
            if future
            else ngettext("%(count)s h ago", "%(count)s h ago", count)
        )
    else:
        text = (
            ngettext("in %(count)s min", "in %(count)s min", count)
            if future
            else ngettext("%(count)s min ago", "%(count)s min ago", count)
        )
    return text % {"count": count}


def relative(moment: datetime, now: datetime) -> str:
    """'5 min ago', 'in 3 h', '2 days ago'."""
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    for size, unit in ((86400 * 365, "y"), (86400, "d"), (3600, "h"), (60, "min")):
        if span >= size:
            return _relative_text(unit, int(span // size), seconds > 0)
    return gettext("just now")


@register.simple_tag
def ago(moment: datetime | None, empty: str = "—") -> SafeString:
    """A relative time; the exact local time is its tooltip."""
    if moment is None:
        return format_html("<span class=muted>{}</span>", empty)
    return format_html(
        '<time datetime="{}" title="{} UTC" data-title>{}</time>',
        moment.isoformat(),
        f"{moment:%Y-%m-%d %H:%M}",
        relative(moment, clock.now()),
    )


@register.simple_tag
def at(moment: datetime | None, empty: str = "—") -> SafeString:
    """An exact time, shown in the browser's zone."""
    if moment is None:
        return format_html("<span class=muted>{}</span>", empty)
    return format_html(
        '<time datetime="{}" data-local>{} UTC</time>',
        moment.isoformat(),
        f"{moment:%Y-%m-%d %H:%M:%S}",
    )


@register.filter
def size(value: int | None) -> str:
    return "—" if value is None else human_size(value)


# Per language: a dashboard writes some 650 durations, and each translation lookup costs
# tens of microseconds (the active language is a context-local).
_DURATION_UNITS: dict[str, tuple[tuple[int, str], ...]] = {}


def _duration_units() -> tuple[tuple[int, str], ...]:
    language = get_language()
    units = _DURATION_UNITS.get(language)
    if units is None:
        # Each a whole "count unit" message: the unit's symbol and its place are the language's.
        units = _DURATION_UNITS[language] = (
            (86400, pgettext("duration in days", "%(count)s d")),
            (3600, pgettext("duration in hours", "%(count)s h")),
            (60, pgettext("duration in minutes", "%(count)s min")),
            (1, pgettext("duration in seconds", "%(count)s s")),
        )
    return units


@register.filter
def duration(seconds: float | None) -> str:
    """'45 s', '12 min 5 s', '3 h 20 min', '2 d 4 h'."""
    return _duration(seconds, _duration_units())


def _duration(seconds: float | None, units: tuple[tuple[int, str], ...]) -> str:
    if seconds is None:
        return "—"
    total = int(round(seconds))
    parts = []
    for size_, unit in units:
        if total >= size_ or (size_ == 1 and not parts):
            count, total = divmod(total, size_)
            parts.append(unit % {"count": count})
    return " ".join(parts[:2])


@register.filter
def first_line(text: str | None) -> str:
    """An exception's message without its stack trace."""
    return (text or "").strip().split("\n", 1)[0].strip()


@register.filter
def minutes(value: int | None) -> str:
    return "—" if value is None else duration(value * 60)


@register.filter
def span(value: timedelta | None) -> str:
    return "—" if value is None else duration(value.total_seconds())


@register.filter
def num(value: int | float | None) -> str:
    if value is None:
        return "—"
    # Grouped and with the decimal mark of the active language ("1,234.50", German "1.234,50").
    if isinstance(value, int):
        return number_format(value, force_grouping=True)
    return number_format(round(value, 2), 2, force_grouping=True)


@register.filter
def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return pgettext("percentage", "%(value)s %%") % {"value": f"{value * 100:.0f}"}


@register.simple_tag
def state_badge(state: str) -> SafeString:
    return format_html('<span class="badge s-{}">{}</span>', state, STATE_LABELS.get(state, state))


@register.filter
def status_label(status: str | None) -> str:
    """A run's status in the page's language ('Warning' → 'Warnung'); unknown values as is."""
    return str(STATUS_LABELS.get(status or "", status or ""))


@register.filter
def kind_label(kind: str | None) -> str:
    """A message kind in the page's language ('overdue' → 'überfällig'); unknown ones as is."""
    return str(KIND_LABELS.get(kind or "", kind or ""))


@register.filter
def operation_label(operation: str | None) -> str:
    """A Duplicati operation in the page's language ('Backup', 'Restore', …)."""
    return str(OPERATION_LABELS.get(operation or "", operation or ""))


@register.filter
def source_label(source: str | None) -> str:
    """Where a schedule's interval comes from, in words ('learned', 'Duplicati', …)."""
    return str(SOURCE_LABELS.get(source or "", source or ""))


@register.filter
def origin_label(origin: str | None) -> str:
    """Where a schedule setting comes from, in words ('job', 'server', 'global', …)."""
    return str(ORIGIN_LABELS.get(origin or "", origin or ""))


@register.simple_tag
def health_badge(health: str) -> SafeString:
    return format_html(
        '<span class="badge h-{}">{}</span>', health, HEALTH_LABELS.get(health, health)
    )


@register.simple_tag
def run_strip(runs: list, job_name: str) -> SafeString:
    """A job's recent runs as coloured bars, oldest first, each a link to its run with a
    popup (date, result, duration, size) shown on hover and on keyboard focus.

    Built here rather than with an included template: the dashboard renders a strip for
    each of its 50 rows. Only the newest bar is a Tab stop; the arrow keys move along the
    strip (static/web/app.js), so that a page of strips is not 600 Tab presses long."""
    if not runs:
        return format_html('<span class="muted">{}</span>', gettext("no runs"))
    run_url = reverse("web:run", args=[0])[:-1]  # one reverse() for the strip, not per bar
    bars = []
    last = len(runs) - 1
    # Plain string building: format_html (and Django's lazy-aware escape) per bar was most
    # of a dashboard's render time. The only text from outside is the status, escaped; the
    # rest are numbers and our own words. The status labels are translated once a strip.
    labels = {status: html.escape(str(label)) for status, label in STATUS_LABELS.items()}
    units, mark = _duration_units(), decimal_mark()
    for i, run in enumerate(runs):
        moment = run.begin_time.isoformat()
        status = html.escape(run.status)
        focus = "" if i == last else ' tabindex="-1"'
        bars.append(
            f'<a href="{run_url}{run.pk}" class="bar r-{status.lower()}"{focus}>'
            f'<span class="tip"><time datetime="{moment}" data-local>'
            f"{moment[:10]} {moment[11:16]} UTC</time> · {labels.get(run.status, status)} · "
            f"{_duration(run.duration_seconds, units)} · "
            f"{'—' if run.known_file_size is None else human_size(run.known_file_size, mark)}"
            "</span></a>"
        )
    return format_html(
        '<div class="strip" role="group" aria-label="{}">{}</div>',
        gettext("Recent runs of %(job)s") % {"job": job_name},
        SafeString("".join(bars)),
    )


@register.simple_tag
def status_badge(status: str) -> SafeString:
    if not status:
        return format_html("<span class=muted>{}</span>", gettext("no runs"))
    return format_html('<span class="badge r-{}">{}</span>', status.lower(), status_label(status))


@register.simple_tag(takes_context=True)
def query(context: template.Context, **changes: object) -> str:
    """The current query string with some parameters changed (for sort and page links)."""
    params = context["request"].GET.copy()
    for name, value in changes.items():
        if value in (None, ""):
            params.pop(name, None)
        else:
            params[name] = str(value)
    encoded = params.urlencode()
    return "?" + encoded if encoded else "?"


@register.filter
def lookup(mapping: dict, key: object) -> object:
    return mapping.get(key, "")


@register.filter
def change(value: object) -> str:
    """An audit entry's change: 'old → new', or the value itself."""

    def text(item: object) -> str:
        if item is None or item == "":
            return "∅"
        return item if isinstance(item, str) else json.dumps(item, default=str)

    if isinstance(value, dict) and set(value) == {"from", "to"}:
        return f"{text(value['from'])} → {text(value['to'])}"
    return text(value)
