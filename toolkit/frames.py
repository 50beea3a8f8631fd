"""The DataFrame bridge: read_frame, stream_frames, insert_frame, to_frame.

Frames go through the driver connection beneath SQLAlchemy (see :mod:`toolkit.drivers`)
so that no SQLAlchemy ``Row`` or ORM object is built for a frame; SQLAlchemy still
compiles the query (:mod:`toolkit.frames_compile`), owns the pool and the transaction
(:mod:`toolkit.frames_connection`), and sees each statement (so ``count_queries``
counts frames too). dtypes follow :mod:`toolkit.dtypes`. ``insert_frame`` lives in
:mod:`toolkit.frames_insert`.

Transactions: with a ``Database`` or ``AsyncEngine`` the call uses a pooled connection
of its own (and ``insert_frame`` commits before returning). With an ``AsyncConnection``
or ``AsyncSession`` it joins that transaction: reads see its uncommitted writes, and
``insert_frame`` runs in a savepoint, so a failure undoes only the frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncConnection

from .drivers import driver_for
from .dtypes import empty_frame, spec_from_type, values_to_frame
from .errors import ConfigurationError
from .frames_adbc import read_adbc
from .frames_compile import Params, declared_types, positional_params_error, prepare, retype
from .frames_connection import Source, driver_errors, engine_of, finished, read_connection
from .frames_insert import OnConflict as OnConflict
from .frames_insert import insert_frame as insert_frame
from .scale import read_partitioned, stream_partitioned
from .sqltext import named_parameters
from .types.spec import spec_from_annotation

__all__ = ["OnConflict", "Source", "insert_frame", "read_frame", "stream_frames", "to_frame"]


# -- reading ----------------------------------------------------------------------------


def _named(query: Any, params: Params | None) -> tuple[Any, Mapping[str, Any] | None]:
    """Positional params of a SQL string as named ones, for reads that wrap the query."""
    if params is None or isinstance(params, Mapping):
        return query, params
    if not isinstance(query, str):
        raise positional_params_error(params)
    sql, named = named_parameters(query, params)
    return sql, named


async def _read_on(
    conn: AsyncConnection,
    query: Any,
    params: Params | None,
    dtypes: Mapping[str, Any] | None,
) -> pd.DataFrame:
    """Read ``query`` whole on ``conn`` (already inside the right transaction)."""
    driver, driver_conn, sql, args, specs = await prepare(conn, query, params, dtypes)
    frame: pd.DataFrame = await driver.read(driver_conn, sql, args, specs)
    finished(conn, sql, args)
    declared = declared_types(query, dtypes)
    if specs is None and declared:
        frame = retype(frame, declared)
    return frame


async def read_frame(
    source: Source,
    query: Any,
    *,
    params: Params | None = None,
    index_col: str | Sequence[str] | None = None,
    dtypes: Mapping[str, Any] | None = None,
    partition_on: str | None = None,
    partitions: int = 4,
    bounds: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Run a query and return its result as a DataFrame typed by the columns' SQL types.

    Parameters
    ----------
    source : Database, AsyncEngine, AsyncConnection or AsyncSession
    query : SQLAlchemy select (Core or ORM entity), or a SQL string
        ``select(User)`` reads User's columns: no ORM object is built. A SQL string is
        one statement; a trailing ``;`` (and comments after it) is dropped.
        ``column.in_(values)`` takes a list of any length (sent as one parameter).
    params : mapping or sequence, optional
        Values for ``:name`` (or ``%(name)s``) parameters; with a SQL string, a list or
        tuple fills ``?`` / ``%s`` placeholders in order, or ``$1, $2, ...`` by number.
        Always sent as bound parameters.
    index_col : column name or names, optional
        Set as the index.
    dtypes : mapping of column name to a SQLAlchemy type or kind, optional
        Overrides the type rules for those columns (mostly for raw SQL on SQLite).
    partition_on : str, optional
        A column of the result (integer, numeric, date or date/time) to split the read
        by: ``partitions`` ranges of it, plus its NULLs, are read concurrently on
        connections of their own, all on one snapshot (see :mod:`toolkit.scale`). The
        result equals the unpartitioned read: same rows, dtypes and, when the query's
        ORDER BY leads with this column, order (a query ordered otherwise is read
        whole). With a connection or session as source, the read runs once on it.
    partitions : int
        How many ranges (default 4); at most the pool's size read at once.
    bounds : (lowest, highest), optional
        Where the ranges are cut; default the column's min and max. Rows outside
        still belong to the first or the last range.

    Returns
    -------
    pandas.DataFrame
        dtypes per :mod:`toolkit.dtypes`, the same for empty and NULL-only results.

    Raises
    ------
    ConfigurationError
        A missing parameter, as many values as placeholders not given, more than one
        statement, or a source/query of the wrong kind.
    QueryError
        The database refused the query.
    DatabaseUnavailableError
        The connection was lost, or the database refused to connect (unreachable, a bad
        user, password or database name).

    Examples
    --------
    >>> df = await tk.read_frame(db, select(User).where(User.is_active))
    >>> df = await tk.read_frame(db, "SELECT * FROM users WHERE id > :i", params={"i": 3})
    >>> df = await tk.read_frame(db, "SELECT * FROM users WHERE id > ?", params=[3])
    """
    engine = engine_of(source) if partition_on is not None else None
    with driver_errors():
        frame: pd.DataFrame | None
        if engine is not None and partition_on is not None:
            sql, named = _named(query, params)
            frame = await read_partitioned(
                engine,
                sql,
                params=named,
                dtypes=dtypes,
                partition_on=partition_on,
                partitions=partitions,
                bounds=bounds,
                read=_read_on,
            )
        else:
            frame = await read_adbc(source, query, params, dtypes)
            if frame is None:
                async with read_connection(source) as conn:
                    frame = await _read_on(conn, query, params, dtypes)
    if index_col is not None:
        frame = frame.set_index(index_col if isinstance(index_col, str) else list(index_col))
    return frame


