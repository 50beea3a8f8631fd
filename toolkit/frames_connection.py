"""From a frame function's source to a connection, and driver errors to the toolkit's.

A source is a toolkit ``Database`` (anything with an ``engine``), an ``AsyncEngine``,
an ``AsyncConnection`` or an ``AsyncSession``. With a ``Database`` or ``AsyncEngine``
the call uses a pooled connection of its own (a write commits before returning). With
an ``AsyncConnection`` or ``AsyncSession`` it joins that transaction: reads see its
uncommitted writes, and a write runs in a savepoint, so a failure undoes only the frame.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol, TypeAlias

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from .drivers import READ_ONLY_OPTION, Driver, compat, driver_for
from .errors import ConfigurationError, QueryError, ToolkitError, TransactionConflictError
from .transactions import autocommits
from .translation import is_retryable, missing_table, translate_integrity_error, unavailable

__all__ = [
    "Source",
    "announce",
    "driver_errors",
    "driver_of",
    "engine_of",
    "finished",
    "owns_transaction",
    "read_connection",
    "write_connection",
]


class HasEngine(Protocol):
    """A toolkit ``Database``, as frames see it."""

    @property
    def engine(self) -> AsyncEngine: ...


Source: TypeAlias = HasEngine | AsyncEngine | AsyncConnection | AsyncSession


def engine_of(source: Any) -> AsyncEngine | None:
    """The engine of a Database or AsyncEngine source; None for a connection or session."""
    if isinstance(source, AsyncEngine):
        return source
    if isinstance(source, AsyncConnection | AsyncSession):
        return None
    engine = getattr(source, "engine", None)
    return engine if isinstance(engine, AsyncEngine) else None


def _check_source(source: Any) -> None:
    if isinstance(source, AsyncConnection | AsyncSession) or engine_of(source) is not None:
        return
    raise ConfigurationError(
        f"Cannot read or write through {type(source).__name__}; pass a toolkit "
        "Database (tk.connect(...)), an AsyncEngine, an AsyncConnection or an "
        "AsyncSession."
    )


async def driver_of(conn: AsyncConnection) -> tuple[Driver, Any]:
    """The dialect's driver module and the driver connection beneath ``conn``."""
    raw = await conn.get_raw_connection()
    return driver_for(conn.dialect.name), raw.driver_connection


@asynccontextmanager
async def read_connection(source: Source) -> AsyncIterator[AsyncConnection]:
    """A connection to read through, inside the caller's transaction when there is one."""
    _check_source(source)
    engine = engine_of(source)
    if engine is not None:
        async with engine.connect() as conn:
            conn = await conn.execution_options(**{READ_ONLY_OPTION: True})
            yield conn
        return
    if isinstance(source, AsyncConnection):
        await driver_for(source.dialect.name).join_transaction(source)
        yield source
        return
    assert isinstance(source, AsyncSession)
    own = autocommits(source) and not source.in_transaction()
    await source.flush()  # as a query would: the frame sees pending changes
    conn = await source.connection(execution_options={READ_ONLY_OPTION: True} if own else None)
    await driver_for(conn.dialect.name).join_transaction(conn)
    try:
        yield conn
    finally:
        if own and source.in_transaction():
            await source.commit()


@asynccontextmanager
async def write_connection(target: Source) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction (or savepoint) that ends with the block."""
    _check_source(target)
    engine = engine_of(target)
    if engine is not None:
        async with engine.connect() as conn, conn.begin():
            await driver_for(conn.dialect.name).join_transaction(conn)
            yield conn
        return
    if isinstance(target, AsyncConnection):
        if target.in_transaction():
            async with target.begin_nested():
                yield target
        else:
            async with target.begin():
                await driver_for(target.dialect.name).join_transaction(target)
                yield target
        return
    assert isinstance(target, AsyncSession)
    commit = autocommits(target)
    await target.flush()
    try:
        conn = await target.connection()
        await driver_for(conn.dialect.name).join_transaction(conn)
        yield conn
        if commit:
            await target.commit()
    except BaseException:
        if commit and target.in_transaction():
            await target.rollback()
        raise


def owns_transaction(target: Source) -> bool:
    """True when a write to ``target`` is a transaction of its own (not the caller's)."""
    if isinstance(target, AsyncConnection):
        return not target.in_transaction()
    if isinstance(target, AsyncSession):
        # Not merely autocommits(): a session holding work of its own (pending, or
        # flushed in a transaction it began by itself) would lose it to a retry.
        pending = target.new or target.dirty or target.deleted
        return not target.in_transaction() and not pending
    return True


def announce(conn: AsyncConnection, sql: str, args: Sequence[Any]) -> None:
    """Tell SQLAlchemy's listeners (count_queries, echo) about a driver-level statement."""
    sync = conn.sync_connection
    if sync is not None:
        compat.fire_before_cursor_execute(sync, sql, args)


def finished(conn: AsyncConnection, sql: str, args: Sequence[Any]) -> None:
    """Tell SQLAlchemy's listeners that a statement :func:`announce` told of has ended."""
    sync = conn.sync_connection
    if sync is not None:
        compat.fire_after_cursor_execute(sync, sql, args)


@contextmanager
def driver_errors(model: type[Any] | str | None = None) -> Iterator[None]:
    """Re-raise driver errors as the toolkit's (integrity errors named for ``model``, a
    model class or a table's name)."""
    try:
        yield
    except ToolkitError:
        raise
    except Exception as exc:
        state = getattr(exc, "sqlstate", None)
        integrity = (isinstance(state, str) and state.startswith("23")) or type(
            exc
        ).__name__ == "IntegrityError"
        new = translate_integrity_error(exc, model, frame=True) if integrity else _translate(exc)
        if new is exc:
            raise
        raise new from exc


def _translate(exc: BaseException) -> BaseException:
    """The toolkit's error for a driver error raised under a frame function."""
    if isinstance(exc, ToolkitError):
        return exc
    lost = unavailable(exc)
    if lost is not None:
        return lost
    if is_retryable(exc):
        return TransactionConflictError(
            f"The call conflicted with a concurrent transaction ({_first_line(exc)}) and "
            "was rolled back. Inside your own transaction, roll it back and run it again "
            "(tk.run_transaction does that for you)."
        )
    absent = missing_table(exc)
    if absent is not None:
        return absent
    if "query arguments cannot exceed" in str(exc):
        return QueryError(
            f"The query has too many parameters for the driver ({_first_line(exc)}). Pass "
            "a long list of values as one parameter: column.in_(values) in a select is "
            "sent as a single array, whatever its length."
        )
    if _is_driver_error(exc):
        return QueryError(
            f"The database refused the query: {_first_line(exc)}. Check the SQL against "
            "the tables and columns of the database."
        )
    return exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _is_driver_error(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.Error | sa_exc.DBAPIError):
        return True
    # An asyncpg error can only come from an asyncpg already imported.
    asyncpg: Any = sys.modules.get("asyncpg")
    return asyncpg is not None and isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError)
