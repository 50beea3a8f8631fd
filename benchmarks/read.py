"""The read contenders: the whole table into one DataFrame, every way a user might.

Every method reads the same rows and columns (``SELECT id, int_val, ... FROM
bench_rows``, or ``select(BenchRow)``) and is checked to return N rows. They do not all
do the same amount of typing: read_frame gives nullable, exact dtypes (``Int64``,
``decimal128``, ``datetime64[us, UTC]``, ``string[pyarrow]``); pandas.read_sql on
sqlite3 leaves timestamps as text; the asyncpg and ORM paths leave NUMERIC as
``Decimal`` objects; polars returns a polars frame. The table says which is which.
"""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import connectorx as cx
import pandas as pd
import polars as pl
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import select

import toolkit as tk

from .data import COLUMNS, TABLE, BenchRow
from .harness import Bench, Method, SelfTimed

__all__ = ["DRIVER_LIMIT", "SQL", "STREAM_CHUNK", "read_methods"]

SQL = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"
STREAM_CHUNK = 50_000
WARMUP_ROWS = 1_000
#: The key of the method the others are compared with.
DRIVER_LIMIT = "driver"
#: The toolkit's own methods, always timed ``--repeats`` times.
CORE = frozenset(
    {
        "read_frame",
        "read_frame_columns",
        "read_frame_sql",
        "stream_frames",
        "read_frame_partitioned",
    }
)
#: Partitions of the partitioned reads (the toolkit's and ConnectorX's).
PARTITIONS = 2

# Every reader takes ``limit``: None for the timed runs, WARMUP_ROWS for the warm-up.


def _sql(limit: int | None) -> str:
    return SQL if limit is None else f"{SQL} LIMIT {limit}"


def _select(limit: int | None, *entities: Any) -> Any:
    query = select(*entities) if entities else select(BenchRow)
    return query if limit is None else query.limit(limit)


def _read_frame(bench: Bench, limit: int | None) -> int:
    return len(bench.run(tk.read_frame(bench.db, _select(limit))))


def _read_frame_columns(bench: Bench, limit: int | None) -> int:
    columns = [getattr(BenchRow, c) for c in COLUMNS]
    return len(bench.run(tk.read_frame(bench.db, _select(limit, *columns))))


def _read_frame_sql(bench: Bench, limit: int | None) -> int:
    return len(bench.run(tk.read_frame(bench.db, _sql(limit))))


def _stream_frames(bench: Bench, limit: int | None) -> int:
    async def collect() -> pd.DataFrame:
        stream = tk.stream_frames(bench.db, _select(limit), chunk_size=STREAM_CHUNK)
        return pd.concat([chunk async for chunk in stream], ignore_index=True)

    return len(bench.run(collect()))


def _read_frame_partitioned(bench: Bench, limit: int | None) -> int:
    frame = bench.run(
        tk.read_frame(bench.db, _select(limit), partition_on="id", partitions=PARTITIONS)
    )
    return len(frame)


def _pandas_read_sql(bench: Bench, limit: int | None) -> int:
    if bench.sqlite is not None:
        return len(pd.read_sql(_sql(limit), bench.sqlite))
    return len(pd.read_sql(_sql(limit), bench.sync_engine))


def _asyncpg_fetch(bench: Bench, limit: int | None) -> int:
    conn = bench.apg
    assert conn is not None

    async def fetch() -> pd.DataFrame:
        records = await conn.fetch(_sql(limit))
        return pd.DataFrame(records, columns=list(COLUMNS))

    return len(bench.run(fetch()))


def _sqlite3_fetchall(bench: Bench, limit: int | None) -> int:
    assert bench.sqlite is not None
    rows = bench.sqlite.execute(_sql(limit)).fetchall()
    return len(pd.DataFrame(rows, columns=list(COLUMNS)))


def _asyncpg_copy_csv(bench: Bench, limit: int | None) -> int:
    """The fastest way known before the toolkit: COPY ... CSV, parsed by Arrow."""
    conn = bench.apg
    assert conn is not None

    async def copy() -> bytes:
        parts: list[bytes] = []

        async def sink(data: bytes) -> None:
            parts.append(data)

        await conn.copy_from_query(_sql(limit), output=sink, format="csv")
        return b"".join(parts)

    data = bench.run(copy())
    return len(pd.read_csv(io.BytesIO(data), header=None, names=list(COLUMNS), engine="pyarrow"))


# ConnectorX links its own copy of SQLite. Two copies of SQLite in one process break
# SQLite's POSIX file locks (https://sqlite.org/howtocorrupt.html, section 2.2.1): once
# ConnectorX closed the file, a later process (the memory section's) took itself for
# the last user, deleted the WAL, and this process's connections failed with "disk I/O
# error". On SQLite it therefore runs in a child process, timed inside the child.
_CX_CHILD = """
import json, sys, time
import connectorx as cx
import pandas
start = time.perf_counter()
options = json.loads(sys.argv[3])
frame = cx.read_sql(sys.argv[1], sys.argv[2], **options)
print(json.dumps({"rows": len(frame), "seconds": time.perf_counter() - start}))
"""

# The ADBC SQLite driver statically links its own SQLite too: same reason, same child.
_ADBC_CHILD = """
import json, sys, time
import adbc_driver_sqlite.dbapi as adbc
import pandas as pd
start = time.perf_counter()
with adbc.connect(sys.argv[1]) as conn:
    frame = pd.read_sql(sys.argv[2], conn)
print(json.dumps({"rows": len(frame), "seconds": time.perf_counter() - start}))
"""


