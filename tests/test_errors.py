"""Driver integrity errors from both dialects become the toolkit's typed errors."""

from __future__ import annotations

import pytest
from sqlalchemy import CheckConstraint, Column, Integer
from sqlalchemy import exc as sa_exc
from sqlmodel import Field, SQLModel

import toolkit as tk
from toolkit import crud
from toolkit.demo import Comment, Post, Team, User
from toolkit.translation import translate_integrity_error


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
    err = translate_integrity_error(raw.value, Gauge)
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


# -- missing tables, refused logins, create_all with nothing to create ---------------------


async def test_missing_table_is_typed_on_every_path(db: tk.Database) -> None:
    await db.drop_all([Comment])
    with pytest.raises(tk.MissingTableError) as info:
        await tk.read_frame(db, "SELECT * FROM comments")
    assert isinstance(info.value, tk.QueryError)
    assert info.value.table == "comments"
    assert "await db.create_all()" in str(info.value)
    assert info.value.__cause__ is not None  # the driver's error stays chained
    async with db.session() as s:
        with pytest.raises(tk.MissingTableError, match="'comments'"):
            await crud.get(s, Comment, 1)
        with pytest.raises(tk.MissingTableError, match="'comments'"):
            await crud.create(s, Comment, body="b", post_id=1, author_id=1)
    with pytest.raises(tk.MissingTableError, match="'comments'"):
        async with db.transaction() as s:
            await crud.search(s, Comment)


async def test_create_all_with_no_table_says_what_to_import(db: tk.Database) -> None:
    with pytest.raises(tk.ConfigurationError, match="Import the modules"):
        await db.create_all([])
    with pytest.raises(tk.ConfigurationError, match="no table"):
        await db.create_all(SQLModel.metadata.__class__())


@pytest.mark.postgres_only
@pytest.mark.parametrize("part", ["role", "database"])
async def test_refused_login_reads_as_unavailable(pg_db: tk.Database, part: str) -> None:
    url = pg_db.url.set(username="no_such_role_x") if part == "role" else pg_db.url
    if part == "database":
        url = url.set(database="no_such_database_x")
    db = tk.connect(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(tk.DatabaseUnavailableError, match="Cannot connect") as info:
            await tk.read_frame(db, "SELECT 1")
        assert "no_such_" in str(info.value) and "refused the query" not in str(info.value)
        async with db.session() as s:
            with pytest.raises(tk.DatabaseUnavailableError, match="Cannot connect"):
                await crud.get(s, User, 1)
        with pytest.raises(tk.DatabaseUnavailableError, match="Cannot connect"):
            async with db.transaction() as s:
                await crud.get(s, User, 1)
    finally:
        await db.dispose()


# -- validation messages -----------------------------------------------------------------------


async def test_frame_problems_plain_in_frame_order_and_whole(db: tk.Database) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "username": ["fine", "x" * 60, "also.fine"],
            "email": ["bad", "ok@example.org", "worse"],
            "credits": [1, -1, 2],
        },
        index=[10, 20, 30],
    )
    with pytest.raises(tk.FrameValidationError) as info:
        await tk.insert_frame(db, User, frame)
    errors = info.value.errors
    assert errors["row"].tolist() == [10, 20, 20, 30]
    assert errors["column"].tolist() == ["email", "username", "credits", "email"]
    assert not errors["message"].str.startswith("Value error").any()
    assert errors["message"].iloc[0] == "is not an e-mail address like name@example.org"
    long_message = errors["message"].iloc[0]
    assert long_message in errors._repr_html_()  # a notebook shows the message whole
    assert long_message in repr(errors[["message"]].pipe(type(errors)))


async def test_validation_reason_has_no_pydantic_prefix(db: tk.Database) -> None:
    async with db.session() as s:
        with pytest.raises(tk.ValidationError) as info:
            await crud.create(s, User, username="ann", email="not-an-address")
    assert info.value.reason.startswith("is not an e-mail address")
    assert "Value error" not in str(info.value)


async def test_lookup_errors_do_not_claim_a_write(db: tk.Database) -> None:
    async with db.session() as s:
        with pytest.raises(tk.ValidationError) as info:
            await crud.search(s, User, id="not a number")
    assert "Nothing was written" not in str(info.value)
    assert "Correct the value of 'id'" in str(info.value)
    async with db.session() as s:
        with pytest.raises(tk.ValidationError, match="Nothing was written"):
            await crud.create(s, User, username="ann", email="nope")
