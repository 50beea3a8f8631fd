"""The conformance matrix: every type family of the registry through every path.

For each family of :data:`toolkit.types.FAMILIES` (a table of its own, ``id`` plus one
column ``v``) and each dialect, a typical value, NULL and edge values go through: crud
create / get / update, a search lookup (``eq``), ``read_frame`` of a select and of a SQL
string, ``stream_frames``, ``to_frame`` and ``insert_frame`` (of the frame read back and
of a frame of plain Python objects). Every frame must equal the frame the registry
prescribes (its dtype, its values), on both dialects. A family added to the registry
without a case here fails :func:`test_every_family_has_a_case`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Enum,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    Time,
    Uuid,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

import toolkit as tk
from toolkit import crud
from toolkit.types import FAMILIES, pandas_dtype, spec_from_type, values_to_frame

from ..conftest import connect_test_db

UTC = dt.UTC


@dataclass(frozen=True)
class Case:
    """A family's column and values: ``values[0]`` typical, the rest edges."""

    family: str
    column: Callable[[], Any]
    annotation: Any
    values: tuple[Any, ...]
    #: Whether ``v == value`` is a lookup the family supports on both dialects.
    eq_lookup: bool = True


CASES: tuple[Case, ...] = (
    Case(
        "SMALLINT / INTEGER / BIGINT",
        lambda: BigInteger(),
        int,
        (42, 0, -(2**63), 2**63 - 1),
    ),
    Case("BOOLEAN", lambda: Boolean(), bool, (True, False)),
    Case(
        "REAL / DOUBLE PRECISION",
        lambda: Double(),
        float,
        (1.5, 0.0, -1.7976931348623157e308, 5e-324, float("inf"), float("-inf")),
    ),
    Case(
        "NUMERIC(p, s)",
        lambda: Numeric(12, 2),
        Decimal,
        (Decimal("1234.56"), Decimal("0.00"), Decimal("-9999999999.99"), Decimal("0.01")),
    ),
    Case(
        "NUMERIC (no precision), avg() / sum() results",
        lambda: Numeric(),
        Decimal,
        (Decimal("1.5"), Decimal("0"), Decimal("-123456.25"), Decimal("1E+20")),
    ),
    Case("VARCHAR(n) / TEXT", lambda: String(20), str, ("hello", "", "é漢字🎉", "x" * 20)),
    Case(
        "ENUM",
        lambda: Enum("red", "green", "blue", name="conformance_color"),
        str,
        ("green", "red"),
    ),
    Case(
        "UUID",
        lambda: Uuid(),
        uuid.UUID,
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), uuid.UUID(int=0)),
    ),
    Case(
        "DATE",
        lambda: Date(),
        dt.date,
        # asyncpg sends date.min / date.max as -infinity / infinity: one day in.
        (dt.date(2024, 1, 31), dt.date(1, 1, 2), dt.date(9999, 12, 30)),
    ),
    Case(
        "TIME",
        lambda: Time(),
        dt.time,
        (dt.time(12, 34, 56, 789000), dt.time(0, 0), dt.time(23, 59, 59, 999999)),
    ),
    Case(
        "TIMESTAMP",
        lambda: DateTime(),
        dt.datetime,
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 6),
            dt.datetime(1900, 1, 1),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999998),
        ),
    ),
    Case(
        "TIMESTAMP WITH TIME ZONE",
        lambda: DateTime(timezone=True),
        dt.datetime,
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            dt.datetime(1900, 1, 1, tzinfo=UTC),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999998, tzinfo=UTC),
        ),
    ),
    Case(
        "INTERVAL",
        lambda: Interval(),
        dt.timedelta,
        (
            dt.timedelta(days=1, hours=2, microseconds=5),
            dt.timedelta(0),
            dt.timedelta(days=-3, microseconds=1),
            dt.timedelta(days=20_000),
        ),
    ),
    Case(
        "JSON / JSONB",
        lambda: JSON().with_variant(JSONB(), "postgresql"),
        Any,
        ({"a": [1, "x", None], "b": {"c": 1.5}}, [], "text", 0),
    ),
    Case(
        "BYTEA / BLOB",
        lambda: LargeBinary(),
        bytes,
        (b'\x00\xff,\n"', b"", bytes(range(256))),
    ),
    Case(
        "INTEGER[] / BIGINT[]",
        lambda: ARRAY(BigInteger()),
        list[int | None],
        ([1, 2, 3], [], [-(2**63), None, 2**63 - 1]),
    ),
    Case(
        "TEXT[] / VARCHAR[]",
        lambda: ARRAY(Text()),
        list[str | None],
        (["a", "b"], [], ["", 'x,y"z', None, "\\N"]),
    ),
)
_BY_FAMILY = {case.family: case for case in CASES}
_POSTGRES_ONLY = {f.name for f in FAMILIES if f.postgres_only}


def test_every_family_has_a_case() -> None:
    assert [f.name for f in FAMILIES] == [c.family for c in CASES]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")[:30]


_REGISTRY = registry(metadata=MetaData())


class _Base(SQLModel, registry=_REGISTRY):
    pass


