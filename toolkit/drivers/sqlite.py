"""SQLite fast paths through aiosqlite's worker thread.

aiosqlite runs every call of a connection on one worker thread. The toolkit hands that
thread whole jobs (fetch every row *and* transpose them into columns; or run one
``executemany`` over a batch) rather than one call per row, so the event loop stays
free while SQLite works and no SQLAlchemy ``Row`` is ever built.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import aiosqlite
import pandas as pd
import pyarrow as pa

from ..dtypes import (
    ColumnSpec,
    chunks_to_frame,
    column_arrays,
    infer_specs,
    values_to_frame,
)
from . import WriteTarget

__all__ = ["advance_sequence", "read", "stream", "write"]

T = TypeVar("T")
#: While a cancelled job runs on, interrupt it again this often.
_INTERRUPT_EVERY_SECONDS = 0.02
#: Rows fetched and converted to Arrow at a time, by read_frame and by each chunk of a
#: stream: few enough that their Python objects stay in the CPU's caches.
_FETCH_ROWS = 5_000

# Private to pandas (read_sql uses it), stable for years; zip() is the fallback.
_to_object_array: Callable[[list[tuple[Any, ...]]], Any] | None = getattr(
    importlib.import_module("pandas._libs.lib"), "to_object_array_tuples", None
)


async def _in_thread(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn(sqlite3_connection)`` on the connection's own worker thread.

    Cancelling the caller interrupts the job's statements (``sqlite3.interrupt()``, made
    to be called from another thread) until the job returns, then lets the cancellation
    go on: a notebook interrupt ends a long query within moments and leaves the
    connection idle. (SQLite sees an interrupt only while a statement runs, hence the
    repeats; a batch of one-row INSERTs may still finish its batch first.)
    """
    # aiosqlite's private hook, stable since 0.17: the one way to run a whole job on
    # the thread that owns the sqlite3 connection.
    execute: Any = conn._execute
    raw = conn._conn
    job: asyncio.Future[T] = asyncio.ensure_future(execute(fn, raw))
    # An interrupted job's error is the expected outcome of a cancel: retrieve it even
    # if the caller is cancelled again while waiting below.
    job.add_done_callback(lambda done: done.cancelled() or done.exception())
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        while not job.done():
            raw.interrupt()
            await asyncio.wait({job}, timeout=_INTERRUPT_EVERY_SECONDS)
        raise


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[Sequence[Any]]:
    """Rows to columns (object arrays): the transposition costs more than the fetch."""
    if not rows:
        return [() for _ in range(width)]
    if _to_object_array is not None:
        # pandas' own C routine for exactly this (read_sql uses it); an object array
        # also converts to Arrow several times faster than a tuple.
        table = _to_object_array(rows)
        return [table[:, i] for i in range(width)]
    return list(zip(*rows, strict=True))


def _fetch_converted(
    cursor: sqlite3.Cursor, specs: Sequence[ColumnSpec], limit: int | None
) -> tuple[int, list[list[pa.Array | list[Any]]]]:
    """Fetch up to ``limit`` rows (all if None), converting every ``_FETCH_ROWS`` of them
    to Arrow as they come; returns the rows fetched and the converted parts."""
    fetched, parts = 0, []
    while limit is None or fetched < limit:
        rows = cursor.fetchmany(_FETCH_ROWS if limit is None else min(limit - fetched, _FETCH_ROWS))
        if not rows:
            break
        fetched += len(rows)
        parts.append(column_arrays(specs, _columns(rows, len(specs))))
    return fetched, parts


def _untyped(
    cursor: sqlite3.Cursor, rows: list[tuple[Any, ...]]
) -> tuple[list[ColumnSpec], list[Sequence[Any]]]:
    """Untyped SQL: the specs of ``cursor``'s columns, inferred from ``rows``, and the
    rows as columns."""
    names = [d[0] for d in cursor.description or ()]
    columns = _columns(rows, len(names))
    return infer_specs(names, columns), columns


async def read(
    conn: aiosqlite.Connection, sql: str, args: Sequence[Any], specs: Sequence[ColumnSpec] | None
) -> pd.DataFrame:
    """Read a whole result as a typed frame.

    With the column types known, rows are fetched and converted a few thousand at a time
    on aiosqlite's thread (faster than converting them all at the end: the Python
    objects of a few thousand rows are still in the CPU's caches). Untyped SQL reads
    every row first: its types are inferred from all the values, not from the first ones.
    """
    if specs is None:

        def fetch_all(raw: sqlite3.Connection) -> tuple[list[ColumnSpec], list[Sequence[Any]]]:
            cursor = raw.execute(sql, tuple(args))
            try:
                return _untyped(cursor, cursor.fetchall())
            finally:
                cursor.close()

        return values_to_frame(*await _in_thread(conn, fetch_all))

    typed = specs

    def fetch(raw: sqlite3.Connection) -> list[list[pa.Array | list[Any]]]:
        cursor = raw.execute(sql, tuple(args))
        try:
            return _fetch_converted(cursor, typed, None)[1]
        finally:
            cursor.close()

    return chunks_to_frame(typed, await _in_thread(conn, fetch))


