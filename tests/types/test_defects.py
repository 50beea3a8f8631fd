"""Regression tests for the type defects of issue 9, each on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Column, Float, Integer, Interval, MetaData, Numeric, Text, Time, func, text
from sqlalchemy import Date as SADate
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel, select

import toolkit as tk
from toolkit import crud
from toolkit.drivers import postgresql as pg_driver

from ..conftest import connect_test_db

_REGISTRY = registry(metadata=MetaData())


class _Base(SQLModel, registry=_REGISTRY):
    pass


class Word(_Base, table=True):
    """One text column: a row of ``''`` is an empty line in COPY's CSV."""

    __tablename__ = "defect_word"

    id: int | None = Field(default=None, primary_key=True)
    w: str | None = Field(default=None, sa_column=Column(Text))


class Measure(_Base, table=True):
    __tablename__ = "defect_measure"

    id: int | None = Field(default=None, primary_key=True)
    f: float | None = Field(default=None, sa_column=Column(Float))
    i: int | None = Field(default=None, sa_column=Column(Integer))
    price: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2)))
    bare: Decimal | None = Field(default=None, sa_column=Column(Numeric))
    at: dt.time | None = Field(default=None, sa_column=Column(Time))
    took: dt.timedelta | None = Field(default=None, sa_column=Column(Interval))
    day: dt.date | None = Field(default=None, sa_column=Column(SADate))


class Wide(_Base, table=True):
    """NUMERIC beyond Arrow's 38 digits."""

    __tablename__ = "defect_wide"

    id: int | None = Field(default=None, primary_key=True)
    amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(50, 10)))


@pytest.fixture
async def tdb(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tk.Database]:
    db = connect_test_db(dialect, tmp_path, request)
    await db.drop_all(_REGISTRY.metadata)
    await db.create_all(_REGISTRY.metadata)
    try:
        yield db
    finally:
        await db.drop_all(_REGISTRY.metadata)
        await db.dispose()


# -- '' rows vanished from COPY reads --------------------------------------------------


async def test_rows_of_only_empty_strings_survive_every_read_path(tdb: tk.Database) -> None:
    words = ["", "a", None, "", "", "b", "", None]
    await tk.insert_frame(tdb, Word, pd.DataFrame({"w": words}))
    want = pd.Series(words, dtype="string[pyarrow]", name="w")
    for query in (select(Word.w).order_by(Word.id), "SELECT w FROM defect_word ORDER BY id"):
        frame = await tk.read_frame(tdb, query)
        pd.testing.assert_series_equal(frame["w"], want)
        chunks = [c async for c in tk.stream_frames(tdb, query, chunk_size=3)]
        pd.testing.assert_series_equal(pd.concat(chunks, ignore_index=True)["w"], want)


# -- complex numbers and ambiguous dates were stored as guesses -------------------------


@pytest.mark.parametrize("column", ["f", "i", "price", "bare"])
async def test_complex_numbers_are_refused_not_truncated(tdb: tk.Database, column: str) -> None:
    for values in ([1.5 + 2j, 3.0 + 0j], pd.Series([1.5 + 2j, 3.0 + 0j], dtype=object)):
        with pytest.raises(tk.FrameValidationError) as info:
            await tk.insert_frame(tdb, Measure, pd.DataFrame({column: values}))
        errors = info.value.errors
        assert errors["row"].tolist() == [0, 1]
        assert errors["message"].str.contains("complex").all()
    assert len(await tk.read_frame(tdb, select(Measure))) == 0


async def test_date_text_that_could_mean_two_dates_is_refused_naming_the_cell(
    tdb: tk.Database,
) -> None:
    frame = pd.DataFrame({"day": ["05/01/2024", "13/01/2024", "2024-02-03", "07/07/2024"]})
    with pytest.raises(tk.FrameValidationError) as info:
        await tk.insert_frame(tdb, Measure, frame)
    errors = info.value.errors
    assert errors["row"].tolist() == [0]
    assert errors["value"].tolist() == ["05/01/2024"]
    assert "2024-05-01" in errors["message"][0] and "2024-01-05" in errors["message"][0]
    # Unambiguous text is read as it can only be read.
    await tk.insert_frame(tdb, Measure, frame.iloc[1:])
    back = await tk.read_frame(tdb, select(Measure.day).order_by(Measure.id))
    assert back["day"].tolist() == [
        pd.Timestamp("2024-01-13"),
        pd.Timestamp("2024-02-03"),
        pd.Timestamp("2024-07-07"),
    ]


