"""The dashboard's data: every job with its state, a summary, and search, filter and sort.

All of it comes from one query over jobs (with the per-job summary columns kept current at
ingest and the latest run's figures joined in) and one over their servers; nothing here
reads or aggregates the runs table. Filtering and sorting happen in Python over that list,
which is a few milliseconds for thousands of jobs, and only one page of it is rendered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F, QuerySet
from django.db.models.functions import Substr

from duplistatus.backups.models import BackupJob, BackupRun, MonitoringDefaults, Server
from duplistatus.monitoring import monitor
from duplistatus.monitoring import schedule as plan
from duplistatus.monitoring.health import FAILED, HEALTHS, NEEDS_A_LOOK, health, worst

STATES = ("overdue", "late", "ok", "paused", "disabled", "unknown")
STATUSES = ("Success", "Warning", "Error", "Fatal", "Unknown")
EXCEPTION_SHOWN = 300  # characters of a failed run's exception the lists read
RECENT_RUNS = 12  # runs in each job's strip of recent results
NEEDS_A_LOOK_SHOWN = 8  # jobs in the dashboard's "needs a look" list


# The latest run's figures the lists show, joined in from the job's `last_run`.
LATEST_RUN = {
    "storage": F("last_run__known_file_size"),
    "versions": F("last_run__backup_list_count"),
    "last_duration": F("last_run__duration_seconds"),
    # Enough of the exception that stopped a fatal run for the list to show its first line
    # (a whole .NET stack trace would be kilobytes a job).
    "last_exception": Substr("last_run__exception", 1, EXCEPTION_SHOWN),
}


@dataclass(slots=True)
class ListedJob:
    """A job as the dashboard lists it: the columns it reads, as plain values, and its server.

    The dashboard reads every job (to count states, filter and sort) and renders one page.
    Building a model instance for each, all 45 columns converted and set, was half of its
    time at a thousand jobs; these plain values take less than half of that. Templates show a
    missing attribute as an empty string: a column the dashboard starts to show is added
    here (test_board.py checks that every one matches the model's).
    """

    pk: int
    server_id: int
    name: str
    last_status: str
    consecutive_failures: int
    run_count: int
    bytes_uploaded_total: int
    last_run_id: int | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    # Its monitoring state (schedule.Watch) and the time its schedule steps from.
    next_expected_at: datetime | None
    overdue_since: datetime | None
    last_reminder_at: datetime | None
    escalated_at: datetime | None
    schedule_anchor: datetime | None
    # Its own schedule settings (schedule.Layer) and its learned schedule.
    interval: str
    weekdays: list[int] | None
    timezone: str
    grace_minutes: int | None
    monitoring_enabled: bool | None
    reminder: str
    reminder_minutes: int | None
    escalation_after_minutes: int | None
    paused_until: datetime | None
    learned_interval: str
    learned_weekdays: list[int] | None
    learned_anchor: datetime | None
    learned_confidence: float | None
    learned_grace_minutes: int | None
    learned_early_minutes: int | None
    fallback_interval: str
    fallback_grace_minutes: int | None
    # Its schedule as Duplicati has it (read over the REST API by collect/).
    duplicati_interval: str
    duplicati_weekdays: list[int] | None
    duplicati_anchor: datetime | None
    # From its latest run (LATEST_RUN, and Duplicati's next-scheduled-run for its schedule).
    storage: int | None
    versions: int | None
    last_duration: float | None
    last_exception: str | None
    duplicati_next: datetime | None
    # The detectors that flagged its latest run or its storage (anomaly/check.py).
    anomalies: list[str]
    server: Server = field(init=False)


LISTED_COLUMNS = [f.name for f in fields(ListedJob) if f.init]


@dataclass(frozen=True, slots=True)
class Row:
    job: BackupJob | ListedJob
    schedule: plan.Schedule
    state: str
    failing: bool = field(init=False)
    # Schedule state and last results in one word (monitoring.health), what a person reads.
    health: str = field(init=False)
    # Lower needs a look sooner: the order of health.HEALTHS.
    attention: int = field(init=False)

    def __post_init__(self) -> None:
        job = self.job
        found = health(self.state, job.last_status, job.consecutive_failures)
        object.__setattr__(self, "failing", job.last_status in FAILED)
        object.__setattr__(self, "health", found)
        object.__setattr__(self, "attention", HEALTHS.index(found))

    @property
    def server(self) -> Server:
        return self.job.server


def rows(jobs: QuerySet[BackupJob], now: datetime) -> list[Row]:
    """Rows of model instances, for pages that need more of a job than the dashboard."""
    jobs = jobs.order_by().annotate(**LATEST_RUN)  # no ORDER BY: select() sorts
    return [
        Row(job, schedule, plan.state(schedule, monitor.watch_of(job), now=now))
        for job, schedule in monitor.with_schedules(jobs)
    ]


def listed_rows(jobs: QuerySet[BackupJob], now: datetime) -> list[Row]:
    """The dashboard's rows: each job read as plain values (see ListedJob), its schedule
    and state resolved as for any job."""
    listed = [
        ListedJob(*values)
        for values in jobs.order_by()  # select() sorts, by what the page asks
        .annotate(**LATEST_RUN, duplicati_next=F("last_run__next_scheduled_run"))
        .values_list(*LISTED_COLUMNS)
    ]
    # Read after the jobs, so that a job that has just arrived finds its (new) server.
    servers = Server.objects.in_bulk({job.server_id for job in listed})
    inherited = monitor.Inherited(MonitoringDefaults.load())
    found = []
    for job in listed:
        job.server = servers[job.server_id]
        schedule = inherited.schedule(job, job.server, job.duplicati_next)
        found.append(Row(job, schedule, plan.state(schedule, monitor.watch_of(job), now=now)))
    return found


def servers(all_rows: list[Row]) -> list[tuple[int, str]]:
    """(id, name) of the servers of these jobs, by name (for the server filter)."""
    names = {row.job.server_id: str(row.job.server) for row in all_rows}
    return sorted(names.items(), key=lambda item: item[1].casefold())


@dataclass
class Summary:
    jobs: int = 0
    servers: int = 0
    runs: int = 0
    failing: int = 0
    anomalies: int = 0  # jobs whose latest run or storage was flagged
    storage: int = 0
    uploaded: int = 0
    states: Counter[str] = field(default_factory=Counter)
    healths: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    last_run_at: datetime | None = None

    @property
    def healthy(self) -> bool:
        return not any(self.healths[name] for name in NEEDS_A_LOOK)

    @property
    def needing_a_look(self) -> int:
        return sum(self.healths[name] for name in NEEDS_A_LOOK)


def summarize(all_rows: list[Row]) -> Summary:
    summary = Summary(jobs=len(all_rows))
    summary.servers = len({row.job.server_id for row in all_rows})
    for row in all_rows:
        job = row.job
        summary.states[row.state] += 1
        summary.healths[row.health] += 1
        summary.statuses[job.last_status or "Unknown"] += 1
        summary.runs += job.run_count
        summary.failing += row.failing
        summary.anomalies += bool(job.anomalies)
        summary.storage += job.storage or 0
        summary.uploaded += job.bytes_uploaded_total
        if job.last_run_at and (
            summary.last_run_at is None or job.last_run_at > summary.last_run_at
        ):
            summary.last_run_at = job.last_run_at
    return summary


def _text_key(value: str) -> str:
    return value.casefold()


SORTS: dict[str, Any] = {
    "attention": lambda r: (r.attention, _text_key(str(r.server)), _text_key(r.job.name)),
    "server": lambda r: (_text_key(str(r.server)), _text_key(r.job.name)),
    "job": lambda r: (_text_key(r.job.name), _text_key(str(r.server))),
    "health": lambda r: (r.attention, _text_key(str(r.server)), _text_key(r.job.name)),
    "state": lambda r: (STATES.index(r.state), r.attention),
    "status": lambda r: (r.job.last_status or "~", r.attention),
    # Missing times sort last in both directions (see select()).
    "last_run": lambda r: r.job.last_run_at,
    "next": lambda r: r.job.next_expected_at,
    "runs": lambda r: r.job.run_count,
    "storage": lambda r: r.job.storage or 0,
}


@dataclass(frozen=True)
class Query:
    """What the dashboard's toolbar asks for (all optional; unknown values are ignored)."""

    q: str = ""
    state: str = ""
    health: str = ""
    status: str = ""  # a run status, "failing" for Error and Fatal, "anomaly" for flagged
    server: int | None = None
    sort: str = "attention"
    desc: bool = False

    @classmethod
    def of(cls, params: Any) -> Query:
        server = params.get("server", "")
        sort = params.get("sort", "attention")
        return cls(
            q=params.get("q", "").strip()[:200],
            state=params.get("state", "") if params.get("state") in STATES else "",
            health=params.get("health", "") if params.get("health") in HEALTHS else "",
            status=params.get("status", "")
            if params.get("status") in (*STATUSES, "failing", "anomaly")
            else "",
            server=int(server) if server.isdigit() else None,
            sort=sort if sort in SORTS else "attention",
            desc=params.get("desc") == "1",
        )

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.state or self.health or self.status or self.server is not None)


