"""Changing rows: ``update``, ``update_many``, ``update_by``, ``delete``, ``delete_many``,
``delete_by``. Each is one statement in a savepoint: all rows or none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy import delete as sa_delete
from sqlalchemy import update as sa_update
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import MultipleResultsFound
from ..filters import build_filters
from ..transactions import writing as _writing
from .keys import _by_key, _pk_in, _pk_value, loaded, lookups_of
from .validate import _as_dict, _check_fields, _validate_fields, _validated

__all__ = ["delete", "delete_by", "delete_many", "update", "update_by", "update_many"]

M = TypeVar("M", bound=SQLModel)


async def update(
    session: AsyncSession,
    model: type[M],
    pk: Any,
    data: Mapping[str, Any] | SQLModel | None = None,
    /,
    **values: Any,
) -> M | None:
    """Change some fields of one row, validated against the whole model.

    Returns
    -------
    The updated model, or ``None`` when no row has that key.

    Raises
    ------
    ValidationError, UnknownFieldError, DuplicateError, ForeignKeyError, NotNullError

    Examples
    --------
    >>> await crud.update(s, User, 1, email="new@x.org")
    """
    changes = {**_as_dict(model, data), **values}
    _check_fields(model, changes)
    key = _pk_value(model, pk)
    async with _writing(session, model):
        obj = await _by_key(session, model, key)
        if obj is None:
            return None
        # The whole row against the model's rules; the SQL limits for what changes only
        # (a stored value is what it is, even if written by something less strict).
        checked = _validated(model, {**obj.model_dump(), **changes}, changes)
        for name in changes:
            setattr(obj, name, getattr(checked, name))
        await session.flush()
        await loaded(session, [obj])
    return obj


async def update_many(
    session: AsyncSession, model: type[M], ids: Sequence[Any], /, **values: Any
) -> int:
    """Set the same fields on every row whose primary key is in ``ids``.

    Returns
    -------
    int : the number of rows changed.

    Examples
    --------
    >>> await crud.update_many(s, User, [1, 2], is_active=False)
    2
    """
    checked = _validate_fields(model, values)
    if not ids or not checked:
        return 0
    stmt = sa_update(model).where(_pk_in(model, ids)).values(**checked)
    async with _writing(session, model):
        result = await session.exec(stmt.execution_options(synchronize_session="fetch"))
    return int(result.rowcount)


async def delete(session: AsyncSession, model: type[Any], pk: Any) -> bool:
    """Delete the row with primary key ``pk``; ``False`` when there was none.

    Raises
    ------
    ForeignKeyError
        The row is still referenced by other rows; nothing was deleted.
    """
    return await delete_many(session, model, [pk]) > 0


async def delete_many(session: AsyncSession, model: type[Any], ids: Sequence[Any]) -> int:
    """Delete every row whose primary key is in ``ids``, all or nothing.

    Returns
    -------
    int : the number of rows deleted.
    """
    if not ids:
        return 0
    stmt = sa_delete(model).where(_pk_in(model, ids))
    async with _writing(session, model, action="delete"):
        result = await session.exec(stmt.execution_options(synchronize_session="fetch"))
    return int(result.rowcount)


class _TooMany(Exception):
    """Raised inside the savepoint to undo a write that matched too many rows."""


async def _by_filter(
    session: AsyncSession,
    model: type[Any],
    stmt: Any,
    *,
    allow_multiple: bool,
    action: str,
    lookups: Mapping[str, Any],
) -> int:
    try:
        async with _writing(session, model, action="delete" if action == "delete" else "write"):
            result = await session.exec(stmt.execution_options(synchronize_session="fetch"))
            count = int(result.rowcount)
            if count > 1 and not allow_multiple:
                raise _TooMany(count)
    except _TooMany as exc:
        raise MultipleResultsFound(
            f"{model.__name__}: {exc.args[0]} rows match {dict(lookups)!r}, and "
            f"crud.{action}_by changes one row unless allow_multiple=True; nothing was "
            "changed. Add lookups that identify one row, or pass allow_multiple=True."
        ) from None
    return count


async def update_by(
    session: AsyncSession,
    model: type[Any],
    values: Mapping[str, Any],
    /,
    *clauses: ColumnElement[bool],
    allow_multiple: bool = False,
    where: Mapping[str, Any] | None = None,
    **lookups: Any,
) -> int:
    """Set ``values`` on the rows matching the lookups, in one ``UPDATE`` statement.

    Parameters
    ----------
    values : mapping of field to new value, validated as in :func:`update_many`
    *clauses : SQLAlchemy boolean expressions, ANDed with the lookups
    allow_multiple : bool
        Without it, a statement that matches more than one row is undone.
    where : mapping of lookups, optional
        For fields whose names are also options (``allow_multiple``, ``where``).
    **lookups
        As in :func:`toolkit.crud.search`.

    Returns
    -------
    int : the number of rows changed.

    Raises
    ------
    MultipleResultsFound
        More than one row matched without ``allow_multiple``; nothing changed.
    ValidationError, UnknownFieldError
        Bad values or lookups; nothing ran.
    DuplicateError, ForeignKeyError, NotNullError
        The database refused the change; nothing changed.

    Examples
    --------
    >>> await crud.update_by(s, User, {"is_active": False}, allow_multiple=True, team_id=3)
    """
    merged = lookups_of(model, "update_by", where, lookups, {})
    checked = _validate_fields(model, values)
    if not checked:
        return 0
    stmt = sa_update(model).where(*clauses, *build_filters(model, merged)).values(**checked)
    return await _by_filter(
        session, model, stmt, allow_multiple=allow_multiple, action="update", lookups=merged
    )


async def delete_by(
    session: AsyncSession,
    model: type[Any],
    /,
    *clauses: ColumnElement[bool],
    allow_multiple: bool = False,
    where: Mapping[str, Any] | None = None,
    **lookups: Any,
) -> int:
    """Delete the rows matching the lookups, in one ``DELETE`` statement.

    A call with no lookups and no clauses would delete every row: it needs
    ``allow_multiple=True``, like any delete of more than one row.

    Returns
    -------
    int : the number of rows deleted.

    Raises
    ------
    MultipleResultsFound
        More than one row matched without ``allow_multiple``; nothing was deleted.
    ForeignKeyError
        A row is still referenced by other rows; nothing was deleted.

    Examples
    --------
    >>> await crud.delete_by(s, User, allow_multiple=True, is_active=False)
    """
    merged = lookups_of(model, "delete_by", where, lookups, {})
    stmt = sa_delete(model).where(*clauses, *build_filters(model, merged))
    return await _by_filter(
        session, model, stmt, allow_multiple=allow_multiple, action="delete", lookups=merged
    )
