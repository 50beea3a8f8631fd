"""read_frame / stream_frames / to_frame: dtypes, values, chunks, sources."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Integer, Numeric, create_engine, func, text
from sqlmodel import select

import toolkit as tk
from toolkit import crud
from toolkit.demo import Team, User
from toolkit.drivers import sqlite as sqlite_driver

from .conftest import PG_URL
from .frame_models import EXPECTED_DTYPES, AllTypes, sample_rows


async def fill(db: tk.Database, n: int = 40) -> None:
    async with db.session() as s:
        await crud.create_many(s, AllTypes, sample_rows(n))


def dtypes_of(frame: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in frame.dtypes.items()}


async def test_dtypes_follow_column_types(db: tk.Database) -> None:
    await fill(db)
    frame = await tk.read_frame(db, select(AllTypes).order_by(AllTypes.id))
    assert dtypes_of(frame) == EXPECTED_DTYPES
    assert len(frame) == 40


async def test_empty_and_all_null_results_keep_dtypes(db: tk.Database) -> None:
    empty = await tk.read_frame(db, select(AllTypes))
    assert dtypes_of(empty) == EXPECTED_DTYPES and len(empty) == 0
    async with db.session() as s:
        await crud.create_many(s, AllTypes, [{} for _ in range(3)])  # every column NULL
    nulls = await tk.read_frame(db, select(AllTypes))
    assert dtypes_of(nulls) == EXPECTED_DTYPES
    assert nulls.drop(columns="id").isna().all().all()


def py(value: Any) -> Any:
    """A frame cell or a pandas.read_sql cell as a comparable Python value."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    if hasattr(value, "item") and not isinstance(value, Decimal):
        return value.item()
    return value


def sync_engine(dialect: str, db: tk.Database, request: pytest.FixtureRequest) -> Any:
    if dialect == "sqlite":
        return create_engine(f"sqlite:///{db.url.database}")
    schema = request.getfixturevalue("pg_schema")
    return create_engine(
        PG_URL.replace("+asyncpg", "+psycopg2"), connect_args={"options": f"-csearch_path={schema}"}
    )


async def test_value_parity_with_pandas_read_sql(
    db: tk.Database, dialect: str, request: pytest.FixtureRequest
) -> None:
    await fill(db)
    query = select(AllTypes).order_by(AllTypes.id)
    ours = await tk.read_frame(db, query)
    engine = sync_engine(dialect, db, request)
    try:
        with engine.connect() as conn:
            theirs = pd.read_sql(query, conn)
    finally:
        engine.dispose()
    assert list(ours.columns) == list(theirs.columns)
    for column in ours.columns:
        mine = [py(v) for v in ours[column].tolist()]
        other = [py(v) for v in theirs[column].tolist()]
        if column == "ts" and dialect == "sqlite":
            # SQLAlchemy's sync SQLite dialect hands back naive UTC wall times.
            other = [None if v is None else v.replace(tzinfo=dt.UTC) for v in other]
        if column == "d":
            mine = [None if v is None else v.date() for v in mine]
        if column == "n":
            other = [
                None if v is None else Decimal(str(v)).quantize(Decimal("0.01")) for v in other
            ]
        assert mine == other, column


async def test_values_are_exact(db: tk.Database) -> None:
    await fill(db)
    frame = await tk.read_frame(db, select(AllTypes).order_by(AllTypes.id))
    rows = sample_rows(40)
    assert frame["s"].tolist() == [r["s"] if r["s"] is not None else pd.NA for r in rows]
    assert frame.loc[1, "n"] == rows[1]["n"]
    assert frame.loc[2, "ts"] == pd.Timestamp(rows[2]["ts"])
    assert frame.loc[7, "big"] == rows[7]["big"]


async def test_entity_select_equals_column_select(db: tk.Database) -> None:
    await fill(db)
    by_entity = await tk.read_frame(db, select(AllTypes).order_by(AllTypes.id))
    by_columns = await tk.read_frame(db, select(*AllTypes.__table__.columns).order_by(AllTypes.id))
    pd.testing.assert_frame_equal(by_entity, by_columns)


async def test_raw_sql_with_params_and_index(db: tk.Database) -> None:
    await fill(db)
    frame = await tk.read_frame(
        db,
        "SELECT id, i, s FROM test_all_types WHERE id > :lo ORDER BY id",
        params={"lo": 35},
        index_col="id",
    )
    assert frame.index.tolist() == [36, 37, 38, 39, 40]
    assert str(frame["i"].dtype) == "Int64"
    assert str(frame["s"].dtype) == "string"
    via_db = await db.frame("SELECT count(*) AS n FROM test_all_types")
    assert int(via_db["n"].iloc[0]) == 40


