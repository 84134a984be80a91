"""The baselines and detectors on plain values: each rule, its threshold, and muting."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from duplistatus.anomaly import baseline, detect
from duplistatus.anomaly.baseline import Sample

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday


def runs(n: int, seed: int = 1, **override: float) -> list[Sample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        values: dict[str, float | None] = {
            "examined_files": 10_000 + i * 5 + rng.randint(-20, 20),
            "examined_size": 50e9 * (1 + rng.gauss(0, 0.002)),
            "changed_files": 200 * rng.lognormvariate(0, 0.5),
            "bytes_uploaded": 200e6 * rng.lognormvariate(0, 0.5),
            "duration": 600 * rng.lognormvariate(0, 0.1),
            "storage": 80e9 * (1 + i * 0.001),
            "versions": min(14, i + 1),
        }
        values.update(override)
        out.append(Sample(i, T0 + timedelta(days=i), values, verified=True))
    return out


def detectors(run: Sample, history: list[Sample], **settings) -> set[str]:
    return {f.detector for f in detect.check_run(run, history, detect.merge_settings(settings))}


def test_nothing_is_judged_before_the_minimum_history():
    history = runs(6)
    vanished = runs(7, examined_files=0, examined_size=0)[-1]
    assert detectors(vanished, history) == set()
    assert detectors(vanished, history, min_history=5) == {"source_vanished"}


def test_normal_runs_raise_nothing():
    history = runs(60, seed=3)
    assert [r.run_id for r in history[10:] if detectors(r, history[: r.run_id])] == []


def test_share_not_mounted_is_critical():
    history = runs(20)
    run = runs(21, examined_files=0, examined_size=0)[-1]
    [finding] = detect.check_run(run, history)
    assert (finding.detector, finding.severity, finding.value) == ("source_vanished", "critical", 0)
    assert finding.normal > 9_000 and finding.low < finding.normal < finding.high


def test_half_the_source_gone_is_a_warning():
    history = runs(20)
    run = runs(21, examined_files=4_000)[-1]
    [finding] = detect.check_run(run, history)
    assert (finding.detector, finding.metric, finding.severity) == (
        "source_vanished",
        "examined_files",
        "warning",
    )


def test_ransomware_sized_upload_is_a_change_burst():
    history = runs(20)
    run = runs(21, bytes_uploaded=40e9)[-1]
    [finding] = detect.check_run(run, history)
    assert (finding.detector, finding.metric, finding.severity) == (
        "change_burst",
        "bytes_uploaded",
        "critical",
    )
    # Three times a normal upload is within what the job does.
    assert detectors(runs(21, bytes_uploaded=600e6)[-1], history) == set()


def test_tripled_duration_is_a_slow_run_and_can_be_muted_or_tuned():
    history = runs(20)
    slow = runs(21, duration=1900)[-1]
    assert detectors(slow, history) == {"slow_run"}
    assert detectors(slow, history, slow_run={"enabled": False}) == set()
    assert detectors(slow, history, slow_run={"factor": 4}) == set()
    # A short job taking 3 × as long is no news: under two minutes longer.
    short = [Sample(r.run_id, r.at, r.values | {"duration": 20.0}) for r in history]
    assert detectors(Sample(99, T0, {"duration": 60.0}), short) == set()


def test_storage_shrink_beyond_retention():
    history = runs(20)
    run = runs(21)[-1]
    halved = Sample(run.run_id, run.at, run.values | {"storage": run.values["storage"] / 2})
    assert detectors(halved, history) == {"storage_shrink"}
    compacted = Sample(run.run_id, run.at, run.values | {"storage": history[-1].values["storage"]})
    assert detectors(compacted, history) == set()


def test_versions_falling_beyond_retention():
    history = runs(20)  # 14 versions kept, steady
    run = runs(21)[-1]
    assert detectors(Sample(21, run.at, run.values | {"versions": 7}), history) == {
        "versions_falling"
    }
    assert detectors(Sample(21, run.at, run.values | {"versions": 13}), history) == set()


def test_weekday_seasonality_is_learned_where_the_data_show_it():
    history = []
    for i in range(70):
        at = T0 + timedelta(days=i)
        uploaded = 2e9 if at.weekday() == 0 else 100e6  # Mondays carry the weekend
        history.append(Sample(i, at, {"bytes_uploaded": uploaded * (1 + (i % 5) / 50)}))
    monday = T0 + timedelta(days=70)
    assert monday.weekday() == 0
    band = baseline.learn("bytes_uploaded", history, monday, k=4)
    assert band is not None and band.seasonal and band.contains(2e9)
    tuesday = baseline.learn("bytes_uploaded", history, monday + timedelta(days=1), k=4)
    assert tuesday is not None and not tuesday.seasonal and not tuesday.contains(2e9)


def test_flagged_runs_do_not_teach_the_baseline_unless_marked_expected():
    history = runs(20)
    bursts = [
        Sample(100 + i, T0 + timedelta(days=20 + i), {"bytes_uploaded": 40e9}, counts=False)
        for i in range(20)
    ]
    run = Sample(200, T0 + timedelta(days=41), {"bytes_uploaded": 40e9})
    assert detectors(run, history + bursts) == {"change_burst"}
    expected = [Sample(b.run_id, b.at, b.values, counts=True) for b in bursts]
    assert detectors(run, history + expected) == set()


def test_quota_forecast_and_reported_quota():
    day = timedelta(days=1)
    history = [
        Sample(i, T0 + i * day, {}, quota_total=1e12, quota_free=200e9 - i * 10e9)
        for i in range(10)
    ]
    latest = Sample(10, T0 + 10 * day, {}, quota_total=1e12, quota_free=100e9)
    finding = detect.check_quota(latest, history)
    assert finding is not None and finding.kind == "storage"
    assert round(finding.days_left) == 10 and finding.severity == "warning"
    assert (
        detect.check_quota(latest, history, detect.merge_settings({"quota": {"horizon_days": 7}}))
        is None
    )
    steady = [Sample(i, s.at, {}, quota_free=500e9) for i, s in enumerate(history)]
    assert detect.check_quota(Sample(10, latest.at, {}, quota_free=500e9), steady) is None
    reported = Sample(10, latest.at, {}, quota_free=500e9, quota_error=True)
    assert detect.check_quota(reported, steady).severity == "critical"


def test_unverified_after_the_period():
    samples = runs(40)
    unverified = [Sample(s.run_id, s.at, s.values, verified=s.run_id < 5) for s in samples]
    now = samples[-1].at
    finding = detect.check_unverified(unverified, now)
    assert finding is not None and finding.value == 35
    assert detect.check_unverified(samples, now) is None
    # A new job that was never verified gets the full period from its first run.
    never = [Sample(s.run_id, s.at, s.values) for s in samples[:20]]
    assert detect.check_unverified(never, never[-1].at, first_run_at=T0) is None


def test_settings_merge_key_by_key_job_over_server_over_global():
    merged = detect.merge_settings(
        {"slow_run": {"factor": 4}},
        {"slow_run": {"enabled": False, "factor": 3}, "min_history": 10},
        {"slow_run": {"sensitivity": 6}},
    )
    assert merged["slow_run"] == {
        "enabled": False,
        "sensitivity": 6,
        "factor": 4,
        "min_seconds": 120,
    }
    assert merged["min_history"] == 10
    assert merged["change_burst"] == detect.DEFAULTS["change_burst"]


def test_settings_are_checked_with_words_a_user_can_act_on():
    import pytest

    assert detect.check_settings({"quota": {"horizon_days": 30}}) == {"quota": {"horizon_days": 30}}
    for bad, words in (
        ({"slow_runs": {}}, "unknown detector 'slow_runs'"),
        ({"slow_run": {"factr": 3}}, "no setting 'factr'"),
        ({"slow_run": {"enabled": "no"}}, "slow_run.enabled must be true or false"),
        ({"source_vanished": {"drop": 50}}, "between 0 and 1"),
        ({"min_history": 0}, "at least 1"),
    ):
        with pytest.raises(ValueError, match=words):
            detect.check_settings(bad)
