"""Django's SQLite backend, with each statement's placeholders converted once, not per call.

Django writes SQL with `%s` placeholders and its SQLite cursor rewrites them to `?` with a
regular expression on every execute. The statements are few and repeat (an upload runs the
same seven every time), but the rewrite scans the whole text each time: ~100 µs of an
upload's ~2.5 ms CPU for its 5 KB of SQL (bench/ingest.py profile). Here the result is kept
per statement text; everything else is Django's backend as it is.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db.backends.sqlite3 import base


@lru_cache(maxsize=512)  # statements built with a varying number of placeholders come and go
def _qmark(query: str) -> str:
    # What Django's SQLiteCursorWrapper.convert_query does for positional parameters.
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class SQLiteCursorWrapper(base.SQLiteCursorWrapper):
    def convert_query(self, query: str, *, param_names: Any = None) -> str:
        if param_names is None:
            return _qmark(query)
        return super().convert_query(query, param_names=param_names)


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name: Any = None) -> SQLiteCursorWrapper:
        return self.connection.cursor(factory=SQLiteCursorWrapper)
