"""Lookup trees: ``field__op=value`` entries, OR/AND/NOT groups, relationship paths.

Shapes (all nest):

``field__or={"lt": 2, "gt": 5}``
    One alternative per operator; a list value is one alternative per member
    (``name__or={"like": ["A%", "F%"]}``), except for ``in``/``notin``/``between``
    whose value is a list already (a list of pairs for ``between``).
``field__not={"eq": 20, "between": (30, 40)}``
    Every condition negated and ANDed (FastCRUD's meaning): NOT eq AND NOT between.
``field__and={...}``
    Every condition ANDed.
``_or={"name__startswith": "A", "tier_id": 3}``
    Across fields, one alternative per entry; a list of mappings is one alternative
    per mapping (each ANDed). ``_and`` and ``_not`` (NOT of the AND) take the same.
``team__name="red"``, ``posts__title__icontains="x"``, ``team__isnull=True``
    Through a relationship: ``EXISTS`` (``has()`` for a many-to-one, ``any()`` for a
    collection), so a row is never repeated by a join.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, inspect, not_, or_

from ..errors import UnknownFieldError, ValidationError
from .operators import canonical_op, column_lookup
from .values import column_names, column_of

__all__ = ["build_filters", "order_clauses"]

_TREE_GROUPS = {"_or": or_, "_and": and_}
_FIELD_GROUPS = {"or", "and", "not"}
_LIST_VALUED = {"in", "notin"}


def build_filters(model: type[Any], lookups: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """Turn ``{"name__icontains": "an", "is_active": True}`` into WHERE clauses.

    Parameters
    ----------
    model : SQLModel table class
    lookups : mapping of ``field``, ``field__op``, ``relationship__field__op`` or a
        group (``field__or``, ``field__not``, ``_or``, ``_and``, ``_not``) to a value

    Returns
    -------
    list of SQLAlchemy boolean expressions, to be ANDed.

    Raises
    ------
    UnknownFieldError
        A field, relationship or operator the model does not have; names it.
    ValidationError
        A value that cannot be read as the field's type, or a group of the wrong shape.

    Examples
    --------
    >>> select(User).where(*build_filters(User, {"username__startswith": "a"}))
    >>> build_filters(User, {"_or": {"credits__lt": 2, "team__name": "red"}})
    """
    return [_entry(model, key, value) for key, value in lookups.items()]


def _entry(model: type[Any], key: str, value: Any) -> ColumnElement[bool]:
    if key in ("_or", "_and", "_not"):
        return _tree_group(model, key, value)
    return _path(model, key, key.split("__"), value)


def _tree_group(model: type[Any], key: str, value: Any) -> ColumnElement[bool]:
    if isinstance(value, Mapping):
        clauses = [_entry(model, k, v) for k, v in value.items()]
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        members = list(value)
        if not all(isinstance(m, Mapping) for m in members):
            raise _group_error(model, key, value)
        clauses = [and_(*build_filters(model, m)) for m in members]
    else:
        raise _group_error(model, key, value)
    if not clauses:
        raise _group_error(model, key, value)
    if key == "_not":
        return not_(and_(*clauses))
    return _TREE_GROUPS[key](*clauses)


def _group_error(model: type[Any], key: str, value: Any) -> ValidationError:
    return ValidationError(
        model.__name__,
        key,
        f"{key} needs a non-empty mapping of lookups (e.g. {key}={{'name': 'a', "
        "'age__gt': 3}}) or a list of such mappings",
        value,
        write=False,
    )


def _path(model: type[Any], key: str, parts: list[str], value: Any) -> ColumnElement[bool]:
    head, rest = parts[0], parts[1:]
    mapper = inspect(model)
    if head in mapper.column_attrs:
        column = column_of(model, head)
        if len(rest) > 1:
            raise UnknownFieldError(
                f"Unknown lookup {key!r} on {model.__name__}: {head!r} is a column, so "
                f"only one operator may follow it, not {'__'.join(rest)!r}."
            )
        op = rest[0] if rest else "eq"
        if op in _FIELD_GROUPS:
            return _field_group(model, column, head, op, value, key)
        return column_lookup(model, column, head, canonical_op(model, key, op), value)
    if head in mapper.relationships:
        relationship = mapper.relationships[head]
        attr = getattr(model, head)
        if rest == ["isnull"]:
            related: ColumnElement[bool] = attr.any() if relationship.uselist else attr.has()
            return not_(related) if value else related
        if not rest:
            raise UnknownFieldError(
                f"Lookup {key!r} on {model.__name__}: {head!r} is a relationship; name a "
                f"field of {relationship.mapper.class_.__name__} ({head}__name=...) or "
                f"use {head}__isnull=True."
            )
        inner = _path(relationship.mapper.class_, key, rest, value)
        clause: ColumnElement[bool] = attr.any(inner) if relationship.uselist else attr.has(inner)
        return clause
    relationships = ", ".join(mapper.relationships.keys()) or "none"
    raise UnknownFieldError(
        f"{model.__name__} has no field {head!r} (in lookup {key!r}); its fields are "
        f"{', '.join(column_names(model))}; its relationships: {relationships}."
    )


def _field_group(
    model: type[Any], column: Any, field: str, group: str, value: Any, key: str
) -> ColumnElement[bool]:
    if not isinstance(value, Mapping) or not value:
        raise ValidationError(
            model.__name__,
            field,
            f"{key} needs a non-empty mapping of operator to value, e.g. "
            f"{field}__{group}={{'lt': 2, 'gt': 5}}",
            value,
            write=False,
        )
    clauses: list[ColumnElement[bool]] = []
    for name, operand in value.items():
        if name in _FIELD_GROUPS:
            clauses.append(_field_group(model, column, field, name, operand, key))
            continue
        op = canonical_op(model, f"{field}__{name}", name)
        for one in _alternatives(op, operand):
            clauses.append(column_lookup(model, column, field, op, one))
    if group == "or":
        return or_(*clauses)
    if group == "not":
        return and_(*(not_(c) for c in clauses))
    return and_(*clauses)


def _alternatives(op: str, operand: Any) -> list[Any]:
    """A list operand in a group: one condition per member (the list itself for
    ``in``/``notin``, unless it is a list of lists; pairs for ``between``)."""
    if not isinstance(operand, list):
        return [operand]
    if op in _LIST_VALUED or op == "between":
        nested = bool(operand) and all(isinstance(m, list | tuple | set) for m in operand)
        return list(operand) if nested else [operand]
    return list(operand)


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