async def stream_frames(
    source: Source,
    query: Any,
    *,
    chunk_size: int = 50_000,
    params: Params | None = None,
    dtypes: Mapping[str, Any] | None = None,
    partition_on: str | None = None,
    partitions: int = 4,
    bounds: Sequence[Any] | None = None,
) -> AsyncIterator[pd.DataFrame]:
    """Yield the result of a query as DataFrames of ``chunk_size`` rows.

    Rows come from the server as the loop asks for them (PostgreSQL: COPY with
    back-pressure, or a server-side cursor; SQLite: one cursor), so memory holds about
    one chunk. Every chunk has the same columns and dtypes, also when a chunk holds
    only NULLs in a column; concatenated, the chunks equal :func:`read_frame`. An empty
    result yields one empty frame with the right columns.

    Leaving the loop early (``break``) releases the connection when the generator is
    closed: at once inside ``contextlib.aclosing(...)``, otherwise moments later when the
    event loop finalises it. On PostgreSQL that connection is discarded, since a COPY
    cannot be stopped halfway.

    Parameters
    ----------
    chunk_size : int
        Rows per frame; every frame but the last has exactly this many (partitioned:
        at most this many, every piece starting a new frame).
    partition_on, partitions, bounds
        As in :func:`read_frame`: the pieces are read concurrently on one snapshot and
        yielded in result order, each in frames of at most ``chunk_size`` rows; a few
        pieces are read ahead, so memory holds a few pieces, not one chunk. Raw SQL on
        SQLite, whose types are inferred from the values, is read whole first so that
        every frame has the same dtypes.

    Examples
    --------
    >>> async for chunk in tk.stream_frames(db, select(Post), chunk_size=50_000):
    ...     totals.append(chunk.groupby("author_id").size())
    """
    if chunk_size <= 0:
        raise ConfigurationError(f"chunk_size must be a positive number of rows, not {chunk_size}.")
    engine = engine_of(source) if partition_on is not None else None
    if engine is not None and partition_on is not None:
        with driver_errors():
            sql, named = _named(query, params)
            pieces = stream_partitioned(
                engine,
                sql,
                chunk_size=chunk_size,
                params=named,
                dtypes=dtypes,
                partition_on=partition_on,
                partitions=partitions,
                bounds=bounds,
                read=_read_on,
            )
            async with contextlib.aclosing(pieces):
                async for piece in pieces:
                    yield piece
        return
    declared = declared_types(query, dtypes)
    with driver_errors():
        async with read_connection(source) as conn:
            driver = driver_for(conn.dialect.name)
            complete = False
            emitted = False
            try:
                driver, driver_conn, sql, args, specs = await prepare(conn, query, params, dtypes)
                async for frame in driver.stream(driver_conn, sql, args, specs, chunk_size):
                    emitted = True
                    yield retype(frame, declared) if specs is None and declared else frame
                complete = True
                if not emitted and specs is not None:
                    yield empty_frame(specs)
            finally:
                if not complete:
                    await driver.abandon(conn)
            if complete:
                finished(conn, sql, args)


# -- models -> frame --------------------------------------------------------------------


def to_frame(models: Sequence[Any], model: type[Any] | None = None) -> pd.DataFrame:
    """Turn a list of SQLModel objects into a typed DataFrame.

    Columns and dtypes come from the model's table (table models) or its fields
    (other pydantic models); relationships, and fields declared ``exclude=True`` (kept
    out of the model's dumps, such as a password hash), are left out.

    Parameters
    ----------
    models : sequence of model instances
    model : model class, optional
        Gives the columns when ``models`` is empty.

    Examples
    --------
    >>> users = await crud.search(s, User, is_active=True)
    >>> tk.to_frame(users).dtypes
    """
    cls = model or (type(models[0]) if len(models) else None)
    if cls is None:
        return pd.DataFrame()
    fields = getattr(cls, "model_fields", {})
    if getattr(cls, "__table__", None) is not None:
        # Named by field (attribute), which may differ from the column's name.
        specs = [spec_from_type(key, c.type) for key, c in sa_inspect(cls).columns.items()]
    else:
        specs = [
            spec_from_annotation(name, info.annotation) for name, info in fields.items()
        ]
    # A field the model excludes from its dumps (a password hash) stays out of frames too.
    specs = [spec for spec in specs if not getattr(fields.get(spec.name), "exclude", False)]
    columns = [[getattr(m, spec.name) for m in models] for spec in specs]
    return values_to_frame(specs, columns)
