"""``IN`` over a list of any length, as one bound parameter.

A list of up to :data:`EXPANDED_MAX` values is sent as ``IN (:v1, :v2, ...)``. A longer
one would pass the drivers' limits on bound parameters (32,767 for PostgreSQL's wire
protocol, 32,766 for SQLite), so it travels as one parameter per column: an array on
PostgreSQL (``(a, b) IN (SELECT * FROM unnest(:a, :b))``) and a JSON array on SQLite
(``col IN (SELECT value FROM json_each(:values))``). Each value is
first converted by the column type's own bind processor, so a date, a UUID or a decimal
compares as it would in an ordinary ``IN``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Integer,
    TypeDecorator,
    Unicode,
    bindparam,
    not_,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import NullType

__all__ = ["EXPANDED_MAX", "ValuesSource", "values_in"]

#: Longest list sent as one bound parameter per value.
EXPANDED_MAX = 1000


def _item_type(column: Any) -> Any:
    """The type values are bound with: integers as BIGINT, so that a value beyond an
    ``INTEGER`` column's width still compares (as :func:`~toolkit.filters.bind_for` does)."""
    column_type = column.type
    if isinstance(column_type, Integer) and not isinstance(column_type, Boolean):
        return BigInteger()
    return column_type


class _JSONList(TypeDecorator[list[Any]]):
    """A list bound as JSON text, each item converted by ``item_type`` first."""

    impl = Unicode
    cache_ok = False

    def __init__(self, item_type: Any) -> None:
        super().__init__()
        self.item_type = item_type

    def process_bind_param(self, value: Any, dialect: Any) -> str:
        process = self.item_type.dialect_impl(dialect).bind_processor(dialect)
        return json.dumps([process(v) if process is not None else v for v in value], default=_text)


def _text(value: Any) -> str:
    """A bound value JSON has no type for (a decimal, a UUID...) as the text SQLite
    compares it by; binary values have no such text."""
    if isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(
            f"a list of more than {EXPANDED_MAX:,} binary values cannot be sent to SQLite as "
            "one parameter; split it into lists of at most that many"
        )
    return str(value)


class ValuesSource(ColumnElement[Any]):
    """The right side of ``IN``: a sub-select over rows bound as one parameter per
    column (PostgreSQL) or one JSON parameter (SQLite). Compiled per dialect."""

    inherit_cache = False

    def __init__(self, columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> None:
        self.columns = list(columns)
        self.rows = [tuple(row) for row in rows]
        self.type = NullType()


def values_in(
    columns: Sequence[Any], rows: Sequence[Sequence[Any]], *, negate: bool = False
) -> ColumnElement[bool]:
    """``(columns) [NOT] IN rows`` for any number of rows.

    Parameters
    ----------
    columns : column expressions (one, or the parts of a composite key)
    rows : one tuple of values per row, in ``columns`` order; no ``None`` members
    negate : bool
        ``NOT IN``.

    Returns
    -------
    A boolean expression: the plain ``IN`` up to :data:`EXPANDED_MAX` rows, else ``IN``
    over a :class:`ValuesSource`.
    """
    left = columns[0] if len(columns) == 1 else tuple_(*columns)
    if len(rows) > EXPANDED_MAX:
        clause: ColumnElement[bool] = left.op("IN", is_comparison=True)(ValuesSource(columns, rows))
    elif len(columns) == 1:
        clause = left.in_([row[0] for row in rows])
    else:
        clause = left.in_([tuple_(*row) for row in rows])
    return not_(clause) if negate else clause


def _process(compiler: SQLCompiler, element: Any, **kw: Any) -> str:
    return str(compiler.process(element, **kw))


@compiles(ValuesSource, "postgresql")
def _compile_postgresql(element: ValuesSource, compiler: SQLCompiler, **kw: Any) -> str:
    arrays = [
        bindparam(None, [row[i] for row in element.rows], type_=ARRAY(_item_type(column)))
        for i, column in enumerate(element.columns)
    ]
    return f"(SELECT * FROM unnest({', '.join(_process(compiler, a, **kw) for a in arrays)}))"


@compiles(ValuesSource)
def _compile_json(element: ValuesSource, compiler: SQLCompiler, **kw: Any) -> str:
    if len(element.columns) == 1:
        values = bindparam(
            None,
            [row[0] for row in element.rows],
            type_=_JSONList(_item_type(element.columns[0])),
        )
        return f"(SELECT value FROM json_each({_process(compiler, values, **kw)}))"
    # One JSON array per row, so each part keeps its own type's conversion.
    rows = bindparam(None, element.rows, type_=_JSONRows(element.columns))
    parts = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(element.columns)))
    return f"(SELECT {parts} FROM json_each({_process(compiler, rows, **kw)}))"


class _JSONRows(TypeDecorator[list[Any]]):
    """Rows of a composite key bound as a JSON array of arrays."""

    impl = Unicode
    cache_ok = False

    def __init__(self, columns: Sequence[Any]) -> None:
        super().__init__()
        self.item_types = [_item_type(c) for c in columns]

    def process_bind_param(self, value: Any, dialect: Any) -> str:
        processors = [t.dialect_impl(dialect).bind_processor(dialect) for t in self.item_types]
        rows = [
            [p(v) if p is not None else v for p, v in zip(processors, row, strict=True)]
            for row in value
        ]
        return json.dumps(rows, default=_text)
