"""The DataFrame bridge: read_frame, stream_frames, insert_frame, to_frame.

Frames go through the driver connection beneath SQLAlchemy (see :mod:`toolkit.drivers`)
so that no SQLAlchemy ``Row`` or ORM object is built for a frame; SQLAlchemy still
compiles the query, owns the pool and the transaction, and sees each statement (so
``count_queries`` counts frames too). dtypes follow :mod:`toolkit.dtypes`.

Transactions: with a ``Database`` or ``AsyncEngine`` the call uses a pooled connection
of its own (and ``insert_frame`` commits before returning). With an ``AsyncConnection``
or ``AsyncSession`` it joins that transaction: reads see its uncommitted writes, and
``insert_frame`` runs in a savepoint, so a failure undoes only the frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import pandas as pd
from sqlalchemy import TextClause, text
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.selectable import TextualSelect

from .database import READ_ONLY_OPTION, Database
from .drivers import WriteTarget, driver_for, sqlite_adbc
from .dtypes import ColumnSpec, empty_frame, override_specs, spec_from_type, values_to_frame
from .errors import (
    ConfigurationError,
    QueryError,
    ToolkitError,
    TransactionConflictError,
    is_retryable,
    translate_integrity_error,
    unavailable,
)
from .scale import read_partitioned, stream_partitioned
from .transactions import autocommits, retry_conflicts
from .validation import validate_frame

__all__ = ["insert_frame", "read_frame", "stream_frames", "to_frame"]

Source = Database | AsyncEngine | AsyncConnection | AsyncSession
OnConflict = Literal["error", "ignore", "update"]
#: Rows per COPY / executemany batch when the caller does not say.
DEFAULT_WRITE_CHUNK = 100_000
#: Frames with at least this many rows get a progress bar when a person is watching.
PROGRESS_MIN_ROWS = 100_000


# -- connections ------------------------------------------------------------------------


def _engine_of(source: Source) -> AsyncEngine | None:
    if isinstance(source, Database):
        return source.engine
    if isinstance(source, AsyncEngine):
        return source
    return None


def _check_source(source: Any) -> None:
    if not isinstance(source, Database | AsyncEngine | AsyncConnection | AsyncSession):
        raise ConfigurationError(
            f"Cannot read or write through {type(source).__name__}; pass a toolkit "
            "Database (tk.connect(...)), an AsyncEngine, an AsyncConnection or an "
            "AsyncSession."
        )


@asynccontextmanager
async def _read_connection(source: Source) -> AsyncIterator[AsyncConnection]:
    _check_source(source)
    engine = _engine_of(source)
    if engine is not None:
        async with engine.connect() as conn:
            conn = await conn.execution_options(**{READ_ONLY_OPTION: True})
            yield conn
        return
    if isinstance(source, AsyncConnection):
        await _join_driver_transaction(source)
        yield source
        return
    assert isinstance(source, AsyncSession)
    own = autocommits(source) and not source.in_transaction()
    await source.flush()  # as a query would: the frame sees pending changes
    conn = await source.connection(execution_options={READ_ONLY_OPTION: True} if own else None)
    await _join_driver_transaction(conn)
    try:
        yield conn
    finally:
        if own and source.in_transaction():
            await source.commit()


async def _join_driver_transaction(conn: AsyncConnection) -> None:
    """Make the driver connection really be inside SQLAlchemy's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement; work
    sent straight to asyncpg before that would run outside the transaction.
    """
    if not conn.in_transaction() or conn.dialect.name != "postgresql":
        return
    raw = await conn.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    # Private to SQLAlchemy's asyncpg adapter (2.0-2.1); the only way to BEGIN now.
    if getattr(adapter, "_transaction", True) is None and hasattr(adapter, "_start_transaction"):
        await adapter._start_transaction()


async def _driver(conn: AsyncConnection) -> Any:
    raw = await conn.get_raw_connection()
    return raw.driver_connection


# -- compiling queries ------------------------------------------------------------------


def _compile(
    query: Any, params: Mapping[str, Any] | None, dialect: Dialect
) -> tuple[str, list[Any], list[ColumnSpec] | None]:
    """SQL for the driver, positional arguments, and column specs when types are known."""
    if isinstance(query, str):
        query = text(query)
    if not isinstance(query, ClauseElement) or not isinstance(query, Executable):
        raise ConfigurationError(
            f"read_frame takes a SQL string or a SQLAlchemy select, not {type(query).__name__}."
        )
    compiled: Any = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    try:
        values = compiled.construct_params(dict(params or {}), _check=True)
    except sa_exc.InvalidRequestError as exc:
        raise ConfigurationError(f"{exc}. Pass it in params={{...}}.") from exc
    processors: Mapping[str, Any] = getattr(compiled, "_bind_processors", {})
    names = compiled.positiontup or []
    args = []
    for name in names:
        value = values[name]
        processor = processors.get(name)
        args.append(processor(value) if processor is not None else value)
    result_columns = getattr(compiled, "_result_columns", None) or []
    specs: list[ColumnSpec] | None = None
    if isinstance(query, TextualSelect):
        # text(sql).columns(...) may type only some columns, matched by name: the
        # driver finds every column, and the declared types are applied on top.
        specs = None
    elif result_columns:
        specs = [spec_from_type(entry[0], entry[3]) for entry in result_columns]
    elif isinstance(query, TextClause):
        specs = None
    return compiled.string, args, specs


def _announce(conn: AsyncConnection, sql: str, args: Sequence[Any]) -> Any:
    """Tell SQLAlchemy's listeners (count_queries, echo) about a driver-level statement."""
    sync = conn.sync_connection
    if sync is None:
        return None
    if conn.engine.echo:
        conn.engine.sync_engine.logger.info("%s [toolkit frames] %r", sql, tuple(args))
    dispatch = sync.dispatch
    if dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(sync, None, sql, tuple(args), None, False)
    return sync


