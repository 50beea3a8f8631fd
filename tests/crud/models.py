"""Table models for the CRUD tests: server-set columns, a composite unique key, and
fields named like the options of the CRUD calls."""

import datetime as dt

from sqlalchemy import Column, DateTime, Integer, UniqueConstraint, func
from sqlmodel import Field, SQLModel


class Stamped(SQLModel, table=True):
    __tablename__ = "test_stamped"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, unique=True)
    qty: int = 0
    version: int | None = Field(default=None, sa_column=Column(Integer, server_default="1"))
    updated_at: dt.datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now()),
    )


class Slot(SQLModel, table=True):
    __tablename__ = "test_slot"
    __table_args__ = (UniqueConstraint("room", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    room: str = Field(max_length=10)
    day: dt.date
    note: str | None = None


class Odd(SQLModel, table=True):
    """Fields named like options: ``limit``, ``offset``, ``order_by``."""

    __tablename__ = "test_odd"

    id: int | None = Field(default=None, primary_key=True)
    limit: int = 0
    offset: int = 0
    order_by: str = ""
