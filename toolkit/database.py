"""connect() and Database: URL resolution, engine set-up per dialect, sessions.

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
* ``:memory:`` databases are private to one connection. The toolkit names each one
  (shared cache), keeps one keeper connection open so that it lives as long as the
  ``Database``, and gives the pool a single connection so that concurrent sessions take
  turns rather than sharing one transaction.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from sqlalchemy import DateTime, MetaData, event, make_url
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolResetState
from sqlalchemy.util import await_only
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from .errors import ConfigurationError, connection_errors, translate_integrity_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_URL", "ENV_VAR", "Database", "connect", "resolve_url"]

ENV_VAR = "TOOLKIT_DATABASE_URL"
DEFAULT_URL = "sqlite+aiosqlite:///toolkit.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option that marks a connection's transactions as read-only (SQLite uses a
#: deferred BEGIN for them so they do not take the write lock).
READ_ONLY_OPTION = "toolkit_read_only"

Dialect = Literal["sqlite", "postgresql"]
Models = type[SQLModel] | Iterable[type[SQLModel]] | MetaData | None


def resolve_url(url: str | URL | Path | None = None) -> URL:
    """Turn what a user typed into a SQLAlchemy URL with an async driver.

    Parameters
    ----------
    url : str, URL, Path or None
        ``None`` reads ``$TOOLKIT_DATABASE_URL`` and falls back to the embedded
        default, the SQLite file ``./toolkit.db``. ``":memory:"`` is an in-memory
        SQLite database; a plain path (``"data.db"``, ``Path(...)``) a SQLite file;
        ``sqlite:///...`` gets aiosqlite and ``postgresql://`` / ``postgres://``
        get asyncpg. A URL that already names a driver is kept.

    Returns
    -------
    sqlalchemy.engine.URL

    Raises
    ------
    ConfigurationError
        The URL cannot be parsed, or names a database the toolkit does not support.

    Examples
    --------
    >>> resolve_url("postgres://ann@db/sales").render_as_string()
    'postgresql+asyncpg://ann@db/sales'
    """
    if url is None:
        url = os.environ.get(ENV_VAR) or DEFAULT_URL
    if isinstance(url, Path):
        url = f"sqlite+aiosqlite:///{url}"
    if isinstance(url, str):
        text = url.strip()
        if text == ":memory:":
            text = "sqlite+aiosqlite:///:memory:"
        elif "://" not in text:
            text = f"sqlite+aiosqlite:///{text}"
        elif text.startswith("postgres://"):
            text = "postgresql://" + text[len("postgres://") :]
        try:
            parsed = make_url(text)
        except (ArgumentError, ValueError) as exc:
            raise ConfigurationError(
                f"Cannot parse database URL {url!r}: {exc}. Use a file path, ':memory:', "
                "'sqlite:///path.db' or 'postgresql://user@host/dbname'."
            ) from exc
    else:
        parsed = url
    # From the text, not get_driver_name(): that one imports the dialect, and an
    # unknown scheme would fail with SQLAlchemy's plugin error instead of ours.
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("aiosqlite", "pysqlite", ""):
            raise ConfigurationError(
                f"SQLite driver {driver!r} is not async; use 'sqlite+aiosqlite://' or "
                "just a file path."
            )
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        if driver not in ("asyncpg", "psycopg2", "psycopg", ""):
            raise ConfigurationError(
                f"PostgreSQL driver {driver!r} is not supported; use 'postgresql://' "
                "(the toolkit picks asyncpg)."
            )
        return parsed.set(drivername="postgresql+asyncpg")
    raise ConfigurationError(
        f"Database {backend!r} in {parsed.render_as_string()!r} is not supported; the "
        "toolkit works with SQLite (a file path or ':memory:') and PostgreSQL "
        "('postgresql://user@host/dbname')."
    )


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


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


class Database:
    """A database the toolkit talks to: an ``AsyncEngine`` set up for its dialect.

    Create one with :func:`connect`. ``Database`` is an async context manager that
    disposes of its engine on exit.

    Attributes
    ----------
    engine : sqlalchemy.ext.asyncio.AsyncEngine
    url : sqlalchemy.engine.URL
        The URL as given (after shorthand resolution); for ``:memory:`` the named
        shared-cache URI the toolkit uses is in ``engine.url``.
    dialect : {"sqlite", "postgresql"}
    """

    def __init__(
        self,
        url: URL,
        *,
        echo: bool = False,
        pool_size: int = 5,
        max_overflow: int = 10,
        **engine_kwargs: Any,
    ) -> None:
        self.url = url
        self.dialect: Dialect = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"
        self._keeper: sqlite3.Connection | None = None
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(url, echo=echo, **engine_kwargs)
        else:
            self.engine = create_async_engine(
                url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_pre_ping=True,
                **engine_kwargs,
            )
            event.listen(self.engine.sync_engine, "reset", _end_untracked_transaction)
        self._sessionmaker = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    def _sqlite_engine(self, url: URL, *, echo: bool, **engine_kwargs: Any) -> AsyncEngine:
        memory = _is_memory(url)
        if memory:
            name = f"toolkit-{uuid.uuid4().hex}"
            uri = f"file:{name}?mode=memory&cache=shared"
            # Keeps the shared in-memory database alive while this Database exists.
            self._keeper = sqlite3.connect(uri, uri=True, check_same_thread=False)
            url = url.set(database=uri, query={"uri": "true"})
            engine_kwargs.setdefault("poolclass", AsyncAdaptedQueuePool)
            engine_kwargs.setdefault("pool_size", 1)
            engine_kwargs.setdefault("max_overflow", 0)
            engine_kwargs.setdefault("pool_timeout", 300)
        engine = create_async_engine(url, echo=echo, **engine_kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Autocommit at the driver level; SQLAlchemy's "begin" event below emits BEGIN.
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

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        event.listen(engine.sync_engine, "close", _end_sqlite_transaction)
        return engine

    # -- sessions ---------------------------------------------------------------------

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Open a session; CRUD writes in it are committed as each call returns.

        Yields
        ------
        sqlmodel.ext.asyncio.session.AsyncSession
            With ``expire_on_commit=False``, so objects stay readable after a commit
            without a lazy refresh (which asyncio cannot do implicitly).

        Examples
        --------
        >>> async with db.session() as s:
        ...     user = await crud.get(s, User, 1)
        """
        async with self._sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a session inside one transaction: commit on success, roll back on error.

        CRUD calls inside the block are not committed one by one; a call that fails
        (duplicate, validation) rolls back only its own work, so the block stays usable.

        Examples
        --------
        >>> async with db.transaction() as s:
        ...     await crud.create(s, Team, name="red")
        ...     await crud.create(s, Team, name="blue")   # both or neither
        """
        try:
            with connection_errors(refused=False):
                async with self._sessionmaker() as session, session.begin():
                    yield session
        except IntegrityError as exc:
            # A flush at commit time can still hit a constraint.
            raise translate_integrity_error(exc) from exc

    # -- schema -----------------------------------------------------------------------

    async def create_all(self, models: Models = None) -> None:
        """Create the tables of ``models`` (default: every SQLModel table) if missing.

        Parameters
        ----------
        models : model class, iterable of model classes, MetaData or None
        """
        metadata, tables = _tables(models)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all, tables=tables)

    async def drop_all(self, models: Models = None) -> None:
        """Drop the tables of ``models`` (default: every SQLModel table) if present."""
        metadata, tables = _tables(models)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all, tables=tables)

    # -- frames -----------------------------------------------------------------------

    async def frame(
        self, query: Any, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> pd.DataFrame:
        """Run ``query`` and return a DataFrame; see :func:`toolkit.read_frame`."""
        from .frames import read_frame

        return await read_frame(self, query, params=params, **kwargs)

    # -- lifecycle --------------------------------------------------------------------

    async def dispose(self) -> None:
        """Close every pooled connection (and, for ``:memory:``, the database itself)."""
        await self.engine.dispose()
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.dispose()

    def __repr__(self) -> str:
        return f"<Database {self.dialect} {self.url.render_as_string(hide_password=True)}>"


@functools.cache
def _tz_columns(mapper: Mapper[Any]) -> tuple[str, ...]:
    """Attribute names of the mapper's TIMESTAMP WITH TIME ZONE columns."""
    return tuple(
        key for key, c in mapper.columns.items() if isinstance(c.type, DateTime) and c.type.timezone
    )


