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

__all__ = ["InList", "rewrite_in_lists"]

S = TypeVar("S")

#: Builds the replacement of ``left IN (right)`` (``negate`` for NOT IN), or None to keep it.
InList = Callable[[ColumnElement[Any], BindParameter[Any], bool], ColumnElement[Any] | None]


def rewrite_in_lists(statement: S, replace: InList) -> S:
    """``statement`` with every ``column [NOT] IN (list of values)`` passed to ``replace``.

    Tuple comparisons (``tuple_(a, b).in_(...)``), subqueries and lists whose values
    come later (``bindparam(..., expanding=True)`` without a value) are kept.
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
        if not isinstance(left, ColumnElement) or isinstance(left, Tuple):
            return None
        return replace(left, right, element.operator is operators.not_in_op)

    target: Any = statement
    if not isinstance(target, visitors.ExternallyTraversible):
        return statement
    rewritten: Any = visitors.replacement_traverse(target, {}, visit)
    return cast(S, rewritten)