def _finished(conn: AsyncConnection, sql: str, args: Sequence[Any]) -> None:
    sync = conn.sync_connection
    if sync is not None and sync.dispatch.after_cursor_execute:
        sync.dispatch.after_cursor_execute(sync, None, sql, tuple(args), None, False)


@contextmanager
def _driver_errors(model: type[Any] | None = None) -> Iterator[None]:
    """Re-raise driver errors as the toolkit's (integrity errors named for ``model``)."""
    try:
        yield
    except ToolkitError:
        raise
    except Exception as exc:
        state = getattr(exc, "sqlstate", None)
        integrity = (isinstance(state, str) and state.startswith("23")) or type(
            exc
        ).__name__ == "IntegrityError"
        new = translate_integrity_error(exc, model) if integrity else _translate(exc)
        if new is exc:
            raise
        raise new from exc


def _translate(exc: BaseException) -> BaseException:
    """The toolkit's error for a driver error raised under a frame function."""
    if isinstance(exc, ToolkitError):
        return exc
    lost = unavailable(exc)
    if lost is not None:
        return lost
    if is_retryable(exc):
        return TransactionConflictError(
            f"The call conflicted with a concurrent transaction ({_first_line(exc)}) and "
            "was rolled back. Inside your own transaction, roll it back and run it again "
            "(tk.run_transaction does that for you)."
        )
    if _is_driver_error(exc):
        return QueryError(
            f"The database refused the query: {_first_line(exc)}. Check the SQL against "
            "the tables and columns of the database."
        )
    return exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _is_driver_error(exc: BaseException) -> bool:
    import sqlite3

    import asyncpg

    return isinstance(exc, sqlite3.Error | asyncpg.PostgresError | sa_exc.DBAPIError)


# -- reading ----------------------------------------------------------------------------


async def _prepare(
    conn: AsyncConnection,
    query: Any,
    params: Mapping[str, Any] | None,
    dtypes: Mapping[str, Any] | None,
) -> tuple[Any, Any, str, list[Any], list[ColumnSpec] | None]:
    """Compile ``query`` for ``conn``'s driver and announce it to SQLAlchemy's listeners.

    Returns the driver module, the driver connection, SQL, arguments and column specs.
    """
    sql, args, specs = _compile(query, params, conn.dialect)
    driver = await _driver(conn)
    fast = driver_for(conn.dialect.name)
    specs = await _describe(fast, driver, sql, specs, _declared(query, dtypes))
    _announce(conn, sql, args)
    return fast, driver, sql, args, specs


