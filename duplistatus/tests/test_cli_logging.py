"""A `duplistatus` command run inside a process where Django is already set up (as the tests
run them) leaves logging as it was.

Setting Django up a second time configured logging again, pointing the console handler at the
sys.stderr of that moment: in a test, that test's capture, closed when it ends. Every later log
line, such as aiosmtpd's "connection lost" from its own thread, then printed a
"--- Logging error ---" traceback to the terminal of a passing run."""

from __future__ import annotations

import logging

import pytest

from duplistatus import cli


@pytest.mark.django_db
def test_a_command_run_in_process_keeps_the_logging_set_up(capsys):
    root = logging.getLogger()
    before = list(root.handlers)
    assert cli.main(["scan"]) == 0
    assert root.handlers == before
