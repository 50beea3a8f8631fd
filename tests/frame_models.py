"""A test table with a column of every type the frame rules cover."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
)
from sqlmodel import Field, SQLModel


class AllTypes(SQLModel, table=True):
    __tablename__ = "test_all_types"

    id: int | None = Field(default=None, primary_key=True)
    small: int | None = Field(default=None, sa_column=Column(SmallInteger))
    i: int | None = Field(default=None, sa_column=Column(Integer))
    big: int | None = Field(default=None, sa_column=Column(BigInteger))
    f: float | None = Field(default=None, sa_column=Column(Float))
    n: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2)))
    s: str | None = Field(default=None, sa_column=Column(String(20)))
    t: str | None = Field(default=None, sa_column=Column(Text))
    b: bool | None = None
    ts: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    naive: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=False)))
    d: dt.date | None = Field(default=None, sa_column=Column(Date))


class MoreTypes(SQLModel, table=True):
    """The families beyond AllTypes that both dialects have."""

    __tablename__ = "test_more_types"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.time | None = Field(default=None, sa_column=Column(Time))
    took: dt.timedelta | None = Field(default=None, sa_column=Column(Interval))
    u: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    j: Any = Field(default=None, sa_column=Column(JSON))
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    bare: Decimal | None = Field(default=None, sa_column=Column(Numeric))


#: The dtypes read_frame gives MoreTypes' columns.
MORE_EXPECTED_DTYPES = {
    "id": "Int64",
    "at": "time64[us][pyarrow]",
    "took": "timedelta64[us]",
    "u": "string",
    "j": "object",
    "raw": "object",
    "bare": "float64",
}


class Keyed(SQLModel, table=True):
    """Explicit ids and a unique code, for conflict handling."""

    __tablename__ = "test_keyed"

    id: int = Field(primary_key=True)
    code: str = Field(max_length=10, unique=True)
    qty: int = Field(default=0, ge=0)
    note: str | None = None


class Renamed(SQLModel, table=True):
    """Fields named apart from their columns, and a NUMERIC with a precision only."""

    __tablename__ = "test_renamed"

    key: int | None = Field(default=None, sa_column=Column("row_key", Integer, primary_key=True))
    at: dt.datetime | None = Field(
        default=None, sa_column=Column("stamped_at", DateTime(timezone=True))
    )
    amount: Decimal | None = Field(default=None, sa_column=Column("amount_whole", Numeric(6)))


class Pair(SQLModel, table=True):
    """A composite primary key; an integer field on a wide NUMERIC; a float."""

    __tablename__ = "test_pair"

    a: int = Field(primary_key=True)
    b: int = Field(primary_key=True)
    wide: int | None = Field(default=None, sa_column=Column(Numeric(30, 0)))
    ratio: float | None = None


class Stock(SQLModel, table=True):
    """A serial id and a composite unique key, with a NOT NULL column besides them."""

    __tablename__ = "test_stock"
    __table_args__ = (UniqueConstraint("region", "sku"),)

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(max_length=10)
    sku: str = Field(max_length=10)
    name: str
    qty: int = 0


class Yearly(SQLModel, table=True):
    """Columns named by numbers, as a pivot's integer labels name them."""

    __tablename__ = "test_yearly"

    region: str = Field(primary_key=True)
    y2023: int | None = Field(default=None, sa_column=Column("2023", Integer))
    y2024: int | None = Field(default=None, sa_column=Column("2024", Integer))


#: The dtypes read_frame gives AllTypes' columns (the rules of toolkit/dtypes.py).
EXPECTED_DTYPES = {
    "id": "Int64",
    "small": "Int64",
    "i": "Int64",
    "big": "Int64",
    "f": "float64",
    "n": "decimal128(12, 2)[pyarrow]",
    "s": "string",
    "t": "string",
    "b": "boolean",
    "ts": "datetime64[us, UTC]",
    "naive": "datetime64[us]",
    "d": "datetime64[s]",
}
UTC = dt.UTC
TEXTS = ["plain", "", "with, comma", 'with "quotes"', "line\nbreak", "\\N", "ünïcødé ✓ 🎉", None]


def sample_rows(n: int = 40) -> list[dict[str, object]]:
    rows = []
    for k in range(n):
        null = k % 5 == 4
        rows.append(
            {
                "small": None if null else (k % 300) - 150,
                "i": None if null else k * 1000 - 7,
                "big": None if null else (2**40 + k) * (-1) ** k,
                "f": None if null else k / 7,
                "n": None if null else Decimal(k * 37 - 500) / 100,
                "s": TEXTS[k % len(TEXTS)],
                "t": None if null else TEXTS[(k + 3) % (len(TEXTS) - 1)] * 3,
                "b": None if null else k % 2 == 0,
                "ts": None
                if null
                else dt.datetime(2024, 1, 1, 12, 30, tzinfo=UTC)
                + dt.timedelta(hours=k, microseconds=k),
                "naive": None
                if null
                else dt.datetime(2023, 6, 1, 8, 0) + dt.timedelta(days=k, seconds=k),
                "d": None if null else dt.date(2020, 2, 28) + dt.timedelta(days=k),
            }
        )
    return rows
