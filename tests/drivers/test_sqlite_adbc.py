"""SQLite reads through ADBC in a helper process: the same frames as the aiosqlite path."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, text

import toolkit as tk
from toolkit.drivers import sqlite_adbc

from ..frame_models import AllTypes, Keyed
from ..test_partitioned_read import _rows

pytestmark = pytest.mark.skipif(not sqlite_adbc.available(), reason="adbc-driver-sqlite")


@pytest.fixture
async def sdb(tmp_path: Path) -> tk.Database:
    db = tk.connect(tmp_path / "adbc.db")
    await db.create_all()
    await tk.insert_frame(db, AllTypes, _rows(300))
    yield db
    await db.dispose()


async def _through_aiosqlite(db: tk.Database, query: object) -> pd.DataFrame:
    """The same read on a connection (the aiosqlite path, never ADBC)."""
    async with db.engine.connect() as conn:
        return await tk.read_frame(conn, query)


QUERIES = {
    "select": select(AllTypes).order_by(AllTypes.id),
    "columns": select(AllTypes.id, AllTypes.n, AllTypes.ts, AllTypes.d, AllTypes.b),
    "raw": "SELECT id, i, f, s, t FROM test_all_types ORDER BY id",
    "raw-agg": "SELECT s, count(*) AS n, avg(f) AS mean FROM test_all_types GROUP BY s",
    "empty": select(AllTypes).where(AllTypes.id < 0),
}


@pytest.mark.parametrize("name", list(QUERIES))
async def test_adbc_frames_equal_aiosqlite_frames(sdb: tk.Database, name: str) -> None:
    query = QUERIES[name]
    expected = await _through_aiosqlite(sdb, query)
    got = await tk.read_frame(sdb, query)
    pd.testing.assert_frame_equal(got, expected)


async def test_typed_read_goes_through_adbc(sdb: tk.Database) -> None:
    sql = "SELECT id, i, s FROM test_all_types ORDER BY id"
    path = sqlite_adbc.usable_path(sdb.engine.url)
    assert path is not None
    frame = await sqlite_adbc.read(path, sql, [], None)
    assert frame is not None
    pd.testing.assert_frame_equal(frame, await _through_aiosqlite(sdb, sql))


async def test_adbc_never_loads_in_this_process(sdb: tk.Database) -> None:
    """Its own copy of SQLite beside the system's would break SQLite's POSIX locks."""
    await tk.read_frame(sdb, select(AllTypes))
    assert "adbc_driver_sqlite" not in sys.modules
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert "libadbc_driver_sqlite" not in maps.read_text()


async def test_inside_a_transaction_sees_uncommitted_rows(sdb: tk.Database) -> None:
    async with sdb.transaction() as s:
        await tk.insert_frame(s, Keyed, pd.DataFrame({"id": [1], "code": ["a"]}))
        frame = await tk.read_frame(s, select(Keyed))
        assert frame["id"].tolist() == [1]


async def test_mixed_type_column_falls_back(sdb: tk.Database) -> None:
    async with sdb.transaction() as s:
        await s.exec(text("CREATE TABLE loose (v)"))  # type: ignore[call-overload]
        await s.exec(text("INSERT INTO loose VALUES (1), ('x'), (2.5), (NULL)"))  # type: ignore[call-overload]
    sql = "SELECT v FROM loose"
    pd.testing.assert_frame_equal(await tk.read_frame(sdb, sql), await _through_aiosqlite(sdb, sql))


async def test_reads_beside_a_writer_keep_the_file_sound(sdb: tk.Database) -> None:
    """ADBC (another process, another copy of SQLite) reading while the pool writes."""

    async def write() -> None:
        for k in range(40):
            frame = pd.DataFrame({"id": [k + 1], "code": [f"c{k}"]})
            await tk.insert_frame(sdb, Keyed, frame)

    async def read() -> None:
        for _ in range(15):
            got = await tk.read_frame(sdb, select(Keyed.id))
            assert got["id"].is_monotonic_increasing or len(got) >= 0

    await asyncio.gather(write(), read())
    assert len(await tk.read_frame(sdb, select(Keyed))) == 40
    check = await tk.read_frame(sdb, "PRAGMA integrity_check")
    assert check.iloc[0, 0] == "ok"


async def test_count_queries_counts_adbc_reads(sdb: tk.Database) -> None:
    async with tk.count_queries(sdb) as log:
        await tk.read_frame(sdb, select(AllTypes))
    assert log.count == 1


async def test_a_column_null_for_its_first_thousands_of_rows(sdb: tk.Database) -> None:
    """ADBC types a column from its first batch: text after 3,000 NULLs does not fit.
    The read still returns every row with the aiosqlite path's dtypes."""
    frame = pd.DataFrame({"id": range(1, 5001), "code": [f"c{k}" for k in range(5000)]})
    frame["note"] = [None if k < 3000 else f"n{k}" for k in range(5000)]
    await tk.insert_frame(sdb, Keyed, frame)
    for query in ("SELECT id, note FROM test_keyed ORDER BY id", select(Keyed).order_by(Keyed.id)):
        got = await tk.read_frame(sdb, query)
        assert len(got) == 5000
        pd.testing.assert_frame_equal(got, await _through_aiosqlite(sdb, query))
