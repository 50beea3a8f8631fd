"""``field__op=value`` lookups turned into SQLAlchemy expressions.

Every value becomes a bound parameter; field names are checked against the model and
values are coerced to the field's type first, so a wrong type is a
:class:`~toolkit.errors.ValidationError` naming the field rather than a driver error.

Operators: ``eq`` (the default), ``ne``, ``lt``, ``le``, ``gt``, ``ge``, ``in``,
``notin``, ``contains``, ``icontains``, ``startswith``, ``istartswith``, ``endswith``,
``iendswith``, ``isnull``. ``contains``/``startswith``/``endswith`` treat ``%`` and
``_`` in the value literally.

A value no column can hold (an integer beyond 64 bits, text with NUL or a lone
surrogate) is never sent to the driver, which could not bind it: the lookup becomes what
it means, e.g. ``eq`` matches nothing and ``ne`` or ``lt=10**30`` every non-NULL row. An
integer beyond the column's own width (``INTEGER`` is 32-bit) is bound as ``BIGINT``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, get_args, get_origin

import pydantic
from sqlalchemy import BigInteger, ColumnElement, and_, false, inspect, literal, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from .dtypes import ColumnSpec, int_in_range, is_utf8, model_specs
from .errors import UnknownFieldError, ValidationError
from .types.lookup import compared_value

__all__ = [
    "OPERATORS",
    "bind_for",
    "build_filters",
    "coerce_value",
    "column_of",
    "field_adapter",
    "order_clauses",
    "storable",
]

_Op = Callable[[Any, Any], ColumnElement[bool]]

OPERATORS: dict[str, _Op] = {
    "eq": lambda c, v: c.is_(None) if v is None else c == v,
    "ne": lambda c, v: c.is_not(None) if v is None else c != v,
    "lt": lambda c, v: c < v,
    "le": lambda c, v: c <= v,
    "gt": lambda c, v: c > v,
    "ge": lambda c, v: c >= v,
    "in": lambda c, v: c.in_(v),
    "notin": lambda c, v: c.not_in(v),
    "contains": lambda c, v: c.contains(v, autoescape=True),
    "icontains": lambda c, v: c.icontains(v, autoescape=True),
    "startswith": lambda c, v: c.startswith(v, autoescape=True),
    "istartswith": lambda c, v: c.istartswith(v, autoescape=True),
    "endswith": lambda c, v: c.endswith(v, autoescape=True),
    "iendswith": lambda c, v: c.iendswith(v, autoescape=True),
    "isnull": lambda c, v: c.is_(None) if v else c.is_not(None),
}
_TEXT_OPS = {"contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
_LIST_OPS = {"in", "notin"}
_ORDER_OPS = {"lt", "le", "gt", "ge"}


def column_names(model: type[Any]) -> list[str]:
    """The mapped column attribute names of ``model``."""
    return [attr.key for attr in inspect(model).column_attrs]


def column_of(model: type[Any], name: str) -> InstrumentedAttribute[Any]:
    """Return the column attribute ``model.name``, or raise naming the valid fields.

    Raises
    ------
    UnknownFieldError
        ``name`` is not a mapped column of ``model``.
    """
    if name not in inspect(model).column_attrs:
        raise UnknownFieldError(
            f"{model.__name__} has no field {name!r}; its fields are "
            f"{', '.join(column_names(model))}."
        )
    attr: InstrumentedAttribute[Any] = getattr(model, name)
    return attr


_ADAPTERS: dict[tuple[type[Any], str, bool], pydantic.TypeAdapter[Any]] = {}


def field_adapter(model: type[Any], name: str, *, lookup: bool) -> pydantic.TypeAdapter[Any]:
    """A (cached) pydantic adapter for one field of ``model``.

    ``lookup=False`` validates a value to store: the field's full rules (its
    constraints, ``Optional`` kept). ``lookup=True`` coerces a value a column is compared
    with: the bare type, without ``Optional`` (``None`` becomes ``IS NULL``) and without
    the constraints (``qty__lt=-1`` is a fine question even where ``qty >= 0``).
    """
    key = (model, name, lookup)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = pydantic.TypeAdapter(_field_type(model, name, lookup=lookup))
    return _ADAPTERS[key]


def _field_type(model: type[Any], name: str, *, lookup: bool) -> Any:
    info = getattr(model, "model_fields", {}).get(name)
    if info is None or info.annotation is None:
        return Any
    annotation = info.annotation
    if not lookup:
        return Annotated[(annotation, *info.metadata)] if info.metadata else annotation
    if get_origin(annotation) is not None and type(None) in get_args(annotation):
        non_null = [a for a in get_args(annotation) if a is not type(None)]
        if len(non_null) == 1:
            annotation = non_null[0]
    return annotation


def coerce_value(model: type[Any], name: str, value: Any) -> Any:
    """Coerce ``value`` to the Python type of ``model.name`` (lax pydantic rules).

    A float NaN becomes ``None``: the toolkit stores NaN as NULL, so NaN means NULL.

    Raises
    ------
    ValidationError
        The value cannot be read as the field's type.
    """
    if value is None:
        return None
    try:
        coerced = field_adapter(model, name, lookup=True).validate_python(value)
    except pydantic.ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise ValidationError(model.__name__, name, reason, value, write=False) from exc
    if isinstance(coerced, float) and math.isnan(coerced):
        return None
    return coerced


def storable(spec: ColumnSpec | None, value: Any) -> bool:
    """False for a value no column of ``spec`` can hold on either dialect, so no row can
    match it (and no driver could even bind it): an integer beyond 64 bits for an integer
    column, text with NUL or a lone surrogate."""
    if isinstance(value, str):
        return "\x00" not in value and is_utf8(value)
    if spec is not None and spec.kind == "int" and isinstance(value, int):
        return isinstance(value, bool) or int_in_range(value, 64)
    return True


def bind_for(spec: ColumnSpec | None, value: Any) -> Any:
    """``value`` as a bound parameter for a column of ``spec``.

    An integer beyond the column's own range (but within 64 bits) is bound as BIGINT:
    PostgreSQL compares an ``int4`` column with an ``int8`` value, where asyncpg would
    refuse to send it as ``int4``; SQLite's integers are 64-bit whatever the column says.
    """
    if (
        spec is not None
        and spec.kind == "int"
        and isinstance(value, int)
        and not isinstance(value, bool)
        and not int_in_range(value, spec.bits)
    ):
        return literal(value, BigInteger())
    return value


def _unmatchable(
    model: type[Any], column: InstrumentedAttribute[Any], field: str, op: str, value: Any
) -> ColumnElement[bool]:
    """``column <op> value`` for a value no stored row can hold (see :func:`storable`)."""
    if op == "eq" or op in _TEXT_OPS:
        return false()
    if op == "ne":
        return column.is_not(None)
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


def _lookup(model: type[Any], key: str, value: Any) -> ColumnElement[bool]:
    field, _, op = key.partition("__")
    op = op or "eq"
    if op not in OPERATORS:
        raise UnknownFieldError(
            f"Unknown lookup {key!r} on {model.__name__}: operator {op!r} is not one of "
            f"{', '.join(OPERATORS)}."
        )
    column = column_of(model, field)
    spec = model_specs(model).get(field)
    if op == "isnull":
        return OPERATORS[op](column, bool(value))
    if op in _LIST_OPS:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValidationError(
                model.__name__, field, f"{key} needs a list of values", value, write=False
            )
        return _in_list(column, spec, op, [coerce_value(model, field, v) for v in value])
    if op in _TEXT_OPS:
        if not isinstance(value, str):
            raise ValidationError(
                model.__name__, field, f"{key} needs a string", value, write=False
            )
    else:
        value = coerce_value(model, field, value)
    if value is None and op in _ORDER_OPS:
        return false()  # an order with NULL (or NaN, stored as NULL) holds for no row
    if not storable(spec, value):
        return _unmatchable(model, column, field, op, value)
    return OPERATORS[op](column, compared_value(spec, column, bind_for(spec, value)))


def _in_list(
    column: InstrumentedAttribute[Any], spec: ColumnSpec | None, op: str, values: list[Any]
) -> ColumnElement[bool]:
    """``in`` / ``notin`` with SQL NULL meaning what ``eq=None`` means: ``in`` a list
    holding None also matches NULL rows, ``notin`` one never does. Members no row can
    hold match nothing and are left out."""
    if not values:
        return OPERATORS[op](column, [])
    nulls = any(v is None for v in values)
    kept = [
        compared_value(spec, column, bind_for(spec, v))
        for v in values
        if v is not None and storable(spec, v)
    ]
    if op == "in":
        found = column.in_(kept) if kept else false()
        return or_(found, column.is_(None)) if nulls else found
    excluded = column.not_in(kept) if kept else true()
    return and_(excluded, column.is_not(None))


def build_filters(model: type[Any], lookups: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """Turn ``{"name__icontains": "an", "is_active": True}`` into WHERE clauses.

    Parameters
    ----------
    model : SQLModel table class
    lookups : mapping of ``field`` or ``field__op`` to a value

    Returns
    -------
    list of SQLAlchemy boolean expressions, to be ANDed.

    Raises
    ------
    UnknownFieldError
        A field or operator the model does not have.
    ValidationError
        A value that cannot be read as the field's type.

    Examples
    --------
    >>> select(User).where(*build_filters(User, {"username__startswith": "a"}))
    """
    return [_lookup(model, key, value) for key, value in lookups.items()]


def order_clauses(model: type[Any], order_by: Any) -> list[Any]:
    """Normalise ``order_by``: column expressions, or names with ``-`` for descending."""
    if order_by is None:
        return []
    items = order_by if isinstance(order_by, list | tuple) else [order_by]
    clauses: list[Any] = []
    for item in items:
        if isinstance(item, str):
            descending = item.startswith("-")
            column = column_of(model, item.lstrip("-+"))
            clauses.append(column.desc() if descending else column.asc())
        else:
            clauses.append(item)
    return clauses
