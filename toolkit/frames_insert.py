"""insert_frame: validate a DataFrame against a table and write it, all or nothing.

The table is a SQLModel class, a SQLAlchemy ``Table`` or a name (reflected, or made from
the frame: :mod:`toolkit.frames_tables`); an upsert frame that lacks NOT NULL columns is
completed from the stored rows first (:mod:`toolkit.frames_upsert`).

Validation runs first, on whole columns, on a worker thread; the rows then go in through
the dialect driver's bulk path (see :mod:`toolkit.drivers`) inside one transaction, or a
savepoint of the caller's (see :mod:`toolkit.frames_connection`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from .drivers import WriteTarget
from .errors import ConfigurationError
from .frames_connection import (
    Source,
    announce,
    driver_errors,
    driver_of,
    finished,
    owns_transaction,
    write_connection,
)
from .frames_tables import ensure_table, resolve_table
from .frames_upsert import complete_upsert
from .progress import progress_bar
from .transactions import retry_conflicts
from .validation import conflict_key, unique_keys, validate_frame

__all__ = [
    "DEFAULT_WRITE_CHUNK",
    "PROGRESS_MIN_ROWS",
    "OnConflict",
    "insert_frame",
    "write_target",
]

OnConflict = Literal["error", "ignore", "update"]
#: Rows per COPY / executemany batch when the caller does not say.
DEFAULT_WRITE_CHUNK = 100_000
#: Frames with at least this many rows get a progress bar when a person is watching.
PROGRESS_MIN_ROWS = 100_000


def write_target(
    table: Table,
    name: str,
    dialect: Dialect,
    columns: Sequence[str],
    given: Sequence[str],
    explicit_serial: str | None,
    on_conflict: str,
) -> WriteTarget:
    """Where a bulk write of ``columns`` into ``table`` goes, and the key an upsert
    matches on (the one rule of :func:`toolkit.validation.conflict_key`).

    ``given`` are the caller's columns, not ones filled from defaults: a key made up by
    a default would match no stored row, and an upsert overwrites only what was given.
    """
    prep = dialect.identifier_preparer
    key = conflict_key(table, given)
    if on_conflict == "update" and not key:
        keys = " or ".join(f"({', '.join(k)})" for k in unique_keys(table)) or "none"
        raise ConfigurationError(
            f"on_conflict='update' needs the frame to hold a key of {name} to match rows "
            f"on: its primary key or a unique key (keys: {keys}). Add those columns to "
            "the frame."
        )
    return WriteTarget(
        table=prep.format_table(table),
        name=table.name,
        schema=table.schema,
        columns=tuple(columns),
        quoted_columns=tuple(prep.quote(c) for c in columns),
        conflict_columns=tuple(prep.quote(k) for k in key),
        serial_column=prep.quote(explicit_serial) if explicit_serial else None,
        update_columns=tuple(prep.quote(c) for c in columns if c in given),
    )


async def insert_frame(
    target: Source,
    model: type[Any] | Table | str,
    frame: pd.DataFrame,
    *,
    on_conflict: OnConflict = "error",
    create: bool = False,
    primary_key: str | Sequence[str] | None = None,
    dtypes: Mapping[str, Any] | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
) -> int:
    """Validate a DataFrame against a table and insert it, all or nothing.

    Every cell is checked first (types, NULLs, lengths, ranges, a model's own
    validators, keys repeated inside the frame); any failure raises with the full list
    and writes nothing. Rows then go in through the dialect's bulk path (PostgreSQL
    COPY; SQLite batched ``executemany``) inside one transaction.

    Parameters
    ----------
    target : Database, AsyncEngine, AsyncConnection or AsyncSession
    model : SQLModel table class, sqlalchemy.Table, or a table's name
        A name (``"orders"``, ``"sales.orders"``; double quotes around a part that
        holds a dot) is reflected from the database and the frame is checked against
        its column types, as for a model.
    frame : pandas.DataFrame
        Columns named as the table's columns (a model's fields too); missing columns
        take the defaults. A label that is not a string (``0``) names the column
        ``str(label)``, as in pandas' ``to_sql``. The index is not written
        (``frame.reset_index()`` makes it columns).
    on_conflict : {"error", "ignore", "update"}
        What to do with rows whose key already exists: raise ``DuplicateError`` and
        write nothing; skip them (a collision on any unique key skips the row); or
        overwrite them (upsert on the first key the frame holds: the primary key, else
        a unique key, composite ones included). An upsert frame may hold only the key
        and the columns to change: a stored row keeps the columns the frame lacks,
        and a new row needs every NOT NULL column without a default.
    create : bool
        Make the table when it does not exist: a name's from the frame's dtypes (the
        README's "Tables without a model"), a model's or a ``Table``'s from its own
        definition; an existing table just gets the rows. A call that writes nothing
        leaves no table behind.
    primary_key : str or list of str, optional
        With ``create=True``: the new table's primary key (frame columns).
    dtypes : mapping of column name to a SQLAlchemy type, optional
        With ``create=True``: the type of those columns in the new table, in place of
        the one their dtype gives (needed for an ``object`` column of mixed values).
    chunk_size : int, optional
        Rows per batch (default 100,000); the progress bar moves per batch. PostgreSQL
        sends every row in one COPY, in pieces of at most 20,000 rows whose CSV is
        rendered while the server parses the previous piece.
    progress : bool, optional
        Show a tqdm progress bar. Default: when the frame has 100,000 rows or more and
        a person is watching (a notebook or a terminal, never under CI).

    Returns
    -------
    int
        Rows written. With ``on_conflict="ignore"``, ``len(frame) - n`` were skipped.

    Raises
    ------
    FrameValidationError
        ``.errors`` lists every bad cell (and, for an upsert, every new row that lacks
        a NOT NULL column); nothing was written.
    ConfigurationError
        The table does not exist (pass ``create=True``), a column's type cannot be
        told from its values (pass ``dtypes=``), or an upsert frame holds no key.
    DuplicateError, ForeignKeyError, NotNullError
        The database refused the rows; nothing was written.
    TransactionConflictError
        A deadlock or serialization failure with concurrent writers; nothing was
        written. When the call is its own transaction it is first retried (5 attempts);
        inside the caller's transaction (or a session holding other work), roll that
        back and run it again.
    DatabaseUnavailableError
        The connection was lost; nothing was written.

    Notes
    -----
    Concurrent calls never deadlock each other: staged rows are merged in key order, and
    on PostgreSQL ``on_conflict="update"`` merges into one table take turns (an advisory
    lock, held to the end of the transaction: inside a long transaction of yours, other
    upserts into that table wait for it). The COPY before the merge runs side by side.

    Examples
    --------
    >>> n = await tk.insert_frame(db, User, pd.read_csv("data/users.csv"))
    >>> n = await tk.insert_frame(db, User, df, on_conflict="update")
    >>> n = await tk.insert_frame(db, "sales.orders", df, create=True, primary_key="id")
    """
    if on_conflict not in ("error", "ignore", "update"):
        raise ConfigurationError(
            f"on_conflict must be 'error', 'ignore' or 'update', not {on_conflict!r}."
        )
    if not isinstance(frame, pd.DataFrame):
        raise ConfigurationError(
            f"insert_frame takes a pandas DataFrame, not {type(frame).__name__}."
        )
    resolved = await resolve_table(
        target, model, frame, create=create, primary_key=primary_key, dtypes=dtypes
    )
    name = resolved.name
    # Validation is CPU work on whole columns (most of it in pandas and Arrow, outside
    # the GIL): on a worker thread, the event loop's other tasks keep running.
    validated = await asyncio.to_thread(
        validate_frame, resolved.target, frame, on_conflict=on_conflict
    )
    if validated.table.num_rows == 0 and not resolved.create:
        return 0
    chunk = chunk_size or DEFAULT_WRITE_CHUNK
    rows = validated.table.num_rows
    bar = progress_bar(rows, desc=f"insert {name}", show=progress, min_rows=PROGRESS_MIN_ROWS)

    async def attempt() -> int:
        bar.reset(total=rows)
        with driver_errors(resolved.target if resolved.target is not resolved.table else name):
            async with write_connection(target) as conn:
                if not resolved.known or resolved.create:
                    # In a savepoint with the rows: a failed write leaves no table.
                    async with conn.begin_nested():
                        await ensure_table(conn, resolved)
                        return await write(conn)
                return await write(conn)

    async def write(conn: AsyncConnection) -> int:
        complete = validated
        if on_conflict == "update":
            key = conflict_key(resolved.table, validated.given)
            complete = await complete_upsert(conn, resolved.table, name, validated, key)
        into = write_target(
            resolved.table,
            name,
            conn.dialect,
            complete.table.column_names,
            complete.given,
            complete.explicit_serial,
            on_conflict,
        )
        if complete.table.num_rows == 0:
            return 0
        driver, driver_conn = await driver_of(conn)
        summary = f"INSERT INTO {into.table} [toolkit insert_frame, {rows} rows]"
        announce(conn, summary, ())
        written: int = await driver.write(
            driver_conn,
            into,
            complete.table,
            on_conflict=on_conflict,
            chunk_size=chunk,
            progress=bar,
        )
        finished(conn, summary, ())
        return written

    try:
        # A deadlock or serialization failure has rolled back the whole write: when the
        # write is its own transaction, run it again; inside the caller's it is theirs.
        if not owns_transaction(target):
            return await attempt()
        # Deadlocks and serialization failures only: SQLite's busy timeout already waited.
        return await retry_conflicts(attempt, busy=False)
    finally:
        bar.close()