def _aware_on_sqlite(target: Any, context: Any, *_: Any) -> None:
    """Make SQLite's TIMESTAMP WITH TIME ZONE values aware (UTC), as PostgreSQL's are.

    SQLite has no time zones: the toolkit stores the UTC instant and SQLAlchemy hands it
    back naive. Applied to every ORM object loaded or refreshed from a SQLite database.
    """
    state = sa_inspect(target)
    keys = _tz_columns(state.mapper)
    # No query context when a bulk UPDATE writes its new values into loaded objects.
    session = context.session if context is not None else state.session
    if not keys or session is None or session.get_bind().dialect.name != "sqlite":
        return
    for key in keys:
        value = target.__dict__.get(key)
        if isinstance(value, datetime) and value.tzinfo is None:
            set_committed_value(target, key, value.replace(tzinfo=UTC))


def _end_sqlite_transaction(dbapi_connection: Any, _record: Any) -> None:
    """Stop, then roll back, a SQLite connection the pool is closing (pool "close" event).

    A task cancelled in the middle of a statement makes SQLAlchemy drop ("terminate")
    its connection, and aiosqlite has no graceful close for that: the sqlite3 connection,
    its open transaction and so SQLite's one write lock lived on until the garbage
    collector found them, and every other writer waited out the busy timeout. Here the
    running statement is interrupted and a rollback queued on the connection's worker
    thread, which runs it as soon as the statement returns (moments later). Nothing here
    waits: the event loop never blocks on a busy worker.
    """
    aio = getattr(dbapi_connection, "driver_connection", None)
    raw: sqlite3.Connection | None = getattr(aio, "_connection", None)
    if aio is None or raw is None or not getattr(aio, "_running", False):
        return

    def rollback() -> None:
        if raw.in_transaction:
            raw.execute("ROLLBACK")

    raw.interrupt()
    # aiosqlite's worker queue (the one behind its private ``_execute``): a job with no
    # future, run after the interrupted statement returns.
    aio._tx.put_nowait((None, rollback))


