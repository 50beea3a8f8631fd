"""Validated Arrow columns -> what each driver's bulk write path sends, per kind.

:func:`toolkit.types.convert.convert` builds each column in its kind's Arrow type and
tags the field with the kind (:func:`tagged_field`), so a driver knows the SQL family
of a column without a second look at the table. JSON columns hold JSON text.

SQLite stores each family as SQLAlchemy's type does (see
:data:`~toolkit.types.registry.FAMILIES`), so rows written by ``insert_frame`` and by
CRUD read back the same. PostgreSQL's COPY CSV gets text it parses exactly; types CSV
cannot carry (BYTEA, arrays) go through asyncpg's binary COPY as Python values.
"""

from __future__ import annotations

import decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "KIND_KEY",
    "csv_ready",
    "csv_table",
    "kind_of",
    "record_values",
    "sqlite_values",
    "tagged_field",
]

KIND_KEY = b"toolkit.kind"
_EPOCH = pa.scalar(0, pa.timestamp("us"))


def tagged_field(name: str, array: pa.Array, kind: str) -> pa.Field:
    """The field of a validated column: its name, type and kind."""
    return pa.field(name, array.type, metadata={KIND_KEY: kind.encode()})


def kind_of(field: pa.Field) -> str | None:
    """The kind a validated column was tagged with (None for an untagged field)."""
    meta = field.metadata or {}
    kind = meta.get(KIND_KEY)
    return kind.decode() if kind is not None else None


def _uuid_hex(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return pc.replace_substring(column, "-", "")


def sqlite_values(field: pa.Field, column: pa.ChunkedArray) -> list[Any]:
    """Python values of one column as SQLite stores its family."""
    t = column.type
    if pa.types.is_timestamp(t):
        # SQLAlchemy's SQLite DATETIME text ("2024-01-01 12:00:00.000000"); aware
        # values as UTC. A cast renders it ten times faster than strftime.
        column = column.cast(pa.timestamp("us")).cast(pa.string())
    elif pa.types.is_date(t) or pa.types.is_time(t):
        column = column.cast(pa.string())
    elif pa.types.is_duration(t):
        column = pc.add(_EPOCH, column.cast(pa.duration("us"))).cast(pa.string())
    elif pa.types.is_decimal(t):
        column = column.cast(pa.float64())
    elif kind_of(field) == "uuid":
        column = _uuid_hex(column)
    elif kind_of(field) == "decimal" and pa.types.is_string(t):
        # NUMERIC beyond 38 digits, as text: SQLite's NUMERIC stores a REAL.
        column = column.cast(pa.float64())
    values: list[Any] = column.to_pylist()
    return values


def csv_ready(schema: pa.Schema) -> bool:
    """Whether every column renders as CSV text COPY reads back exactly."""
    return not any(
        pa.types.is_binary(f.type)
        or pa.types.is_large_binary(f.type)
        or pa.types.is_nested(f.type)
        or pa.types.is_null(f.type)
        for f in schema
    )


def csv_table(table: pa.Table) -> pa.Table:
    """``table`` with the columns Arrow's CSV writer renders slowly or in a form COPY
    does not read turned into text first: timestamps (a cast gives the same ISO text
    ten times faster) and intervals (``<n> microseconds``)."""
    for i, field in enumerate(table.schema):
        column = table.column(i)
        if pa.types.is_timestamp(field.type):
            column = column.cast(pa.string())
        elif pa.types.is_duration(field.type):
            micros = column.cast(pa.duration("us")).cast(pa.int64()).cast(pa.string())
            column = pc.binary_join_element_wise(micros, " microseconds", "")
        else:
            continue
        table = table.set_column(i, field.name, column)
    return table


def record_values(field: pa.Field, column: pa.ChunkedArray) -> list[Any]:
    """Python values of one column for asyncpg's binary COPY (JSON stays its text,
    which SQLAlchemy's JSON codec on the connection sends as is; a NUMERIC beyond 38
    digits, held as text, is sent as ``Decimal``)."""
    values: list[Any] = column.to_pylist()
    if kind_of(field) == "decimal" and pa.types.is_string(field.type):
        return [None if v is None else decimal.Decimal(v) for v in values]
    return values
