"""Dask: load a Dask DataFrame into a table, all or nothing (``insert_dask``).

Each partition is validated in a worker. On PostgreSQL the workers COPY the partitions
in parallel into an UNLOGGED staging table, then one transaction moves the staged rows
into the target (``on_conflict`` as in ``insert_frame``) and drops the staging table;
on any failure (a bad row, a duplicate key, a dead worker) the staging table is dropped
and the target is untouched. On SQLite, which has one writer, the workers validate the
partitions and the client writes them in turn in one transaction. Reading is in
:mod:`toolkit.dask_io`, with the connection settings both share.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import uuid
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from .dask_io import Source, _engine, _require_dask, _run, _Secret, _url, _with_db
from .database import Database
from .drivers import driver_for
from .errors import ConfigurationError
from .frames import insert_frame
from .frames_connection import driver_errors as _driver_errors
from .frames_insert import OnConflict, write_target
from .frames_tables import resolve_table
from .progress import NoProgress, progress_bar

__all__ = ["insert_dask"]


def _load_partition(
    frame: pd.DataFrame,
    *,
    settings: _Secret,
    model: type[Any] | Table,
    stage: str,
    schema: str | None,
) -> tuple[tuple[str, ...], tuple[str, ...], str | None, int]:
    """Validate a partition and COPY it into the staging table (in a worker).

    Returns the columns written, the columns the frame gave, the explicit serial key
    and the rows written.
    """
    from .drivers import WriteTarget
    from .validation import validate_frame

    validated = validate_frame(model, frame)
    names = tuple(validated.table.column_names)
    if validated.table.num_rows == 0:
        return names, tuple(validated.given), validated.explicit_serial, 0

    async def work(db: Database) -> int:
        async with db.engine.connect() as conn, conn.begin():
            await driver_for(conn.dialect.name).join_transaction(conn)
            prep = conn.dialect.identifier_preparer
            target = WriteTarget(
                table=_qualified(prep, stage, schema),
                name=stage,
                schema=schema,
                columns=names,
                quoted_columns=tuple(prep.quote(c) for c in names),
                conflict_columns=(),
            )
            raw = await conn.get_raw_connection()
            written: int = await driver_for(conn.dialect.name).write(
                raw.driver_connection,
                target,
                validated.table,
                on_conflict="error",
                chunk_size=100_000,
                progress=NoProgress(),
            )
            return written

    rows: int = _run(_with_db(settings, work))
    return names, tuple(validated.given), validated.explicit_serial, rows


def _validate_partition(frame: pd.DataFrame, *, model: type[Any] | Table) -> pd.DataFrame:
    """Validate a partition in a worker (SQLite: the client writes it afterwards)."""
    from .validation import validate_frame

    validate_frame(model, frame)
    return frame


def _qualified(prep: Any, name: str, schema: str | None) -> str:
    quoted = prep.quote(name)
    return f"{prep.quote_schema(schema)}.{quoted}" if schema else quoted


def _bar(total: int, progress: bool | None, desc: str) -> Any:
    return progress_bar(total, desc=desc, show=progress, unit="partitions")


def _client() -> Any:
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        return None


def _gather(tasks: list[Any], bar: Any) -> list[Any]:
    """Compute delayed tasks (on the distributed client when there is one), moving
    ``bar`` as each finishes; the first failure cancels the rest and is raised."""
    client = _client()
    if client is None:
        dask: Any = importlib.import_module("dask")
        results = list(dask.compute(*tasks))
        bar.update(len(tasks))
        return results
    as_completed: Any = importlib.import_module("distributed").as_completed
    futures = client.compute(tasks)
    try:
        for future in as_completed(futures):
            future.result()  # raises the partition's error
            bar.update(1)
        return [f.result() for f in futures]
    finally:
        client.cancel([f for f in futures if not f.done()])


async def insert_dask(
    target: Source,
    model: type[Any] | Table | str,
    ddf: Any,
    *,
    on_conflict: OnConflict = "error",
    connect_args: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> int:
    """Validate and load a Dask DataFrame into a table, all or nothing.

    Parameters
    ----------
    target : Database or AsyncEngine
    model : SQLModel table class, sqlalchemy.Table or a table's name
        As for ``insert_frame``: a name is reflected (``"schema.table"`` too), and the
        table must exist. A model must be importable by the workers (defined in a
        module, not only in a notebook).
    ddf : dask.dataframe.DataFrame
        Columns named as the model's fields (or the table's columns), as for
        ``insert_frame``.
    on_conflict : {"error", "ignore", "update"}
        As in :func:`toolkit.insert_frame`.
    connect_args : mapping, optional
        Passed to each worker's ``tk.connect``.
    progress : bool, optional
        A progress bar that moves as partitions finish (default: when a person watches).

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    FrameValidationError
        A partition held a bad row; nothing was written.
    DuplicateError, ForeignKeyError, NotNullError
        The database refused the rows; nothing was written.
    ConfigurationError
        Dask is not installed, or an option is wrong.

    Examples
    --------
    >>> n = await tk.insert_dask(db, Event, ddf)
    """
    _require_dask()
    if on_conflict not in ("error", "ignore", "update"):
        raise ConfigurationError(
            f"on_conflict must be 'error', 'ignore' or 'update', not {on_conflict!r}."
        )
    engine = _engine(target)
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in ddf.dtypes.items()})
    resolved = await resolve_table(
        target, model, empty, create=False, primary_key=None, dtypes=None
    )
    what = resolved.target  # the model, or the Table the frames are validated against
    bar = _bar(ddf.npartitions, progress, f"insert {resolved.name}")
    try:
        with _driver_errors(what if isinstance(what, type) else resolved.name):
            if engine.dialect.name != "postgresql":
                return await _insert_in_turn(target, what, ddf, on_conflict, bar)
            settings = _Secret((_url(target), dict(connect_args) if connect_args else None))
            return await _insert_staged(
                engine, settings, what, resolved.table, resolved.name, ddf, on_conflict, bar
            )
    finally:
        bar.close()


async def _insert_in_turn(
    target: Source, model: type[Any] | Table, ddf: Any, on_conflict: OnConflict, bar: Any
) -> int:
    """SQLite: partitions validated in the workers, written in turn in one transaction.

    With a distributed client the workers validate ahead while the client writes, and
    each partition is fetched only when its turn comes, so the client holds about one
    partition at a time.
    """
    dask: Any = importlib.import_module("dask")
    parts = [
        dask.delayed(_validate_partition)(p, model=model)
        for p in ddf.to_delayed(optimize_graph=True)
    ]
    engine = _engine(target)
    frames = _in_order(parts, bar)
    async with contextlib.aclosing(frames), engine.connect() as conn, conn.begin():
        written = 0
        async for frame in frames:
            written += await insert_frame(conn, model, frame, on_conflict=on_conflict)
    return written


async def _in_order(parts: list[Any], bar: Any) -> AsyncGenerator[pd.DataFrame, None]:
    """The computed partitions in order, one fetched at a time (all at once without a
    distributed client)."""
    client = _client()
    if client is None:
        for frame in await asyncio.to_thread(_gather, parts, NoProgress()):
            bar.update(1)
            yield frame
        return
    futures = client.compute(parts)
    try:
        for future in futures:
            frame = await asyncio.to_thread(future.result)
            bar.update(1)
            yield frame
            future.release()
    finally:
        client.cancel([f for f in futures if not f.done()])


async def _insert_staged(
    engine: AsyncEngine,
    settings: _Secret,
    model: type[Any] | Table,
    table: Table,
    name: str,
    ddf: Any,
    on_conflict: str,
    bar: Any,
) -> int:
    """PostgreSQL: workers COPY into an UNLOGGED staging table; one transaction moves it."""
    dask: Any = importlib.import_module("dask")

    stage = f"_tk_stage_{uuid.uuid4().hex[:16]}"
    schema = table.schema
    async with engine.begin() as conn:
        prep = conn.dialect.identifier_preparer
        staged = _qualified(prep, stage, schema)
        target_name = prep.format_table(table)
        await conn.exec_driver_sql(
            f"CREATE UNLOGGED TABLE {staged} (LIKE {target_name} INCLUDING DEFAULTS)"
        )
    try:
        loads = [
            dask.delayed(_load_partition)(
                p, settings=settings, model=model, stage=stage, schema=schema
            )
            for p in ddf.to_delayed(optimize_graph=True)
        ]
        results = await asyncio.to_thread(_gather, loads, bar)
        written = [r for r in results if r[3] > 0]
        if not written:
            return 0
        names, given, serial, _ = written[0]
        async with engine.begin() as conn:
            target = write_target(table, name, conn.dialect, names, given, serial, on_conflict)
            cols = ", ".join(target.quoted_columns)
            key = ", ".join(target.conflict_columns)
            order = f" ORDER BY {key}" if key else ""
            action = target.conflict_clause(on_conflict, excluded="EXCLUDED")
            moved = await conn.exec_driver_sql(
                f"INSERT INTO {target.table} ({cols}) SELECT {cols} FROM {staged}{order}{action}"
            )
            if target.serial_column is not None:
                # Explicit ids do not move the sequence: the driver's one rule moves it.
                raw = await conn.get_raw_connection()
                await driver_for(conn.dialect.name).advance_sequence(
                    raw.driver_connection, target.table, target.serial_column
                )
            return int(moved.rowcount)
    finally:
        with contextlib.suppress(Exception):
            async with engine.begin() as conn:
                await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {staged}")
