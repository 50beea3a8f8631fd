"""Dask: read a query as a Dask DataFrame (``read_dask``), read by Dask's workers.

``read_dask`` plans the pieces of a partitioned read (:mod:`toolkit.partition`) on the
client, and each Dask partition reads one piece in a worker through the toolkit's own
fast paths (``read_frame``), on a connection the worker opens from the database's URL.
Each piece is compiled to SQL text with typed parameters and typed result columns on
the client, so workers need no model classes. The URL travels inside the graph as an
opaque value whose ``repr`` hides it: it is never part of a task's name or key, and
never logged.

Consistency: a partition is read when the graph computes, in a read transaction of
its own. Each partition is consistent in itself; partitions read at different moments
may see different committed states (a row moved across ranges by a concurrent writer
can be seen twice or not at all). For one snapshot, use
``read_frame(..., partition_on=...)``; for Dask, read when writers are quiet.

Loading (``insert_dask``) is in :mod:`toolkit.dask_load`.

Pointing the same code at a cluster of several machines: create
``distributed.Client("tcp://scheduler:8786")`` instead of a ``LocalCluster``; every
worker must reach the database at the URL the Database was made with (a SQLite file
must be on a path every worker sees; PostgreSQL at a host name the workers resolve).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import TextClause, bindparam, column, false, select, text
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from .database import Database
from .errors import ConfigurationError
from .frames import read_frame
from .frames_connection import driver_errors as _driver_errors
from .partition import bounds_query, check_options, piece_query, plan_pieces

__all__ = ["read_dask"]

Source = Database | AsyncEngine


def _require_dask() -> None:
    missing = [m for m in ("dask.dataframe", "distributed") if not _installed(m)]
    if missing:
        raise ConfigurationError(
            f"read_dask and insert_dask need {' and '.join(missing)}, which are not "
            "installed; install the extra: pip install 'toolkit[dask]'."
        )


def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


class _Secret:
    """A value (a URL with its password, connect_args) that never shows in a repr,
    a log line or a Dask key."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<toolkit connection settings: hidden>"

    def __dask_tokenize__(self) -> str:
        return "toolkit-connection"

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return (_Secret, (self.value,))


@dataclass(frozen=True)
class _Piece:
    """One piece compiled for a worker: SQL text, typed parameters, typed columns."""

    sql: str
    params: tuple[tuple[str, Any, Any], ...]
    columns: tuple[tuple[str, Any], ...]

    def statement(self) -> Any:
        stmt = text(self.sql).bindparams(
            *(bindparam(name, value, type_=type_) for name, value, type_ in self.params)
        )
        if self.columns:
            return stmt.columns(*(column(name, type_) for name, type_ in self.columns))
        return stmt


def _named_dialect(dialect: Dialect) -> Dialect:
    """The dialect's base form with ``:name`` parameters (no driver-specific casts)."""
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql.base import PGDialect

        return PGDialect(paramstyle="named")  # type: ignore[no-untyped-call]
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect

    return SQLiteDialect(paramstyle="named")


def _compile_piece(stmt: Any, values: Mapping[str, Any], dialect: Dialect) -> _Piece:
    if isinstance(stmt, TextClause):
        return _Piece(stmt.text, tuple((k, v, None) for k, v in values.items()), ())
    compiled: Any = stmt.compile(
        dialect=_named_dialect(dialect), compile_kwargs={"render_postcompile": True}
    )
    binds = compiled.binds
    params = []
    for name, value in compiled.construct_params(dict(values)).items():
        bind = binds.get(name)
        if bind is None:
            bind = binds.get(name.rsplit("_", 1)[0])
        params.append((name, value, bind.type if bind is not None else None))
    columns = tuple((c.name, c.type) for c in stmt.selected_columns)
    return _Piece(compiled.string, tuple(params), columns)


def _engine(source: Any) -> AsyncEngine:
    if isinstance(source, Database):
        return source.engine
    if isinstance(source, AsyncEngine):
        return source
    raise ConfigurationError(
        f"read_dask and insert_dask take a Database or an AsyncEngine (workers connect "
        f"by its URL), not {type(source).__name__}."
    )


def _url(source: Any) -> URL:
    """The URL workers connect by: a SQLite file by its absolute path (a worker's
    working folder may differ); an in-memory SQLite database cannot be shared."""
    url: URL = source.url if isinstance(source, Database) else _engine(source).url
    if url.get_backend_name() != "sqlite":
        return url
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        raise ConfigurationError(
            "An in-memory SQLite database lives inside this process: Dask's workers "
            "cannot open it. Use a SQLite file (tk.connect('data.db')) or PostgreSQL."
        )
    if database.startswith("file:"):
        return url
    return url.set(database=os.path.abspath(database))


def _run(coro: Any) -> Any:
    """Run a coroutine to completion in a worker (a thread with no event loop)."""
    return asyncio.run(coro)


