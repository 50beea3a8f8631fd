"""The benchmark table, its data, and the two databases it lives in.

``BenchRow`` has one column of each type the issue names. ``make_frame`` builds N rows
with numpy from a fixed seed (about a second for a million rows), as an analyst's
frame would hold them: numpy ints/floats/bools, ``datetime64[us, UTC]`` and pandas'
default ``str`` dtype (missing text is NaN); NUMERIC(12,2) values are floats with two
decimals. The database numbers ``id`` itself, so written frames have no ``id``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import BigInteger, Boolean, Column, DateTime, Double, Integer, Numeric, Text
from sqlmodel import Field, SQLModel

__all__ = [
    "COLUMNS",
    "PG_URL",
    "TABLE",
    "WRITE_COLUMNS",
    "BenchRow",
    "Target",
    "make_frame",
    "targets",
]

TABLE = "bench_rows"
PG_URL = os.environ.get("TOOLKIT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEED = 20240501
NULL_SHARE = 0.30  # of the nullable text column
COMMA_SHARE = 0.05  # text values holding a comma, so that CSV/COPY must quote some


class BenchRow(SQLModel, table=True):
    """One row of the benchmark table: a column per SQL type the issue names."""

    __tablename__ = TABLE

    id: int | None = Field(default=None, primary_key=True)
    int_val: int = Field(sa_column=Column(Integer, nullable=False))
    bigint_val: int = Field(sa_column=Column(BigInteger, nullable=False))
    text_val: str = Field(sa_column=Column(Text, nullable=False))
    numeric_val: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    float_val: float = Field(sa_column=Column(Double, nullable=False))  # DOUBLE PRECISION
    ts_val: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    bool_val: bool = Field(sa_column=Column(Boolean, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


#: Every column, as read back (``id`` first).
COLUMNS: tuple[str, ...] = tuple(c.name for c in BenchRow.__table__.columns)  # type: ignore[attr-defined]
#: The columns a written frame holds (the database numbers ``id``).
WRITE_COLUMNS: tuple[str, ...] = COLUMNS[1:]

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "do", "zu", "ha", "bri", "stel"]


def _words(rng: np.random.Generator, count: int) -> pa.Array:
    """A vocabulary of ``count`` made-up words of 2-5 syllables."""
    picks = (rng.choice(_SYLLABLES, size=int(rng.integers(2, 6))) for _ in range(count))
    return pa.array(["".join(p) for p in picks], pa.string())


def make_frame(n: int, seed: int = SEED) -> pd.DataFrame:
    """N rows for ``BenchRow`` (without ``id``), the same for the same ``n`` and seed."""
    rng = np.random.default_rng(seed)
    vocab = _words(rng, 2_000)

    def words() -> pa.Array:
        return pc.take(vocab, pa.array(rng.integers(0, len(vocab), n)))

    comma = pa.array(rng.random(n) < COMMA_SHARE)
    text = pc.binary_join_element_wise(words(), pc.if_else(comma, ", ", " "), words(), "")
    number = pc.cast(pa.array(rng.integers(0, 1000, n)), pa.string())
    note = pc.binary_join_element_wise(words(), " #", number, "")
    note = pc.if_else(pa.array(rng.random(n) < NULL_SHARE), pa.scalar(None, pa.string()), note)
    start = np.datetime64("2020-01-01T00:00:00", "us")
    span = 5 * 365 * 86_400 * 1_000_000
    stamps = start + rng.integers(0, span, n).astype("timedelta64[us]")
    return pd.DataFrame(
        {
            "int_val": rng.integers(-(2**31), 2**31, n, dtype=np.int32),
            "bigint_val": rng.integers(-(2**62), 2**62, n, dtype=np.int64),
            "text_val": pd.array(text, dtype="str"),
            "numeric_val": np.round(rng.uniform(-1e6, 1e6, n), 2),
            "float_val": rng.standard_normal(n) * 1e3,
            "ts_val": pd.Series(stamps).dt.tz_localize("UTC"),
            "bool_val": rng.random(n) < 0.5,
            "note": pd.array(note, dtype="str"),
        }
    )


@dataclass
class Target:
    """One database the benchmark runs against, in the forms each contender needs."""

    dialect: str  # "sqlite" | "postgresql"
    toolkit_url: str  # for tk.connect
    sync_url: str  # SQLAlchemy sync engine: pandas to_sql / read_sql
    cx_url: str  # ConnectorX
    sqlite_path: Path | None = None

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.dialect == "postgresql" else "SQLite"

    def sqlite3_connect(self) -> sqlite3.Connection:
        """A plain sqlite3 connection, set up as the toolkit sets up its own."""
        assert self.sqlite_path is not None
        conn = sqlite3.connect(self.sqlite_path, isolation_level=None)
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn


@contextlib.contextmanager
def targets(dialects: list[str]) -> Iterator[list[Target]]:
    """The targets asked for; the SQLite file lives in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-") as tmp:
        out = []
        for dialect in dialects:
            if dialect == "sqlite":
                path = Path(tmp) / "bench.db"
                out.append(
                    Target(
                        dialect="sqlite",
                        toolkit_url=str(path),
                        sync_url=f"sqlite:///{path}",
                        cx_url=f"sqlite://{path}",
                        sqlite_path=path,
                    )
                )
            else:
                base = PG_URL.split("://", 1)[1]
                out.append(
                    Target(
                        dialect="postgresql",
                        toolkit_url=f"postgresql+asyncpg://{base}",
                        sync_url=f"postgresql+psycopg2://{base}",
                        cx_url=f"postgresql://{base}",
                    )
                )
        yield out
