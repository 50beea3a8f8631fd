"""PostgreSQL engine set-up and the PostgreSQL side of CRUD (part of the driver).

The engine uses asyncpg with pre-ping; a pool "reset" listener rolls back a transaction
SQLAlchemy does not know of (see :func:`_end_untracked_transaction`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import JSON, all_, any_, bindparam, event, func, insert, literal_column
from sqlalchemy import select as select_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Tuple
from sqlalchemy.types import NullType
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from . import EngineSetup, compat
from .postgresql_url import asyncpg_options
from .statements import columns_of, item_types, rewrite_in_lists

__all__ = [
    "abandon",
    "create_engine",
    "insert_returning",
    "join_transaction",
    "lock_key",
    "rewrite_statement",
]

M = TypeVar("M")
S = TypeVar("S")


def create_engine(
    url: URL,
    *,
    echo: bool,
    pool_size: int,
    max_overflow: int,
    engine_kwargs: Mapping[str, Any],
) -> EngineSetup:
    """An ``AsyncEngine`` on asyncpg with pre-ping and the untracked-transaction reset.

    libpq options in the URL's query are given to asyncpg where it takes them (see
    :mod:`toolkit.drivers.postgresql_url`).

    Raises
    ------
    ConfigurationError
        A URL option asyncpg has no equivalent for.
    """
    kwargs = dict(engine_kwargs)
    url, kwargs["connect_args"] = asyncpg_options(url, kwargs.get("connect_args") or {})
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        **kwargs,
    )
    event.listen(engine.sync_engine, "reset", _end_untracked_transaction)
    return EngineSetup(engine=engine, url=url)


def _end_untracked_transaction(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    """Roll back a transaction SQLAlchemy does not know of (pool "reset" event).

    SQLAlchemy's asyncpg adapter records its transaction only once BEGIN has returned.
    A task cancelled while BEGIN was on the wire (a notebook interrupt, ``wait_for``)
    leaves asyncpg's record of that transaction behind, and often the server inside it,
    so reset-on-return would roll back nothing: the next borrower's BEGIN would become
    a SAVEPOINT inside the stale transaction and its "commit" a RELEASE, never durable.
    """
    adapter = dbapi_connection
    driver = getattr(adapter, "driver_connection", None)
    if driver is None or not state.asyncio_safe or compat.adapter_tracks_transaction(adapter):
        return  # nothing to do, or SQLAlchemy's own rollback ends the transaction
    if driver.is_closed():
        return  # lost or closed: the server has ended its transaction
    in_server = driver.is_in_transaction()
    if not compat.asyncpg_forget_transaction(driver) and not in_server:
        return
    # Waits for the interrupted BEGIN to finish first; harmless if it never ran.
    compat.await_in_greenlet(driver.execute("ROLLBACK"))


async def join_transaction(conn: AsyncConnection) -> None:
    """Send BEGIN now if ``conn`` is in a transaction SQLAlchemy has not begun yet.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement; work
    sent straight to asyncpg before that would run outside the transaction.
    """
    if not conn.in_transaction():
        return
    raw = await conn.get_raw_connection()
    adapter = raw.dbapi_connection
    if compat.adapter_transaction_pending(adapter):
        await compat.adapter_begin_now(adapter)


async def abandon(conn: AsyncConnection) -> None:
    """Drop ``conn``: a COPY left halfway cannot be resumed or stopped."""
    await conn.invalidate()


async def lock_key(session: AsyncSession, key: int) -> None:
    """Take a transaction-scoped advisory lock on ``key`` (released at commit/rollback)."""
    await session.exec(select(func.pg_advisory_xact_lock(key)))


async def insert_returning(
    session: AsyncSession, model: type[M], rows: list[dict[str, Any]], *, key: str | None
) -> list[M]:
    """INSERT ... RETURNING in batches; PostgreSQL returns rows in parameter order."""
    stmt: Any = insert(model)
    result = await session.exec(stmt.returning(model, sort_by_parameter_order=True), params=rows)
    return list(result.scalars())


def rewrite_statement(statement: S, dialect: Dialect) -> S:
    """``statement`` with each ``column IN (list)`` as ``column = ANY(array)``.

    One array parameter instead of one per value: a list of any length, and one
    statement text (and server plan) whatever the length.
    """
    return rewrite_in_lists(statement, _any_array)


def _any_array(
    left: ColumnElement[Any], right: BindParameter[Any], negate: bool
) -> ColumnElement[Any] | None:
    types = item_types(left, right)
    if types is None or any(isinstance(t, NullType | JSON | ARRAY) for t in types):
        return None  # no array type to cast to, or no equality on the type
    tupled = isinstance(left, Tuple)
    columns = columns_of(list(right.value or ()), len(types), tupled)
    if columns is None:
        return None
    arrays = [
        bindparam(None, values, type_=ARRAY(t)) for values, t in zip(columns, types, strict=True)
    ]
    if not tupled:
        return left != all_(arrays[0]) if negate else left == any_(arrays[0])
    # (a, b) IN (SELECT * FROM unnest($1, $2)): one array per position, zipped by unnest.
    rows: Any = select_(literal_column("*")).select_from(func.unnest(*arrays))
    return left.not_in(rows) if negate else left.in_(rows)