async def test_raw_sql_dtypes_override_and_typed_text(db: tk.Database) -> None:
    await fill(db)
    frame = await tk.read_frame(
        db, "SELECT big FROM test_all_types WHERE big IS NULL", dtypes={"big": Integer}
    )
    assert str(frame["big"].dtype) == "Int64"
    typed = await tk.read_frame(db, text("SELECT big FROM test_all_types").columns(big=Integer))
    assert str(typed["big"].dtype) == "Int64"


async def test_missing_param_is_configuration_error(db: tk.Database) -> None:
    with pytest.raises(tk.ConfigurationError, match="lo"):
        await tk.read_frame(db, "SELECT id FROM test_all_types WHERE id > :lo")


async def test_every_source_kind(db: tk.Database) -> None:
    await fill(db, 5)
    q = select(AllTypes.id).order_by(AllTypes.id)
    expected = [1, 2, 3, 4, 5]
    assert (await tk.read_frame(db.engine, q))["id"].tolist() == expected
    async with db.engine.connect() as conn:
        assert (await tk.read_frame(conn, q))["id"].tolist() == expected
    async with db.session() as s:
        assert (await tk.read_frame(s, q))["id"].tolist() == expected
    with pytest.raises(tk.ConfigurationError):
        await tk.read_frame("not a source", q)  # type: ignore[arg-type]


async def test_session_frame_sees_its_uncommitted_writes(db: tk.Database) -> None:
    async with db.transaction() as s:
        await crud.create(s, Team, name="pending")
        frame = await tk.read_frame(s, select(Team))
        assert frame["name"].tolist() == ["pending"]
        s.add(Team(name="unflushed"))
        frame = await tk.read_frame(s, select(Team.name).order_by(Team.name))
        assert frame["name"].tolist() == ["pending", "unflushed"]


async def test_aggregates_and_joins(db: tk.Database) -> None:
    async with db.session() as s:
        team = await crud.create(s, Team, name="red")
        await crud.create_many(
            s,
            User,
            [{"username": f"u{i}", "email": f"u{i}@x.org", "team_id": team.id} for i in range(4)],
        )
    q = select(Team.name, func.count(User.id).label("members")).join(User).group_by(Team.name)
    frame = await tk.read_frame(db, q)
    assert frame.to_dict("records") == [{"name": "red", "members": 4}]
    assert str(frame["members"].dtype) == "Int64"