def _declared(query: Any, dtypes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Types given by the caller: ``text(...).columns(...)``, then ``dtypes=`` over them."""
    declared: dict[str, Any] = {}
    if isinstance(query, TextualSelect):
        declared = {c.name: c.type for c in query.selected_columns}
    return {**declared, **(dtypes or {})}


async def _describe(
    fast: Any,
    driver: Any,
    sql: str,
    specs: list[ColumnSpec] | None,
    dtypes: Mapping[str, Any] | None,
) -> list[ColumnSpec] | None:
    """Column specs: from SQLAlchemy, else from the server where it can tell, then overrides."""
    if specs is None and hasattr(fast, "describe"):
        specs = await fast.describe(driver, sql)
    return override_specs(specs, dtypes) if specs is not None else None


def _retype(frame: pd.DataFrame, dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """Apply ``dtypes=`` to the named columns of a frame whose types were inferred.

    (Raw SQL on SQLite; the other columns keep the types inferred for them.)
    """
    out = frame.copy(deep=False)
    for name in frame.columns.intersection(list(dtypes)):
        (spec,) = override_specs([ColumnSpec(str(name), "object")], {name: dtypes[name]})
        values = [
            None if v is pd.NA or (not isinstance(v, str) and pd.isna(v)) else v
            for v in frame[name].tolist()
        ]
        out[name] = values_to_frame([spec], [values]).iloc[:, 0].set_axis(frame.index)
    return out


async def _read_on(
    conn: AsyncConnection,
    query: Any,
    params: Mapping[str, Any] | None,
    dtypes: Mapping[str, Any] | None,
) -> pd.DataFrame:
    """Read ``query`` whole on ``conn`` (already inside the right transaction)."""
    fast, driver, sql, args, specs = await _prepare(conn, query, params, dtypes)
    frame: pd.DataFrame = await fast.read(driver, sql, args, specs)
    _finished(conn, sql, args)
    if specs is None and _declared(query, dtypes):
        frame = _retype(frame, _declared(query, dtypes))
    return frame


async def _read_adbc(
    source: Source,
    query: Any,
    params: Mapping[str, Any] | None,
    dtypes: Mapping[str, Any] | None,
) -> pd.DataFrame | None:
    """A SQLite file read outside a transaction, through ADBC (see
    :mod:`toolkit.drivers.sqlite_adbc`); None when that path does not apply."""
    engine = _engine_of(source)
    if engine is None or engine.dialect.name != "sqlite":
        return None
    path = sqlite_adbc.usable_path(engine.url)
    if path is None or not sqlite_adbc.available():
        return None
    sql, args, specs = _compile(query, params, engine.dialect)
    declared = _declared(query, dtypes)
    if specs is None and declared:
        return None  # types declared over inferred ones: the aiosqlite path applies them
    if specs is not None:
        specs = override_specs(specs, declared)
    frame = await sqlite_adbc.read(path, sql, args, specs)
    if frame is not None:
        async with engine.connect() as conn:
            _announce(conn, sql, args)
            _finished(conn, sql, args)
    return frame


async def read_frame(
    source: Source,
    query: Any,
    *,
    params: Mapping[str, Any] | None = None,
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
    query : SQLAlchemy select (Core or ORM entity), or a SQL string with ``:name`` params
        ``select(User)`` reads User's columns: no ORM object is built.
    params : mapping, optional
        Values for ``:name`` parameters (always sent as bound parameters).
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
        A missing parameter, or a source/query of the wrong kind.
    DatabaseUnavailableError
        The connection was lost.

    Examples
    --------
    >>> df = await tk.read_frame(db, select(User).where(User.is_active))
    >>> df = await tk.read_frame(db, "SELECT * FROM users WHERE id > :i", params={"i": 3})
    """
    with _driver_errors():
        engine = _engine_of(source) if partition_on is not None else None
        if engine is not None and partition_on is not None:
            frame = await read_partitioned(
                engine,
                query,
                params=params,
                dtypes=dtypes,
                partition_on=partition_on,
                partitions=partitions,
                bounds=bounds,
                read=_read_on,
            )
        else:
            adbc = await _read_adbc(source, query, params, dtypes)
            if adbc is not None:
                frame = adbc
            else:
                async with _read_connection(source) as conn:
                    frame = await _read_on(conn, query, params, dtypes)
    if index_col is not None:
        frame = frame.set_index(index_col if isinstance(index_col, str) else list(index_col))
    return frame


async def stream_frames(
    source: Source,
    query: Any,
    *,
    chunk_size: int = 50_000,
    params: Mapping[str, Any] | None = None,
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
    engine = _engine_of(source) if partition_on is not None else None
    if engine is not None and partition_on is not None:
        with _driver_errors():
            pieces = stream_partitioned(
                engine,
                query,
                chunk_size=chunk_size,
                params=params,
                dtypes=dtypes,
                partition_on=partition_on,
                partitions=partitions,
                bounds=bounds,
                read=_read_on,
            )
            async with contextlib.aclosing(pieces):
                async for frame in pieces:
                    yield frame
        return
    with _driver_errors():
        async with _read_connection(source) as conn:
            complete = False
            emitted = False
            try:
                fast, driver, sql, args, specs = await _prepare(conn, query, params, dtypes)
                async for frame in fast.stream(driver, sql, args, specs, chunk_size):
                    emitted = True
                    retype = specs is None and _declared(query, dtypes)
                    yield _retype(frame, _declared(query, dtypes)) if retype else frame
                complete = True
                if not emitted and specs is not None:
                    yield empty_frame(specs)
            finally:
                if not complete and conn.dialect.name == "postgresql":
                    # A COPY left halfway cannot be resumed: drop that connection.
                    await conn.invalidate()
            if complete:
                _finished(conn, sql, args)


# -- writing ----------------------------------------------------------------------------


def _someone_watching() -> bool:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return False
    if "ipykernel" in sys.modules:
        return True
    return sys.stderr is not None and sys.stderr.isatty()


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def reset(self, total: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, progress: bool | None, desc: str) -> Any:
    show = (
        progress if progress is not None else (total >= PROGRESS_MIN_ROWS and _someone_watching())
    )
    if not show:
        return _NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="rows", unit_scale=True)


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
        serial_column=prep.quote(explicit_serial)
        if explicit_serial and dialect.name == "postgresql"
        else None,
        update_columns=tuple(prep.quote(c) for c in columns if c in given),
    )