def _child(script: str, *args: str) -> SelfTimed:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    result = json.loads(done.stdout)
    return SelfTimed(int(result["rows"]), float(result["seconds"]))


def _pandas_adbc(bench: Bench, limit: int | None) -> SelfTimed:
    return _child(_ADBC_CHILD, str(bench.target.sqlite_path), _sql(limit))


def _connectorx_partitioned(bench: Bench, limit: int | None) -> int | SelfTimed:
    options = {"partition_on": "id", "partition_num": PARTITIONS}
    if limit is not None:
        return _connectorx(bench, limit)  # the warm-up: no partitions of a LIMIT query
    if bench.dialect == "postgresql":
        return len(cx.read_sql(bench.target.cx_url, _sql(limit), **options))  # type: ignore[arg-type]
    return _child(_CX_CHILD, bench.target.cx_url, _sql(limit), json.dumps(options))


def _connectorx(bench: Bench, limit: int | None) -> int | SelfTimed:
    if bench.dialect == "postgresql":
        return len(cx.read_sql(bench.target.cx_url, _sql(limit)))
    done = subprocess.run(
        [sys.executable, "-c", _CX_CHILD, bench.target.cx_url, _sql(limit), "{}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    result = json.loads(done.stdout)
    return SelfTimed(int(result["rows"]), float(result["seconds"]))


def _polars(engine: Any, limit: int | None) -> int:
    # Called outside the event loop: inside one, polars patches the running loop with
    # its vendored nest_asyncio (and blocks it), which would slow every later method.
    return len(pl.read_database(_sql(limit), engine))


def _orm(bench: Bench, limit: int | None) -> int:
    async def objects() -> pd.DataFrame:
        async with bench.db.session() as session:
            rows = (await session.exec(_select(limit))).all()
            return pd.DataFrame([row.model_dump() for row in rows])

    return len(bench.run(objects()))


def polars_engine(bench: Bench) -> Any:
    """An AsyncEngine for polars: without a pool, as polars runs it on a loop of its own."""
    url = bench.target.toolkit_url
    if bench.dialect == "sqlite":
        url = f"sqlite+aiosqlite:///{bench.target.sqlite_path}"
    return create_async_engine(url, poolclass=NullPool)


def read_methods(bench: Bench, rows: int, *, slow_rows: int | None, engine: Any) -> list[Method]:
    """The read contenders for ``bench``'s dialect; ``slow_rows`` None skips the slow one."""
    pg = bench.dialect == "postgresql"
    contenders: list[tuple[str, str, Callable[[int | None], int | SelfTimed]]] = [
        ("read_frame", "tk.read_frame(db, select(BenchRow))", lambda n: _read_frame(bench, n)),
        (
            "read_frame_columns",
            "tk.read_frame(db, select(BenchRow.id, ...)) (explicit columns)",
            lambda n: _read_frame_columns(bench, n),
        ),
        (
            "read_frame_sql",
            f'tk.read_frame(db, "{SQL}") (a SQL string)',
            lambda n: _read_frame_sql(bench, n),
        ),
        (
            "stream_frames",
            f"tk.stream_frames, {STREAM_CHUNK:,}-row chunks + pd.concat",
            lambda n: _stream_frames(bench, n),
        ),
        (
            "read_frame_partitioned",
            f"tk.read_frame(db, select(BenchRow), partition_on='id', partitions={PARTITIONS})",
            lambda n: _read_frame_partitioned(bench, n),
        ),
        (
            "connectorx_partitioned",
            f"ConnectorX cx.read_sql(partition_on='id', partition_num={PARTITIONS})"
            + ("" if pg else " (in a child process)"),
            lambda n: _connectorx_partitioned(bench, n),
        ),
        (
            "pandas",
            "pandas.read_sql (psycopg2, SQLAlchemy engine)" if pg else "pandas.read_sql (sqlite3)",
            lambda n: _pandas_read_sql(bench, n),
        ),
        (
            DRIVER_LIMIT,
            "driver limit: asyncpg fetch + pd.DataFrame(records)"
            if pg
            else "driver limit: sqlite3 fetchall + pd.DataFrame(rows)",
            (lambda n: _asyncpg_fetch(bench, n)) if pg else (lambda n: _sqlite3_fetchall(bench, n)),
        ),
        (
            "connectorx",
            "ConnectorX cx.read_sql (pandas)" + ("" if pg else " (in a child process, see notes)"),
            lambda n: _connectorx(bench, n),
        ),
        (
            "polars",
            "polars pl.read_database(AsyncEngine) (polars frame)",
            lambda n: _polars(engine, n),
        ),
    ]
    if not pg:
        contenders.append(
            (
                "pandas_adbc",
                "pandas.read_sql over adbc-driver-sqlite (in a child process: its own SQLite)",
                lambda n: _pandas_adbc(bench, n),
            )
        )
    if pg:
        contenders.append(
            (
                "copy_csv",
                "reference: asyncpg COPY (FORMAT csv) + pd.read_csv(engine='pyarrow')",
                lambda n: _asyncpg_copy_csv(bench, n),
            )
        )
    if slow_rows is not None:
        contenders.append(
            (
                "orm",
                "naive ORM: session.exec(select(BenchRow)) -> pd.DataFrame(model_dump())",
                lambda n: _orm(bench, n),
            )
        )
    methods = []
    for key, label, read in contenders:
        part = min(slow_rows or rows, rows) if key == "orm" else rows
        limit = part if part != rows else None
        methods.append(
            Method(
                key,
                label,
                functools.partial(read, limit),
                part,
                rows,
                warmup=functools.partial(read, min(WARMUP_ROWS, rows)),
                core=key in CORE,
            )
        )
    return methods
