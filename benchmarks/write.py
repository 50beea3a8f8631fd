"""The write contenders: one DataFrame of N rows into the empty table, every way a user might.

The table is emptied (untimed) before every run and its row count checked (untimed)
after. Each method starts from the same analyst's frame (see :mod:`benchmarks.data`)
and its time includes whatever conversion that method needs, done as a fair user
would do it with vectorised pandas calls:

- the driver limit feeds ``df.itertuples(index=False, name=None)`` to asyncpg's
  ``copy_records_to_table`` / sqlite3's ``executemany`` (one transaction), after
  turning text columns into ``object`` with None for missing values (iterating
  Arrow-backed strings is several times slower), and timestamps into ``datetime``
  objects (asyncpg) or SQLAlchemy's SQLite text format (sqlite3). asyncpg takes
  floats for NUMERIC as they are, so they are not turned into ``Decimal``.
- pandas ``to_sql`` goes through a sync SQLAlchemy engine (psycopg2 / sqlite3).
- ``tk.insert_frame`` takes the frame as it is and validates every cell.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any, cast

import pandas as pd

import toolkit as tk

from .data import TABLE, WRITE_COLUMNS, BenchRow
from .harness import Bench, Method

__all__ = ["DRIVER_LIMIT", "driver_write", "write_methods"]

DRIVER_LIMIT = "driver"
#: PostgreSQL's wire protocol takes at most 65,535 bound parameters per statement.
PG_MAX_PARAMETERS = 65_535


def _object_text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), None)


def _driver_rows(frame: pd.DataFrame, dialect: str) -> Iterator[tuple[Any, ...]]:
    """The frame's rows as the raw driver takes them."""
    converted: dict[str, pd.Series] = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_string_dtype(series):
            converted[name] = _object_text(series)
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            if dialect == "postgresql":
                converted[name] = pd.Series(
                    series.dt.to_pydatetime(), index=frame.index, dtype=object
                )
            else:
                # SQLAlchemy stores DateTime on SQLite as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC).
                converted[name] = series.dt.tz_convert("UTC").dt.tz_localize(None).astype(str)
    return frame.assign(**converted).itertuples(index=False, name=None)


def driver_write(bench: Bench, frame: pd.DataFrame) -> None:
    """asyncpg ``copy_records_to_table`` / sqlite3 ``executemany`` in one transaction."""
    records = _driver_rows(frame, bench.dialect)
    columns = list(frame.columns)
    if bench.apg is not None:
        bench.run(bench.apg.copy_records_to_table(TABLE, records=records, columns=columns))
        return
    assert bench.sqlite is not None
    marks = ", ".join("?" for _ in columns)
    bench.sqlite.execute("BEGIN")
    try:
        bench.sqlite.executemany(
            f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES ({marks})", records
        )
    except BaseException:
        bench.sqlite.execute("ROLLBACK")
        raise
    bench.sqlite.execute("COMMIT")


def _insert_frame(bench: Bench, frame: pd.DataFrame) -> int:
    return bench.run(tk.insert_frame(bench.db, BenchRow, frame, progress=False))


def _to_sql(bench: Bench, frame: pd.DataFrame, **options: Any) -> None:
    frame.to_sql(TABLE, bench.sync_engine, if_exists="append", index=False, **options)


def multi_chunksize(bench: Bench) -> int:
    """Rows per multi-row INSERT that keep its parameters under the database's limit."""
    if bench.sqlite is not None:
        # 32,766 since SQLite 3.32 (999 before); some builds allow more, but a portable
        # number is what a user would pick.
        limit = min(bench.sqlite.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER), 32_766)
    else:
        limit = PG_MAX_PARAMETERS
    return limit // len(WRITE_COLUMNS)


def _orm(bench: Bench, frame: pd.DataFrame) -> None:
    async def add_all() -> None:
        records = cast(
            list[dict[str, Any]], frame.astype(object).where(frame.notna(), None).to_dict("records")
        )
        async with bench.db.session() as session:
            session.add_all([BenchRow(**r) for r in records])
            await session.commit()

    bench.run(add_all())


def write_methods(bench: Bench, frame: pd.DataFrame, *, slow_rows: int | None) -> list[Method]:
    """The write contenders for ``bench``'s dialect; ``slow_rows`` None skips the slow ones."""
    rows = len(frame)
    pg = bench.dialect == "postgresql"
    engine = "psycopg2" if pg else "sqlite3"
    chunk = multi_chunksize(bench)
    subset = frame.iloc[: min(slow_rows or rows, rows)]
    driver = (
        "driver limit: asyncpg copy_records_to_table(df.itertuples())"
        if pg
        else "driver limit: sqlite3 executemany(df.itertuples()), one transaction"
    )
    contenders: list[tuple[str, str, Callable[[], object], pd.DataFrame]] = [
        (
            "insert_frame",
            "tk.insert_frame(db, BenchRow, df) (validation included)",
            lambda: _insert_frame(bench, frame),
            frame,
        ),
        (
            "to_sql",
            f"DataFrame.to_sql ({engine}, SQLAlchemy engine)",
            lambda: _to_sql(bench, frame),
            frame,
        ),
        (DRIVER_LIMIT, driver, lambda: driver_write(bench, frame), frame),
    ]
    if slow_rows is not None:
        contenders += [
            (
                "to_sql_multi",
                f"DataFrame.to_sql({engine}, method='multi', chunksize={chunk:,})",
                lambda: _to_sql(bench, subset, method="multi", chunksize=chunk),
                subset,
            ),
            (
                "orm",
                "naive ORM: session.add_all([BenchRow(**r) ...]) + commit",
                lambda: _orm(bench, subset),
                subset,
            ),
        ]
    # The row count is checked in the table (check=), not taken from the call's result.
    return [
        Method(
            key,
            label,
            _discard(fn),
            len(part),
            rows,
            before=bench.truncate,
            check=bench.count,
            core=key == "insert_frame",
        )
        for key, label, fn, part in contenders
    ]


def _discard(fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        fn()

    return run