# -- TIME, INTERVAL and bare NUMERIC could not be written or read -----------------------


async def test_time_interval_and_bare_numeric_round_trip(tdb: tk.Database) -> None:
    rows = [
        {"at": dt.time(9, 30, 0, 250), "took": dt.timedelta(days=2, seconds=5), "bare": 1.25},
        {"at": dt.time(23, 59), "took": dt.timedelta(microseconds=-1), "bare": -7},
        {"at": None, "took": None, "bare": None},
    ]
    await tk.insert_frame(tdb, Measure, pd.DataFrame(rows))
    async with tdb.session() as s:
        made = await crud.create(
            s, Measure, at=dt.time(1, 2, 3), took=dt.timedelta(hours=5), bare=Decimal("2.5")
        )
        await crud.update(s, Measure, made.id, took=dt.timedelta(minutes=1))
    query = select(Measure.at, Measure.took, Measure.bare).order_by(Measure.id)
    frame = await tk.read_frame(tdb, query)
    assert str(frame["at"].dtype) == "time64[us][pyarrow]"
    assert str(frame["took"].dtype) == "timedelta64[us]"
    assert str(frame["bare"].dtype) == "float64"
    assert frame["at"].tolist()[:2] + frame["at"].tolist()[3:] == [
        dt.time(9, 30, 0, 250),
        dt.time(23, 59),
        dt.time(1, 2, 3),
    ]
    assert frame["took"].tolist()[:2] + frame["took"].tolist()[3:] == [
        pd.Timedelta(days=2, seconds=5),
        pd.Timedelta(microseconds=-1),
        pd.Timedelta(minutes=1),
    ]
    assert frame["bare"].tolist()[:2] + frame["bare"].tolist()[3:] == [1.25, -7.0, 2.5]
    assert frame.iloc[2].isna().all()


# -- avg() / sum() came back as object ---------------------------------------------------


async def test_aggregates_without_declared_precision_are_float64(tdb: tk.Database) -> None:
    await tk.insert_frame(
        tdb, Measure, pd.DataFrame({"price": [Decimal("1.10"), Decimal("2.25")], "i": [1, 2]})
    )
    frames = [
        await tk.read_frame(
            tdb, "SELECT avg(price) AS a, sum(price) AS s, avg(i) AS ai FROM defect_measure"
        ),
        await tk.read_frame(
            tdb,
            select(
                func.avg(Measure.price).label("a"),
                func.sum(Measure.price).label("s"),
                func.avg(Measure.i).label("ai"),
            ),
        ),
    ]
    for frame in frames:
        assert frame["a"].dtype == "float64" and frame["ai"].dtype == "float64"
        assert frame["a"][0] == pytest.approx(1.675) and frame["ai"][0] == pytest.approx(1.5)
        assert float(frame["s"][0]) == pytest.approx(3.35)
        assert frame[["a", "ai"]].describe().shape == (8, 2)


# -- raw SQL on PostgreSQL lost NUMERIC(p, s) and the COPY path -------------------------


async def test_sql_string_keeps_numeric_precision_and_the_copy_path(
    tdb: tk.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await tk.insert_frame(
        tdb, Measure, pd.DataFrame({"price": [Decimal("1.10"), None], "f": [0.5, 1.5]})
    )
    typed = await tk.read_frame(
        tdb, select(Measure.id, Measure.price, Measure.f).order_by(Measure.id)
    )
    if tdb.dialect == "postgresql":

        async def no_fetch(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the read left the COPY path")

        monkeypatch.setattr(pg_driver, "_fetch_frame", no_fetch)
        monkeypatch.setattr(pg_driver, "_stream_cursor", no_fetch)
        declared = None
    else:  # SQLite results carry no types: the SQL says them
        declared = {"price": Numeric(12, 2)}
    sql = "SELECT id, price, f FROM defect_measure WHERE f > :low ORDER BY id"
    raw = await tk.read_frame(tdb, sql, params={"low": 0}, dtypes=declared)
    assert str(raw["price"].dtype) == "decimal128(12, 2)[pyarrow]"
    pd.testing.assert_frame_equal(raw, typed)
    chunks = [c async for c in tk.stream_frames(tdb, text(sql), params={"low": 0}, dtypes=declared)]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), typed)