@asynccontextmanager
async def _write_connection(target: Source, model: type[Any]) -> AsyncIterator[AsyncConnection]:
    _check_source(target)
    engine = _engine_of(target)
    if engine is not None:
        async with engine.connect() as conn, conn.begin():
            await _join_driver_transaction(conn)
            yield conn
        return
    if isinstance(target, AsyncConnection):
        if target.in_transaction():
            async with target.begin_nested():
                yield target
        else:
            async with target.begin():
                await _join_driver_transaction(target)
                yield target
        return
    assert isinstance(target, AsyncSession)
    commit = autocommits(target)
    await target.flush()
    try:
        conn = await target.connection()
        await _join_driver_transaction(conn)
        yield conn
        if commit:
            await target.commit()
    except BaseException:
        if commit and target.in_transaction():
            await target.rollback()
        raise


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
    bar = _progress_bar(rows, progress, f"insert {model.__name__}")

    async def attempt() -> int:
        bar.reset(total=rows)
        with _driver_errors(model):
            async with _write_connection(target, model) as conn:
                write_target = _target(
                    model,
                    validated.table.column_names,
                    conn.dialect,
                    validated.explicit_serial,
                    on_conflict,
                    validated.given,
                )
                driver = await _driver(conn)
                fast = driver_for(conn.dialect.name)
                summary = f"INSERT INTO {write_target.table} [toolkit insert_frame, {rows} rows]"
                _announce(conn, summary, ())
                written: int = await fast.write(
                    driver,
                    write_target,
                    validated.table,
                    on_conflict=on_conflict,
                    chunk_size=chunk,
                    progress=bar,
                )
                _finished(conn, summary, ())
        return written

    try:
        # A deadlock or serialization failure has rolled back the whole write: when the
        # write is its own transaction, run it again; inside the caller's it is theirs.
        if not _owns_transaction(target):
            return await attempt()
        # Deadlocks and serialization failures only: SQLite's busy timeout already waited.
        return await retry_conflicts(attempt, busy=False)
    finally:
        bar.close()


def _owns_transaction(target: Source) -> bool:
    """True when a write to ``target`` is a transaction of its own (not the caller's)."""
    if isinstance(target, AsyncConnection):
        return not target.in_transaction()
    if isinstance(target, AsyncSession):
        # Not merely autocommits(): a session holding work of its own (pending, or
        # flushed in a transaction it began by itself) would lose it to a retry.
        pending = target.new or target.dirty or target.deleted
        return not target.in_transaction() and not pending
    return True


# -- models -> frame --------------------------------------------------------------------


def to_frame(models: Sequence[Any], model: type[Any] | None = None) -> pd.DataFrame:
    """Turn a list of SQLModel objects into a typed DataFrame.

    Columns and dtypes come from the model's table (table models) or its fields
    (other pydantic models); relationships are left out.

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
    if getattr(cls, "__table__", None) is not None:
        # Named by field (attribute), which may differ from the column's name.
        specs = [spec_from_type(key, c.type) for key, c in sa_inspect(cls).columns.items()]
    else:
        specs = [
            _spec_from_annotation(name, info.annotation) for name, info in cls.model_fields.items()
        ]
    columns = [[getattr(m, spec.name) for m in models] for spec in specs]
    return values_to_frame(specs, columns)


def _spec_from_annotation(name: str, annotation: Any) -> ColumnSpec:
    import datetime as dt
    import decimal
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0] if len(args) == 1 else annotation
    kinds: dict[Any, Any] = {
        bool: "bool",
        int: "int",
        float: "float",
        str: "str",
        dt.datetime: "datetime",
        dt.date: "date",
        decimal.Decimal: "object",
    }
    return ColumnSpec(name, kinds.get(base, "object"))
