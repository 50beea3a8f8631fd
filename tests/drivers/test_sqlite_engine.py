"""The SQLite engine reads TIMESTAMP WITH TIME ZONE back aware, for its own engine only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, create_engine, insert, select

import toolkit as tk

metadata = MetaData()
stamps = Table(
    "stamps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True)),
    Column("naive", DateTime(timezone=False)),
)


async def test_timestamptz_is_aware_and_timestamp_naive(tmp_path: Path) -> None:
    db = tk.connect(tmp_path / "t.db")
    at = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    try:
        await db.create_all(metadata)
        async with db.engine.begin() as conn:
            await conn.execute(insert(stamps).values(id=1, at=at, naive=at.replace(tzinfo=None)))
            row = (await conn.execute(select(stamps.c.at, stamps.c.naive))).one()
    finally:
        await db.dispose()
    assert row.at == at and row.at.tzinfo is not None
    assert row.naive == at.replace(tzinfo=None) and row.naive.tzinfo is None
    # Another engine on the same file is SQLAlchemy's own: naive, as SQLite stores it.
    plain = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    with plain.connect() as conn:
        assert conn.execute(select(stamps.c.at)).scalar_one().tzinfo is None
    plain.dispose()
