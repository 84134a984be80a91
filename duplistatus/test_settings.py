"""Settings for the test suite: the real settings, on a data dir of the run's own.

pytest-django imports settings before any conftest runs, so the data dir must be chosen
here; otherwise concurrent test runs would share ./data and its test database. Processes the
tests start inherit DUPLISTATUS_DATA_DIR and so use the same dir.
"""

import os
import tempfile

os.environ.setdefault("DUPLISTATUS_DATA_DIR", tempfile.mkdtemp(prefix="duplistatus-test-"))

from duplistatus.settings import *  # noqa: E402,F403