async def test_read_across_driver_chunks(db: tk.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A result read in many driver parts (SQLite fetches and converts a few thousand
    rows at a time) is the same frame as one read in a single part, an all-NULL first
    part included."""
    async with db.session() as s:
        await crud.create_many(s, AllTypes, [{} for _ in range(10)] + sample_rows(33))
    query = select(AllTypes).order_by(AllTypes.id)
    whole = await tk.read_frame(db, query)
    monkeypatch.setattr(sqlite_driver, "_FETCH_ROWS", 10)
    chunked = await tk.read_frame(db, query)
    assert dtypes_of(chunked) == EXPECTED_DTYPES
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked["s"].tolist()[10:] == [
        r["s"] if r["s"] is not None else pd.NA for r in sample_rows(33)
    ]


# -- streaming -----------------------------------------------------------------------


async def test_stream_chunks_exact_and_equal_to_read(db: tk.Database) -> None:
    await fill(db, 103)
    q = select(AllTypes).order_by(AllTypes.id)
    chunks = [c async for c in tk.stream_frames(db, q, chunk_size=25)]
    assert [len(c) for c in chunks] == [25, 25, 25, 25, 3]
    assert all(dtypes_of(c) == EXPECTED_DTYPES for c in chunks)
    whole = await tk.read_frame(db, q)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


async def test_stream_all_null_first_chunk_keeps_dtype(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create_many(s, AllTypes, [{} for _ in range(10)] + sample_rows(10))
    chunks = [
        c async for c in tk.stream_frames(db, select(AllTypes).order_by(AllTypes.id), chunk_size=10)
    ]
    assert chunks[0].drop(columns="id").isna().all().all()
    assert dtypes_of(chunks[0]) == dtypes_of(chunks[1]) == EXPECTED_DTYPES


async def test_stream_empty_result_yields_one_typed_frame(db: tk.Database) -> None:
    chunks = [c async for c in tk.stream_frames(db, select(AllTypes), chunk_size=10)]
    assert len(chunks) == 1 and len(chunks[0]) == 0
    assert dtypes_of(chunks[0]) == EXPECTED_DTYPES


async def test_stream_early_exit_leaves_database_usable(db: tk.Database) -> None:
    await fill(db, 200)
    async with contextlib.aclosing(tk.stream_frames(db, select(AllTypes), chunk_size=10)) as chunks:
        async for chunk in chunks:
            assert len(chunk) == 10
            break
    assert db.engine.pool.checkedout() == 0
    frame = await tk.read_frame(db, select(func.count()).select_from(AllTypes))
    assert int(frame.iloc[0, 0]) == 200


async def test_stream_plain_break_releases_connection_soon(db: tk.Database) -> None:
    await fill(db, 200)
    async for _ in tk.stream_frames(db, select(AllTypes), chunk_size=10):
        break
    for _ in range(100):  # the event loop closes the abandoned generator
        if db.engine.pool.checkedout() == 0:
            break
        await asyncio.sleep(0.02)
    assert db.engine.pool.checkedout() == 0


async def test_stream_raw_sql(db: tk.Database) -> None:
    await fill(db, 30)
    chunks = [
        c
        async for c in tk.stream_frames(
            db, "SELECT id, s FROM test_all_types ORDER BY id", chunk_size=7
        )
    ]
    assert [len(c) for c in chunks] == [7, 7, 7, 7, 2]
    assert len({tuple(map(str, c.dtypes)) for c in chunks}) == 1


@pytest.mark.parametrize("rows", [0, 7, 28, 30])
async def test_stream_chunks_built_from_smaller_fetches(
    db: tk.Database, monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    """A chunk built from several driver fetches (SQLite fetches and converts a few
    thousand rows at a time) has the exact size; no empty chunk follows a full one,
    except that an empty result yields one typed empty frame. Typed and raw SQL alike."""
    await fill(db, rows)
    monkeypatch.setattr(sqlite_driver, "_FETCH_ROWS", 3)
    sizes = [7] * (rows // 7) + ([rows % 7] if rows % 7 or not rows else [])
    typed = select(AllTypes).order_by(AllTypes.id)
    chunks = [c async for c in tk.stream_frames(db, typed, chunk_size=7)]
    assert [len(c) for c in chunks] == sizes
    assert all(dtypes_of(c) == EXPECTED_DTYPES for c in chunks)
    whole = await tk.read_frame(db, typed)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    raw = "SELECT id, s FROM test_all_types ORDER BY id"
    assert [len(c) async for c in tk.stream_frames(db, raw, chunk_size=7)] == sizes


async def test_stream_rejects_bad_chunk_size(db: tk.Database) -> None:
    with pytest.raises(tk.ConfigurationError):
        async for _ in tk.stream_frames(db, select(AllTypes), chunk_size=0):
            pass


# -- to_frame ------------------------------------------------------------------------


async def test_to_frame_types_models(db: tk.Database) -> None:
    await fill(db, 10)
    async with db.session() as s:
        models = await crud.search(s, AllTypes)
    frame = tk.to_frame(models)
    assert dtypes_of(frame) == EXPECTED_DTYPES
    pd.testing.assert_frame_equal(
        frame, await tk.read_frame(db, select(AllTypes).order_by(AllTypes.id))
    )
    empty = tk.to_frame([], AllTypes)
    assert dtypes_of(empty) == EXPECTED_DTYPES and len(empty) == 0


async def test_partial_types_for_raw_sql_keep_the_other_columns(db: tk.Database) -> None:
    await fill(db, 10)
    sql = "SELECT s, count(*) AS n, sum(n) AS total FROM test_all_types GROUP BY s ORDER BY s"
    by_dtypes = await tk.read_frame(db, sql, dtypes={"total": Numeric(12, 2)})
    by_text = await tk.read_frame(db, text(sql).columns(total=Numeric(12, 2)))
    for frame in (by_dtypes, by_text):
        assert dtypes_of(frame) == {
            "s": "string",
            "n": "Int64",
            "total": "decimal128(12, 2)[pyarrow]",
        }
    pd.testing.assert_frame_equal(by_dtypes, by_text)
    chunks = [
        c async for c in tk.stream_frames(db, sql, chunk_size=3, dtypes={"total": Numeric(12, 2)})
    ]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), by_dtypes)


@pytest.mark.parametrize("precision", [39, 50, 1000])
def test_numeric_wider_than_arrow_decimals_is_object(precision: int) -> None:
    """NUMERIC beyond Arrow's 38 digits is read as ``object`` of ``Decimal`` (with or
    without a scale), never an error; NUMERIC(p) up to 38 digits is decimal128(p, 0)."""
    from toolkit.dtypes import pandas_dtype, spec_from_type

    assert str(pandas_dtype(spec_from_type("x", Numeric(precision)))) == "object"
    assert str(pandas_dtype(spec_from_type("x", Numeric(precision, 2)))) == "object"
    assert str(pandas_dtype(spec_from_type("x", Numeric(10)))) == "decimal128(10, 0)[pyarrow]"
