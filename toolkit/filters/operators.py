"""One operator on one column: ``field__op=value`` -> a SQL boolean expression.

Operators (FastCRUD's spelling in brackets where it differs): ``eq`` (the default),
``ne``, ``lt``, ``le`` (``lte``), ``gt``, ``ge`` (``gte``), ``in``, ``notin``
(``not_in``), ``between`` (a pair, both ends included), ``isnull`` (a flag), ``is`` and
``is_not`` (NULL-safe equality: ``is_not=True`` also matches NULL), ``contains``,
``startswith``, ``endswith`` and their case-insensitive ``icontains``, ``istartswith``,
``iendswith`` (the value is literal text: ``%`` and ``_`` match themselves), ``like``,
``notlike``, ``ilike``, ``notilike`` (the caller's own pattern: ``%`` any text, ``_`` one
character, ``\\`` escapes the next), and ``match`` (PostgreSQL full-text search,
``column @@ plainto_tsquery(value)``; SQLite has no full-text index on plain tables and
refuses it when the statement runs).

SQL's NULL rules hold: a comparison with a NULL row is not true, so ``ne``, ``notin``,
``notlike`` and ``not=`` groups skip NULL rows; ``eq=None`` / ``in=[..., None]`` match
NULL rows (``IS NULL``), and an order or ``between`` with ``None`` matches nothing.
Case-insensitive operators compare ``lower()`` of both sides, which folds all of
Unicode on both dialects (the SQLite engine registers a Unicode ``lower``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, false, func, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import NullType

from ..dtypes import ColumnSpec, model_specs
from ..errors import UnknownFieldError, ValidationError
from ..types.lookup import compared_value
from .lists import EXPANDED_MAX, values_in
from .values import bind_for, coerce_value, storable

__all__ = ["ALIASES", "OPERATORS", "canonical_op", "column_lookup"]

_Op = Callable[[Any, Any], ColumnElement[bool]]


def _like(c: Any, v: Any) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = c.like(v, escape="\\")
    return clause


def _ilike(c: Any, v: Any) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = func.lower(c).like(func.lower(v), escape="\\")
    return clause


class _TsQuery(ColumnElement[Any]):
    """``plainto_tsquery(value)`` on PostgreSQL; refused elsewhere, naming what to use."""

    inherit_cache = False

    def __init__(self, column: Any, value: Any) -> None:
        self.column = column
        self.value = value
        self.type = NullType()


@compiles(_TsQuery, "postgresql")
def _tsquery_postgresql(element: _TsQuery, compiler: SQLCompiler, **kw: Any) -> str:
    return f"plainto_tsquery({compiler.process(bindparam(None, element.value), **kw)})"


@compiles(_TsQuery)
def _tsquery_other(element: _TsQuery, compiler: SQLCompiler, **kw: Any) -> str:
    name = getattr(element.column, "key", str(element.column))
    raise ValidationError(
        getattr(getattr(element.column, "class_", None), "__name__", "lookup"),
        name,
        f"the match operator is PostgreSQL full-text search; {compiler.dialect.name} has "
        "no full-text index on a plain table: use icontains, like or ilike instead",
        element.value,
        write=False,
    )


def _match(c: Any, v: Any) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = c.op("@@", is_comparison=True)(_TsQuery(c, v))
    return clause


OPERATORS: dict[str, _Op] = {
    "eq": lambda c, v: c.is_(None) if v is None else c == v,
    "ne": lambda c, v: c.is_not(None) if v is None else c != v,
    "lt": lambda c, v: c < v,
    "le": lambda c, v: c <= v,
    "gt": lambda c, v: c > v,
    "ge": lambda c, v: c >= v,
    "in": lambda c, v: c.in_(v),
    "notin": lambda c, v: c.not_in(v),
    "between": lambda c, v: c.between(*v),
    "isnull": lambda c, v: c.is_(None) if v else c.is_not(None),
    "is": lambda c, v: c.is_not_distinct_from(v),
    "is_not": lambda c, v: c.is_distinct_from(v),
    "contains": lambda c, v: c.contains(v, autoescape=True),
    "icontains": lambda c, v: c.icontains(v, autoescape=True),
    "startswith": lambda c, v: c.startswith(v, autoescape=True),
    "istartswith": lambda c, v: c.istartswith(v, autoescape=True),
    "endswith": lambda c, v: c.endswith(v, autoescape=True),
    "iendswith": lambda c, v: c.iendswith(v, autoescape=True),
    "like": _like,
    "notlike": lambda c, v: not_(_like(c, v)),
    "ilike": _ilike,
    "notilike": lambda c, v: not_(_ilike(c, v)),
    "match": _match,
}

#: Other spellings accepted for an operator (FastCRUD's and SQLAlchemy's names).
ALIASES: dict[str, str] = {
    "gte": "ge",
    "lte": "le",
    "not_in": "notin",
    "isnot": "is_not",
    "not_like": "notlike",
    "not_ilike": "notilike",
}

_TEXT_OPS = {"contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
_PATTERN_OPS = {"like", "ilike", "notlike", "notilike"}
_LIST_OPS = {"in", "notin"}
_ORDER_OPS = {"lt", "le", "gt", "ge"}


def valid_operators() -> str:
    """The operator names, each with its other spellings, for error messages."""
    spellings: dict[str, list[str]] = {op: [] for op in OPERATORS}
    for alias, op in ALIASES.items():
        spellings[op].append(alias)
    return ", ".join(
        f"{op} ({'/'.join(others)})" if others else op for op, others in spellings.items()
    )


def canonical_op(model: type[Any], key: str, op: str) -> str:
    """``op`` under its canonical name.

    Raises
    ------
    UnknownFieldError
        ``op`` is no operator; the message lists every operator with its spellings.
    """
    op = ALIASES.get(op, op)
    if op not in OPERATORS:
        raise UnknownFieldError(
            f"Unknown lookup {key!r} on {model.__name__}: operator {op!r} is not one of "
            f"{valid_operators()}; groups are or, not (field__or={{...}}) and _or, _and, "
            "_not across fields."
        )
    return op


def _unmatchable(
    model: type[Any], column: InstrumentedAttribute[Any], field: str, op: str, value: Any
) -> ColumnElement[bool]:
    """``column <op> value`` for a value no stored row can hold (see :func:`storable`)."""
    if op in ("eq", "is", "like", "ilike") or op in _TEXT_OPS:
        return false()
    if op in ("ne", "notlike", "notilike"):
        return column.is_not(None)
    if op == "is_not":
        return true()
    if isinstance(value, int):  # beyond 64 bits: above (or below) every stored integer
        if (op in ("lt", "le")) == (value > 0):
            return column.is_not(None)
        return false()
    raise ValidationError(
        model.__name__,
        field,
        f"{op} needs text a column can hold; this one has a NUL or a lone surrogate",
        value,
        write=False,
    )


def column_lookup(
    model: type[Any], column: InstrumentedAttribute[Any], field: str, op: str, value: Any
) -> ColumnElement[bool]:
    """``model.field <op> value``, ``op`` canonical (see :func:`canonical_op`).

    Raises
    ------
    ValidationError
        A value of the wrong shape for ``op`` (a list for ``in``, a pair for ``between``,
        text for the text operators) or not of the field's type; names the field.
    """
    key = f"{field}__{op}"
    spec = model_specs(model).get(field)
    if op == "isnull":
        return OPERATORS[op](column, bool(value))
    if op in _LIST_OPS:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValidationError(
                model.__name__, field, f"{key} needs a list of values", value, write=False
            )
        return _in_list(column, spec, op, [coerce_value(model, field, v) for v in value])
    if op == "between":
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValidationError(
                model.__name__, field, f"{key} needs a pair (low, high)", value, write=False
            )
        ends = list(value)
        if len(ends) != 2:
            raise ValidationError(
                model.__name__, field, f"{key} needs a pair (low, high)", value, write=False
            )
        return and_(
            column_lookup(model, column, field, "ge", ends[0]),
            column_lookup(model, column, field, "le", ends[1]),
        )
    if op in ("is", "is_not") and value is None:
        return column.is_(None) if op == "is" else column.is_not(None)
    if op in _TEXT_OPS or op in _PATTERN_OPS or op == "match":
        if not isinstance(value, str):
            raise ValidationError(
                model.__name__, field, f"{key} needs a string", value, write=False
            )
        if op in _PATTERN_OPS and _ends_in_escape(value):
            raise ValidationError(
                model.__name__,
                field,
                f"{key}: the pattern ends in a lone escape character '\\'; write '\\\\' "
                "for a literal backslash",
                value,
                write=False,
            )
    else:
        value = coerce_value(model, field, value)
    if value is None and op in _ORDER_OPS:
        return false()  # an order with NULL (or NaN, stored as NULL) holds for no row
    if value is None and op in ("is", "is_not"):
        return column.is_(None) if op == "is" else column.is_not(None)
    if not storable(spec, value):
        return _unmatchable(model, column, field, op, value)
    return OPERATORS[op](column, compared_value(spec, column, bind_for(spec, value)))


def _ends_in_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def _in_list(
    column: InstrumentedAttribute[Any], spec: ColumnSpec | None, op: str, values: list[Any]
) -> ColumnElement[bool]:
    """``in`` / ``notin`` with SQL NULL meaning what ``eq=None`` means: ``in`` a list
    holding None also matches NULL rows, ``notin`` one never does. Members no row can
    hold match nothing and are left out. A list of any length is one statement."""
    if not values:
        return OPERATORS[op](column, [])
    nulls = any(v is None for v in values)
    kept = [v for v in values if v is not None and storable(spec, v)]
    if op == "in":
        found = _bound_in(column, spec, kept) if kept else false()
        return or_(found, column.is_(None)) if nulls else found
    excluded = not_(_bound_in(column, spec, kept)) if kept else true()
    return and_(excluded, column.is_not(None))


def _bound_in(
    column: InstrumentedAttribute[Any], spec: ColumnSpec | None, values: list[Any]
) -> ColumnElement[bool]:
    if len(values) > EXPANDED_MAX:
        return values_in([column], [(v,) for v in values])
    return column.in_([compared_value(spec, column, bind_for(spec, v)) for v in values])
