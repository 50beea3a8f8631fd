"""Every CRUD pattern, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import selectinload
from sqlmodel import select

import toolkit as tk
from toolkit import crud
from toolkit.demo import Post, Team, User, UserCreate, UserRead

from ..frame_models import AllTypes, Pair, Renamed


def user(i: int, **extra: object) -> dict[str, object]:
    return {"username": f"user{i:03d}", "email": f"user{i}@example.org", **extra}


async def seed(db: tk.Database, n: int = 5) -> list[User]:
    async with db.session() as s:
        return await crud.create_many(s, User, [user(i) for i in range(n)])


class StatementCounter:
    def __init__(self, db: tk.Database) -> None:
        self.statements: list[str] = []
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._on)
        self.db = db

    def _on(self, conn, cursor, statement, params, context, executemany) -> None:
        self.statements.append(statement)

    def close(self) -> None:
        event.remove(self.db.engine.sync_engine, "before_cursor_execute", self._on)

    def data(self, verb: str) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith(verb)]


# -- create --------------------------------------------------------------------------


async def test_create_returns_model_with_id_and_is_durable(db: tk.Database) -> None:
    async with db.session() as s:
        u = await crud.create(s, User, username="ann", email="ann@example.org")
    assert u.id is not None
    assert u.credits == Decimal("0") and u.is_active is True
    async with db.session() as s:
        again = await crud.get(s, User, u.id)
    assert again is not None and again.username == "ann"


async def test_create_from_a_create_model(db: tk.Database) -> None:
    async with db.session() as s:
        u = await crud.create(
            s, User, UserCreate(username="bo", email="bo@example.org"), full_name="Bo"
        )
    assert (u.username, u.full_name) == ("bo", "Bo")
    assert "hashed_password" not in UserRead.model_validate(u.model_dump()).model_dump()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"username": "", "email": "a@x.org"}, "username"),
        ({"username": "x" * 51, "email": "a@x.org"}, "username"),
        ({"username": "ok", "email": "not-an-email"}, "email"),
        ({"username": "ok", "email": "a@x.org", "credits": "-1"}, "credits"),
        ({"username": "ok", "email": "a@x.org", "credits": "1.234"}, "credits"),
        ({"username": "ok", "email": "a@x.org", "team_id": "seven"}, "team_id"),
        ({"email": "a@x.org"}, "username"),
    ],
    ids=[
        "empty",
        "too-long",
        "bad-email",
        "negative-credits",
        "too-many-decimals",
        "wrong-type",
        "missing-required",
    ],
)
async def test_create_validates_and_writes_nothing(
    db: tk.Database, values: dict[str, object], field: str
) -> None:
    async with db.session() as s:
        with pytest.raises(tk.ValidationError) as info:
            await crud.create(s, User, **values)
        assert info.value.field == field
        assert field in str(info.value)
        assert isinstance(info.value.__cause__, Exception)
        assert await crud.search(s, User) == []


async def test_create_unknown_field_is_named(db: tk.Database) -> None:
    async with db.session() as s:
        with pytest.raises(tk.UnknownFieldError, match="nickname"):
            await crud.create(s, User, username="a", email="a@x.org", nickname="A")


async def test_create_many_ids_in_one_round_trip_per_batch(db: tk.Database) -> None:
    counter = StatementCounter(db)
    try:
        async with db.session() as s:
            users = await crud.create_many(s, User, [user(i) for i in range(2500)])
    finally:
        counter.close()
    assert [u.id for u in users] == sorted(u.id for u in users)
    assert all(u.id is not None for u in users)
    assert len({u.id for u in users}) == 2500
    assert len(counter.data("INSERT")) == 3  # batches of 1,000


async def test_create_many_accepts_models_and_is_all_or_nothing(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create(s, User, **user(3))
        rows = [User(**user(1)), user(2), user(3)]  # the last one is a duplicate
        with pytest.raises(tk.DuplicateError):
            await crud.create_many(s, User, rows)
        assert [u.username for u in await crud.search(s, User)] == ["user003"]


async def test_create_many_validation_names_the_row(db: tk.Database) -> None:
    async with db.session() as s:
        with pytest.raises(tk.ValidationError, match="row 1"):
            await crud.create_many(s, User, [user(1), user(2, email="nope")])
        assert await crud.search(s, User) == []


# -- read ----------------------------------------------------------------------------


async def test_get_and_get_by(db: tk.Database) -> None:
    users = await seed(db)
    async with db.session() as s:
        assert (await crud.get(s, User, users[2].id)).username == "user002"
        assert await crud.get(s, User, 10_000) is None
        assert (await crud.get_by(s, User, email="user3@example.org")).id == users[3].id
        assert await crud.get_by(s, User, username="nobody") is None
        with pytest.raises(tk.MultipleResultsFound) as info:
            await crud.get_by(s, User, is_active=True)
        from sqlalchemy.exc import MultipleResultsFound as SAMultiple

        assert isinstance(info.value, SAMultiple)


async def test_search_with_lookups_and_order(db: tk.Database) -> None:
    await seed(db, 6)
    async with db.session() as s:
        await crud.update_many(s, User, [1, 2], is_active=False)
        got = await crud.search(
            s, User, is_active=True, username__icontains="USER00", order_by="-username"
        )
        assert [u.username for u in got] == ["user005", "user004", "user003", "user002"]
        got = await crud.search(s, User, id__in=[1, 3, 5], limit=2)
        assert [u.id for u in got] == [1, 3]


async def test_paginate(db: tk.Database) -> None:
    await seed(db, 23)
    async with db.session() as s:
        page = await crud.paginate(s, User, offset=20, limit=10)
        assert page.total == 23 and len(page) == 3
        assert [u.id for u in page.items] == [21, 22, 23]
        assert (page.page, page.pages, page.has_next, page.has_previous) == (3, 3, False, True)
        first = await crud.paginate(
            s, User, limit=5, order_by=User.username, username__endswith="1"
        )
        assert first.total == 3 and first.has_next is False
        with pytest.raises(tk.ValidationError):
            await crud.paginate(s, User, limit=0)
        with pytest.warns(DeprecationWarning, match="offset="):
            old = await crud.paginate(s, User, skip=20, limit=10)
        assert [u.id for u in old.items] == [21, 22, 23] and old.skip == old.offset == 20


async def test_stream_yields_all_in_chunks(db: tk.Database) -> None:
    await seed(db, 57)
    async with db.session() as s:
        seen = [u.id async for u in crud.stream(s, User, chunk_size=10, order_by="id")]
        assert seen == list(range(1, 58))
        active = [u async for u in crud.stream(s, User, chunk_size=7, id__gt=50)]
        assert len(active) == 7


async def make_team_with_posts(db: tk.Database) -> int:
    async with db.transaction() as s:
        team = await crud.create(s, Team, name="red")
        members = await crud.create_many(s, User, [user(i, team_id=team.id) for i in range(3)])
        await crud.create_many(
            s,
            Post,
            [{"title": f"p{m.id}-{k}", "author_id": m.id} for m in members for k in range(2)],
        )
    assert team.id is not None
    return team.id


async def test_load_by_name_nested(db: tk.Database) -> None:
    team_id = await make_team_with_posts(db)
    async with db.session() as s:
        team = await crud.get(s, Team, team_id, load="members.posts")
        assert team is not None
        assert sorted(len(m.posts) for m in team.members) == [2, 2, 2]
        post = await crud.get_by(s, Post, title="p1-0", load=["author.team"])
        assert post is not None and post.author.team.name == "red"


async def test_load_strategy_choice(db: tk.Database) -> None:
    team_id = await make_team_with_posts(db)
    counter = StatementCounter(db)
    try:
        async with db.session() as s:
            await crud.get(s, Team, team_id, load="members.posts")  # 1 + selectin + selectin
            n_collections = len(counter.data("SELECT"))
            counter.statements.clear()
            await crud.search(s, Post, load="author.team")  # joined, joined
            n_joined = len(counter.data("SELECT"))
    finally:
        counter.close()
    assert n_collections == 3
    assert n_joined == 1


async def test_load_accepts_loader_options_and_rejects_unknown(db: tk.Database) -> None:
    team_id = await make_team_with_posts(db)
    async with db.session() as s:
        team = await crud.get(s, Team, team_id, load=[selectinload(Team.members)])
        assert len(team.members) == 3
        with pytest.raises(tk.UnknownFieldError, match="players"):
            await crud.get(s, Team, team_id, load="players")
        with pytest.raises(tk.UnknownFieldError, match="comments"):
            await crud.search(s, Team, load="members.commentz")


async def test_unloaded_relationship_loads_explicitly(db: tk.Database) -> None:
    team_id = await make_team_with_posts(db)
    async with db.session() as s:
        team = await crud.get(s, Team, team_id)
        members = await team.awaitable_attrs.members
        assert len(members) == 3


# -- update --------------------------------------------------------------------------


async def test_update_partial_validated(db: tk.Database) -> None:
    users = await seed(db, 2)
    async with db.session() as s:
        u = await crud.update(s, User, users[0].id, email="NEW@example.org", full_name="N")
        assert u is not None and u.email == "new@example.org" and u.username == "user000"
        assert await crud.update(s, User, 999, email="x@example.org") is None
        with pytest.raises(tk.ValidationError, match="email"):
            await crud.update(s, User, users[0].id, email="bad")
        with pytest.raises(tk.DuplicateError, match="username"):
            await crud.update(s, User, users[0].id, username="user001")
        with pytest.raises(tk.UnknownFieldError):
            await crud.update(s, User, users[0].id, nick="x")
    async with db.session() as s:
        fresh = await crud.get(s, User, users[0].id)
        assert (fresh.email, fresh.username) == ("new@example.org", "user000")


async def test_update_many(db: tk.Database) -> None:
    await seed(db, 4)
    async with db.session() as s:
        assert await crud.update_many(s, User, [1, 2, 99], is_active=False) == 2
        assert await crud.update_many(s, User, [], is_active=False) == 0
        with pytest.raises(tk.ValidationError):
            await crud.update_many(s, User, [1], credits="-5")
        with pytest.raises(tk.ValidationError):
            await crud.update_many(s, User, [1], username="x" * 80)
    async with db.session() as s:
        assert [u.id for u in await crud.search(s, User, is_active=False)] == [1, 2]


# -- delete --------------------------------------------------------------------------


async def test_delete_and_delete_many(db: tk.Database) -> None:
    await seed(db, 5)
    async with db.session() as s:
        assert await crud.delete(s, User, 1) is True
        assert await crud.delete(s, User, 1) is False
        assert await crud.delete_many(s, User, [2, 3, 42]) == 2
        assert [u.id for u in await crud.search(s, User)] == [4, 5]


async def test_delete_referenced_row_is_foreign_key_error(db: tk.Database) -> None:
    team_id = await make_team_with_posts(db)
    async with db.session() as s:
        with pytest.raises(tk.ForeignKeyError, match="still referenced"):
            await crud.delete(s, Team, team_id)
        assert await crud.get(s, Team, team_id) is not None


# -- get_or_create -------------------------------------------------------------------


async def test_get_or_create(db: tk.Database) -> None:
    async with db.session() as s:
        u, created = await crud.get_or_create(
            s, User, username="ann", defaults={"email": "ann@example.org"}
        )
        assert created and u.id is not None
        again, created = await crud.get_or_create(
            s, User, username="ann", defaults={"email": "other@example.org"}
        )
        assert not created and again.id == u.id and again.email == "ann@example.org"
        with pytest.raises(tk.ValidationError):
            await crud.get_or_create(s, User, username="bo", defaults={"email": "bad"})


async def test_get_or_create_concurrent_tasks_make_one_row(db: tk.Database) -> None:
    async def one() -> tuple[int | None, bool]:
        async with db.session() as s:
            u, created = await crud.get_or_create(
                s, User, username="racer", defaults={"email": "racer@example.org"}
            )
            return u.id, created

    results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(20))), 60)
    assert len({uid for uid, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    async with db.session() as s:
        assert len(await crud.search(s, User, username="racer")) == 1


# -- writes inside and outside transactions ------------------------------------------


async def test_outside_transaction_each_call_is_its_own(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create(s, Team, name="a")
        assert not s.in_transaction()  # committed and released
        await crud.search(s, Team)
        assert not s.in_transaction()
    async with db.session() as other:
        assert len(await crud.search(other, Team)) == 1


async def test_objects_stay_readable_after_failed_call(db: tk.Database) -> None:
    async with db.session() as s:
        team = await crud.create(s, Team, name="a")
        with pytest.raises(tk.DuplicateError):
            await crud.create(s, Team, name="a")
        assert team.name == "a"  # not expired: no implicit lazy refresh needed


async def test_inside_user_begin_joins_the_transaction(db: tk.Database) -> None:
    async with db.session() as s:
        with pytest.raises(RuntimeError):
            async with s.begin():
                await crud.create(s, Team, name="a")
                raise RuntimeError
        assert await crud.search(s, Team) == []
        result = await s.exec(select(Team))
        assert result.all() == []


# -- models whose fields are named apart from their columns -------------------------------


async def test_every_call_by_key_on_renamed_columns(db: tk.Database) -> None:
    """A primary key and a timestamp whose fields are named apart from their columns:
    every by-key call works and the timestamp is stored as its UTC instant."""
    at = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    utc = dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)
    async with db.session() as s:
        first, second = await crud.create_many(s, Renamed, [{"at": at}, {"amount": 7}])
        assert first.at == utc
        got = await crud.get(s, Renamed, first.key)
        assert got is not None and got.at == utc
        assert await crud.get(s, Renamed, (second.key,)) is second  # a 1-tuple key
        assert (await crud.update(s, Renamed, first.key, amount=5)) is not None
        assert await crud.update_many(s, Renamed, [first.key, second.key], at=at) == 2
    async with db.session() as s:
        rows = await crud.search(s, Renamed)
        assert [(r.at, r.amount) for r in rows] == [(utc, Decimal(5)), (utc, Decimal(7))]
        assert await crud.delete(s, Renamed, first.key)
        assert await crud.delete_many(s, Renamed, [second.key]) == 1
        assert await crud.search(s, Renamed) == []


async def test_numeric_with_precision_only_takes_whole_numbers(db: tk.Database) -> None:
    """NUMERIC(6) is NUMERIC(6, 0): a fraction is refused (PostgreSQL would round it),
    by CRUD and by insert_frame alike."""
    async with db.session() as s:
        with pytest.raises(tk.ValidationError, match="0 decimal places"):
            await crud.create(s, Renamed, amount=Decimal("1.5"))
        with pytest.raises(tk.ValidationError, match="6 digits"):
            await crud.create(s, Renamed, amount=Decimal(10**6))
        assert (await crud.create(s, Renamed, amount=Decimal(12))).amount == 12
    with pytest.raises(tk.FrameValidationError, match="decimal places"):
        await tk.insert_frame(db, Renamed, pd.DataFrame({"amount": [1.5]}))


async def test_update_checks_only_the_changed_columns(db: tk.Database) -> None:
    """A stored value the column's declared limit refuses (written by a less strict
    tool; SQLite does not enforce VARCHAR lengths) does not block changing other fields."""
    if db.dialect != "sqlite":
        pytest.skip("PostgreSQL refuses to store the over-long value in the first place")
    async with db.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO test_all_types (id, s) VALUES (1, :s)"), {"s": "x" * 30}
        )
    async with db.session() as s:
        updated = await crud.update(s, AllTypes, 1, i=5)
        assert updated is not None and updated.i == 5 and updated.s == "x" * 30
        with pytest.raises(tk.ValidationError, match="longer than 20"):
            await crud.update(s, AllTypes, 1, s="y" * 21)


# -- composite keys -----------------------------------------------------------------------


async def test_composite_key_calls(db: tk.Database) -> None:
    """A two-column key as a tuple, a list or a mapping by field; a part beyond the
    column's width is a key no row has (PostgreSQL would refuse to bind it as int4)."""
    async with db.session() as s:
        await crud.create_many(s, Pair, [{"a": 1, "b": 2}, {"a": 1, "b": 3}])
        assert (await crud.get(s, Pair, (1, 2))) is not None
        assert (await crud.get(s, Pair, {"a": 1, "b": 3})) is not None
        assert await crud.get(s, Pair, (3_000_000_000, 2)) is None
        assert await crud.update(s, Pair, (3_000_000_000, 2), ratio=1.0) is None
        assert await crud.delete(s, Pair, [3_000_000_000, 2]) is False
        assert await crud.update_many(s, Pair, [(1, 2), (2**70, 1)], ratio=0.5) == 1
        with pytest.raises(tk.ValidationError, match="2 part"):
            await crud.get(s, Pair, 1)
    async with db.session() as s:
        assert [p.ratio for p in await crud.search(s, Pair)] == [0.5, None]
        assert await crud.delete_many(s, Pair, [(1, 2), (1, 3)]) == 2


def test_demo_password_hash_stays_out_of_reprs_dumps_and_frames() -> None:
    user = User(username="ann", email="ann@example.org", hashed_password="secret-hash")
    assert "secret-hash" not in repr(user)
    assert "hashed_password" not in user.model_dump()
    assert "hashed_password" not in tk.to_frame([user]).columns
    assert user.hashed_password == "secret-hash"  # still stored and readable