def select(all_rows: list[Row], query: Query) -> list[Row]:
    words = query.q.casefold().split()
    found = []
    for row in all_rows:
        if query.state and row.state != query.state:
            continue
        if query.health and row.health != query.health:
            continue
        status = row.job.last_status or "Unknown"
        if query.status == "failing" and not row.failing:
            continue
        if query.status == "anomaly" and not row.job.anomalies:
            continue
        if query.status not in ("", "failing", "anomaly") and status != query.status:
            continue
        if query.server is not None and row.job.server_id != query.server:
            continue
        if words:
            haystack = f"{row.server.name} {row.server.alias} {row.job.name}".casefold()
            if not all(word in haystack for word in words):
                continue
        found.append(row)
    key = SORTS[query.sort]
    keyed = [(key(row), row) for row in found]
    present = [item for item in keyed if item[0] is not None]
    present.sort(key=lambda item: item[0], reverse=query.desc)
    return [row for _, row in present] + [row for value, row in keyed if value is None]


def needs_a_look(all_rows: list[Row], limit: int = NEEDS_A_LOOK_SHOWN) -> tuple[list[Row], int]:
    """The most urgent jobs that are overdue or failing (at most `limit`), and how many
    there are in all."""
    urgent = [row for row in all_rows if row.health in ("overdue", "failing")]
    urgent.sort(key=SORTS["attention"])
    return urgent[:limit], len(urgent)


