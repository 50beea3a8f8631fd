"""Driver integrity errors from both dialects become the toolkit's typed errors."""

from __future__ import annotations

import pytest
from sqlalchemy import CheckConstraint, Column, Integer
from sqlalchemy import exc as sa_exc
from sqlmodel import Field, SQLModel

import toolkit as tk
from toolkit import crud
from toolkit.demo import Post, Team, User


class Gauge(SQLModel, table=True):
    """A test-only table with a CHECK constraint and a composite unique key."""

    __tablename__ = "test_gauges"
    __table_args__ = (CheckConstraint("level >= 0", name="level_not_negative"),)

    id: int | None = Field(default=None, primary_key=True)
    level: int = Field(sa_column=Column(Integer, nullable=False))


def test_hierarchy_and_builtins() -> None:
    assert issubclass(tk.DuplicateError, tk.ConstraintError)
    assert issubclass(tk.ConstraintError, tk.ToolkitError)
    assert issubclass(tk.ValidationError, ValueError)
    assert issubclass(tk.FrameValidationError, tk.ValidationError)
    assert issubclass(tk.NotFoundError, LookupError)
    assert issubclass(tk.DatabaseUnavailableError, ConnectionError)


async def test_duplicate_names_model_and_column(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create(s, User, username="ann", email="a@example.org")
        with pytest.raises(tk.DuplicateError) as info:
            await crud.create(s, User, username="ann", email="b@example.org")
    err = info.value
    assert err.model == "User" and err.columns == ("username",)
    assert "User" in str(err) and "username" in str(err)
    assert isinstance(err.__cause__, sa_exc.IntegrityError)


async def test_foreign_key_names_column(db: tk.Database) -> None:
    async with db.session() as s:
        with pytest.raises(tk.ForeignKeyError) as info:
            await crud.create(s, Post, title="t", author_id=12345)
    assert info.value.columns == ("author_id",)
    assert "author_id" in str(info.value) and "Post" in str(info.value)
    assert isinstance(info.value.__cause__, sa_exc.IntegrityError)


async def test_not_null_names_column(db: tk.Database) -> None:
    async with db.session() as s:
        s.add(Gauge(level=None))  # bypasses validation on purpose
        with pytest.raises(sa_exc.IntegrityError) as raw:
            await s.flush()
        await s.rollback()
    err = tk.errors.translate_integrity_error(raw.value, Gauge)
    assert isinstance(err, tk.NotNullError)
    assert err.columns == ("level",)
    assert "level" in str(err)


async def test_check_constraint_is_constraint_error(db: tk.Database) -> None:
    async with db.session() as s:
        with pytest.raises(tk.ConstraintError) as info:
            await crud.create(s, Gauge, level=-1)
    assert type(info.value) is tk.ConstraintError
    assert "Gauge" in str(info.value)


async def test_delete_referenced_says_still_referenced(db: tk.Database) -> None:
    async with db.session() as s:
        team = await crud.create(s, Team, name="t")
        await crud.create(s, User, username="u", email="u@example.org", team_id=team.id)
        with pytest.raises(tk.ForeignKeyError, match="still referenced"):
            await crud.delete(s, Team, team.id)