async def stream(
    conn: aiosqlite.Connection,
    sql: str,
    args: Sequence[Any],
    specs: Sequence[ColumnSpec] | None,
    chunk_size: int,
) -> AsyncIterator[pd.DataFrame]:
    """Yield frames of exactly ``chunk_size`` rows from one SQLite cursor.

    Each chunk is fetched and converted ``_FETCH_ROWS`` rows at a time on aiosqlite's
    thread, so only that many rows are ever alive as Python objects, whatever the chunk
    size. Untyped SQL takes its column types from the first chunk (fetched whole) and
    keeps them.
    """
    cursor = await _in_thread(conn, lambda raw: raw.execute(sql, tuple(args)))
    try:
        first = True  # an empty result still yields one (empty, typed) frame
        if specs is None:
            rows = await _in_thread(conn, lambda _raw: cursor.fetchmany(chunk_size))
            specs, columns = _untyped(cursor, rows)
            yield values_to_frame(specs, columns)
            if len(rows) < chunk_size:
                return
            first = False
        typed = specs
        while True:
            fetched, parts = await _in_thread(
                conn, lambda _raw: _fetch_converted(cursor, typed, chunk_size)
            )
            if fetched or first:
                yield chunks_to_frame(typed, parts)
            if fetched < chunk_size:
                break
            first = False
    finally:
        await _in_thread(conn, lambda _raw: cursor.close())


def _sqlite_values(column: pa.ChunkedArray) -> list[Any]:
    """Python values as SQLAlchemy's SQLite types store them."""
    t = column.type
    if pa.types.is_timestamp(t):
        # SQLAlchemy's SQLite DATETIME format ("2024-01-01 12:00:00.000000"); aware
        # values are stored as UTC. A cast renders it ten times faster than strftime.
        column = column.cast(pa.timestamp("us")).cast(pa.string())
    elif pa.types.is_date(t):
        column = column.cast(pa.string())
    elif pa.types.is_decimal(t):
        column = column.cast(pa.float64())
    values: list[Any] = column.to_pylist()
    return values


def _undo_insert(raw: sqlite3.Connection) -> None:
    """Roll back to the insert's SAVEPOINT, unless the transaction is already gone (an
    interrupted write rolls back the whole transaction): the original error stays the
    one raised."""
    with contextlib.suppress(sqlite3.OperationalError):
        raw.execute("ROLLBACK TO toolkit_insert_frame")
        raw.execute("RELEASE toolkit_insert_frame")


async def write(
    conn: aiosqlite.Connection,
    target: WriteTarget,
    table: pa.Table,
    *,
    on_conflict: str,
    chunk_size: int,
    progress: Any,
) -> int:
    """Insert a validated table with ``executemany`` per batch, inside one SAVEPOINT."""
    cols = ", ".join(target.quoted_columns)
    marks = ", ".join("?" for _ in target.quoted_columns)
    sql = f"INSERT INTO {target.table} ({cols}) VALUES ({marks})"
    sql += target.conflict_clause(on_conflict)

    def batch(raw: sqlite3.Connection, *, part: pa.Table) -> int:
        columns = [_sqlite_values(part.column(i)) for i in range(part.num_columns)]
        cursor = raw.executemany(sql, zip(*columns, strict=True))
        count = cursor.rowcount
        cursor.close()
        return count

    await _in_thread(conn, lambda raw: raw.execute("SAVEPOINT toolkit_insert_frame"))
    written = 0
    try:
        for start in range(0, table.num_rows, chunk_size):
            part = table.slice(start, chunk_size)
            written += await _in_thread(conn, functools.partial(batch, part=part))
            progress.update(part.num_rows)
    except BaseException:
        await _in_thread(conn, _undo_insert)
        raise
    await _in_thread(conn, lambda raw: raw.execute("RELEASE toolkit_insert_frame"))
    return written


async def advance_sequence(conn: Any, table: str, column: str) -> None:
    """Nothing to do: SQLite gives a new row ``MAX(rowid) + 1``, past explicit ids."""
