#!/usr/bin/env python
"""Cluster benchmark: two `serve --no-worker` and two `worker` processes on one PostgreSQL.

    .venv/bin/python bench/cluster.py            10,000 reports
    .venv/bin/python bench/cluster.py --small    CI: 300 reports
    .venv/bin/python bench/cluster.py --database-url postgres://postgres@127.0.0.1:5432/postgres

Clients (4 threads) upload each report one to four times, alternating between the two web
processes; the webhook receiver fails a third of its requests; one worker is killed with
SIGKILL halfway and started again. Prints throughput, the answers, runs stored, notifications
delivered (by webhook-id) and the delivery latency (run stored → sent, retries included).
Exits non-zero if a run was stored twice or lost, or a notification is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from duplistatus.tests import cluster  # noqa: E402

PAYLOAD = (
    HERE
    / "duplistatus/ingest/tests/corpus/payloads"
    / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "CLUSTER_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--reports", type=int)
    args = parser.parse_args()
    reports = args.reports or (300 if args.small else 10_000)
    load = os.getloadavg()
    result = cluster.run(
        args.database_url, json.loads(PAYLOAD.read_bytes()), reports, wait_seconds=1800
    )
    print(f"cluster (2 web + 2 workers, PostgreSQL), load average {load[0]:.2f} at start:")
    print("  " + result.summary())
    ok = (
        result.runs_stored == result.runs_distinct == reports
        and result.delivered == reports
        and not result.missing
        and not result.unexpected
        and set(result.answers) <= {200, 409}
    )
    print("  zero stored twice, zero lost, every notification delivered:", "yes" if ok else "NO")
    if result.web_warnings:
        print(f"  the web processes warned {len(result.web_warnings)} time(s); the first:")
        for line in result.web_warnings[:10]:
            print("    " + line[:300])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
