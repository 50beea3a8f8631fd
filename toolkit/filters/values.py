"""Lookup values: field names checked against the model, values coerced to the field's type.

A wrong type is a :class:`~toolkit.errors.ValidationError` naming the field rather than a
driver error. A value no column can hold (an integer beyond 64 bits, text with NUL or a lone
surrogate) is never sent to the driver, which could not bind it: the lookup becomes what
it means, e.g. ``eq`` matches nothing and ``ne`` or ``lt=10**30`` every non-NULL row. An
integer beyond the column's own width (``INTEGER`` is 32-bit) is bound as ``BIGINT``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, get_args, get_origin

import pydantic
from sqlalchemy import BigInteger, inspect, literal
from sqlalchemy.orm import InstrumentedAttribute

from ..dtypes import ColumnSpec, int_in_range, is_utf8
from ..errors import UnknownFieldError, ValidationError

__all__ = [
    "bind_for",
    "coerce_value",
    "column_names",
    "column_of",
    "field_adapter",
    "storable",
]


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
