"""Lazy import of the optional ``apprise`` package and capture of its log output.

Apprise reports failures only through its logger (``notify`` returns a bool), and it logs
rejected URLs in full, credentials included. :func:`apprise_logs` therefore collects the
records itself and stops them from propagating to the application's log handlers while the
block runs; the collected lines are redacted before they appear in an error. (Apprise's own
``LogCapture`` copies records but lets them propagate, which is exactly the leak to avoid.)
Because the logger is shared, all use of Apprise goes through one lock.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

APPRISE_LOGGER = "apprise"
_lock = threading.RLock()


def import_apprise() -> ModuleType | None:
    """The ``apprise`` module, or None if it is not installed (it is an optional extra)."""
    try:
        return importlib.import_module("apprise")
    except ImportError:
        return None


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # a broken log call must not break delivery
            self.lines.append(str(record.msg))


@contextmanager
def apprise_logs() -> Iterator[list[str]]:
    """Collect Apprise's warnings and errors into a list, keeping them out of other handlers."""
    with _lock:
        logger = logging.getLogger(APPRISE_LOGGER)
        collector = _Collector()
        saved_propagate, saved_level = logger.propagate, logger.level
        saved_handlers = list(logger.handlers)
        for handler in saved_handlers:  # handlers attached to "apprise" itself would leak too
            logger.removeHandler(handler)
        logger.addHandler(collector)
        logger.propagate = False
        if logger.getEffectiveLevel() > logging.WARNING:
            logger.setLevel(logging.WARNING)
        try:
            yield collector.lines
        finally:
            logger.removeHandler(collector)
            for handler in saved_handlers:
                logger.addHandler(handler)
            logger.propagate = saved_propagate
            logger.setLevel(saved_level)
