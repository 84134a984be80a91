"""Settings for the test suite: the real settings, on a data dir of the run's own.

pytest-django imports settings before any conftest runs, so the data dir must be chosen
here; otherwise concurrent test runs would share ./data and its test database. Processes the
tests start inherit DUPLISTATUS_DATA_DIR and so use the same dir.
"""

import os
import tempfile

os.environ.setdefault("DUPLISTATUS_DATA_DIR", tempfile.mkdtemp(prefix="duplistatus-test-"))
# Schedules without a zone of their own use TZ: the tests expect UTC whatever the machine's
# zone (monitoring/tests/test_deployment_zone.py starts a process with a TZ of its own).
os.environ["TZ"] = "UTC"

from duplistatus.settings import *  # noqa: E402,F403
