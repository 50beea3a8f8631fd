"""connect() and Database: URL resolution, sessions, schema, lifecycle; dialect-neutral.

What differs per dialect (engine set-up, SQLite's transaction corrections, PostgreSQL's
connection options) lives in the dialect's driver (:mod:`toolkit.drivers`).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from sqlalchemy import MetaData, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from .drivers import READ_ONLY_OPTION, driver_for
from .errors import ConfigurationError
from .loading import guarded_session_class
from .translation import connection_errors, translate_integrity_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_URL", "ENV_VAR", "READ_ONLY_OPTION", "Database", "connect", "resolve_url"]

ENV_VAR = "TOOLKIT_DATABASE_URL"
DEFAULT_URL = "sqlite+aiosqlite:///toolkit.db"

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
        setup = driver_for(self.dialect).create_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            engine_kwargs=engine_kwargs,
        )
        self.engine = setup.engine
        self._close: Callable[[], None] | None = setup.close
        self._sessionmaker = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            expire_on_commit=False,
            # Lazy loads asyncio cannot run: a clean error, before the pool is touched.
            sync_session_class=guarded_session_class(),
        )

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

        Raises
        ------
        ConfigurationError
            There is no table to create: no table model has been imported yet (or
            ``models`` is empty).
        """
        metadata, tables = _tables(models)
        if not (metadata.tables if tables is None else tables):
            raise ConfigurationError(
                "create_all() found no table to create: no table model (a SQLModel class "
                "with table=True) has been imported in this process yet. Import the "
                "modules that define your models first (for the demo: `from toolkit.demo "
                "import User, Team`), or pass them: `await db.create_all([User, Team])`."
            )
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all, tables=tables)

    async def drop_all(self, models: Models = None) -> None:
        """Drop the tables of ``models`` (default: every SQLModel table) if present."""
        metadata, tables = _tables(models)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all, tables=tables)

    # -- frames -----------------------------------------------------------------------

    async def frame(
        self,
        query: Any,
        *,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> pd.DataFrame:
        """Run ``query`` and return a DataFrame; see :func:`toolkit.read_frame`."""
        from .frames import read_frame

        return await read_frame(self, query, params=params, **kwargs)

    # -- lifecycle --------------------------------------------------------------------

    async def dispose(self) -> None:
        """Close every pooled connection (and, for ``:memory:``, the database itself)."""
        await self.engine.dispose()
        if self._close is not None:
            self._close()
            self._close = None

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
    Inside a running IPython (a notebook), the first call also shows uncaught toolkit
    errors as short tracebacks (see :mod:`toolkit.tracebacks`), and the new database
    becomes ``%%sql``'s default.

    Parameters
    ----------
    url : str, URL, Path or None
        See :func:`resolve_url`. ``$TOOLKIT_DATABASE_URL`` wins over the default when
        no URL is given. A PostgreSQL URL may carry libpq's options (``sslmode``,
        ``sslrootcert``, ``application_name``, ``connect_timeout``, ``options=-c ...``,
        ``target_session_attrs``...), as hosted services hand them out; they are given
        to asyncpg where it takes them (see :mod:`toolkit.drivers.postgresql_url`).
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
        The URL cannot be used (an option asyncpg has no equivalent for is named), or
        a SQLite file's folder does not exist.

    Examples
    --------
    >>> import toolkit as tk
    >>> db = tk.connect(":memory:")
    >>> db.dialect
    'sqlite'
    """
    from .tracebacks import install_in_running_shell

    install_in_running_shell()  # inside IPython: short tracebacks, also for a bad URL
    resolved = resolve_url(url)
    db = Database(
        resolved,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        **engine_kwargs,
    )
    connected(db)  # %%sql's default database
    return db


_last_connected: weakref.ref[Database] | None = None


def connected(db: Database) -> None:
    """Note ``db`` as the database connected last (``%%sql``'s default).

    Called by :func:`toolkit.connect`; only a weak reference is kept.
    """
    global _last_connected
    _last_connected = weakref.ref(db)


def last_connected() -> Database | None:
    """The database :func:`toolkit.connect` returned last, while it is still referenced."""
    return _last_connected() if _last_connected is not None else None
