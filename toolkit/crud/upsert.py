"""Insert-or-update by key: ``upsert`` and ``upsert_many`` (``INSERT ... ON CONFLICT``)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import pydantic
from sqlalchemy import inspect
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import ValidationError
from ..filters import column_of
from ..transactions import writing as _writing
from ..validation import unique_keys
from .create import advance_sequence, has_explicit_id
from .keys import _pk_keys
from .validate import _as_dict, validate

__all__ = ["upsert", "upsert_many"]

M = TypeVar("M", bound=SQLModel)


def _given(model: type[Any], row: Mapping[str, Any] | SQLModel) -> set[str]:
    """The fields the caller gave in ``row`` (not the ones filled from defaults)."""
    if isinstance(row, pydantic.BaseModel):
        return set(row.model_fields_set)
    return set(row)


def _conflict_key(model: type[Any], given: list[set[str]]) -> tuple[str, ...]:
    """Attribute names of the first key (primary, then unique) every row holds."""
    mapper = inspect(model)
    table = model.__table__
    for names in unique_keys(table):
        attrs = tuple(mapper.get_property_by_column(table.columns[n]).key for n in names)
        if all(all(a in g for a in attrs) for g in given):
            return attrs
    keys = [
        "(" + ", ".join(mapper.get_property_by_column(table.columns[n]).key for n in names) + ")"
        for names in unique_keys(table)
    ]
    raise ValidationError(
        model.__name__,
        ", ".join(_pk_keys(model)),
        "an upsert matches rows on a key: give every row the primary key or one of the "
        f"unique keys of {model.__name__} ({', '.join(keys)})",
        None,
    )


async def upsert_many(
    session: AsyncSession,
    model: type[M],
    rows: Iterable[Mapping[str, Any] | SQLModel],
    /,
    *,
    update_columns: Sequence[str] | None = None,
) -> list[M]:
    """Insert each row, or update the stored row with the same key, all or nothing.

    The key is the primary key when every row holds it, else the first unique key
    (composite included) every row holds. One ``INSERT ... ON CONFLICT (key) DO
    UPDATE ... RETURNING`` per batch: race-safe, a concurrent insert of the same key
    becomes an update.

    Parameters
    ----------
    rows : iterable of dicts or model instances, validated as in ``create``
    update_columns : list of field names, optional
        What an existing row gets from the new one. Default: the fields the rows give
        (never those a row left to its default), except the key.

    Returns
    -------
    list of model instances, in input order, as stored (server-set columns filled).

    Raises
    ------
    ValidationError
        A bad row (named by position), rows without a common key, or a key given twice.
    DuplicateError, ForeignKeyError, NotNullError
        The database refused a row (a collision on another unique key); nothing changed.

    Examples
    --------
    >>> await crud.upsert_many(s, Team, [{"name": "red", "tier": 2}])  # name is unique
    """
    given_rows = list(rows)
    if not given_rows:
        return []
    given = [_given(model, row) for row in given_rows]
    key = _conflict_key(model, given)
    objs: list[M] = []
    for position, row in enumerate(given_rows):
        try:
            objs.append(validate(model, _as_dict(model, row)))
        except ValidationError as exc:
            exc.args = (f"row {position}: {exc.args[0]}",)
            raise
    _refuse_repeated_keys(model, key, objs)
    if update_columns is None:
        changed = sorted(set().union(*given) - set(key))
    else:
        changed = list(update_columns)
        for name in changed:
            column_of(model, name)
    explicit = has_explicit_id(model, objs)
    by_key: dict[tuple[Any, ...], M] = {}
    async with _writing(session, model):
        for stmt, params in _statements(session, model, key, changed, objs):
            result = await session.exec(stmt, params=params)
            for obj in result.scalars():
                by_key[tuple(getattr(obj, k) for k in key)] = obj
        if explicit:
            await advance_sequence(session, model)
    return [by_key[tuple(getattr(obj, k) for k in key)] for obj in objs]


def _refuse_repeated_keys(model: type[Any], key: tuple[str, ...], objs: Sequence[Any]) -> None:
    seen: dict[tuple[Any, ...], int] = {}
    for position, obj in enumerate(objs):
        value = tuple(getattr(obj, k) for k in key)
        if value in seen:
            raise ValidationError(
                model.__name__,
                ", ".join(key),
                f"rows {seen[value]} and {position} have the same key {value!r}: one "
                "statement cannot insert and update the same row twice; merge them",
                value,
            )
        seen[value] = position


def _statements(
    session: AsyncSession,
    model: type[Any],
    key: tuple[str, ...],
    changed: Sequence[str],
    objs: Sequence[Any],
) -> list[tuple[Any, list[dict[str, Any]]]]:
    """One ``INSERT ... ON CONFLICT`` per shape of row (with or without a generated id)."""
    dialect = session.sync_session.get_bind().dialect.name
    insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
    mapper = inspect(model)
    pks = _pk_keys(model)
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for obj in objs:
        values = {attr.key: getattr(obj, attr.key) for attr in mapper.column_attrs}
        for pk in pks:
            if values[pk] is None and pk not in key:
                del values[pk]  # generated by the database
        shapes.setdefault(tuple(values), []).append(values)
    statements = []
    for names, params in shapes.items():
        stmt = insert(model)
        columns = {attr: mapper.columns[attr].name for attr in names}
        sets: dict[str, Any] = {
            columns[attr]: stmt.excluded[columns[attr]] for attr in changed if attr in columns
        }
        for column in model.__table__.columns:
            onupdate = column.onupdate
            settable = getattr(onupdate, "is_clause_element", False) or getattr(
                onupdate, "is_scalar", False
            )
            if sets and settable and column.name not in sets:
                sets[column.name] = onupdate.arg
        if not sets:  # nothing to change: rewrite the key so that RETURNING gives the row
            first = mapper.columns[key[0]].name
            sets = {first: stmt.excluded[first]}
        stmt = stmt.on_conflict_do_update(
            index_elements=[mapper.columns[k].name for k in key], set_=sets
        )
        stmt = stmt.returning(model).execution_options(populate_existing=True)
        statements.append((stmt, params))
    return statements


async def upsert(
    session: AsyncSession,
    model: type[M],
    row: Mapping[str, Any] | SQLModel,
    /,
    *,
    update_columns: Sequence[str] | None = None,
) -> M:
    """Insert ``row``, or update the stored row with the same key; see :func:`upsert_many`.

    Returns
    -------
    The model as stored, server-set columns filled.

    Examples
    --------
    >>> team = await crud.upsert(s, Team, {"name": "red", "tier": 2})
    """
    return (await upsert_many(session, model, [row], update_columns=update_columns))[0]