def _end_untracked_transaction(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    """Roll back a transaction SQLAlchemy does not know of (pool "reset" event, asyncpg).

    SQLAlchemy's asyncpg adapter records its transaction only once BEGIN has returned.
    A task cancelled while BEGIN was on the wire (a notebook interrupt, ``wait_for``)
    left asyncpg's record of that transaction behind, and often the server inside it, so
    reset-on-return rolled back nothing. The next borrower's BEGIN then became a
    SAVEPOINT inside the stale transaction and its "commit" a RELEASE: its writes were
    never durable, and other connections never saw them. Found by
    ``test_cancel_many_tasks_sharing_the_pool``; proved by ``test_cancelled_begin``.
    """
    adapter = dbapi_connection
    driver = getattr(adapter, "driver_connection", None)
    if driver is None or not state.asyncio_safe or getattr(adapter, "_transaction", None):
        return  # nothing to do, or SQLAlchemy's own rollback ends the transaction
    if driver.is_closed():
        return  # lost or closed: the server has ended its transaction
    # Private to asyncpg (0.18-0.32): the outermost transaction block it believes open.
    if getattr(driver, "_top_xact", None) is None and not driver.is_in_transaction():
        return
    driver._top_xact = None
    # Waits for the interrupted BEGIN to finish first; harmless if it never ran.
    await_only(driver.execute("ROLLBACK"))


event.listen(Mapper, "load", _aware_on_sqlite)
event.listen(Mapper, "refresh", _aware_on_sqlite)


def _tables(models: Models) -> tuple[MetaData, list[Any] | None]:
    if models is None:
        return SQLModel.metadata, None
    if isinstance(models, MetaData):
        return models, None
    if isinstance(models, type):
        models = [models]
    tables = [m.__table__ for m in models]  # type: ignore[attr-defined]
    if not tables:
        return SQLModel.metadata, []
    return tables[0].metadata, tables


def connect(
    url: str | URL | Path | None = None,
    *,
    echo: bool = False,
    pool_size: int = 5,
    max_overflow: int = 10,
    **engine_kwargs: Any,
) -> Database:
    """Connect to a database; with no argument, the embedded SQLite file ``toolkit.db``.

    Nothing is opened until the first query, so ``connect`` itself never blocks.

    Parameters
    ----------
    url : str, URL, Path or None
        See :func:`resolve_url`. ``$TOOLKIT_DATABASE_URL`` wins over the default when
        no URL is given.
    echo : bool
        Log every statement (SQLAlchemy's ``echo``).
    pool_size, max_overflow : int
        PostgreSQL pool sizing (pre-ping is always on). SQLite files use SQLAlchemy's
        default pool; ``:memory:`` a single shared connection.
    **engine_kwargs
        Passed to ``create_async_engine``.

    Returns
    -------
    Database

    Raises
    ------
    ConfigurationError
        The URL cannot be used, or a SQLite file's folder does not exist.

    Examples
    --------
    >>> import toolkit as tk
    >>> db = tk.connect(":memory:")
    >>> db.dialect
    'sqlite'
    """
    resolved = resolve_url(url)
    if resolved.get_backend_name() == "sqlite":
        _check_folder(resolved)
    return Database(
        resolved,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        **engine_kwargs,
    )
