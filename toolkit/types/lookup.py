"""Lookup coercion that depends on the column's family (after pydantic has coerced the
value to the field's Python type; see :mod:`toolkit.filters`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import type_coerce

from .spec import ColumnSpec

__all__ = ["compared_value"]


def compared_value(spec: ColumnSpec | None, column: Any, value: Any) -> Any:
    """``value`` as compared with ``column``: a JSON value is bound with the column's
    own type (serialised as the column stores it, and ``jsonb = jsonb`` on PostgreSQL),
    whatever its Python type (text would otherwise be bound as VARCHAR)."""
    if spec is not None and spec.kind == "json" and value is not None:
        return type_coerce(value, column.type)
    return value
