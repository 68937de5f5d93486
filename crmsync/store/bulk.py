"""Bulk statements for the chunk commits: many rows through the driver, many keys in one parameter.

A chunk commits thousands of link and event rows. Through SQLAlchemy's executemany each value
passes its type's bind processor one by one (JSON encoding, timestamp formatting), which cost
more than the inserts themselves. Here values that are the same for every row (the scope, the
run, ``now``) are processed once, JSON values are encoded once by the caller, and the rows go
to the driver's own ``executemany``, in one statement text that SQLite and PostgreSQL share.

Lookups by thousands of ids used ``IN (?, ?, …)`` with one bound parameter per id, which
SQLAlchemy expands and processes per statement; ``member_of`` passes the ids as one parameter
(a JSON array read by ``json_each`` on SQLite, an array with ``= ANY`` on PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa


class Encoded(str):
    """A JSON value already encoded by the caller (``encode``): written as it is."""

    __slots__ = ()


_ENCODER = json.JSONEncoder(default=str)  # json.dumps(value, default=str) without a new encoder a call


def encode(value: Any) -> Encoded:
    """A value as the JSON text a JSON column stores (dates and decimals as text)."""
    return Encoded(_ENCODER.encode(value))


def _processed(conn: sa.Connection, column: sa.Column, value: Any) -> Any:
    process = _processor(conn, column)
    return process(value) if process else value


def _processor(conn: sa.Connection, column: sa.Column) -> Any:
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    if isinstance(column.type, sa.JSON):
        return lambda value: str(value) if isinstance(value, Encoded) else process(value)
    return process


def insert_many(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    same: dict[str, Any] | None = None,
    upsert: tuple[Sequence[str], Sequence[str]] | None = None,
) -> None:
    """INSERT ``rows`` (dicts with the same keys) plus the ``same`` values, in one executemany.

    ``upsert`` is (conflict columns, columns to update): ``ON CONFLICT … DO UPDATE``.
    """
    if not rows:
        return
    same = same or {}
    names = list(rows[0])
    fixed = tuple(_processed(conn, table.c[name], value) for name, value in same.items())
    processors = [(i, p) for i, name in enumerate(names) if (p := _processor(conn, table.c[name]))]
    params = [(*_values(row, names, processors), *fixed) for row in rows]
    conn.exec_driver_sql(_insert_sql(conn, table, [*names, *same], upsert), params)


def _values(row: dict[str, Any], names: list[str], processors: list[tuple[int, Any]]) -> list[Any]:
    """One row's values in column order, through the bind processors of the columns that have one."""
    values = [row[name] for name in names]
    for i, process in processors:
        values[i] = process(values[i])
    return values


def insert_new(
    conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]], same: dict[str, Any]
) -> list[int]:
    """INSERT new rows of a table with an integer ``id`` key; their ids, in the order of ``rows``.

    PostgreSQL: the ids are drawn from the table's sequence first, then written. SQLite: the
    rows are inserted, then the ids read back: the chunk's transaction holds SQLite's one write
    lock from its first insert, so the new rows took the ids after the largest one, in order.
    """
    if not rows:
        return []
    name = conn.dialect.identifier_preparer.format_table(table)
    if conn.dialect.name == "postgresql":
        ids = conn.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (name, len(rows)),
        ).scalars()
        numbered = [{"id": cs_id, **row} for cs_id, row in zip(ids, rows, strict=True)]
        insert_many(conn, table, numbered, same)
        return [row["id"] for row in numbered]
    insert_many(conn, table, rows, same)
    last = conn.exec_driver_sql(f"SELECT max(id) FROM {name}").scalar()  # noqa: S608 - the model's table
    return list(range(last - len(rows) + 1, last + 1))


def _insert_sql(
    conn: sa.Connection, table: sa.Table, names: list[str], upsert: tuple[Sequence[str], Sequence[str]] | None
) -> str:
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle in ("qmark", "numeric") else "%s"
    # Identifiers are the model's own table and column names, quoted by the dialect; values are bound.
    sql = (
        f"INSERT INTO {conn.dialect.identifier_preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(quote(n) for n in names)}) VALUES ({', '.join([mark] * len(names))})"
    )
    if upsert:
        keys, update = upsert
        sets = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in update)
        sql += f" ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET {sets}"
    return sql


def member_of(column: sa.ColumnElement[Any], values: Sequence[Any], dialect: str) -> sa.ColumnElement[bool]:
    """``column IN values`` with the values as one bound parameter, whatever their number."""
    values = [v.item() if hasattr(v, "item") else v for v in values]  # numpy scalars as Python ones
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        item = sa.Integer() if isinstance(column.type, sa.Integer) else sa.String()
        return column == sa.any_(sa.bindparam(None, values, type_=ARRAY(item)))
    each = sa.func.json_each(sa.bindparam(None, json.dumps(values), type_=sa.String)).table_valued("value")
    return column.in_(sa.select(each.c.value))
