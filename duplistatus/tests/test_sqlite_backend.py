"""Our SQLite backend (duplistatus.sqlite_backend) is Django's, with each statement's `%s`
placeholders converted once: what the database answers must not change."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite backend")


def test_statements_answer_as_with_djangos_backend():
    from duplistatus.sqlite_backend.base import SQLiteCursorWrapper, _qmark

    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, SQLiteCursorWrapper)
        before = _qmark.cache_info().hits
        for _ in range(3):
            # A literal percent sign (written %% in Django's SQL) beside two parameters.
            cursor.execute("SELECT %s || '%%', %s, '%%s'", ["50", 7])
            assert cursor.fetchone() == ("50%", 7, "%s")
        assert _qmark.cache_info().hits >= before + 2  # converted once, then reused
        cursor.execute("SELECT %(a)s + %(b)s", {"a": 2, "b": 3})  # named: Django's own path
        assert cursor.fetchone() == (5,)
        cursor.execute("SELECT 1")  # no parameters: as it is
        assert cursor.fetchone() == (1,)
