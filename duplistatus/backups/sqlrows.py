"""Rows written and read on hot paths (the upload, the endpoints dashboards poll) without
the ORM's per-statement work.

`Model.objects.create()` compiles its INSERT anew each time and prepares every one of a
run's ~60 fields through the field machinery; a raw query builds its model through a
RawQuerySet. On one upload that was ~40 % of the server's CPU (bench/ingest.py). Here each
model's statement and each field's conversion are worked out once per process, and per row
only the values that need it (dates, JSON) go through Django's own conversion: what is
stored is exactly what the ORM would store, on SQLite and on PostgreSQL.

Only for plain models (no custom save(), no signals listened to), and only where a profile
says the ORM's own work is what costs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

# Values of these types are what the database gets for non-JSON fields: no conversion.
_PLAIN = frozenset({str, int, float, bool, bytes, type(None)})


@cache
def _insert_plan(
    model: type[models.Model], vendor: str
) -> tuple[str, list[models.Field], list[bool]]:
    """The INSERT of every concrete field but the primary key, those fields, and for each
    whether its value always goes through the field's conversion (JSON)."""
    del vendor  # part of the cache key: the SQL is the connection's own
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    pk = q(model._meta.pk.column)
    sql = f"INSERT INTO {q(model._meta.db_table)} ({columns}) VALUES ({marks}) RETURNING {pk}"
    # A JSON value must be encoded whatever its type (a str becomes '"..."').
    return sql, fields, [isinstance(f, models.JSONField) for f in fields]


def _db_values(
    fields: list[models.Field], always: list[bool], values: Sequence[Any], conn: BaseDatabaseWrapper
) -> list[Any]:
    """`values` as the database gets them: plain values as they are, the rest through
    Django's own conversion (dates, JSON)."""
    return [
        value
        if type(value) in _PLAIN and not json
        else field.get_db_prep_save(value, connection=conn)
        for field, json, value in zip(fields, always, values, strict=True)
    ]


def _db_value(field: models.Field, value: Any, conn: BaseDatabaseWrapper) -> Any:
    if type(value) in _PLAIN and not isinstance(field, models.JSONField):
        return value
    return field.get_db_prep_save(value, connection=conn)


def insert(model: type[models.Model], values: dict[str, Any]) -> Any:
    """INSERT a new `model` row from `values` and return its primary key: `create` for a row
    nothing reads back. `values` are by attribute name (`job_id`, not `job`); a field not in
    them gets its default."""
    return _insert(model, values)[1]


def create[M: models.Model](model: type[M], values: dict[str, Any]) -> M:
    """INSERT a new `model` row from `values` (as `insert`) and return it as
    `model.objects.create()` would, without building the instance through keyword arguments
    first (for a run's ~60 fields that alone was ~5 % of an upload)."""
    row, pk = _insert(model, values)
    names, pk_at, _ = _create_plan(model)
    row.insert(pk_at, pk)
    return model.from_db(DEFAULT_DB_ALIAS, names, row)


def _insert(model: type[models.Model], values: dict[str, Any]) -> tuple[list[Any], Any]:
    """The row's values (every concrete field but the primary key) and its primary key."""
    conn = connections[DEFAULT_DB_ALIAS]
    sql, fields, always = _insert_plan(model, conn.vendor)
    settable = _create_plan(model)[2]
    if not values.keys() <= settable:
        raise TypeError(f"{model.__name__} has no field {sorted(values.keys() - settable)}")
    row = [values[f.attname] if f.attname in values else f.get_default() for f in fields]
    with conn.cursor() as cursor:
        cursor.execute(sql, _db_values(fields, always, row, conn))
        return row, cursor.fetchone()[0]


@cache
def _create_plan(model: type[models.Model]) -> tuple[list[str], int, frozenset[str]]:
    """Every concrete field's attribute name in from_db's order, where the primary key is
    among them, and the names `create` may be given."""
    names = [f.attname for f in model._meta.concrete_fields]
    pk = model._meta.pk.attname
    return names, names.index(pk), frozenset(names) - {pk}


def update(model: type[models.Model], pk: int, changes: dict[str, Any]) -> None:
    """UPDATE one row's `changes` (attribute names: `last_run_id`, not `last_run`)."""
    if not changes:
        return
    conn = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    q = conn.ops.quote_name
    sets, params = [], []
    for name, value in changes.items():
        field = meta.get_field(name)
        sets.append(f"{q(field.column)} = %s")
        value = value.pk if isinstance(value, models.Model) else value
        params.append(_db_value(field, value, conn))
    params.append(pk)
    sql = f"UPDATE {q(meta.db_table)} SET {', '.join(sets)} WHERE {q(meta.pk.column)} = %s"
    with conn.cursor() as cursor:
        cursor.execute(sql, params)


Converter = Callable[[Any, Any, Any], Any]


@cache
def _read_plan(
    model: type[models.Model], vendor: str, only: tuple[str, ...] | None
) -> tuple[str, list[str], list[tuple[int, Any, list[Converter]]]]:
    """The column list to SELECT (or RETURN), the attribute names in that order, and the
    converters of the columns that have any (as the ORM's compiler finds them)."""
    del vendor
    fields = [
        f for f in model._meta.concrete_fields if only is None or f.primary_key or f.name in only
    ]
    table = model._meta.db_table
    q = connection.ops.quote_name
    columns = ", ".join(f"{q(table)}.{q(f.column)}" for f in fields)
    converting = []
    for index, field in enumerate(fields):
        col = field.get_col(table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converting.append((index, col, found))
    return columns, [f.attname for f in fields], converting


def columns(model: type[models.Model], only: tuple[str, ...] | None = None) -> str:
    """What to SELECT (or RETURN) for `fetch_one` to build a `model`: every column, or the
    primary key and the fields named in `only` (the others are deferred, as with .only())."""
    return _read_plan(model, connection.vendor, only)[0]


def fetch_one[M: models.Model](
    model: type[M], sql: str, params: Sequence[Any], only: tuple[str, ...] | None = None
) -> M | None:
    """The first row of `sql` (which selects `columns(model, only)`) as a `model`, or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else build(model, row, only)


def fetch_all[M: models.Model](
    model: type[M], sql: str, params: Sequence[Any], only: tuple[str, ...] | None = None
) -> list[tuple[M, tuple[Any, ...]]]:
    """Each row of `sql` (which selects `columns(model, only)` first, then anything else) as
    a `model` and the rest of the row."""
    width = len(_read_plan(model, connection.vendor, only)[1])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return [(build(model, row[:width], only), tuple(row[width:])) for row in found]


def build[M: models.Model](
    model: type[M], row: Sequence[Any], only: tuple[str, ...] | None = None
) -> M:
    """A `model` from a row of `columns(model, only)`, as the ORM would have made it."""
    _, names, converting = _read_plan(model, connection.vendor, only)
    values = list(row)
    for index, col, converters in converting:
        value = values[index]
        for converter in converters:
            value = converter(value, col, connection)
        values[index] = value
    return model.from_db(connection.alias, names, values)
