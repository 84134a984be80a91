"""Two web and two worker processes on one PostgreSQL, under resends, a flaky receiver and a
killed worker: nothing stored twice, nothing lost, every notification delivered (cluster.py)."""

from __future__ import annotations

import json
import os

import pytest

from conftest import corpus_body
from duplistatus.tests import cluster

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="several processes share a PostgreSQL database (CI runs this on PostgreSQL)",
    ),
]
REPORTS = 120


def test_two_web_and_two_worker_processes_lose_nothing_and_repeat_nothing():
    body, _ = corpus_body("v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json")
    result = cluster.run(os.environ["DATABASE_URL"], json.loads(body), REPORTS, wait_seconds=240)
    print(result.summary())
    # Every report answered: 200 the first time, 409 for each resend; never a 5xx.
    assert result.answers.get(200) == REPORTS, result.answers
    assert set(result.answers) <= {200, 409}, (result.answers, result.web_warnings[:5])
    assert result.sends > REPORTS, "some reports were resent"
    # Stored once each.
    assert result.runs_stored == result.runs_distinct == REPORTS
    # Every notification reached the receiver, though a third of its requests failed and a
    # worker was killed; none is missing, none is unknown to the delivery log.
    assert result.receiver_failed > 0
    assert result.delivered == REPORTS, result.summary()
    assert result.missing == [] and result.unexpected == []
    assert result.deliveries == {"sent": REPORTS}, result.deliveries
