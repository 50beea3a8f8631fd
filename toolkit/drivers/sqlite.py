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
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import aiosqlite
import pandas as pd
import pyarrow as pa

from ..types.arrow import chunks_to_frame, values_to_frame
from ..types.decode import column_arrays, decode
from ..types.encode import sqlite_values
from ..types.registry import arrow_type
from ..types.spec import ColumnSpec, Kind, infer_specs
from . import WriteTarget, compat
from .sqlite_engine import abandon as abandon
from .sqlite_engine import create_engine as create_engine
from .sqlite_engine import insert_returning as insert_returning
from .sqlite_engine import join_transaction as join_transaction
from .sqlite_engine import lock_key as lock_key
from .sqlite_engine import rewrite_statement as rewrite_statement

__all__ = [
    "INFERS_RESULT_TYPES",
    "abandon",
    "advance_sequence",
    "create_engine",
    "describe",
    "insert_returning",
    "join_transaction",
    "lock_key",
    "read",
    "rewrite_statement",
    "stream",
    "write",
]

T = TypeVar("T")
#: While a cancelled job runs on, interrupt it again this often.
_INTERRUPT_EVERY_SECONDS = 0.02
#: Rows fetched and converted to Arrow at a time, by read_frame and by each chunk of a
#: stream: few enough that their Python objects stay in the CPU's caches.
_FETCH_ROWS = 5_000
#: SQLite reports no result types for SQL text: reads infer them from the values.
INFERS_RESULT_TYPES = True


async def _in_thread(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn(sqlite3_connection)`` on the connection's own worker thread.

    Cancelling the caller interrupts the job's statements (``sqlite3.interrupt()``, made
    to be called from another thread) until the job returns, then lets the cancellation
    go on: a notebook interrupt ends a long query within moments and leaves the
    connection idle. (SQLite sees an interrupt only while a statement runs, hence the
    repeats; a batch of one-row INSERTs may still finish its batch first.)
    """
    work, raw = compat.aiosqlite_run_job(conn, fn)
    job: asyncio.Future[T] = asyncio.ensure_future(work)
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
    # pandas' own C routine for exactly this (read_sql uses it); an object array
    # also converts to Arrow several times faster than a tuple.
    table = compat.rows_to_object_array(rows)
    if table is not None:
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
        parts.append(column_arrays(specs, _columns(rows, len(specs)), "sqlite"))
    return fetched, parts


def _untyped(
    cursor: sqlite3.Cursor, rows: list[tuple[Any, ...]], known: Sequence[ColumnSpec] | None
) -> tuple[list[ColumnSpec], list[Sequence[Any]]]:
    """Untyped SQL (or columns of no declared type among ``known``): the specs of
    ``cursor``'s columns, inferred from ``rows``, and the rows as columns."""
    names = [d[0] for d in cursor.description or ()]
    columns = _columns(rows, len(names))
    return infer_specs(names, columns, known), columns


#: Arrow's own inference of an untyped column -> the kind it is read as.
_INFERRED: dict[frozenset[pa.DataType], Kind] = {
    frozenset({pa.int64()}): "int",
    frozenset({pa.float64()}): "float",
    frozenset({pa.int64(), pa.float64()}): "float",
    frozenset({pa.string()}): "str",
    frozenset({pa.binary()}): "bytes",
}


def _guess(values: Sequence[Any]) -> pa.Array | list[Any]:
    """Arrow's own reading of untyped values (a list where they have no one type)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return list(values)


def _read_inferred(cursor: sqlite3.Cursor, known: Sequence[ColumnSpec] | None) -> pd.DataFrame:
    """Every row of an untyped result, typed by all of its values.

    Rows are transposed ``_FETCH_ROWS`` at a time (while in the CPU's caches) and each
    untyped column is converted by Arrow's own type inference; the column's kind then
    follows from the types of all of its parts (integers and floats mixed are floats;
    anything mixed otherwise stays ``object``)."""
    names = [d[0] for d in cursor.description or ()]
    declared = [known is not None and known[k].declared for k in range(len(names))]
    parts: list[list[pa.Array | list[Any]]] = []
    while rows := cursor.fetchmany(_FETCH_ROWS):
        columns = _columns(rows, len(names))
        parts.append(
            [
                decode(known[k], column, "sqlite")
                if known is not None and declared[k]
                else _guess(column)
                for k, column in enumerate(columns)
            ]
        )
    specs: list[ColumnSpec] = []
    for k, name in enumerate(names):
        if known is not None and declared[k]:
            specs.append(known[k])
            continue
        column_parts = [part[k] for part in parts]
        types = {p.type for p in column_parts if isinstance(p, pa.Array)} - {pa.null()}
        typed = all(isinstance(p, pa.Array) for p in column_parts)
        kind: Kind = _INFERRED.get(frozenset(types), "object") if typed else "object"
        spec = ColumnSpec(name, kind)
        target = arrow_type(spec) if kind != "object" else None
        for part in parts:
            value = part[k]
            if target is None:
                part[k] = value.to_pylist() if isinstance(value, pa.Array) else value
            elif isinstance(value, pa.Array) and value.type != target:
                part[k] = value.cast(target)
        specs.append(spec)
    return chunks_to_frame(specs, parts)


def _typed(specs: Sequence[ColumnSpec] | None) -> bool:
    return specs is not None and all(s.declared for s in specs)


async def describe(conn: aiosqlite.Connection, sql: str) -> list[ColumnSpec] | None:
    """None: SQLite declares no result types; :func:`read` infers them from the values."""
    return None


async def read(
    conn: aiosqlite.Connection, sql: str, args: Sequence[Any], specs: Sequence[ColumnSpec] | None
) -> pd.DataFrame:
    """Read a whole result as a typed frame.

    With the column types known, rows are fetched and converted a few thousand at a time
    on aiosqlite's thread (faster than converting them all at the end: the Python
    objects of a few thousand rows are still in the CPU's caches). Untyped SQL reads
    every row first: its types are inferred from all the values, not from the first ones.
    """
    if not _typed(specs):
        known = specs

        def fetch_all(raw: sqlite3.Connection) -> pd.DataFrame:
            cursor = raw.execute(sql, tuple(args))
            try:
                return _read_inferred(cursor, known)
            finally:
                cursor.close()

        return await _in_thread(conn, fetch_all)

    typed = specs
    assert typed is not None

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
        if not _typed(specs):
            rows = await _in_thread(conn, lambda _raw: cursor.fetchmany(chunk_size))
            specs, columns = _untyped(cursor, rows, specs)
            yield values_to_frame(specs, columns, "sqlite")
            if len(rows) < chunk_size:
                return
            first = False
        typed = specs
        assert typed is not None
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
        columns = [
            sqlite_values(part.schema.field(i), part.column(i)) for i in range(part.num_columns)
        ]
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
