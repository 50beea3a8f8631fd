"""Validation of CRUD input: the model's pydantic rules plus the SQL column limits."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import pydantic
from sqlalchemy import DateTime, inspect
from sqlmodel import SQLModel

from ..dtypes import model_specs, value_problem
from ..errors import ValidationError
from ..filters import column_of, field_adapter

__all__ = ["validate"]

M = TypeVar("M", bound=SQLModel)


def _as_dict(model: type[Any], data: Mapping[str, Any] | SQLModel | None) -> dict[str, Any]:
    if data is None:
        return {}
    if isinstance(data, pydantic.BaseModel):
        return data.model_dump(exclude_unset=not isinstance(data, model))
    return dict(data)


def _check_fields(model: type[Any], values: Iterable[str]) -> None:
    for name in values:
        column_of(model, name)


def _raise_validation(model: type[Any], exc: pydantic.ValidationError) -> ValidationError:
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"]) or "__root__"
    reason = first["msg"]
    if len(errors) > 1:
        others = ", ".join(".".join(str(p) for p in e["loc"]) or "__root__" for e in errors[1:])
        reason += f" (and {len(errors) - 1} more: {others})"
    error = ValidationError(model.__name__, field, reason, first.get("input"))
    error.__cause__ = exc
    return error


def validate(
    model: type[M], data: Mapping[str, Any] | SQLModel | None = None, /, **values: Any
) -> M:
    """Build a ``model`` instance with the model's pydantic rules applied.

    SQLModel table models do not validate in ``__init__``; this does.

    Parameters
    ----------
    model : SQLModel table class
    data : mapping or model instance, optional
        Field values; ``values`` are merged over it.

    Returns
    -------
    model instance (not added to any session)

    Raises
    ------
    UnknownFieldError
        A key that is not a field of the model.
    ValidationError
        A value that breaks the model's rules; names the field.

    Examples
    --------
    >>> crud.validate(User, username="ann", email="a@x.org")
    """
    return _validated(model, {**_as_dict(model, data), **values}, model_specs(model))


def _validated(model: type[M], merged: dict[str, Any], columns: Iterable[str]) -> M:
    """``validate``, with the SQL column limits checked for ``columns`` only."""
    _check_fields(model, merged)
    try:
        obj = model.model_validate(merged)
    except pydantic.ValidationError as exc:
        raise _raise_validation(model, exc) from exc
    obj = _normalise(model, obj)
    for name in columns:
        _check_column(model, name, getattr(obj, name, None))
    return obj


def _check_column(model: type[Any], name: str, value: Any) -> None:
    """Refuse a value the SQL column cannot hold exactly (range, length, NUL, scale).

    pydantic knows the Python type (``int``, ``str``, ``Decimal``), not the column's
    limits; without this, PostgreSQL raises a raw driver error and SQLite stores, rounds
    or overflows. ``insert_frame`` applies the same rules to whole columns.
    """
    problem = value_problem(model_specs(model)[name], value)
    if problem is not None:
        raise ValidationError(model.__name__, name, problem, value)


def _normalise(model: type[M], obj: M) -> M:
    """Store values the same way on both dialects, as ``insert_frame`` does."""
    for name, column in inspect(model).columns.items():
        value = getattr(obj, name, None)
        stored = _stored_value(column.type, value)
        if stored is not value:
            setattr(obj, name, stored)
    return obj


def _stored_value(column_type: Any, value: Any) -> Any:
    """``value`` as the column stores it on both dialects.

    Timestamps: a timezone-aware column gets the UTC instant (naive values are taken as
    UTC); a naive column gets the UTC wall time of an aware value. SQLite's DATETIME
    would otherwise keep the local wall time and drop the offset. Floats: NaN is NULL
    (SQLite cannot store NaN; PostgreSQL would keep it).
    """
    if isinstance(value, dt.datetime) and isinstance(column_type, DateTime):
        if column_type.timezone:
            return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _validate_fields(model: type[Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a partial set of fields on their own (for updates by ids or by filter):
    each field's type and constraints, then the model's own validators of that field
    (``@field_validator``), as ``update`` applies them."""
    _check_fields(model, values)
    columns = inspect(model).columns
    probe = model.model_construct()
    out: dict[str, Any] = {}
    for name, value in values.items():
        try:
            checked = field_adapter(model, name, lookup=False).validate_python(value)
        except pydantic.ValidationError as exc:
            raise ValidationError(model.__name__, name, exc.errors()[0]["msg"], value) from exc
        checked = _field_validators(model, probe, name, checked)
        out[name] = _stored_value(columns[name].type, checked)
        _check_column(model, name, out[name])
    return out


def _field_validators(model: type[Any], probe: Any, name: str, value: Any) -> Any:
    """``value`` after the model's validators of field ``name`` (pydantic's
    validate-assignment path, on an empty instance). A failure of a validator of the
    whole model (it sees the other fields empty) says nothing about this field."""
    try:
        model.__pydantic_validator__.validate_assignment(probe, name, value)
    except pydantic.ValidationError as exc:
        mine = [e for e in exc.errors() if tuple(e["loc"][:1]) == (name,)]
        if mine:
            raise ValidationError(model.__name__, name, mine[0]["msg"], value) from exc
        return value
    return getattr(probe, name, value)
