"""A job's health: the one word a person reads first, from its schedule state and its results.

The schedule state (schedule.job_state) says only whether runs arrive on time: a job whose
runs fail every night is "ok" by it. Health combines the two, so that a job on time whose
last run failed is never shown or counted as OK. Pages, the API and the dashboard's tiles
and filters all read it from here.
"""

from __future__ import annotations

from django.utils.translation import pgettext_lazy

# Most urgent first: this order is the dashboard's "needs attention" order.
HEALTHS = ("overdue", "failing", "late", "warning", "unknown", "ok", "paused")
# The words pages show (translated when shown; the keys are what the API and URLs use).
LABELS = {
    "overdue": pgettext_lazy("health", "Overdue"),
    "failing": pgettext_lazy("health", "Failing"),
    "late": pgettext_lazy("health", "Late"),
    "warning": pgettext_lazy("health", "Warning"),
    "unknown": pgettext_lazy("health", "Unknown"),
    "ok": pgettext_lazy("health", "OK"),
    "paused": pgettext_lazy("health", "Paused"),
}
FAILED = ("Error", "Fatal")
# What the "needs a look" list and the summary count as needing someone.
NEEDS_A_LOOK = ("overdue", "failing", "late", "warning")


def health(state: str, last_status: str, consecutive_failures: int = 0) -> str:
    """overdue | failing | late | warning | unknown | ok | paused.

    A missed run outranks a failed one (nothing arrives at all); a failed last run outranks
    lateness and a pause (a pause silences the schedule, not the results)."""
    if state == "overdue":
        return "overdue"
    if last_status in FAILED or consecutive_failures > 0:
        return "failing"
    if state == "late":
        return "late"
    if last_status == "Warning":
        return "warning"
    if state in ("paused", "disabled"):
        return "paused"
    if state == "unknown" or not last_status:
        return "unknown"
    return "ok"


def worst(healths: list[str] | tuple[str, ...] | set[str]) -> str:
    """The most urgent of several (a server's, from its jobs'); unknown when there are none."""
    return min(healths, key=HEALTHS.index, default="unknown")
