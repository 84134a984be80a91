"""Rows written and read on the upload path without the ORM's per-statement work.

`Model.objects.create()` compiles its INSERT anew each time and prepares every one of a
run's ~60 fields through the field machinery; a raw query builds its model through a
RawQuerySet. On one upload that was ~40 % of the server's CPU (bench/ingest.py). Here each
model's statement and each field's conversion are worked out once per process, and per row
only the values that need it (dates, JSON) go through Django's own conversion: what is
stored is exactly what the ORM would store, on SQLite and on PostgreSQL.

Only for plain models on the hot path (no custom save(), no signals listened to).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import connection, models

# Values of these types are what the database gets for non-JSON fields: no conversion.
_PLAIN = frozenset({str, int, float, bool, bytes, type(None)})


def _always_prepared(field: models.Field) -> bool:
    # A JSON value must be encoded whatever its type (a str becomes '"..."').
    return isinstance(field, models.JSONField)


@cache
def _insert_plan(model: type[models.Model], vendor: str) -> tuple[str, list[models.Field]]:
    del vendor  # part of the cache key: the SQL is the connection's own
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    pk = q(model._meta.pk.column)
    sql = f"INSERT INTO {q(model._meta.db_table)} ({columns}) VALUES ({marks}) RETURNING {pk}"
    return sql, fields


def _db_value(field: models.Field, value: Any) -> Any:
    if type(value) in _PLAIN and not _always_prepared(field):
        return value
    return field.get_db_prep_save(value, connection=connection)


def insert[M: models.Model](instance: M) -> M:
    """INSERT `instance` (every concrete field, as `save()` would) and set its primary key."""
    sql, fields = _insert_plan(type(instance), connection.vendor)
    params = [_db_value(f, getattr(instance, f.attname)) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def update(model: type[models.Model], pk: int, changes: dict[str, Any]) -> None:
    """UPDATE one row's `changes` (attribute names: `last_run_id`, not `last_run`)."""
    if not changes:
        return
    meta = model._meta
    q = connection.ops.quote_name
    sets, params = [], []
    for name, value in changes.items():
        field = meta.get_field(name)
        sets.append(f"{q(field.column)} = %s")
        params.append(_db_value(field, value.pk if isinstance(value, models.Model) else value))
    params.append(pk)
    sql = f"UPDATE {q(meta.db_table)} SET {', '.join(sets)} WHERE {q(meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


Converter = Callable[[Any, Any, Any], Any]


@cache
def _read_plan(
    model: type[models.Model], vendor: str
) -> tuple[str, list[str], list[tuple[int, Any, list[Converter]]]]:
    """The column list to SELECT (or RETURN), the attribute names in that order, and the
    converters of the columns that have any (as the ORM's compiler finds them)."""
    del vendor
    fields = list(model._meta.concrete_fields)
    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in fields)
    converting = []
    for index, field in enumerate(fields):
        col = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converting.append((index, col, found))
    return columns, [f.attname for f in fields], converting


def columns(model: type[models.Model]) -> str:
    """What to SELECT (or RETURN) for `fetch_one` to build a `model`."""
    return _read_plan(model, connection.vendor)[0]


def fetch_one[M: models.Model](model: type[M], sql: str, params: Sequence[Any]) -> M | None:
    """The first row of `sql` (which selects `columns(model)`) as a `model`, or None."""
    _, names, converting = _read_plan(model, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, col, converters in converting:
        value = values[index]
        for converter in converters:
            value = converter(value, col, connection)
        values[index] = value
    return model.from_db(connection.alias, names, values)
