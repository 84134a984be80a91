"""Run history pages and chart series. Both read runs through the (job, begin_time) index
for one job, or the server index for one server, and never count or aggregate all runs:
pages step with "newer"/"older" links (one row more than a page tells if there is more)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Min, OuterRef, QuerySet, Subquery
from django.utils.translation import gettext, gettext_lazy, pgettext

from duplistatus.backups.models import BackupJob, BackupRun, Server

PAGE_SIZE = 25

# name, label, column, unit (the chart's axis format)
METRICS = (
    ("duration", gettext_lazy("Duration"), "duration_seconds", "seconds"),
    ("uploaded", gettext_lazy("Uploaded"), "bytes_uploaded", "bytes"),
    ("storage", gettext_lazy("Storage used"), "known_file_size", "bytes"),
    ("files", gettext_lazy("Files"), "examined_files", "count"),
    ("versions", gettext_lazy("Versions"), "backup_list_count", "count"),
)
RANGES = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "all": None}
# What the range picker shows for each (the keys stay in URLs and the browser's storage).
RANGE_LABELS = {
    "7d": gettext_lazy("7 days"),
    "30d": gettext_lazy("30 days"),
    "90d": gettext_lazy("90 days"),
    "1y": gettext_lazy("1 year"),
    "all": gettext_lazy("all"),
}
DEFAULT_RANGE = "30d"
MAX_POINTS = 3000  # per chart; the newest runs of the range when it holds more

LIST_FIELDS = (
    "id",
    "job_id",
    "operation",
    "status",
    "begin_time",
    "duration_seconds",
    "bytes_uploaded",
    "known_file_size",
    "examined_files",
    "backup_list_count",
    "warnings_count",
    "errors_count",
)


def chart_strings() -> str:
    """The words static/web/charts.js writes, in the page's language, as JSON for the charts'
    data attribute (%(name)s placeholders are filled in by the script)."""
    return json.dumps(
        {
            "per_run": gettext("%(metric)s per run"),
            # After "Duration per run, …": how many runs are marked (a number, any count).
            "failed_marked": gettext("%(count)s failed marked"),
            "warned_marked": gettext("%(count)s with warnings marked"),
            "normal": gettext("normal %(low)s – %(high)s"),
            # The same words as the pages' durations (templatetags/ui.py).
            "seconds": pgettext("duration in seconds", "%(count)s s"),
            "minutes": pgettext("duration in minutes", "%(count)s min"),
            "hours": pgettext("duration in hours", "%(count)s h"),
        }
    )


@dataclass(frozen=True)
class Page:
    runs: list[BackupRun]
    number: int
    has_older: bool

    @property
    def has_newer(self) -> bool:
        return self.number > 1


def first_seen(server: Server) -> datetime:
    """When the server's earliest run began, or when it first reported if that is earlier.

    A server whose month of history arrived today was not first seen today. Each job's first
    run is one step of the (job, begin_time) index."""
    first_runs = BackupJob.objects.filter(server=server).annotate(
        first_run=Subquery(
            BackupRun.objects.filter(job=OuterRef("pk"))
            .order_by("begin_time")
            .values("begin_time")[:1]
        )
    )
    earliest = first_runs.aggregate(earliest=Min("first_run"))["earliest"]
    return min(earliest, server.created_at) if earliest else server.created_at


def page(runs: QuerySet[BackupRun], number: Any) -> Page:
    number = int(number) if str(number).isdigit() and int(number) > 0 else 1
    start = (number - 1) * PAGE_SIZE
    found = list(
        runs.only(*LIST_FIELDS).order_by("-begin_time", "-id")[start : start + PAGE_SIZE + 1]
    )
    return Page(found[:PAGE_SIZE], number, len(found) > PAGE_SIZE)


def series(
    runs: QuerySet[BackupRun], range_name: str, now: datetime, names: dict[int, str]
) -> dict[str, Any]:
    """Chart data: per job, begin times (epoch seconds), each run's status (so that failed
    and warning runs are marked) and one list per metric.

    `names` maps job id → label; with several jobs (a server's page) each gets a line."""
    days = RANGES.get(range_name, RANGES[DEFAULT_RANGE])
    runs = runs.filter(operation="Backup")
    if days is not None:
        runs = runs.filter(begin_time__gte=now - timedelta(days=days))
    columns = [column for _, _, column, _ in METRICS]
    rows = list(
        runs.order_by("-begin_time").values_list("job_id", "begin_time", "status", *columns)[
            :MAX_POINTS
        ]
    )
    by_job: dict[int, dict[str, list[Any]]] = {}
    for job_id, begin, status, *values in reversed(rows):
        line = by_job.setdefault(job_id, {"x": [], "status": [], **{m[0]: [] for m in METRICS}})
        line["x"].append(int(begin.timestamp()))
        line["status"].append(status)
        for (name, *_), value in zip(METRICS, values, strict=True):
            line[name].append(value)
    return {
        "range": range_name if range_name in RANGES else DEFAULT_RANGE,
        "metrics": [{"name": m[0], "label": str(m[1]), "unit": m[3]} for m in METRICS],
        "jobs": [
            {"id": job_id, "name": names.get(job_id, str(job_id)), **line}
            for job_id, line in sorted(by_job.items(), key=lambda item: names.get(item[0], ""))
        ],
    }
