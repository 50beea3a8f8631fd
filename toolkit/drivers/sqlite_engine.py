"""SQLite engine set-up and the SQLite side of CRUD (part of the ``sqlite`` driver).

SQLite through the stdlib ``sqlite3`` module (which aiosqlite wraps) has transaction
quirks that make it disagree with PostgreSQL unless the engine corrects them:

* ``sqlite3`` issues its own ``BEGIN`` only before INSERT/UPDATE/DELETE, so reads run
  outside any transaction and ``SAVEPOINT`` issued by SQLAlchemy either opens a
  transaction of its own or is silently committed; ``ROLLBACK TO SAVEPOINT`` then
  undoes nothing that an outer rollback would. The engine switches the driver to
  autocommit (``isolation_level = None``) and emits ``BEGIN`` itself when SQLAlchemy
  starts a transaction, so BEGIN/SAVEPOINT/RELEASE/ROLLBACK mean what they mean on
  PostgreSQL.
* A deferred ``BEGIN`` takes a read lock that must later be upgraded to a write lock;
  two writers that both read first then fail with ``database is locked`` at once, and
  the busy timeout cannot help. Transactions therefore start with ``BEGIN IMMEDIATE``
  (the write lock up front, waiting up to the busy timeout), except on connections the
  toolkit knows are read-only (frames), which use a plain ``BEGIN`` so that they do not
  block writers under WAL.
* Foreign keys are off by default in SQLite: every connection turns them on.
* ``LIKE`` folds ASCII case and ``lower()`` folds ASCII only: every connection makes
  ``LIKE`` case-sensitive and ``lower()``/``upper()`` Unicode-aware, as on PostgreSQL.
* SQLite has no time zones: TIMESTAMP WITH TIME ZONE columns hold the UTC instant, and
  the engine reads them back aware (UTC), as PostgreSQL does.
* ``:memory:`` databases are private to one connection. The toolkit names each one
  (shared cache), keeps one keeper connection open so that it lives as long as the
  ``Database``, and gives the pool a single connection so that concurrent sessions take
  turns rather than sharing one transaction.
"""

from __future__ import annotations

import json
import math
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, String, bindparam, event, func, insert, literal_column, select
from sqlalchemy.dialects.sqlite import DATETIME
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Tuple
from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import ConfigurationError
from . import READ_ONLY_OPTION, EngineSetup, compat
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
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: IN lists longer than this go to SQLite as one JSON array: builds of SQLite older
#: than 3.32 allow 999 parameters per statement.
IN_LIST_PARAMETERS = 999


def create_engine(
    url: URL,
    *,
    echo: bool,
    pool_size: int,
    max_overflow: int,
    engine_kwargs: Mapping[str, Any],
) -> EngineSetup:
    """An ``AsyncEngine`` on a SQLite file or ``:memory:``, corrected as described above.

    ``pool_size`` and ``max_overflow`` are not used: a file uses SQLAlchemy's default
    pool, ``:memory:`` one shared connection.

    Raises
    ------
    ConfigurationError
        The folder of the database file does not exist.
    """
    _check_folder(url)
    kwargs = dict(engine_kwargs)
    memory = _is_memory(url)
    keeper: sqlite3.Connection | None = None
    if memory:
        uri = f"file:toolkit-{uuid.uuid4().hex}?mode=memory&cache=shared"
        # Keeps the shared in-memory database alive while the Database exists.
        keeper = sqlite3.connect(uri, uri=True, check_same_thread=False)
        url = url.set(database=uri, query={"uri": "true"})
        kwargs.setdefault("poolclass", AsyncAdaptedQueuePool)
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 300)
    engine = create_async_engine(url, echo=echo, **kwargs)
    compat.replace_type_implementation(engine.sync_engine.dialect, DateTime, _UTCDateTime)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level; the "begin" listener below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # LIKE is case-sensitive on PostgreSQL; SQLite folds ASCII case by default.
        cursor.execute("PRAGMA case_sensitive_like = ON")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
        # SQLite's lower()/upper() fold ASCII only; PostgreSQL folds all of Unicode
        # (icontains, istartswith... compile to lower(col) LIKE lower(value)).
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
        dbapi_connection.create_function("upper", 1, _upper, deterministic=True)

    def on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", on_begin)
    event.listen(engine.sync_engine, "close", _end_transaction)
    return EngineSetup(engine=engine, url=url, close=keeper.close if keeper else None)


class _UTCDateTime(DATETIME):
    """SQLite's DATETIME that reads TIMESTAMP WITH TIME ZONE values back aware (UTC)."""

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], Any] | None:
        process = super().result_processor(dialect, coltype)
        if not self.timezone:
            return process

        def aware(value: Any) -> Any:
            if process is not None:
                value = process(value)
            if isinstance(value, datetime) and value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            return value

        return aware


