"""read_frame / stream_frames with partition_on: the unpartitioned result, on one snapshot."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import select, text, update

import toolkit as tk
from toolkit.partition import plan_pieces

from .frame_models import AllTypes, Keyed

UTC = dt.UTC


def _rows(n: int) -> pd.DataFrame:
    rng = random.Random(7)
    base = dt.datetime(2024, 1, 1, 12, 0, 0)
    rows = []
    for k in range(1, n + 1):
        missing = k % 7 == 0
        rows.append(
            {
                "id": k,
                "small": None if missing else rng.randint(-300, 300),
                "i": None if missing else rng.randint(-10_000, 10_000),
                "big": rng.randint(-(2**40), 2**40),
                "f": None if missing else rng.uniform(-1e3, 1e3),
                "n": None if missing else Decimal(rng.randint(-99_999, 99_999)) / 100,
                "s": f"s{k}",
                "t": None if missing else "x" * (k % 5),
                "b": None if missing else bool(k % 2),
                "ts": None if missing else (base + dt.timedelta(hours=k)).replace(tzinfo=UTC),
                "naive": None if missing else base - dt.timedelta(minutes=37 * k),
                "d": None if missing else (base + dt.timedelta(days=k % 400)).date(),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
async def filled(db: tk.Database) -> tk.Database:
    frame = _rows(500)
    await tk.insert_frame(db, AllTypes, frame)
    return db


COLUMNS = ["id", "small", "i", "f", "n", "ts", "naive", "d"]


@pytest.mark.parametrize("column", COLUMNS)
async def test_partitioned_select_equals_unpartitioned(filled: tk.Database, column: str) -> None:
    query = select(AllTypes).order_by(AllTypes.id)
    whole = await tk.read_frame(filled, query)
    parts = await tk.read_frame(filled, select(AllTypes), partition_on=column, partitions=3)
    parts = parts.sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(parts, whole)


@pytest.mark.parametrize("column", ["id", "i", "f", "naive", "d"])
async def test_partitioned_raw_sql_equals_unpartitioned(filled: tk.Database, column: str) -> None:
    sql = "SELECT id, i, f, s, naive, d FROM test_all_types WHERE id > :low"
    whole = await tk.read_frame(filled, sql, params={"low": 3})
    parts = await tk.read_frame(filled, sql, params={"low": 3}, partition_on=column, partitions=4)
    parts = parts.sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(parts, whole.sort_values("id", ignore_index=True))


@pytest.mark.parametrize(
    "order",
    ["i", "i DESC", "i NULLS FIRST", "i DESC NULLS LAST", "test_all_types.i ASC, id"],
)
async def test_order_by_partition_column_is_honoured(filled: tk.Database, order: str) -> None:
    sql = f"SELECT id, i FROM test_all_types ORDER BY {order}, id"
    whole = await tk.read_frame(filled, sql)
    parts = await tk.read_frame(filled, sql, partition_on="i", partitions=3)
    pd.testing.assert_frame_equal(parts, whole)


async def test_order_by_another_column_is_honoured(filled: tk.Database) -> None:
    query = select(AllTypes.id, AllTypes.s, AllTypes.i).order_by(AllTypes.s.desc())
    whole = await tk.read_frame(filled, query)
    parts = await tk.read_frame(filled, query, partition_on="i", partitions=3)
    pd.testing.assert_frame_equal(parts, whole)


async def test_bounds_cut_the_ranges_and_outliers_still_read(filled: tk.Database) -> None:
    whole = await tk.read_frame(filled, select(AllTypes.id, AllTypes.i).order_by(AllTypes.id))
    parts = await tk.read_frame(
        filled,
        select(AllTypes.id, AllTypes.i).order_by(AllTypes.id),
        partition_on="id",
        partitions=5,
        bounds=(100, 200),
    )
    pd.testing.assert_frame_equal(parts, whole)


async def test_stream_frames_partitioned_equals_read_frame(filled: tk.Database) -> None:
    query = select(AllTypes).order_by(AllTypes.id)
    whole = await tk.read_frame(filled, query)
    chunks = [
        c
        async for c in tk.stream_frames(
            filled, query, chunk_size=60, partition_on="id", partitions=4
        )
    ]
    assert all(len(c) <= 60 for c in chunks)
    assert all(c.dtypes.equals(whole.dtypes) for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


async def test_stream_raw_sql_chunks_share_dtypes(filled: tk.Database) -> None:
    # Ids up to 300 leave the "t" text NULL only in some ranges: per-range inference
    # would disagree, the stream must not.
    sql = "SELECT id, CASE WHEN id > 300 THEN t END AS late FROM test_all_types ORDER BY id"
    whole = await tk.read_frame(filled, sql)
    chunks = [c async for c in tk.stream_frames(filled, sql, chunk_size=50, partition_on="id")]
    assert all(c.dtypes.equals(whole.dtypes) for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


async def test_empty_result_keeps_dtypes(filled: tk.Database) -> None:
    query = select(AllTypes).where(AllTypes.id < 0)
    whole = await tk.read_frame(filled, query)
    parts = await tk.read_frame(filled, query, partition_on="ts", partitions=3)
    pd.testing.assert_frame_equal(parts, whole)
    chunks = [c async for c in tk.stream_frames(filled, query, partition_on="id")]
    assert len(chunks) == 1
    pd.testing.assert_frame_equal(chunks[0], whole)


async def test_inside_a_session_reads_once_and_sees_uncommitted_rows(db: tk.Database) -> None:
    async with db.session() as s:
        await s.begin()
        await tk.insert_frame(s, Keyed, pd.DataFrame({"id": [1, 2], "code": ["a", "b"]}))
        frame = await tk.read_frame(s, select(Keyed), partition_on="id", partitions=2)
        assert sorted(frame["id"]) == [1, 2]
        await s.rollback()
    assert len(await tk.read_frame(db, select(Keyed), partition_on="id")) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"partition_on": "s"}, "into ranges"),
        ({"partition_on": "nope"}, "not a column"),
        ({"partition_on": "id", "partitions": 0}, "at least 1"),
        ({"partition_on": "id", "bounds": (5,)}, "pair"),
        ({"partition_on": "b"}, "into ranges"),
    ],
    ids=["text", "unknown", "zero", "bounds", "bool"],
)
async def test_bad_options_say_what_to_do(
    filled: tk.Database, options: dict[str, object], message: str
) -> None:
    with pytest.raises(tk.ConfigurationError, match=message):
        await tk.read_frame(filled, select(AllTypes), **options)  # type: ignore[arg-type]


def test_plan_pieces_cover_every_value_once() -> None:
    pieces = plan_pieces(1, 10, 3)
    ranges = [p for p in pieces if not p.nulls]
    assert ranges[0].lower is None and ranges[-1].upper is None
    covered = [v for v in range(-5, 20) for p in ranges if _inside(p, v)]
    assert covered == list(range(-5, 20))
    assert [p.nulls for p in pieces].count(True) == 1
    assert len(plan_pieces(3, 3, 8)) == 2  # one range and the NULLs
    dates = plan_pieces(dt.date(2024, 1, 1), dt.date(2024, 1, 3), 10)
    assert len([p for p in dates if not p.nulls]) == 3


def _inside(piece, value) -> bool:  # type: ignore[no-untyped-def]
    low = piece.lower is None or value >= piece.lower
    high = piece.upper is None or value < piece.upper
    return low and high


# -- one snapshot under a concurrent writer -----------------------------------------------

ACCOUNTS = 400
START = 100


async def _transfers(db: tk.Database, stop: asyncio.Event, done: list[int]) -> None:
    """Move quantity from low ids to high ids (other ranges), total unchanged."""
    rng = random.Random(3)
    while not stop.is_set():
        low, high = rng.randint(1, ACCOUNTS // 4), rng.randint(3 * ACCOUNTS // 4, ACCOUNTS)
        async with db.transaction() as s:
            await s.exec(update(Keyed).where(Keyed.id == low).values(qty=Keyed.qty - 1))
            await s.exec(update(Keyed).where(Keyed.id == high).values(qty=Keyed.qty + 1))
        done.append(1)
        await asyncio.sleep(0)


async def test_partitions_read_one_snapshot_under_a_writer(db: tk.Database) -> None:
    """The sum moved by each transfer is constant: a read mixing two moments shows it."""
    frame = pd.DataFrame(
        {"id": range(1, ACCOUNTS + 1), "code": [f"c{k}" for k in range(1, ACCOUNTS + 1)]}
    )
    frame["qty"] = START
    await tk.insert_frame(db, Keyed, frame)
    stop, done = asyncio.Event(), []
    writer = asyncio.create_task(_transfers(db, stop, done))
    try:
        reads = 0
        while reads < 15 or len(done) < 30:
            got = await tk.read_frame(
                db, "SELECT id, qty FROM test_keyed", partition_on="id", partitions=4
            )
            assert len(got) == ACCOUNTS
            assert int(got["qty"].sum()) == ACCOUNTS * START
            reads += 1
            assert reads < 500, "the writer made no progress"
    finally:
        stop.set()
        await writer
    assert done


async def test_sql_text_clause_partitions(filled: tk.Database) -> None:
    query = text("SELECT id, i FROM test_all_types ORDER BY id")
    whole = await tk.read_frame(filled, query)
    parts = await tk.read_frame(filled, query, partition_on="id", partitions=3)
    pd.testing.assert_frame_equal(parts, whole)


async def test_partitioned_read_beside_writers_filling_the_pool(db: tk.Database) -> None:
    """Writers holding every pooled connection while they wait for the write lock must
    not stall a partitioned read (its connections are taken before its SQLite gate
    takes the lock)."""
    frame = pd.DataFrame(
        {"id": range(1, ACCOUNTS + 1), "code": [f"c{k}" for k in range(1, ACCOUNTS + 1)]}
    )
    frame["qty"] = START
    await tk.insert_frame(db, Keyed, frame)

    async def transfer(k: int) -> None:
        async with db.transaction() as s:
            await s.exec(update(Keyed).where(Keyed.id == 1 + k % 50).values(qty=Keyed.qty - 1))
            await s.exec(update(Keyed).where(Keyed.id == 351 + k % 50).values(qty=Keyed.qty + 1))

    writers = asyncio.gather(*(transfer(k) for k in range(60)))
    reads = [
        tk.read_frame(db, select(Keyed.id, Keyed.qty), partition_on="id", partitions=4)
        for _ in range(3)
    ]
    got = await asyncio.wait_for(asyncio.gather(*reads), timeout=25)
    await writers
    assert all(int(g["qty"].sum()) == ACCOUNTS * START for g in got)


async def test_leaving_a_partitioned_stream_early_releases_everything(
    filled: tk.Database,
) -> None:
    stream = tk.stream_frames(
        filled, select(AllTypes), chunk_size=20, partition_on="id", partitions=4
    )
    async with contextlib.aclosing(stream):
        async for _chunk in stream:
            break
    pool = filled.engine.pool
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    assert len(await tk.read_frame(filled, select(AllTypes), partition_on="id")) == 500


async def test_a_failing_piece_leaves_the_pool_sound(filled: tk.Database) -> None:
    """One range fails on PostgreSQL (division by zero at id 250) while the others read:
    the error is the toolkit's and the next read works."""
    sql = "SELECT id, 1 / (id - 250) AS x FROM test_all_types"
    if filled.dialect == "postgresql":
        with pytest.raises(tk.QueryError, match="division by zero"):
            await tk.read_frame(filled, sql, partition_on="id", partitions=4)
    else:  # SQLite's 1 / 0 is NULL
        assert len(await tk.read_frame(filled, sql, partition_on="id", partitions=4)) == 500
    assert len(await tk.read_frame(filled, select(AllTypes), partition_on="id")) == 500
    assert filled.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