def server_healths(all_rows: list[Row]) -> dict[int, str]:
    """Each server's worst job health (for the cards, grouped by server)."""
    by_server: dict[int, set[str]] = {}
    for row in all_rows:
        by_server.setdefault(row.job.server_id, set()).add(row.health)
    return {server_id: worst(found) for server_id, found in by_server.items()}


def by_server(shown: list[Row], healths: dict[int, str]) -> list[tuple[Server, str, list[Row]]]:
    """The shown rows grouped by server, in the order their servers first appear."""
    groups: dict[int, list[Row]] = {}
    for row in shown:
        groups.setdefault(row.job.server_id, []).append(row)
    return [(found[0].server, healths[pk], found) for pk, found in groups.items()]


@dataclass(frozen=True, slots=True)
class RecentRun:
    """One run in a job's strip of recent results."""

    pk: int
    job_id: int
    status: str
    begin_time: datetime
    duration_seconds: float | None
    known_file_size: int | None


RECENT_COLUMNS = [f.name for f in fields(RecentRun)]


def recent_runs(job_ids: list[int], count: int = RECENT_RUNS) -> dict[int, list[RecentRun]]:
    """The last `count` runs of each of these jobs, oldest first, in ONE query.

    One indexed step per job on the (job, begin_time) index, joined with UNION ALL: only the
    page's jobs are read (a page is 50), never all runs. Each part is wrapped in a derived
    table because a compound SELECT may not have its own ORDER BY/LIMIT otherwise.
    """
    found: dict[int, list[RecentRun]] = {pk: [] for pk in job_ids}
    if not job_ids or count <= 0:
        return found
    # Compiled once (the job's id is its only parameter), repeated for each job.
    sql, params = (
        BackupRun.objects.filter(job_id=0)
        .order_by("-begin_time", "-id")
        .values_list(*RECENT_COLUMNS)[:count]
        .query.sql_with_params()
    )
    assert params == (0,), params  # the only parameter is the job's id
    union = " UNION ALL ".join(f"SELECT * FROM ({sql}) AS recent{i}" for i in range(len(job_ids)))
    with connection.cursor() as cursor:
        cursor.execute(union, job_ids)
        rows = cursor.fetchall()
    to_datetime = _datetime_converter()
    for pk, job_id, status, begin, duration, size in rows:
        found[job_id].append(RecentRun(pk, job_id, status, to_datetime(begin), duration, size))
    for runs in found.values():
        runs.sort(key=lambda run: (run.begin_time, run.pk))
    return found


def _datetime_converter() -> Any:
    """Turn the database's datetime values into aware datetimes, as the ORM would."""
    field_ = BackupRun._meta.get_field("begin_time")
    converters = connection.ops.get_db_converters(field_.get_col(BackupRun._meta.db_table))
    expression = field_.get_col(BackupRun._meta.db_table)

    def convert(value: Any) -> datetime:
        for converter in converters:
            value = converter(value, expression, connection)
        return value

    return convert
