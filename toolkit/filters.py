"""``field__op=value`` lookups turned into SQLAlchemy expressions.

Every value becomes a bound parameter; field names are checked against the model and
values are coerced to the field's type first, so a wrong type is a
:class:`~toolkit.errors.ValidationError` naming the field rather than a driver error.

Operators: ``eq`` (the default), ``ne``, ``lt``, ``le``, ``gt``, ``ge``, ``in``,
``notin``, ``contains``, ``icontains``, ``startswith``, ``istartswith``, ``endswith``,
``iendswith``, ``isnull``. ``contains``/``startswith``/``endswith`` treat ``%`` and
``_`` in the value literally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, get_args, get_origin

import pydantic
from sqlalchemy import ColumnElement, inspect
from sqlalchemy.orm import InstrumentedAttribute

from .dtypes import model_specs, value_problem
from .errors import UnknownFieldError, ValidationError

__all__ = [
    "OPERATORS",
    "build_filters",
    "coerce_value",
    "column_of",
    "field_adapter",
    "order_clauses",
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

    Raises
    ------
    ValidationError
        The value cannot be read as the field's type, or cannot be bound for the column
        (an integer beyond its range, text with NUL or a lone surrogate).
    """
    if value is None:
        return None
    try:
        coerced = field_adapter(model, name, lookup=True).validate_python(value)
    except pydantic.ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise ValidationError(model.__name__, name, reason, value) from exc
    return _bindable(model, name, coerced)


def _bindable(model: type[Any], name: str, value: Any) -> Any:
    """Refuse a lookup value no driver can bind for the column (see ``value_problem``)."""
    spec = model_specs(model).get(name)
    problem = value_problem(spec, value, stored=False) if spec is not None else None
    if problem is not None:
        raise ValidationError(
            model.__name__, name, f"{problem}, so no stored value can match it", value
        )
    return value


def _lookup(model: type[Any], key: str, value: Any) -> ColumnElement[bool]:
    field, _, op = key.partition("__")
    op = op or "eq"
    if op not in OPERATORS:
        raise UnknownFieldError(
            f"Unknown lookup {key!r} on {model.__name__}: operator {op!r} is not one of "
            f"{', '.join(OPERATORS)}."
        )
    column = column_of(model, field)
    if op == "isnull":
        return OPERATORS[op](column, bool(value))
    if op in _LIST_OPS:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValidationError(model.__name__, field, f"{key} needs a list of values", value)
        value = [coerce_value(model, field, v) for v in value]
    elif op in _TEXT_OPS:
        if not isinstance(value, str):
            raise ValidationError(model.__name__, field, f"{key} needs a string", value)
        value = _bindable(model, field, value)
    else:
        value = coerce_value(model, field, value)
    return OPERATORS[op](column, value)


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