def _model(case: Case) -> type[Any]:
    namespace: dict[str, Any] = {
        "__tablename__": f"conformance_{_slug(case.family)}",
        "__annotations__": {"id": int | None, "v": case.annotation | None},
        "id": Field(default=None, primary_key=True),
        "v": Field(default=None, sa_column=Column("v", case.column())),
    }
    return type(f"Conformance{_slug(case.family).title()}", (_Base,), namespace, table=True)


_MODELS = {case.family: _model(case) for case in CASES}


def _params() -> list[Any]:
    out = []
    for case in CASES:
        for dialect in ("sqlite", "postgresql"):
            marks = []
            if case.family in _POSTGRES_ONLY:
                if dialect == "sqlite":
                    continue
                marks.append(pytest.mark.postgres_only)
            out.append(
                pytest.param((case, dialect), id=f"{_slug(case.family)}-{dialect}", marks=marks)
            )
    return out


@pytest.fixture
async def family_db(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[tk.Database, Case, type[Any]]]:
    case, dialect = request.param
    model = _MODELS[case.family]
    db = connect_test_db(dialect, tmp_path, request)
    await db.drop_all(model)
    await db.create_all(model)
    try:
        yield db, case, model
    finally:
        await db.drop_all(model)
        if case.family == "ENUM" and dialect == "postgresql":
            async with db.engine.begin() as conn:
                await conn.execute(text("DROP TYPE IF EXISTS conformance_color"))
        await db.dispose()


def _expected(model: type[Any], ids: list[int], values: list[Any]) -> pd.DataFrame:
    """The frame the registry prescribes for rows (ids, values)."""
    spec = spec_from_type("v", model.__table__.c.v.type)
    frame = values_to_frame([spec_from_type("id", Integer()), spec], [ids, values])
    assert str(frame["v"].dtype) == str(pandas_dtype(spec))
    return frame


def _same(got: pd.DataFrame, want: pd.DataFrame, path: str) -> None:
    got = got.reset_index(drop=True)
    try:
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    except AssertionError as exc:
        raise AssertionError(f"{path}: {exc}") from exc


def _stored(case: Case, value: Any) -> Any:
    """``value`` as a crud read returns it (only NUMERIC without precision differs: a
    float column on SQLite, so compared as a float)."""
    return value


def _equal(case: Case, got: Any, want: Any) -> bool:
    if isinstance(want, Decimal) and got is not None:
        return Decimal(got) == want
    return bool(got == want)


@pytest.mark.parametrize("family_db", _params(), indirect=True)
async def test_family_through_every_path(family_db: tuple[tk.Database, Case, type[Any]]) -> None:
    db, case, model = family_db
    values = [*case.values, None]

    # crud create / get / update
    async with db.session() as s:
        created = [await crud.create(s, model, v=v) for v in values]
    ids = [row.id for row in created]
    async with db.session() as s:
        for row_id, value in zip(ids, values, strict=True):
            got = await crud.get(s, model, row_id)
            assert got is not None
            assert _equal(case, got.v, value), f"crud.get: {got.v!r} != {value!r}"
        edge = values[1]
        updated = await crud.update(s, model, ids[0], v=edge)
        assert updated is not None and _equal(case, updated.v, edge)
        await crud.update(s, model, ids[0], v=values[0])
        reread = await crud.get(s, model, ids[0])
        assert reread is not None and _equal(case, reread.v, values[0])

        # search lookup: eq finds exactly the rows holding the value
        for value in values:
            if value is None or not case.eq_lookup:
                continue
            found = await crud.search(s, model, v=value)
            want = {i for i, v in zip(ids, values, strict=True) if v is not None and v == value}
            assert {r.id for r in found} == want, f"search v={value!r}"
        models = await crud.search(s, model, order_by="id")

    expected = _expected(model, ids, values)
    table = model.__tablename__
    _same(await tk.read_frame(db, select(model).order_by(model.id)), expected, "read_frame(select)")
    raw = f"SELECT id, v FROM {table} ORDER BY id"
    # SQLite has no result types for a SQL string: the column type is given there.
    declared = {"v": model.__table__.c.v.type} if db.dialect == "sqlite" else None
    _same(await tk.read_frame(db, raw, dtypes=declared), expected, "read_frame(sql)")
    chunks = [c async for c in tk.stream_frames(db, select(model).order_by(model.id), chunk_size=2)]
    assert len({str(c["v"].dtype) for c in chunks}) == 1, "stream_frames: dtypes per chunk"
    _same(pd.concat(chunks, ignore_index=True), expected, "stream_frames")
    raw_chunks = [c async for c in tk.stream_frames(db, raw, chunk_size=3, dtypes=declared)]
    _same(pd.concat(raw_chunks, ignore_index=True), expected, "stream_frames(sql)")
    _same(tk.to_frame(models), expected, "to_frame")

    # insert_frame: the frame read back, then plain Python objects; both read back equal
    async with db.transaction() as s:
        await crud.delete_many(s, model, ids)
    assert await tk.insert_frame(db, model, expected) == len(values)
    _same(
        await tk.read_frame(db, select(model).order_by(model.id)), expected, "insert_frame(frame)"
    )
    async with db.transaction() as s:
        await crud.delete_many(s, model, ids)
    objects = pd.DataFrame({"id": ids, "v": pd.Series(values, dtype=object)})
    assert await tk.insert_frame(db, model, objects) == len(values)
    _same(
        await tk.read_frame(db, select(model).order_by(model.id)), expected, "insert_frame(objects)"
    )
