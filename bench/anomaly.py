#!/usr/bin/env python
"""Anomaly detection quality: detection rate and false alarms on generated job histories.

    .venv/bin/python bench/anomaly.py            full: 600 jobs, ~120,000 normal runs
    .venv/bin/python bench/anomaly.py --small    CI: 120 jobs
    .venv/bin/python bench/anomaly.py --seed 7

Pure: it replays histories through the detectors (duplistatus/anomaly/detect.py) exactly as
the worker does (anomaly/check.py), a run at a time against the runs before it, a flagged run
left out of later baselines; no database.

Jobs: daily (half with a weekday effect: Mondays carry the weekend's changes), hourly and
weekly, of random size (1,000 … 1,000,000 files, 60 s … 2 h), with realistic noise:
changes and uploads log-normal (a busy day uploads ten times a quiet one), durations ±20 %
with the odd slow day, the source growing slowly, storage growing with uploads and shrinking
with retention (a compact now and then takes 5–12 %), versions growing to the retention limit
and then steady (smart retention thins one or two at a time), free space at the destination
falling with the storage and verification after every backup.

Each job gets one injected anomaly after its first 30 runs, one kind per job in turn:

  source_vanished   the share is not mounted: 0 files examined (or 5 % of normal)
  change_burst      ransomware: 20–200 × the usual files changed and bytes uploaded
  slow_run          the run takes 3–6 × as long
  storage_shrink    half the storage at the destination is gone
  versions_falling  half the versions are gone
  quota             the destination will be full in 3–12 days
  unverified        verification stopped 35 days ago

Printed: per kind, how many injected anomalies the right detector flagged; false alarms per
1,000 normal runs (any detector flagging a run with nothing injected). Targets: ≥ 95 %
flagged, ≤ 1 false alarm per 1,000 normal runs. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from duplistatus.anomaly import detect  # noqa: E402
from duplistatus.anomaly.baseline import Sample  # noqa: E402

KINDS = detect.DETECTORS
START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # a Monday
GiB = 1 << 30


@dataclass
class Job:
    period: timedelta
    files: float
    avg_file: float  # bytes
    change_rate: float  # fraction of files changed per run, median
    duration: float  # seconds, median
    weekday_effect: bool
    retention: int  # versions kept
    quota_total: float
    runs: int


def make_job(rng: random.Random, index: int, runs_scale: float) -> Job:
    shape = index % 3
    period, runs = (
        (timedelta(days=1), 200),
        (timedelta(hours=1), 400),
        (timedelta(weeks=1), 80),
    )[shape]
    files = 10 ** rng.uniform(3, 6)
    avg_file = 10 ** rng.uniform(4.5, 6.5)
    size = files * avg_file
    return Job(
        period=period,
        files=files,
        avg_file=avg_file,
        change_rate=10 ** rng.uniform(-3.3, -1.7) * (0.5 if shape == 1 else 1.0),
        duration=10 ** rng.uniform(math.log10(300 if shape == 1 else 60), math.log10(7200)),
        weekday_effect=shape == 0 and rng.random() < 0.5,
        retention=rng.choice([7, 14, 30, 60, 365]),
        quota_total=size * rng.uniform(20, 100),
        runs=max(60, int(runs * runs_scale)),
    )


def history(job: Job, rng: random.Random, inject: str | None, at_run: int) -> list[Sample]:
    """The job's runs; the one at `at_run` carries the anomaly `inject` (quota and unverified
    change what leads up to it)."""
    samples = []
    files, storage, versions = job.files, job.files * job.avg_file * 0.6, 0
    # Verification stopped: the last verified run is 35 days or more before the anomaly's.
    verified_until = START + at_run * job.period - timedelta(days=35)
    free = job.quota_total - storage
    fill_rate: float | None = None
    quota_free = 0.0
    for i in range(job.runs):
        at = START + i * job.period + timedelta(seconds=rng.uniform(0, 120))
        files *= 1 + rng.gauss(0.0002, 0.0005)
        examined = files * (1 + rng.gauss(0, 0.002))
        busy = 3.0 if job.weekday_effect and at.weekday() == 0 else 1.0
        changed = files * job.change_rate * busy * rng.lognormvariate(0, 0.6)
        deleted = changed * 0.3 * rng.lognormvariate(0, 0.6)
        uploaded = changed * job.avg_file * 0.4 * rng.lognormvariate(0, 0.5)
        duration = job.duration * rng.lognormvariate(0, 0.15) * (1.3 if busy > 1 else 1.0)
        if rng.random() < 0.02:
            duration *= 1.6  # a slow day: the NAS was busy
        storage += uploaded * 0.9
        if versions >= job.retention:
            storage -= uploaded * rng.uniform(0.6, 1.0)  # retention deletes old data
        if rng.random() < 0.05:
            storage *= 1 - rng.uniform(0.05, 0.12)  # compact
        versions = min(job.retention, versions + 1)
        if versions == job.retention and rng.random() < 0.1:
            versions -= rng.choice([1, 1, 2])  # smart retention thins
        free = job.quota_total - storage * 1.05
        verified = inject != "unverified" or at <= verified_until
        if i == at_run and inject:
            if inject == "source_vanished":
                examined = 0 if rng.random() < 0.5 else examined * 0.05
            elif inject == "change_burst":
                factor = rng.uniform(20, 200)
                changed *= factor
                uploaded *= factor
            elif inject == "slow_run":
                duration *= rng.uniform(3, 6)
            elif inject == "storage_shrink":
                storage *= 0.5
            elif inject == "versions_falling":
                versions = max(0, versions // 2)
        if inject == "quota" and i >= at_run - 12:
            # Something else fills the disk: full `days` after the anomaly's run.
            if fill_rate is None:
                fill_rate = free / (rng.uniform(3, 12) + 12 * job.period / timedelta(days=1))
                quota_free = free
            quota_free -= fill_rate * (job.period / timedelta(days=1))
            free = max(0.0, quota_free)
        samples.append(
            Sample(
                run_id=i,
                at=at,
                values={
                    "examined_files": round(examined),
                    "examined_size": examined * job.avg_file,
                    "added_files": round(changed * 0.4),
                    "modified_files": round(changed * 0.6),
                    "deleted_files": round(deleted),
                    "changed_files": round(changed),
                    "bytes_uploaded": uploaded,
                    "duration": duration,
                    "storage": storage,
                    "versions": versions,
                },
                verified=verified,
                quota_total=job.quota_total,
                quota_free=free,
            )
        )
        if i == at_run and inject in ("storage_shrink", "versions_falling"):
            break  # what follows would be judged against the new normal
    return samples


def replay(samples: list[Sample], settings: dict) -> dict[int, set[str]]:
    """Which detectors flag each run, judging it as the worker does."""
    flagged: dict[int, set[str]] = {}
    judged: list[Sample] = []
    for sample in samples:
        findings = detect.check_run(sample, judged, settings)
        quota = detect.check_quota(sample, judged, settings)
        unverified = detect.check_unverified(
            [*judged, sample], sample.at, settings, first_run_at=samples[0].at
        )
        names = {f.detector for f in findings}
        names |= {f.detector for f in (quota, unverified) if f is not None}
        if names:
            flagged[sample.run_id] = names
        counts = not findings  # a flagged run does not teach the baseline
        judged.append(
            Sample(
                sample.run_id,
                sample.at,
                sample.values,
                counts,
                sample.verified,
                sample.quota_total,
                sample.quota_free,
            )
        )
    return flagged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="120 jobs (CI)")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    jobs = args.jobs or (126 if args.small else 609)
    rng = random.Random(args.seed)
    settings = detect.merge_settings()
    caught: Counter[str] = Counter()
    injected: Counter[str] = Counter()
    normal_runs = false_alarms = 0
    false_by: Counter[str] = Counter()
    started = time.perf_counter()
    for index in range(jobs):
        job = make_job(rng, index, 0.5 if args.small else 1.0)
        kind = KINDS[index % len(KINDS)]
        first = 30
        if kind == "unverified":  # needs 35 days of history before it
            first = max(first, int(timedelta(days=36) / job.period))
            job.runs = max(job.runs, first + 10)
        at_run = rng.randrange(first, job.runs - 5)
        samples = history(job, rng, kind, at_run)
        flagged = replay(samples, settings)
        injected[kind] += 1
        if kind in flagged.get(at_run, set()):
            caught[kind] += 1
        # Normal runs: all before the anomaly's lead-up (quota and unverified start early).
        clean_until = at_run - (13 if kind == "quota" else 0)
        if kind == "unverified":
            last_verified = max(s.at for s in samples if s.verified)  # one, at least
            clean_until = sum(s.at < last_verified + timedelta(days=29) for s in samples)
        for run_id in range(clean_until):
            normal_runs += 1
            if run_id in flagged:
                false_alarms += 1
                false_by.update(flagged[run_id])
    elapsed = time.perf_counter() - started
    print(f"anomaly detection: {jobs} jobs, {normal_runs:,} normal runs, seed {args.seed}")
    print(f"{'kind':<18} {'flagged':>9}")
    total_caught = sum(caught.values())
    total = sum(injected.values())
    for kind in KINDS:
        rate = 100 * caught[kind] / injected[kind]
        print(f"{kind:<18} {caught[kind]:>4}/{injected[kind]:<4} {rate:5.1f} %")
    detection = 100 * total_caught / total
    per_thousand = 1000 * false_alarms / normal_runs
    print(f"{'all':<18} {total_caught:>4}/{total:<4} {detection:5.1f} %   (target ≥ 95 %)")
    print(
        f"false alarms: {false_alarms} in {normal_runs:,} normal runs = "
        f"{per_thousand:.2f} per 1,000 (target ≤ 1)"
        + (f"  by detector: {dict(false_by)}" if false_by else "")
    )
    print(f"replay took {elapsed:.1f} s ({1e6 * elapsed / max(1, normal_runs):.0f} µs per run)")
    return 0 if detection >= 95 and per_thousand <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