def _lower(value: Any) -> Any:
    """``lower()`` for SQLite, folding as PostgreSQL's does: one character at a time.

    Python's ``str.lower`` differs in two places only: a final capital sigma becomes
    the final small sigma U+03C2 (PostgreSQL: U+03C3), and U+0130 (capital I with dot)
    becomes ``i`` plus a combining dot (PostgreSQL: ``i``).
    """
    if not isinstance(value, str):
        return value
    if "\u03a3" in value or "\u0130" in value:
        return "".join(c.lower()[0] for c in value)
    return value.lower()


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _check_folder(url: URL) -> None:
    """A SQLite file's folder must exist: SQLite creates the file, never its folder."""
    if _is_memory(url) or url.query.get("uri") or str(url.database).startswith("file:"):
        return
    folder = Path(str(url.database)).expanduser().parent
    if not folder.is_dir():
        raise ConfigurationError(
            f"Cannot create the SQLite database {url.database!r}: the folder {str(folder)!r} "
            "does not exist. Create it first, or give a path in an existing folder."
        )


def _end_transaction(dbapi_connection: Any, _record: Any) -> None:
    """Stop, then roll back, a SQLite connection the pool is closing (pool "close" event).

    A task cancelled in the middle of a statement makes SQLAlchemy drop ("terminate")
    its connection, and aiosqlite has no graceful close for that: without this, the
    sqlite3 connection, its open transaction and so SQLite's one write lock would live
    on until the garbage collector found them, and every other writer would wait out
    the busy timeout. The running statement is interrupted and a rollback queued on the
    connection's worker thread, which runs it as soon as the statement returns. Nothing
    here waits: the event loop never blocks on a busy worker.
    """
    aio = getattr(dbapi_connection, "driver_connection", None)
    raw = compat.aiosqlite_open_connection(aio) if aio is not None else None
    if raw is None:
        return

    def rollback() -> None:
        if raw.in_transaction:
            raw.execute("ROLLBACK")

    raw.interrupt()
    compat.aiosqlite_queue_job(aio, rollback)


async def join_transaction(conn: AsyncConnection) -> None:
    """Nothing to do: the engine's "begin" listener sends BEGIN when SQLAlchemy begins."""


async def abandon(conn: AsyncConnection) -> None:
    """Nothing to do: the stream's cursor is closed, and the connection is reusable."""


async def lock_key(session: AsyncSession, key: int) -> None:
    """Nothing to do: a writing transaction already holds SQLite's one write lock."""


async def insert_returning(
    session: AsyncSession, model: type[M], rows: list[dict[str, Any]], *, key: str | None
) -> list[M]:
    """INSERT ... RETURNING, results in the order of ``rows``.

    SQLite promises RETURNING in parameter order only row by row; with a single-column
    key that every row gives, or none does, one batch is sent and its rows are put in
    input order by key (generated keys are increasing rowids).
    """
    stmt: Any = insert(model)
    given = [key is not None and row.get(key) is not None for row in rows]
    if key is None or (any(given) and not all(given)):
        result = await session.exec(
            stmt.returning(model, sort_by_parameter_order=True), params=rows
        )
        return list(result.scalars())
    result = await session.exec(stmt.returning(model), params=rows)
    created: list[M] = list(result.scalars())
    if all(given):
        by_key = {getattr(obj, key): obj for obj in created}
        return [by_key[row[key]] for row in rows]
    return sorted(created, key=lambda obj: getattr(obj, key))


def rewrite_statement(statement: S, dialect: Dialect) -> S:
    """``statement`` with each long ``column IN (list)`` reading one JSON array.

    ``column IN (SELECT value FROM json_each(?))`` takes a list of any length (SQLite
    caps parameters per statement, at 999 in some builds) and still uses an index on
    the column. Lists of up to :data:`IN_LIST_PARAMETERS` values, and values JSON
    cannot carry exactly (bytes, non-finite floats), keep one parameter per value.
    """

    def json_each(
        left: ColumnElement[Any], right: BindParameter[Any], negate: bool
    ) -> ColumnElement[Any] | None:
        values = list(right.value or ())
        types = item_types(left, right)
        if types is None or len(values) * len(types) <= IN_LIST_PARAMETERS:
            return None
        tupled = isinstance(left, Tuple)
        columns = columns_of(values, len(types), tupled)
        if columns is None:
            return None
        stored: list[list[Any]] = []
        for column, type_ in zip(columns, types, strict=True):
            process = type_.dialect_impl(dialect).bind_processor(dialect)
            stored.append([process(v) if process and v is not None else v for v in column])
            if not all(_json_exact(v) for v in stored[-1]):
                return None
        rows = list(zip(*stored, strict=True)) if tupled else stored[0]
        array = bindparam(None, json.dumps(rows), type_=String())
        picked: list[Any] = (
            [literal_column(f"json_extract(value, '$[{i}]')") for i in range(len(types))]
            if tupled
            else [literal_column("value")]
        )
        each: Any = select(*picked).select_from(func.json_each(array))
        return left.not_in(each) if negate else left.in_(each)

    return rewrite_in_lists(statement, json_each)


def _json_exact(value: Any) -> bool:
    if value is None or isinstance(value, int | str):
        return True
    return isinstance(value, float) and math.isfinite(value)
