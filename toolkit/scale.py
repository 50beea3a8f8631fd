"""Partitioned reads: the pieces of a query read concurrently, on one snapshot.

``read_frame(..., partition_on=...)`` and ``stream_frames(..., partition_on=...)``
come here (planning is in :mod:`toolkit.partition`). The pieces are read on several
pooled connections at once, every one of them inside a read transaction that sees the
same committed state of the database:

- PostgreSQL: the first connection opens a REPEATABLE READ transaction and exports its
  snapshot (``pg_export_snapshot()``); every other connection begins REPEATABLE READ
  and imports it (``SET TRANSACTION SNAPSHOT``) before reading.
- SQLite (a file, WAL): a gate connection takes the write lock (``BEGIN IMMEDIATE``)
  while each reader begins its read transaction (its WAL snapshot is fixed by its first
  read); then the gate lets go. No write can commit between the readers' starts, so
  they share one snapshot. Writers wait for those few moments (the busy timeout covers
  it); a read that cannot take the gate (a read-only file) fails and says so.

So a partitioned read returns what the unpartitioned read would have returned at one
moment, even with writers running. Inside a caller's transaction (an ``AsyncConnection``
or ``AsyncSession`` as source) the frame functions do not come here: they read once on
that connection, which sees the transaction's uncommitted writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .drivers import READ_ONLY_OPTION, driver_for
from .dtypes import infer_specs, values_to_frame
from .partition import Piece, bounds_query, check_options, order_of, piece_query, plan_pieces
from .types.cells import is_missing

__all__ = ["read_partitioned", "snapshot_connections", "stream_partitioned"]

#: Reads one query on a connection: ``read(conn, query, params, dtypes)``.
PieceReader = Callable[
    [AsyncConnection, Any, Mapping[str, Any] | None, Mapping[str, Any] | None],
    Awaitable[pd.DataFrame],
]

_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f-]+$")


def _connections_for(engine: AsyncEngine, partitions: int) -> int:
    """Readers to open: one per partition, within the pool (SQLite keeps one for the gate)."""
    size = getattr(engine.pool, "size", None)
    capacity = size() if callable(size) else 4
    if engine.dialect.name == "sqlite":
        capacity -= 1
    return max(1, min(partitions, capacity))


@contextlib.asynccontextmanager
async def snapshot_connections(
    engine: AsyncEngine, count: int
) -> AsyncIterator[list[AsyncConnection]]:
    """``count`` connections, each in a read transaction on one shared snapshot.

    Parameters
    ----------
    engine : AsyncEngine
    count : int
        How many connections; with one, its transaction alone is the snapshot.

    Yields
    ------
    list of AsyncConnection
        Rolled back and returned to the pool on exit; discarded instead when the
        block raises (or is left early by a closed generator).
    """
    async with contextlib.AsyncExitStack() as stack:
        if engine.dialect.name == "postgresql":
            conns = await _pg_snapshot(engine, count, stack)
        else:
            conns = await _sqlite_snapshot(engine, count, stack)
        try:
            yield conns
        except BaseException:
            # A piece left halfway (an error in another piece, a cancel, a stream left
            # early) may have ended its connection mid-COPY: none goes back to the pool.
            for conn in conns:
                with contextlib.suppress(Exception):
                    await conn.invalidate()
            raise


async def _pg_snapshot(
    engine: AsyncEngine, count: int, stack: contextlib.AsyncExitStack
) -> list[AsyncConnection]:
    # Every connection first, so that no transaction stays open while the pool is waited on.
    conns = [
        await (await stack.enter_async_context(engine.connect())).execution_options(
            isolation_level="REPEATABLE READ"
        )
        for _ in range(count)
    ]
    lead = conns[0]
    await lead.begin()
    if count == 1:
        await lead.exec_driver_sql("SELECT 1")
        return conns
    snapshot = (await lead.exec_driver_sql("SELECT pg_export_snapshot()")).scalar_one()
    if not _SNAPSHOT_ID.match(str(snapshot)):
        raise RuntimeError(f"PostgreSQL returned an unexpected snapshot id {snapshot!r}")
    for conn in conns[1:]:
        await conn.begin()
        # Must be the transaction's first statement; the id cannot be a parameter.
        await conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    return conns


async def _sqlite_snapshot(
    engine: AsyncEngine, count: int, stack: contextlib.AsyncExitStack
) -> list[AsyncConnection]:
    # Every connection is taken from the pool before the gate takes the write lock:
    # waiting for a pooled connection while holding the lock would wait on writers
    # that hold connections while they wait for the lock.
    conns = [
        await (await stack.enter_async_context(engine.connect())).execution_options(
            **{READ_ONLY_OPTION: True}
        )
        for _ in range(count)
    ]

    async def begin(conn: AsyncConnection) -> None:
        await conn.begin()
        # A WAL read transaction takes its snapshot at its first read, not at BEGIN.
        await conn.exec_driver_sql("SELECT count(*) FROM sqlite_master")

    if count == 1:
        await begin(conns[0])
        return conns
    gate = await stack.enter_async_context(engine.connect())
    await gate.begin()  # BEGIN IMMEDIATE: no writer commits until the readers began
    try:
        for conn in conns:
            await begin(conn)
    finally:
        await gate.rollback()
    return conns


def _ordered(
    pieces: list[Piece], query: Any, partition_on: str, dialect: Any
) -> list[Piece] | None:
    """The pieces in the order their rows come in the result, or None when an ORDER BY
    of the query does not lead with the partition column."""
    ordered, order = order_of(query, partition_on, dialect)
    if not ordered:
        return pieces
    if order is None:
        return None
    ranges = [p for p in pieces if not p.nulls]
    nulls = [p for p in pieces if p.nulls]
    if order.descending:
        ranges.reverse()
    return nulls + ranges if order.nulls_first else ranges + nulls


async def _plan(
    conn: AsyncConnection,
    query: Any,
    params: Mapping[str, Any] | None,
    partition_on: str,
    partitions: int,
    bounds: Sequence[Any] | None,
) -> list[Piece] | None:
    """The pieces to read in result order (None: read the query whole)."""
    ordered, order = order_of(query, partition_on, conn.dialect)
    if ordered and order is None:
        return None
    if bounds is None:
        stmt, values = bounds_query(query, partition_on, conn.dialect, params)
        row = (await conn.execute(stmt, values)).one()
        lowest, highest = row[0], row[1]
    else:
        lowest, highest = bounds
    pieces = plan_pieces(lowest, highest, partitions)
    return _ordered(pieces, query, partition_on, conn.dialect)


async def _read_pieces(
    conns: list[AsyncConnection],
    jobs: list[tuple[Any, dict[str, Any]]],
    dtypes: Mapping[str, Any] | None,
    read: PieceReader,
    ready: Callable[[int, pd.DataFrame], Awaitable[None]],
) -> None:
    """Read ``jobs`` on ``conns``, each connection taking the next job when free."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(jobs)):
        queue.put_nowait(i)

    async def worker(conn: AsyncConnection) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            stmt, values = jobs[i]
            await ready(i, await read(conn, stmt, values, dtypes))

    tasks = [asyncio.create_task(worker(conn)) for conn in conns]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def unify(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate piece frames into one with a RangeIndex.

    Columns whose dtype differs between pieces (types inferred per piece from the
    values, as for raw SQL on SQLite) are inferred again from all their values, as
    the unpartitioned read infers them.
    """
    if not frames:
        raise ValueError("no pieces")
    first = frames[0]
    if all(f.dtypes.equals(first.dtypes) for f in frames[1:]):
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else first
    columns: dict[str, pd.Series] = {}
    for i, name in enumerate(first.columns):
        parts = [f.iloc[:, i] for f in frames]
        if all(p.dtype == parts[0].dtype for p in parts):
            columns[name] = pd.concat(parts, ignore_index=True)
            continue
        values = [None if is_missing(v) else v for p in parts for v in p.tolist()]
        (spec,) = infer_specs([str(name)], [values])
        columns[name] = values_to_frame([spec], [values]).iloc[:, 0]
    out = pd.DataFrame(columns)
    out.columns = first.columns
    return out


async def read_partitioned(
    engine: AsyncEngine,
    query: Any,
    *,
    params: Mapping[str, Any] | None,
    dtypes: Mapping[str, Any] | None,
    partition_on: str,
    partitions: int,
    bounds: Sequence[Any] | None,
    read: PieceReader,
) -> pd.DataFrame:
    """Read ``query`` in pieces on one snapshot and return the whole result.

    Returns the rows and dtypes the unpartitioned read returns, in its order when the
    query's ORDER BY leads with ``partition_on``; a query ordered otherwise is read
    whole on one connection (only the database can merge its own ordering).
    """
    check_options(partition_on, partitions, bounds)
    count = _connections_for(engine, partitions)
    async with snapshot_connections(engine, count) as conns:
        pieces = await _plan(conns[0], query, params, partition_on, partitions, bounds)
        if pieces is None:
            return await read(conns[0], query, params, dtypes)
        jobs = [piece_query(query, partition_on, p, conns[0].dialect, params) for p in pieces]
        frames: dict[int, pd.DataFrame] = {}

        async def keep(i: int, frame: pd.DataFrame) -> None:
            frames[i] = frame

        await _read_pieces(conns, jobs, dtypes, read, keep)
    return unify([frames[i] for i in range(len(jobs))])


async def stream_partitioned(
    engine: AsyncEngine,
    query: Any,
    *,
    chunk_size: int,
    params: Mapping[str, Any] | None,
    dtypes: Mapping[str, Any] | None,
    partition_on: str,
    partitions: int,
    bounds: Sequence[Any] | None,
    read: PieceReader,
) -> AsyncGenerator[pd.DataFrame, None]:
    """Yield the pieces of a partitioned read in result order, in chunks of at most
    ``chunk_size`` rows.

    Pieces are read ahead concurrently, at most one per connection beyond the one
    being yielded. When the driver infers column types from the values (raw SQL on
    SQLite), every piece is read before the first chunk, so that every chunk has the
    dtypes of the whole result.
    """
    check_options(partition_on, partitions, bounds)
    count = _connections_for(engine, partitions)
    inferred = isinstance(query, str) or not hasattr(query, "subquery")
    inferred = inferred and driver_for(engine.dialect.name).INFERS_RESULT_TYPES
    async with snapshot_connections(engine, count) as conns:
        pieces = await _plan(conns[0], query, params, partition_on, partitions, bounds)
        if pieces is None:
            jobs = [(query, dict(params or {}))]
        else:
            jobs = [piece_query(query, partition_on, p, conns[0].dialect, params) for p in pieces]
        results: list[asyncio.Future[pd.DataFrame]] = [
            asyncio.get_running_loop().create_future() for _ in jobs
        ]
        room = asyncio.Semaphore(len(conns) * 2)

        async def ready(i: int, frame: pd.DataFrame) -> None:
            results[i].set_result(frame)
            await room.acquire()

        reader = asyncio.create_task(_read_pieces(conns, jobs, dtypes, read, ready))
        try:
            if inferred:
                parts = []
                for result in results:
                    parts.append(await _next(result, reader))
                    room.release()
                whole = unify(parts)
                for start in range(0, max(len(whole), 1), chunk_size):
                    yield whole.iloc[start : start + chunk_size].reset_index(drop=True)
                return
            emitted = False
            for i in range(len(jobs)):
                frame = await _next(results[i], reader)
                room.release()
                for start in range(0, len(frame), chunk_size):
                    emitted = True
                    yield frame.iloc[start : start + chunk_size].reset_index(drop=True)
                if not emitted and i == len(jobs) - 1:
                    yield frame
        finally:
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def _next(result: asyncio.Future[pd.DataFrame], reader: asyncio.Task[None]) -> pd.DataFrame:
    """The piece's frame, or the reader's error if it failed first."""
    waiting: set[asyncio.Future[Any]] = {result, reader}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if result.done():
        return result.result()
    reader.result()  # raises the reader's error
    raise RuntimeError("the piece reader ended without reading every piece")
