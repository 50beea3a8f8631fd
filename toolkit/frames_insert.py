"""insert_frame: validate a DataFrame against a table model and write it, all or nothing.

Validation runs first, on whole columns, on a worker thread; the rows then go in through
the dialect driver's bulk path (see :mod:`toolkit.drivers`) inside one transaction, or a
savepoint of the caller's (see :mod:`toolkit.frames_connection`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd
from sqlalchemy.engine import Dialect

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
from .progress import progress_bar
from .transactions import retry_conflicts
from .validation import validate_frame

__all__ = ["DEFAULT_WRITE_CHUNK", "PROGRESS_MIN_ROWS", "OnConflict", "insert_frame"]

OnConflict = Literal["error", "ignore", "update"]
#: Rows per COPY / executemany batch when the caller does not say.
DEFAULT_WRITE_CHUNK = 100_000
#: Frames with at least this many rows get a progress bar when a person is watching.
PROGRESS_MIN_ROWS = 100_000


def _target(
    model: type[Any],
    columns: Sequence[str],
    dialect: Dialect,
    explicit_serial: str | None,
    on_conflict: str,
    given: Sequence[str],
) -> WriteTarget:
    table = model.__table__
    prep = dialect.identifier_preparer
    quoted = tuple(prep.quote(c) for c in columns)
    conflict: tuple[str, ...] = ()
    pk = tuple(c.name for c in table.primary_key.columns)
    keys = [pk] + [(c.name,) for c in table.columns if c.unique]
    keys += [tuple(c.name for c in ix.columns) for ix in table.indexes if ix.unique]
    for key in keys:
        if key and all(k in columns for k in key):
            conflict = tuple(prep.quote(k) for k in key)
            break
    if on_conflict == "update" and not conflict:
        raise ConfigurationError(
            f"on_conflict='update' needs the frame to hold a key of {model.__name__} "
            f"(primary key {', '.join(pk)} or a unique column) to match rows on."
        )
    return WriteTarget(
        table=prep.format_table(table),
        name=table.name,
        schema=table.schema,
        columns=tuple(columns),
        quoted_columns=quoted,
        conflict_columns=conflict,
        serial_column=prep.quote(explicit_serial) if explicit_serial else None,
        update_columns=tuple(prep.quote(c) for c in columns if c in given),
    )


async def insert_frame(
    target: Source,
    model: type[Any],
    frame: pd.DataFrame,
    *,
    on_conflict: OnConflict = "error",
    chunk_size: int | None = None,
    progress: bool | None = None,
) -> int:
    """Validate a DataFrame against a table model and insert it, all or nothing.

    Every cell is checked first (types, NULLs, lengths, ranges, the model's own
    validators, keys repeated inside the frame); any failure raises with the full list
    and writes nothing. Rows then go in through the dialect's bulk path (PostgreSQL
    COPY; SQLite batched ``executemany``) inside one transaction.

    Parameters
    ----------
    target : Database, AsyncEngine, AsyncConnection or AsyncSession
    model : SQLModel table class
    frame : pandas.DataFrame
        Columns named as the model's fields; missing columns take the model's defaults.
    on_conflict : {"error", "ignore", "update"}
        What to do with rows whose key already exists: raise ``DuplicateError`` and
        write nothing; skip them (a collision on any unique key skips the row); or
        overwrite them (upsert on the primary key, or a unique key, held by the frame).
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
        ``.errors`` lists every bad cell; nothing was written.
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
    """
    if on_conflict not in ("error", "ignore", "update"):
        raise ConfigurationError(
            f"on_conflict must be 'error', 'ignore' or 'update', not {on_conflict!r}."
        )
    if not isinstance(frame, pd.DataFrame):
        raise ConfigurationError(
            f"insert_frame takes a pandas DataFrame, not {type(frame).__name__}."
        )
    # Validation is CPU work on whole columns (most of it in pandas and Arrow, outside
    # the GIL): on a worker thread, the event loop's other tasks keep running.
    validated = await asyncio.to_thread(validate_frame, model, frame)
    if validated.table.num_rows == 0:
        return 0
    chunk = chunk_size or DEFAULT_WRITE_CHUNK
    rows = validated.table.num_rows
    bar = progress_bar(
        rows, desc=f"insert {model.__name__}", show=progress, min_rows=PROGRESS_MIN_ROWS
    )

    async def attempt() -> int:
        bar.reset(total=rows)
        with driver_errors(model):
            async with write_connection(target) as conn:
                write_target = _target(
                    model,
                    validated.table.column_names,
                    conn.dialect,
                    validated.explicit_serial,
                    on_conflict,
                    validated.given,
                )
                driver, driver_conn = await driver_of(conn)
                summary = f"INSERT INTO {write_target.table} [toolkit insert_frame, {rows} rows]"
                announce(conn, summary, ())
                written: int = await driver.write(
                    driver_conn,
                    write_target,
                    validated.table,
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
