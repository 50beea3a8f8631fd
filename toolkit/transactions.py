"""Transaction and savepoint helpers, and retry on serialization failure or deadlock.

``db.transaction()`` (on :class:`~toolkit.database.Database`) opens a session inside one
transaction. :func:`savepoint` nests a SAVEPOINT inside it, with the same meaning on
SQLite as on PostgreSQL (the engine set-up in :mod:`toolkit.database` makes it so).
:func:`run_transaction` re-runs a whole transaction when the database reports a
serialization failure (``40001``), a deadlock (``40P01``) or, on SQLite, a lock it
waited for in vain.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession as _SAAsyncSession
from sqlalchemy.orm import SessionTransactionOrigin
from sqlmodel.ext.asyncio.session import AsyncSession

from .drivers import READ_ONLY_OPTION
from .errors import TransactionConflictError
from .translation import connection_errors, is_retryable, translate_integrity_error

if TYPE_CHECKING:
    from .database import Database

__all__ = [
    "autocommits",
    "reading",
    "retry_conflicts",
    "run_transaction",
    "savepoint",
    "writing",
]

P = ParamSpec("P")
R = TypeVar("R")


def autocommits(session: _SAAsyncSession) -> bool:
    """True when the session is not inside a transaction the caller opened.

    A toolkit call in such a session is its own transaction: it commits (or, for a
    read, ends its read transaction) before returning. Inside ``db.transaction()``,
    ``session.begin()`` or a savepoint it joins the caller's transaction instead.
    """
    sync = session.sync_session
    if sync.get_nested_transaction() is not None:
        return False
    tx = sync.get_transaction()
    return tx is None or tx.origin is SessionTransactionOrigin.AUTOBEGIN


@asynccontextmanager
async def writing(
    session: AsyncSession, model: type[Any] | None = None, *, action: str = "write"
) -> AsyncIterator[None]:
    """Run a write in a savepoint; commit when the caller has no transaction open.

    Integrity errors leave as the toolkit's typed errors, naming ``model``.
    """
    commit = autocommits(session)
    try:
        try:
            with connection_errors():
                async with session.begin_nested():
                    yield
        except sa_exc.IntegrityError as exc:
            raise translate_integrity_error(exc, model, action=action) from exc
    finally:
        # Also after a failure: the savepoint is already rolled back, and committing the
        # (empty) outer transaction releases the connection and SQLite's write lock
        # without expiring the objects the caller already holds.
        if commit and session.in_transaction():
            await session.commit()


@asynccontextmanager
async def reading(session: AsyncSession) -> AsyncIterator[None]:
    """Run a read; end the transaction afterwards when the caller has none open."""
    commit = autocommits(session) and not session.in_transaction()
    try:
        with connection_errors():
            if commit:
                # A read-only transaction: a deferred BEGIN on SQLite, so readers do not
                # take the write lock.
                await session.connection(execution_options={READ_ONLY_OPTION: True})
            yield
    finally:
        if commit and session.in_transaction():
            await session.commit()


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Run a block inside a SAVEPOINT: on error only the block's work is undone.

    The enclosing transaction stays usable after the error, which is re-raised
    (integrity errors as the toolkit's typed errors).

    Examples
    --------
    >>> async with db.transaction() as s:
    ...     await crud.create(s, Team, name="kept")
    ...     try:
    ...         async with tk.savepoint(s):
    ...             await crud.create(s, Team, name="undone")
    ...             raise RuntimeError("changed my mind")
    ...     except RuntimeError:
    ...         pass
    """
    try:
        async with session.begin_nested():
            yield session
    except sa_exc.IntegrityError as exc:
        raise translate_integrity_error(exc) from exc


async def run_transaction(
    db: Database,
    fn: Callable[Concatenate[AsyncSession, P], Awaitable[R]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """Run ``fn(session, *args, **kwargs)`` in one transaction, retrying on conflicts.

    A conflict (serialization failure, deadlock, SQLite lock time-out) rolls back and
    re-runs the whole function, up to 5 attempts with jittered exponential back-off.
    ``fn`` must therefore do nothing outside the database that cannot be repeated.

    Returns
    -------
    Whatever ``fn`` returns from the attempt that committed.

    Raises
    ------
    TransactionConflictError
        Every attempt hit a conflict; the last one is chained.

    Examples
    --------
    >>> async def move(s, a, b):
    ...     ...
    >>> await tk.run_transaction(db, move, 1, 2)
    """

    async def attempt() -> R:
        async with db.transaction() as session:
            return await fn(session, *args, **kwargs)

    return await retry_conflicts(attempt)


async def retry_conflicts(
    attempt: Callable[[], Awaitable[R]], *, attempts: int = 5, busy: bool = True
) -> R:
    """Await ``attempt()`` until it does not fail with a conflict, at most ``attempts`` times.

    Each attempt must be a whole transaction of its own (a conflict has rolled it back),
    with jittered exponential back-off between attempts. ``busy=False`` does not retry
    SQLite's "database is locked" (the busy timeout has already waited for the lock).

    Raises
    ------
    TransactionConflictError
        Every attempt hit a conflict; the last one is chained.
    """
    for number in range(1, attempts + 1):
        try:
            return await attempt()
        except Exception as exc:
            if not _conflict(exc, busy=busy):
                raise
            if number == attempts:
                raise TransactionConflictError(
                    f"The transaction conflicted with concurrent ones {attempts} times "
                    f"({_root(exc).__class__.__name__}); retry later or reduce contention "
                    "on the rows it touches."
                ) from exc
            await asyncio.sleep(random.uniform(0, 0.01 * 2**number))
    raise AssertionError("unreachable")


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _conflict(exc: BaseException, *, busy: bool = True) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if is_retryable(seen, busy=busy):
            return True
        seen = seen.__cause__
    return False
