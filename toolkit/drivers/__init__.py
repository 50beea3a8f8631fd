"""The per-dialect half of the toolkit, behind one typed interface: :class:`Driver`.

Each dialect is one module (``toolkit.drivers.sqlite``, ``toolkit.drivers.postgresql``)
that implements :class:`Driver` at module level; mypy checks both modules against it.
Callers ask for a dialect's module with :func:`driver_for` (``driver_for(db.dialect)``)
and never branch on the dialect's name. A module is imported only when its dialect is
first used.

What a driver does:

* engine set-up: the ``AsyncEngine`` for a URL, with the dialect's corrections
  (``create_engine``);
* transactions: make the driver connection really be inside SQLAlchemy's transaction
  before work is sent straight to it (``join_transaction``); what to do with a
  connection a stream left halfway (``abandon``);
* statements: ``rewrite_statement`` before SQLAlchemy compiles one for the driver;
* frames, on the *driver* connection (``asyncpg.Connection`` or
  ``aiosqlite.Connection``) beneath SQLAlchemy's pooled one, so that no SQLAlchemy
  ``Row`` is built: ``describe``, ``read``, ``stream``, ``write``;
* CRUD: ``lock_key`` (make concurrent ``get_or_create`` calls for one key take turns)
  and ``insert_returning`` (bulk INSERT ... RETURNING, results in input order).

Private APIs of other libraries live in :mod:`toolkit.drivers.compat`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

__all__ = ["READ_ONLY_OPTION", "Driver", "EngineSetup", "WriteTarget", "driver_for"]

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from sqlalchemy.engine import URL, Dialect
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
    from sqlmodel.ext.asyncio.session import AsyncSession

    from ..dtypes import ColumnSpec

#: Execution option that marks a connection's transactions as read-only (SQLite uses a
#: deferred BEGIN for them so they do not take the write lock).
READ_ONLY_OPTION = "toolkit_read_only"

M = TypeVar("M")
S = TypeVar("S")


@dataclass(frozen=True)
class WriteTarget:
    """Where ``insert_frame`` writes: quoted names and the conflict key.

    Attributes
    ----------
    table : str
        The quoted, schema-qualified table name.
    name, schema : str, str | None
        Unquoted, for drivers that take them apart (asyncpg's COPY).
    columns : tuple[str, ...]
        The columns being written, unquoted, in the Arrow table's order.
    quoted_columns : tuple[str, ...]
    conflict_columns : tuple[str, ...]
        Quoted columns of the key ``on_conflict="update"`` acts on (primary key or a
        unique key fully present in the frame), and the order staged rows are written
        in; empty when there is none.
    serial_column : str | None
        An auto-incrementing integer primary key given explicitly in the frame, quoted.
        A driver whose sequences do not follow explicit values (PostgreSQL) moves the
        sequence past them; others ignore it.
    update_columns : tuple[str, ...]
        Quoted columns an upsert overwrites: those the caller's frame holds, never the
        ones filled from defaults (an upsert must not reset what the frame left out).
    """

    table: str
    name: str
    schema: str | None
    columns: tuple[str, ...]
    quoted_columns: tuple[str, ...]
    conflict_columns: tuple[str, ...]
    serial_column: str | None = None
    update_columns: tuple[str, ...] = ()

    def conflict_clause(self, on_conflict: str, *, excluded: str = "excluded") -> str:
        """The ``ON CONFLICT ...`` clause for ``on_conflict`` ("" for "error").

        PostgreSQL and SQLite (3.24+) share the upsert syntax.
        """
        if on_conflict == "error":
            return ""
        if on_conflict == "ignore":
            # No conflict target: a row that collides with a stored one on *any* unique
            # key is skipped. With a target, a collision on another key (or a concurrent
            # insert of the same row reaching that key's index first) is an error.
            return " ON CONFLICT DO NOTHING"
        target = f"({', '.join(self.conflict_columns)})" if self.conflict_columns else ""
        updates = [c for c in self.update_columns if c not in self.conflict_columns]
        # With every column in the key, rewriting a key column keeps the row as it is.
        sets = ", ".join(f"{c} = {excluded}.{c}" for c in updates or self.conflict_columns[:1])
        return f" ON CONFLICT {target} DO UPDATE SET {sets}"


@dataclass(frozen=True)
class EngineSetup:
    """What :meth:`Driver.create_engine` returns.

    Attributes
    ----------
    engine : AsyncEngine
        Set up for the dialect (listeners, pool, connection arguments).
    url : URL
        The URL the engine connects to (may differ from the caller's: SQLite's
        ``:memory:`` becomes a named shared-cache URI, libpq options become asyncpg's).
    close : callable, optional
        Run after the engine is disposed of (SQLite ``:memory:``: close the connection
        that keeps the database alive).
    """

    engine: AsyncEngine
    url: URL
    close: Callable[[], None] | None = field(default=None)


class Driver(Protocol):
    """The interface every dialect module implements (at module level)."""

    #: True when the database reports no result types for SQL text, so a read infers
    #: them from the values (SQLite); False when ``describe`` asks the server.
    INFERS_RESULT_TYPES: bool

    def create_engine(
        self,
        url: URL,
        *,
        echo: bool,
        pool_size: int,
        max_overflow: int,
        engine_kwargs: Mapping[str, Any],
    ) -> EngineSetup:
        """An ``AsyncEngine`` for ``url`` with the dialect's corrections applied.

        Raises ``ConfigurationError`` for a URL the dialect cannot use as given.
        """
        ...

    async def join_transaction(self, conn: AsyncConnection) -> None:
        """Make ``conn``'s driver connection really be inside its SQLAlchemy transaction
        (if it is in one), before work is sent straight to the driver."""
        ...

    async def abandon(self, conn: AsyncConnection) -> None:
        """Make ``conn`` safe to return to the pool after a stream was left halfway."""
        ...

    def rewrite_statement(self, statement: S, dialect: Dialect) -> S:
        """``statement`` rewritten where the dialect needs another form before compiling
        (a list of values of any length in one parameter)."""
        ...

    async def describe(self, conn: Any, sql: str) -> list[ColumnSpec] | None:
        """Column specs of a SQL string's result, or None when only running it tells."""
        ...

    async def read(
        self, conn: Any, sql: str, args: Sequence[Any], specs: Sequence[ColumnSpec] | None
    ) -> pd.DataFrame:
        """The whole result as a typed frame; ``specs`` None means infer them."""
        ...

    def stream(
        self,
        conn: Any,
        sql: str,
        args: Sequence[Any],
        specs: Sequence[ColumnSpec] | None,
        chunk_size: int,
    ) -> AsyncIterator[pd.DataFrame]:
        """Frames of exactly ``chunk_size`` rows (the last may be shorter)."""
        ...

    async def write(
        self,
        conn: Any,
        target: WriteTarget,
        table: pa.Table,
        *,
        on_conflict: str,
        chunk_size: int,
        progress: Any,
    ) -> int:
        """Insert an Arrow table of validated values, all or nothing; the rows written."""
        ...

    async def advance_sequence(self, conn: Any, table: str, column: str) -> None:
        """Move the id sequence of ``table.column`` (quoted names) past the largest
        stored id, after explicit ids were written; a no-op where ids need no sequence."""
        ...

    async def lock_key(self, session: AsyncSession, key: int) -> None:
        """Hold a lock on ``key`` to the end of the session's transaction, so that
        concurrent callers for one key take turns."""
        ...

    async def insert_returning(
        self,
        session: AsyncSession,
        model: type[M],
        rows: list[dict[str, Any]],
        *,
        key: str | None,
    ) -> list[M]:
        """INSERT ``rows`` into ``model``'s table and return the new objects in the
        order of ``rows``. ``key`` is the single-column primary key (None when the key
        is composite); a row without it gets a generated one."""
        ...


def driver_for(dialect: str) -> Driver:
    """The driver module of ``dialect`` (``"sqlite"`` or ``"postgresql"``), imported now.

    Raises
    ------
    ConfigurationError
        No driver exists for ``dialect``.
    """
    if dialect not in ("sqlite", "postgresql"):
        from ..errors import ConfigurationError

        raise ConfigurationError(
            f"The toolkit has no driver for the {dialect!r} dialect; it works with "
            "SQLite and PostgreSQL."
        )
    return cast("Driver", importlib.import_module(f"toolkit.drivers.{dialect}"))


if TYPE_CHECKING:
    # mypy checks each dialect module against the interface here.
    from . import postgresql as _postgresql
    from . import sqlite as _sqlite

    _checked: tuple[Driver, Driver] = (_sqlite, _postgresql)