# -- a SQL string on SQLite whose later rows change type --------------------------------


async def test_sqlite_sql_string_whose_later_rows_change_type_says_what_to_do(
    tmp_path: Path,
) -> None:
    """SQLite only: a PostgreSQL column has one type."""
    tdb = tk.connect(tmp_path / "mixed.db")
    await tdb.create_all(_REGISTRY.metadata)
    await tk.insert_frame(tdb, Word, pd.DataFrame({"w": ["1", "2", "x"]}))
    sql = "SELECT CASE WHEN w = 'x' THEN 'text' ELSE 1 END AS mixed FROM defect_word ORDER BY id"
    with pytest.raises(tk.ConfigurationError, match="dtypes="):
        async for _chunk in tk.stream_frames(tdb, sql, chunk_size=2):
            pass
    frame = await tk.read_frame(tdb, sql)  # the whole result types it: object
    assert frame["mixed"].tolist() == [1, 1, "text"]
    await tdb.dispose()


# -- NUMERIC beyond 38 digits could not be written by insert_frame ----------------------


async def test_numeric_wider_than_arrow_round_trips(tdb: tk.Database) -> None:
    # SQLite stores a REAL: the values there are the ones a double holds exactly.
    exact = tdb.dialect == "postgresql"
    big = Decimal("1234567890123456789012345678901234567890.0123456789") if exact else None
    values = [Decimal("1.5000000000"), Decimal("-0.0000000001") if exact else Decimal("-0.5"), big]
    await tk.insert_frame(tdb, Wide, pd.DataFrame({"amount": values}))
    async with tdb.session() as s:
        await crud.create(s, Wide, amount=Decimal("2.25"))
    frame = await tk.read_frame(tdb, select(Wide.amount).order_by(Wide.id))
    assert frame["amount"].dtype == object
    assert frame["amount"].tolist() == [*values, Decimal("2.25")]
    with pytest.raises(tk.FrameValidationError, match="decimal places"):
        await tk.insert_frame(tdb, Wide, pd.DataFrame({"amount": [Decimal("1E-11")]}))


# -- PostgreSQL's infinite dates and timestamps broke the COPY path ---------------------


@pytest.mark.postgres_only
async def test_infinite_dates_and_timestamps_read_as_the_fetch_path_reads_them(
    pg_db: tk.Database,
) -> None:
    async with pg_db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS defect_infinite"))
        await conn.execute(
            text("CREATE TABLE defect_infinite (id int, d date, t timestamp, z timestamptz)")
        )
        await conn.execute(
            text(
                "INSERT INTO defect_infinite VALUES (1, 'infinity', 'infinity', '-infinity'), "
                "(2, '2024-01-02', NULL, '2024-01-02 03:04:05+00'), "
                "(3, '-infinity', '-infinity', 'infinity')"
            )
        )
    sql = "SELECT d, t, z FROM defect_infinite ORDER BY id"
    frame = await tk.read_frame(pg_db, sql)
    assert frame["d"].tolist() == [
        pd.Timestamp("9999-12-31"),
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("0001-01-01"),
    ]
    assert frame["t"].iloc[0] == pd.Timestamp("9999-12-31 23:59:59.999999")
    assert pd.isna(frame["t"].iloc[1])
    assert frame["z"].iloc[2] == pd.Timestamp("9999-12-31 23:59:59.999999", tz="UTC")
    chunks = [c async for c in tk.stream_frames(pg_db, sql, chunk_size=2)]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), frame)
    async with pg_db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE defect_infinite"))


@pytest.mark.postgres_only
async def test_sql_string_numeric_in_a_read_only_transaction_reads_as_float(
    pg_db: tk.Database,
) -> None:
    """No temporary view can be made there: the NUMERIC has no known scale, and reads as
    a number (float64) rather than failing."""
    async with pg_db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS defect_ro"))
        await conn.execute(text("CREATE TABLE defect_ro (n numeric(12, 2))"))
        await conn.execute(text("INSERT INTO defect_ro VALUES (1.25), (NULL)"))
    async with pg_db.engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION READ ONLY"))
        frame = await tk.read_frame(conn, "SELECT n FROM defect_ro")
        assert frame["n"].dtype == "float64"
        assert frame["n"].tolist()[0] == 1.25 and pd.isna(frame["n"][1])
        await conn.rollback()
    async with pg_db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE defect_ro"))
