"""PostgreSQL fast paths through asyncpg: COPY out to Arrow's CSV reader, COPY in.

Reading: ``COPY (query) TO STDOUT (FORMAT csv, NULL '\\N')`` streams the result as CSV,
which Arrow's multi-threaded CSV reader parses straight into typed columns. NULL is
the unquoted ``\\N`` and a quoted value is never NULL, so NULL and the empty string (and
the text ``\\N``) stay distinct; empty lines are rows (a one-column row of ``''``).
Columns the CSV route cannot type exactly (INTERVAL, JSON, BYTEA, arrays, NUMERIC beyond
38 digits; see :func:`toolkit.types.registry.copyable`) make the read use ``fetch``.
A SQL string's column types come from :mod:`toolkit.drivers.pg_describe`.

Writing: validated Arrow tables are written as CSV (``quoting_style="all_valid"``: every
value quoted, NULL the bare empty field, which is COPY's default) and sent with
``copy_to_table``. ``on_conflict`` other than "error" copies into a temporary staging
table first, then ``INSERT ... SELECT ... ORDER BY key ON CONFLICT``: in key order so
that concurrent upserts lock rows in one order and never deadlock each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from typing import Any

import asyncpg
import pandas as pd
import pyarrow as pa

from ..types.arrow import arrow_to_frame, empty_frame, values_to_frame
from ..types.encode import csv_ready, record_values
from ..types.registry import copyable
from ..types.spec import ColumnSpec
from . import WriteTarget, compat
from .pg_csv import NULL as _NULL
from .pg_csv import parse, record_end
from .pg_csv import render as render_csv
from .pg_describe import describe
from .postgresql_engine import abandon as abandon
from .postgresql_engine import create_engine as create_engine
from .postgresql_engine import insert_returning as insert_returning
from .postgresql_engine import join_transaction as join_transaction
from .postgresql_engine import lock_key as lock_key
from .postgresql_engine import rewrite_statement as rewrite_statement

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

#: First key of the advisory locks that make upserts into one table take turns.
_UPSERT_LOCKS = 0x746B
#: Rows per CSV batch of a COPY in (at most; chunk_size may ask for fewer).
_COPY_BATCH_ROWS = 20_000
#: Most arguments a COPY out can take: asyncpg inlines them with one SELECT column each.
_COPY_MAX_ARGS = 1_664
#: The server describes the result of SQL text (see :mod:`.pg_describe`).
INFERS_RESULT_TYPES = False
#: While streaming, parse once this much CSV has arrived.
_STREAM_PARSE_BYTES = 1 << 20


def _copyable(specs: Sequence[ColumnSpec], args: Sequence[Any]) -> bool:
    """Whether the COPY route can read the result: every column typed exactly by CSV, and
    few enough arguments for asyncpg to inline (one SELECT column each, at most 1,664)."""
    return len(args) <= _COPY_MAX_ARGS and all(copyable(s) for s in specs)


async def _fetch_frame(
    conn: asyncpg.Connection, sql: str, args: Sequence[Any], specs: Sequence[ColumnSpec]
) -> pd.DataFrame:
    records = await conn.fetch(sql, *args)
    if not records:
        return empty_frame(specs)
    return values_to_frame(specs, list(zip(*records, strict=True)), "postgresql")


async def read(
    conn: asyncpg.Connection, sql: str, args: Sequence[Any], specs: Sequence[ColumnSpec] | None
) -> pd.DataFrame:
    """Read a whole result as a typed frame (COPY, or fetch for exotic types)."""
    if specs is None:
        specs = await describe(conn, sql)
    if not _copyable(specs, args):
        return await _fetch_frame(conn, sql, args, specs)
    try:
        async with contextlib.aclosing(_copy_tables(conn, sql, args, specs)) as blocks:
            tables = [table async for table in blocks]
    except pa.ArrowInvalid:
        # A value the CSV route cannot type (an infinite timestamp, say): exact path.
        return await _fetch_frame(conn, sql, args, specs)
    if not tables:
        return empty_frame(specs)
    return arrow_to_frame(pa.concat_tables(tables), specs)


async def _copy_tables(
    conn: asyncpg.Connection,
    sql: str,
    args: Sequence[Any],
    specs: Sequence[ColumnSpec],
    *,
    target_bytes: int = 8 << 20,
) -> AsyncGenerator[pa.Table, None]:
    """Run ``COPY (sql) TO STDOUT`` and yield Arrow tables as the data arrives.

    Blocks of about ``target_bytes`` are cut at record boundaries and parsed on a worker
    thread (Arrow releases the GIL), so parsing overlaps with the server sending the
    next block. A small bounded queue between asyncpg and the parser gives back-pressure:
    while the consumer is busy the server waits, and memory holds a few blocks. Leaving
    early terminates the connection (the caller invalidates it), since a COPY cannot be
    abandoned halfway.
    """
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)

    async def sink(data: bytes) -> None:
        await queue.put(data)

    async def produce() -> None:
        try:
            await conn.copy_from_query(sql, *args, output=sink, format="csv", null=_NULL)
        finally:
            await queue.put(None)

    task = asyncio.create_task(produce())
    buffer = bytearray()
    finished = False
    try:
        while True:
            data = await queue.get()
            if data is not None:
                buffer += data
                if len(buffer) < target_bytes:
                    continue
                cut = record_end(buffer)
                if cut == 0:
                    continue
                head = bytes(buffer[:cut])
                del buffer[:cut]
            else:
                await task  # re-raises a failed COPY
                head = bytes(buffer)
                buffer.clear()
            if head:
                yield await asyncio.to_thread(parse, head, specs)
            if data is None:
                break
        finished = True
    finally:
        if not finished and not task.done():
            conn.terminate()
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def stream(
    conn: asyncpg.Connection,
    sql: str,
    args: Sequence[Any],
    specs: Sequence[ColumnSpec] | None,
    chunk_size: int,
) -> AsyncIterator[pd.DataFrame]:
    """Yield frames of exactly ``chunk_size`` rows as COPY data arrives.

    COPY runs in a task that hands data over through a small bounded queue, so the
    server is paused (TCP back-pressure) while the caller works on a chunk: memory
    holds about one chunk, never the result. Leaving early terminates the COPY's
    connection (the caller invalidates it), since a COPY cannot be abandoned halfway.
    """
    if specs is None:
        specs = await describe(conn, sql)
    if not _copyable(specs, args):
        async for frame in _stream_cursor(conn, sql, args, specs, chunk_size):
            yield frame
        return

    pending: pa.Table | None = None
    # Small blocks: memory stays near one chunk, not the result.
    blocks = _copy_tables(conn, sql, args, specs, target_bytes=_STREAM_PARSE_BYTES)
    async with contextlib.aclosing(blocks):
        async for table in blocks:
            pending = table if pending is None else pa.concat_tables([pending, table])
            while pending.num_rows >= chunk_size:
                yield arrow_to_frame(pending.slice(0, chunk_size), specs)
                pending = pending.slice(chunk_size)
    if pending is not None and pending.num_rows:
        yield arrow_to_frame(pending, specs)


async def _stream_cursor(
    conn: asyncpg.Connection,
    sql: str,
    args: Sequence[Any],
    specs: Sequence[ColumnSpec],
    chunk_size: int,
) -> AsyncIterator[pd.DataFrame]:
    """Server-side cursor path, for results the CSV route cannot type."""
    transaction = None if conn.is_in_transaction() else conn.transaction(readonly=True)
    if transaction is not None:
        await transaction.start()
    try:
        cursor = await conn.cursor(sql, *args)
        while True:
            records = await cursor.fetch(chunk_size)
            if not records:
                break
            yield values_to_frame(specs, list(zip(*records, strict=True)), "postgresql")
    finally:
        if transaction is not None:
            with contextlib.suppress(Exception):
                await transaction.rollback()


@contextlib.contextmanager
def _woken_when_lost(conn: asyncpg.Connection) -> Iterator[None]:
    """Wake a COPY waiting for the socket to drain if the connection is lost meanwhile.

    asyncpg sends COPY data under flow control: before each batch it waits until the
    socket's send buffer drains. A server that stops reading (busy, or waiting for a
    lock) then dies leaves that wait with nothing to end it (asyncpg 0.30-0.32 never
    sets the event when the connection is lost), so the call hung forever. Woken, the
    COPY goes on to its next batch and fails with the lost connection's error.
    """

    def wake(_conn: object) -> None:
        compat.asyncpg_wake_copy_writer(conn)

    conn.add_termination_listener(wake)
    try:
        yield
    finally:
        conn.remove_termination_listener(wake)


async def _copy_in(
    conn: asyncpg.Connection,
    name: str,
    schema: str | None,
    columns: Sequence[str],
    table: pa.Table,
    chunk_size: int,
    progress: Any,
) -> int:
    """COPY ``table`` into ``name`` in batches of at most ``chunk_size`` rows; returns the rows.

    One ``COPY ... (FORMAT csv)`` for the whole table, fed batch by batch: the next
    batch's CSV is rendered on a worker thread (Arrow's writer releases the GIL) while
    the server parses the current one, so the two overlap. Types the CSV route cannot
    render exactly go through asyncpg's binary ``copy_records_to_table`` per batch.
    """
    csv_route = csv_ready(table.schema)
    # CSV batches stay small whatever chunk_size says, so that even one chunk's worth
    # of rows is rendered and sent in overlapping pieces.
    size = min(chunk_size, _COPY_BATCH_ROWS) if csv_route else chunk_size
    parts = [table.slice(start, size) for start in range(0, table.num_rows, size)]
    if not csv_route:
        for part in parts:
            records = list(
                zip(
                    *(
                        record_values(part.schema.field(i), part.column(i))
                        for i in range(part.num_columns)
                    ),
                    strict=True,
                )
            )
            await conn.copy_records_to_table(
                name, records=records, columns=list(columns), schema_name=schema
            )
            progress.update(part.num_rows)
        return int(table.num_rows)

    if not parts:
        return 0

    def render(part: pa.Table) -> asyncio.Future[bytes]:
        return asyncio.ensure_future(asyncio.to_thread(render_csv, part))

    async def batches() -> AsyncIterator[bytes]:
        ahead = render(parts[0])
        try:
            for k, part in enumerate(parts):
                if conn.is_closed():
                    # The server went away mid-COPY: writes to the dead socket would be
                    # dropped silently until the end; stop now.
                    raise asyncpg.ConnectionDoesNotExistError(
                        "the connection was closed in the middle of COPY"
                    )
                data = await ahead
                if k + 1 < len(parts):
                    ahead = render(parts[k + 1])
                yield data
                # asyncpg asks for the next batch once this one is on its way.
                progress.update(part.num_rows)
                # A batch rendered already would be taken without a pause: give the
                # event loop's other tasks their turn (a notebook stays responsive).
                await asyncio.sleep(0)
        finally:
            ahead.cancel()

    await conn.copy_to_table(
        name, source=batches(), columns=list(columns), schema_name=schema, format="csv"
    )
    return int(table.num_rows)


async def write(
    conn: asyncpg.Connection,
    target: WriteTarget,
    table: pa.Table,
    *,
    on_conflict: str,
    chunk_size: int,
    progress: Any,
) -> int:
    """COPY a validated table in, all or nothing (the caller holds the transaction)."""
    staged = on_conflict != "error"
    stage = f"toolkit_stage_{uuid.uuid4().hex[:12]}"
    async with conn.transaction():  # a savepoint inside the caller's transaction
        if staged:
            # Conflicts are resolved by INSERT ... ON CONFLICT, which COPY cannot do. The
            # stage holds the written columns only, typed as the table's, without its
            # constraints: the table's defaults (identity, serial) and NOT NULL apply
            # when the staged rows go in.
            cols = ", ".join(target.quoted_columns)
            await conn.execute(
                f'CREATE TEMP TABLE "{stage}" ON COMMIT DROP AS SELECT {cols} '
                f"FROM {target.table} WITH NO DATA"
            )
        name, schema = (stage, None) if staged else (target.name, target.schema)
        with _woken_when_lost(conn):
            written = await _copy_in(
                conn, name, schema, target.columns, table, chunk_size, progress
            )
        if staged:
            cols = ", ".join(target.quoted_columns)
            action = target.conflict_clause(on_conflict, excluded="EXCLUDED")
            # Rows in key order: concurrent upserts of overlapping keys then lock them in
            # one order, so they queue instead of deadlocking.
            key = ", ".join(target.conflict_columns)
            order = f" ORDER BY {key}" if key else ""
            if on_conflict == "update":
                # ON CONFLICT (key) DO UPDATE arbitrates on that key only: a concurrent
                # upsert of the same new row can reach another unique index (code, email)
                # first and fail there. Upserts into one table take turns for this
                # statement (until commit); the COPY above still runs side by side.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))", _UPSERT_LOCKS, target.table
                )
            status = await conn.execute(
                f'INSERT INTO {target.table} ({cols}) SELECT {cols} FROM "{stage}"{order}{action}'
            )
            written = int(status.rsplit(" ", 1)[-1])
            await conn.execute(f'DROP TABLE "{stage}"')
        if target.serial_column is not None:
            await advance_sequence(conn, target.table, target.serial_column)
    return written


async def advance_sequence(conn: Any, table: str, column: str) -> None:
    """Move the id sequence of ``table.column`` past the largest stored id.

    Explicit ids do not move the sequence; without this, a later insert that lets the
    database pick an id collides with them.

    Parameters
    ----------
    conn : asyncpg.Connection
    table, column : str
        Quoted (``table`` schema-qualified as needed) names of an auto-incrementing key.
    """
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence($1, $2), GREATEST("
        f"(SELECT COALESCE(MAX({column}), 0) FROM {table}), 1))",
        table,
        column.strip('"'),
    )
