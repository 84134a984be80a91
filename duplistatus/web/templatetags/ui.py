"""Template helpers: times, sizes, durations and status badges.

Times are stored in UTC. Pages print them in UTC with a `<time datetime=…>` element, and
static/web/app.js rewrites them in the browser's time zone (conversion at the edge).
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from duplistatus import clock
from duplistatus.humanize import human_size
from duplistatus.monitoring.health import LABELS as HEALTH_LABELS

register = template.Library()

STATE_LABELS = {
    "ok": "OK",
    "late": "Late",
    "overdue": "Overdue",
    "paused": "Paused",
    "disabled": "Disabled",
    "unknown": "Unknown",
}


def relative(moment: datetime, now: datetime) -> str:
    """'5 min ago', 'in 3 h', '2 days ago'."""
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    if span < 60:
        return "just now"
    for size, unit in ((86400 * 365, "y"), (86400, "d"), (3600, "h"), (60, "min")):
        if span >= size:
            count = int(span // size)
            text = {"y": f"{count} y", "d": f"{count} day{'s' if count != 1 else ''}"}.get(
                unit, f"{count} {unit}"
            )
            return f"in {text}" if seconds > 0 else f"{text} ago"
    return "just now"  # not reached


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


@register.filter
def duration(seconds: float | None) -> str:
    """'45 s', '12 min 5 s', '3 h 20 min', '2 d 4 h'."""
    if seconds is None:
        return "—"
    total = int(round(seconds))
    parts = []
    for size_, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if total >= size_ or (unit == "s" and not parts):
            count, total = divmod(total, size_)
            parts.append(f"{count} {unit}")
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
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


@register.simple_tag
def state_badge(state: str) -> SafeString:
    return format_html('<span class="badge s-{}">{}</span>', state, STATE_LABELS.get(state, state))


@register.simple_tag
def health_badge(health: str) -> SafeString:
    return format_html(
        '<span class="badge h-{}">{}</span>', health, HEALTH_LABELS.get(health, health)
    )


@register.simple_tag
def run_strip(runs: list, label: str) -> SafeString:
    """A job's recent runs as coloured bars, oldest first, each a link to its run with a
    popup (date, result, duration, size) shown on hover and on keyboard focus.

    Built here rather than with an included template: the dashboard renders a strip for
    each of its 50 rows. Only the newest bar is a Tab stop; the arrow keys move along the
    strip (static/web/app.js), so that a page of strips is not 600 Tab presses long."""
    if not runs:
        return format_html('<span class="muted">{}</span>', "no runs")
    run_url = reverse("web:run", args=[0])[:-1]  # one reverse() for the strip, not per bar
    bars = []
    last = len(runs) - 1
    # Plain string building: format_html (and Django's lazy-aware escape) per bar was most
    # of a dashboard's render time. The only text from outside is the status, escaped; the
    # rest are numbers and our own words.
    for i, run in enumerate(runs):
        moment = run.begin_time.isoformat()
        status = html.escape(run.status)
        focus = "" if i == last else ' tabindex="-1"'
        bars.append(
            f'<a href="{run_url}{run.pk}" class="bar r-{status.lower()}"{focus}>'
            f'<span class="tip"><time datetime="{moment}" data-local>'
            f"{moment[:10]} {moment[11:16]} UTC</time> · {status} · "
            f"{duration(run.duration_seconds)} · {size(run.known_file_size)}</span></a>"
        )
    return format_html(
        '<div class="strip" role="group" aria-label="{}">{}</div>',
        label,
        SafeString("".join(bars)),
    )


@register.simple_tag
def status_badge(status: str) -> SafeString:
    if not status:
        return format_html("<span class=muted>{}</span>", "no runs")
    return format_html('<span class="badge r-{}">{}</span>', status.lower(), status)


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
