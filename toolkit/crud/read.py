"""Reading rows: ``get``, ``get_many``, ``get_by``, ``search``, ``count``, ``exists``,
``stream``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar, overload

import pydantic
from sqlalchemy import ColumnElement, func
from sqlmodel import SQLModel
from sqlmodel import select as sql_select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import MultipleResultsFound
from ..filters import build_filters
from ..loading import Load, loader_options
from ..transactions import reading as _reading
from .keys import _by_key, _pk_columns, _pk_in, _pk_keys, _pk_value, lookups_of
from .statement import Columns, _select, projection, shaped

__all__ = ["count", "exists", "get", "get_by", "get_many", "search", "stream"]

M = TypeVar("M", bound=SQLModel)
S = TypeVar("S", bound=pydantic.BaseModel)


async def get(session: AsyncSession, model: type[M], pk: Any, *, load: Load = None) -> M | None:
    """Return the row with primary key ``pk``, or ``None``.

    Parameters
    ----------
    pk : the primary key value (a tuple for a composite key)
    load : relationship names (``"members.posts"``) or loader options to eager-load

    Examples
    --------
    >>> team = await crud.get(s, Team, 1, load=["members.posts"])
    """
    key = _pk_value(model, pk)
    options = loader_options(model, load)
    async with _reading(session):
        return await _by_key(session, model, key, options)


async def get_many(
    session: AsyncSession, model: type[M], ids: Sequence[Any], /, *, load: Load = None
) -> list[M]:
    """Return the rows whose primary key is in ``ids``, in the order of ``ids``.

    Keys with no row are left out; a repeated key gives its row once. Any number of
    keys is one query.

    Raises
    ------
    ValidationError
        A key of the wrong type or shape; names the key.

    Examples
    --------
    >>> users = await crud.get_many(s, User, [3, 1, 2])
    """
    keys = [_pk_value(model, pk) for pk in ids]
    if not keys:
        return []
    stmt = sql_select(model).where(_pk_in(model, keys)).options(*loader_options(model, load))
    async with _reading(session):
        found = list((await session.exec(stmt)).unique().all())
    names = _pk_keys(model)
    by_key = {tuple(getattr(obj, k) for k in names): obj for obj in found}
    ordered = [by_key.get(key) for key in dict.fromkeys(keys)]
    return [obj for obj in ordered if obj is not None]


@overload
async def get_by(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = ...,
    load: Load = ...,
    columns: None = ...,
    as_: None = ...,
    **lookups: Any,
) -> M | None: ...


@overload
async def get_by(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = ...,
    load: Load = ...,
    columns: Columns = ...,
    as_: type[S],
    **lookups: Any,
) -> S | None: ...


@overload
async def get_by(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = ...,
    load: Load = ...,
    columns: Sequence[str],
    as_: None = ...,
    **lookups: Any,
) -> dict[str, Any] | None: ...


async def get_by(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = None,
    load: Load = None,
    columns: Columns = None,
    as_: type[Any] | None = None,
    **lookups: Any,
) -> Any:
    """Return the one row matching the lookups, or ``None``.

    Parameters
    ----------
    *clauses, where, load, columns, as_, **lookups
        As in :func:`search`.

    Raises
    ------
    MultipleResultsFound
        More than one row matched: add lookups, or use :func:`search`.

    Examples
    --------
    >>> ann = await crud.get_by(s, User, username="ann")
    """
    options = {"load": load, "columns": columns, "as_": as_}
    merged = lookups_of(model, "get_by", where, lookups, options)
    names = projection(model, columns, as_)
    stmt = _select(model, merged, load, None, clauses, names).limit(2)
    async with _reading(session):
        result = await session.exec(stmt)
        rows = result.all() if names is not None else result.unique().all()
    if len(rows) > 1:
        raise MultipleResultsFound(
            f"{model.__name__}: more than one row matches {merged!r}; add lookups that "
            "identify one row, or use crud.search for all of them."
        )
    return shaped(rows, names, as_)[0] if rows else None


@overload
async def search(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = ...,
    load: Load = ...,
    order_by: Any = ...,
    limit: int | None = ...,
    offset: int | None = ...,
    columns: None = ...,
    as_: None = ...,
    **lookups: Any,
) -> list[M]: ...


@overload
async def search(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = ...,
    load: Load = ...,
    order_by: Any = ...,
    limit: int | None = ...,
    offset: int | None = ...,
    columns: Columns = ...,
    as_: type[S],
    **lookups: Any,
) -> list[S]: ...


@overload
async def search(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = ...,
    load: Load = ...,
    order_by: Any = ...,
    limit: int | None = ...,
    offset: int | None = ...,
    columns: Sequence[str],
    as_: None = ...,
    **lookups: Any,
) -> list[dict[str, Any]]: ...


async def search(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = None,
    load: Load = None,
    order_by: Any = None,
    limit: int | None = None,
    offset: int | None = None,
    columns: Columns = None,
    as_: type[Any] | None = None,
    **lookups: Any,
) -> list[Any]:
    """Return every row matching the lookups (see :mod:`toolkit.filters`).

    Parameters
    ----------
    *clauses : SQLAlchemy boolean expressions (``User.credits > 10``), ANDed
    where : mapping of lookups, optional
        The spelling for a field whose name is also an option of this call; a field
        named like an option given as a keyword is an error unless ``where=`` is given.
    load : relationship names or loader options to eager-load
    order_by : column, ``"name"``/``"-name"``, or a list of them; default primary key
    limit, offset : int, optional
    columns : list of field names, optional
        Return a dict of those columns per row instead of models.
    as_ : pydantic model class, optional
        Return instances of it, built from the model's columns it names
        (FastCRUD's ``schema_to_select``).
    **lookups
        ``username__icontains="an"``, ``id__in=[1, 2]``, ``credits__or={"lt": 2,
        "gt": 5}``, ``_or={...}``, ``team__name="red"``, ...

    Returns
    -------
    list of models, of dicts (``columns=``) or of ``as_`` instances

    Raises
    ------
    UnknownFieldError
        Names the unknown field, relationship or operator.
    ValidationError
        A value of the wrong type or shape for its lookup.

    Examples
    --------
    >>> await crud.search(s, User, username__icontains="an", is_active=True)
    >>> await crud.search(s, User, User.credits > 10, _or={"team__name": "red", "tier": 3})
    """
    options = {"load": load, "order_by": order_by, "limit": limit, "offset": offset}
    merged = lookups_of(model, "search", where, lookups, {**options, "columns": columns})
    names = projection(model, columns, as_)
    ordering = order_by if order_by is not None else _pk_columns(model)
    stmt = _select(model, merged, load, ordering, clauses, names)
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset is not None:
        stmt = stmt.offset(offset)
    async with _reading(session):
        result = await session.exec(stmt)
        rows = result.all() if names is not None else result.unique().all()
    return shaped(rows, names, as_)


async def count(
    session: AsyncSession,
    model: type[Any],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = None,
    **lookups: Any,
) -> int:
    """Return how many rows match the lookups (one ``SELECT count(*)``).

    Examples
    --------
    >>> await crud.count(s, User, is_active=True)
    """
    merged = lookups_of(model, "count", where, lookups, {})
    stmt = sql_select(func.count()).select_from(model)
    stmt = stmt.where(*clauses, *build_filters(model, merged))
    async with _reading(session):
        return int((await session.exec(stmt)).one())


async def exists(
    session: AsyncSession,
    model: type[Any],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = None,
    **lookups: Any,
) -> bool:
    """Return whether any row matches the lookups (stops at the first).

    Examples
    --------
    >>> await crud.exists(s, User, email="a@x.org")
    """
    merged = lookups_of(model, "exists", where, lookups, {})
    stmt = sql_select(*_pk_columns(model)).where(*clauses, *build_filters(model, merged))
    async with _reading(session):
        return (await session.exec(stmt.limit(1))).first() is not None


async def stream(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = None,
    chunk_size: int = 1000,
    load: Load = None,
    order_by: Any = None,
    **lookups: Any,
) -> AsyncIterator[M]:
    """Yield matching models one by one from a server-side cursor, ``chunk_size`` at a time.

    Memory is bounded by the chunk: rows are fetched as the loop asks for them, and
    the session's identity map holds only the models the caller still references.
    Use ``selectinload`` paths in ``load`` (collections); a joined collection cannot
    be streamed.

    Examples
    --------
    >>> async for user in crud.stream(s, User, is_active=True, chunk_size=1000):
    ...     ...
    """
    options = {"load": load, "order_by": order_by}
    merged = lookups_of(model, "stream", where, lookups, options)
    stmt = _select(model, merged, load, order_by, clauses).execution_options(yield_per=chunk_size)
    async with _reading(session):
        result = await session.stream_scalars(stmt)
        try:
            async for obj in result:
                yield obj
        finally:
            await result.close()
