"""Creating rows: ``create``, ``create_many``, ``get_or_create``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Integer, inspect
from sqlalchemy import exc as sa_exc
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from ..drivers import driver_for
from ..errors import ValidationError
from ..loading import Load
from ..transactions import reading as _reading
from ..transactions import writing as _writing
from .keys import _pk_keys, loaded
from .statement import _select
from .validate import _check_fields, validate

__all__ = ["create", "create_many", "get_or_create"]

M = TypeVar("M", bound=SQLModel)


async def create(
    session: AsyncSession,
    model: type[M],
    data: Mapping[str, Any] | SQLModel | None = None,
    /,
    **values: Any,
) -> M:
    """Insert one validated row and return it with its id.

    Parameters
    ----------
    session : AsyncSession
    model : SQLModel table class
    data : mapping or model instance (e.g. a ``UserCreate``), optional
    **values
        Field values, merged over ``data``.

    Returns
    -------
    The new model instance.

    Raises
    ------
    ValidationError, UnknownFieldError
        Bad input; nothing was written.
    DuplicateError, ForeignKeyError, NotNullError
        The database refused the row; nothing was written.

    Examples
    --------
    >>> user = await crud.create(s, User, username="ann", email="ann@example.org")
    """
    obj = validate(model, data, **values)
    explicit = has_explicit_id(model, [obj])
    async with _writing(session, model):
        session.add(obj)
        await session.flush()
        if explicit:
            await advance_sequence(session, model)
        await loaded(session, [obj])
    return obj


async def create_many(
    session: AsyncSession,
    model: type[M],
    rows: Iterable[Mapping[str, Any] | SQLModel],
) -> list[M]:
    """Insert many validated rows, all or nothing; ids are filled in.

    Rows go to the database in batches through SQLAlchemy's "insertmanyvalues": one
    ``INSERT ... VALUES (...), (...) RETURNING ...`` round trip per batch of 1,000.
    Only columns are written: related objects set on a model instance are not.

    Parameters
    ----------
    rows : iterable of dicts or model instances

    Returns
    -------
    list of model instances, in input order, with ids.

    Raises
    ------
    ValidationError
        Names the first bad row's field (and its position); nothing was written.
    DuplicateError, ForeignKeyError, NotNullError
        Nothing was written.

    Examples
    --------
    >>> users = await crud.create_many(s, User, [{"username": "a", "email": "a@x"}])
    """
    objs: list[M] = []
    for position, row in enumerate(rows):
        try:
            objs.append(validate(model, row))
        except ValidationError as exc:
            exc.args = (f"row {position}: {exc.args[0]}",)
            raise
    if not objs:
        return objs
    async with _writing(session, model):
        created = await _insert_returning(session, model, objs)
        if has_explicit_id(model, objs):
            await advance_sequence(session, model)
    return created


def has_explicit_id(model: type[Any], objs: Sequence[Any]) -> bool:
    """True when a row of ``objs`` gives its own value for an auto-incrementing key."""
    keys = _pk_keys(model)
    if len(keys) != 1 or not any(getattr(obj, keys[0], None) is not None for obj in objs):
        return False
    column = inspect(model).columns[keys[0]]
    return bool(column.autoincrement) and isinstance(column.type, Integer)


async def advance_sequence(session: AsyncSession, model: type[Any]) -> None:
    """After rows with explicit ids, move the id sequence past them (the driver's rule,
    shared with ``insert_frame``), so the next row whose id the database picks is new."""
    column = inspect(model).columns[_pk_keys(model)[0]]
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    prep = conn.dialect.identifier_preparer
    await driver_for(conn.dialect.name).advance_sequence(
        raw.driver_connection, prep.format_table(column.table), prep.quote(column.name)
    )


async def _insert_returning(session: AsyncSession, model: type[M], objs: list[M]) -> list[M]:
    """Bulk INSERT ... RETURNING in batches, results in input order."""
    rows = [obj.model_dump() for obj in objs]
    pks = _pk_keys(model)
    pk = pks[0] if len(pks) == 1 else None
    given = [pk is not None and row.get(pk) is not None for row in rows]
    if pk is not None and not any(given):
        for row in rows:
            row.pop(pk, None)
    driver = driver_for(session.sync_session.get_bind().dialect.name)
    return await driver.insert_returning(session, model, rows, key=pk)


def _lock_key(model: type[Any], lookups: Mapping[str, Any]) -> int:
    text_key = repr((model.__tablename__, sorted((k, repr(v)) for k, v in lookups.items())))
    digest = hashlib.blake2b(text_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def get_or_create(
    session: AsyncSession,
    model: type[M],
    defaults: Mapping[str, Any] | None = None,
    *,
    load: Load = None,
    **lookups: Any,
) -> tuple[M, bool]:
    """Return the row matching ``lookups``, creating it (with ``defaults``) if missing.

    Race-safe on both dialects: on PostgreSQL concurrent callers for the same lookups
    are serialised by a transaction-scoped advisory lock, on SQLite by the write lock;
    and if a unique constraint still fires (another process without the toolkit), the
    row it lost to is returned.

    Returns
    -------
    (model, created)

    Examples
    --------
    >>> team, created = await crud.get_or_create(s, Team, name="red", defaults={})
    """
    _check_fields(model, lookups)
    new_values = {**lookups, **(defaults or {})}
    obj = validate(model, new_values)  # fail on bad input before touching the database
    stmt = _select(model, lookups, load)
    driver = driver_for(session.sync_session.get_bind().dialect.name)
    try:
        async with _writing(session, model):
            await driver.lock_key(session, _lock_key(model, lookups))
            found = (await session.exec(stmt)).unique().first()
            if found is not None:
                return found, False
            session.add(obj)
            await session.flush()
            await loaded(session, [obj])
    except Exception as exc:
        if not isinstance(exc.__cause__, sa_exc.IntegrityError):
            raise
        async with _reading(session):
            found = (await session.exec(stmt)).unique().first()
        if found is None:
            raise
        return found, False
    if load is not None:
        # Load the requested relationships on the new object too.
        async with _reading(session):
            reloaded = (
                (await session.exec(stmt.execution_options(populate_existing=True)))
                .unique()
                .first()
            )
        if reloaded is not None:
            return reloaded, True
    return obj, True
