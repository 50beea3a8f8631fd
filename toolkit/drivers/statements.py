"""Rewriting ``column IN (list)`` before a statement is compiled for a driver.

SQLAlchemy renders ``column.in_(values)`` as one bound parameter per value, and drivers
cap how many a statement may have (asyncpg 32,767; SQLite 999 to 250,000 depending on
the build), while PostgreSQL's COPY route caps the values at 1,664. Each driver
replaces such a list with one parameter that carries them all (PostgreSQL an array,
``= ANY($1)``; SQLite a JSON array, ``IN (SELECT value FROM json_each(?))``), so a list
of any length works, with the same meaning: ``NOT IN`` becomes ``<> ALL`` / ``NOT IN``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnElement, Tuple
from sqlalchemy.types import TupleType

__all__ = ["InList", "columns_of", "item_types", "rewrite_in_lists"]

S = TypeVar("S")

#: Builds the replacement of ``left IN (right)`` (``negate`` for NOT IN), or None to keep
#: it. ``left`` may be a tuple of columns (``tuple_(a, b).in_([(1, 2), ...])``); then
#: each value of ``right`` is a tuple and ``right.type.types`` holds the types.
InList = Callable[[ColumnElement[Any], BindParameter[Any], bool], ColumnElement[Any] | None]


def rewrite_in_lists(statement: S, replace: InList) -> S:
    """``statement`` with every ``column [NOT] IN (list of values)`` passed to ``replace``.

    Subqueries and lists whose values come later (``bindparam(..., expanding=True)``
    without a value) are kept.
    """

    def visit(element: Any, **_kw: Any) -> Any:
        if not isinstance(element, BinaryExpression):
            return None
        right = element.right
        if not isinstance(right, BindParameter) or not right.expanding:
            return None
        if element.operator not in (operators.in_op, operators.not_in_op):
            return None
        if right.value is None or right.callable is not None:
            return None
        left = element.left
        if not isinstance(left, ColumnElement):
            return None
        return replace(left, right, element.operator is operators.not_in_op)

    target: Any = statement
    if not isinstance(target, visitors.ExternallyTraversible):
        return statement
    if not any(
        isinstance(e, BindParameter) and e.expanding and e.value is not None
        for e in visitors.iterate(target)
    ):
        return statement  # nothing to rewrite: no copy of the statement
    rewritten: Any = visitors.replacement_traverse(target, {}, visit)
    return cast(S, rewritten)


def item_types(left: ColumnElement[Any], right: BindParameter[Any]) -> list[Any] | None:
    """The type of each position of an IN list's values: one for a column, one per
    element for a tuple of columns; None when they cannot be told."""
    if isinstance(left, Tuple):
        types = right.type.types if isinstance(right.type, TupleType) else None
        if not types or len(types) != len(left.clauses):
            return None
        return list(types)
    return [right.type]


def columns_of(values: list[Any], width: int, tuple_values: bool) -> list[list[Any]] | None:
    """The values of an IN list as one list per position (None if a row has another width)."""
    if not tuple_values:
        return [values]
    if any(not isinstance(v, tuple | list) or len(v) != width for v in values):
        return None
    return [[v[i] for v in values] for i in range(width)]