async def _with_db(settings: _Secret, work: Any) -> Any:
    from .database import connect

    url, connect_args = settings.value
    db = connect(url, connect_args=connect_args) if connect_args else connect(url)
    try:
        return await work(db)
    finally:
        await db.dispose()


def _read_piece(settings: _Secret, piece: _Piece, meta: pd.DataFrame, dtypes: Any) -> pd.DataFrame:
    async def work(db: Database) -> pd.DataFrame:
        return await read_frame(db, piece.statement(), dtypes=dtypes)

    frame: pd.DataFrame = _run(_with_db(settings, work))
    if not frame.dtypes.equals(meta.dtypes):
        frame = frame.astype(meta.dtypes.to_dict())
    return frame


async def read_dask(
    source: Source,
    query: Any,
    *,
    partition_on: str,
    npartitions: int,
    bounds: Sequence[Any] | None = None,
    params: Mapping[str, Any] | None = None,
    dtypes: Mapping[str, Any] | None = None,
    connect_args: Mapping[str, Any] | None = None,
) -> Any:
    """Return a query's result as a ``dask.dataframe.DataFrame`` read by Dask's workers.

    The column's range is split as in ``read_frame(partition_on=...)``: ``npartitions``
    ranges (NULLs joining the last partition). Each partition is read when the graph
    computes, in a worker, by ``read_frame`` on a connection of its own made from the
    database's URL (see the module notes for the consistency this gives).

    Parameters
    ----------
    source : Database or AsyncEngine
    query : SQLAlchemy select or SQL string
    partition_on : str
        An integer, numeric, date or date/time column of the result.
    npartitions : int
        How many ranges, so Dask partitions.
    bounds : (lowest, highest), optional
        Default: the column's min and max, read now.
    params : mapping, optional
        Values of ``:name`` parameters.
    dtypes : mapping, optional
        As in :func:`toolkit.read_frame`.
    connect_args : mapping, optional
        Passed to each worker's ``tk.connect`` (for example ``server_settings``).

    Returns
    -------
    dask.dataframe.DataFrame
        Its ``meta`` has the dtypes ``read_frame`` gives this query.

    Raises
    ------
    ConfigurationError
        Dask is not installed (the ``toolkit[dask]`` extra), or an option is wrong.

    Examples
    --------
    >>> ddf = await tk.read_dask(db, select(Event), partition_on="id", npartitions=16)
    >>> ddf.groupby("kind").size().compute()
    """
    _require_dask()
    dd: Any = importlib.import_module("dask.dataframe")

    check_options(partition_on, npartitions, bounds)
    engine = _engine(source)
    dialect = engine.dialect
    settings = _Secret((_url(source), dict(connect_args) if connect_args else None))
    if bounds is None:
        stmt, values = bounds_query(query, partition_on, dialect, params)
        with _driver_errors():
            async with engine.connect() as conn:
                row = (await conn.execute(stmt, values)).one()
        lowest, highest = row[0], row[1]
    else:
        lowest, highest = bounds
    pieces = plan_pieces(lowest, highest, npartitions)
    nulls = [p for p in pieces if p.nulls]
    ranges = [p for p in pieces if not p.nulls]
    compiled = [
        _compile_piece(*piece_query(query, partition_on, p, dialect, params), dialect)
        for p in ranges + nulls
    ]
    meta = await _meta(source, query, params, dtypes)
    # The NULL piece is small or empty: it rides with the last range.
    groups = [[c] for c in compiled[:-2]] + [compiled[-2:]] if len(compiled) > 1 else [compiled]
    return dd.from_map(
        _read_group,
        groups,
        settings=settings,
        meta_frame=meta,
        dtypes=dict(dtypes) if dtypes else None,
        meta=meta,
        label="toolkit-read",
        enforce_metadata=False,
    )


def _read_group(
    group: list[_Piece], *, settings: _Secret, meta_frame: pd.DataFrame, dtypes: Any
) -> pd.DataFrame:
    frames = [_read_piece(settings, p, meta_frame, dtypes) for p in group]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


async def _meta(
    source: Source,
    query: Any,
    params: Mapping[str, Any] | None,
    dtypes: Mapping[str, Any] | None,
) -> pd.DataFrame:
    """An empty frame with the dtypes of the result.

    A select gives them from an empty read (its columns are typed); raw SQL from its
    first 1,000 rows (SQLite infers types from the values).
    """
    raw = _raw_sql(query)
    if raw is None:
        sub = query.subquery("_tk_meta")
        empty = select(*sub.c).where(false())
        frame = await read_frame(source, empty, params=params, dtypes=dtypes)
        return frame.iloc[:0]
    sample = f"SELECT * FROM ({raw}) AS _tk_meta LIMIT 1000"
    frame = await read_frame(source, sample, params=params, dtypes=dtypes)
    return frame.iloc[:0]


def _raw_sql(query: Any) -> str | None:
    raw = query if isinstance(query, str) else getattr(query, "text", None)
    return raw.strip().rstrip(";").rstrip() if isinstance(raw, str) else None
