"""update_by, delete_by, sequences after explicit ids, and writes returning loaded objects."""

from __future__ import annotations

import datetime as dt

import pytest

import toolkit as tk
from toolkit import crud
from toolkit.demo import Team, User

from ..frame_models import Keyed
from .models import Stamped


async def seed(db: tk.Database) -> None:
    async with db.session() as s:
        team = await crud.create(s, Team, name="red")
        await crud.create_many(
            s,
            User,
            [
                {"username": f"u{k}", "email": f"u{k}@x.org", "credits": k, "team_id": team.id}
                for k in range(5)
            ],
        )


async def test_update_by(db: tk.Database) -> None:
    await seed(db)
    async with db.session() as s:
        assert await crud.update_by(s, User, {"is_active": False}, username="u1") == 1
        n = await crud.update_by(
            s, User, {"credits": 7}, User.credits > 2, allow_multiple=True, team__name="red"
        )
        assert n == 2
        assert await crud.update_by(s, User, {"credits": 1}, username="nobody") == 0
    async with db.session() as s:
        users = await crud.search(s, User)
        assert [u.is_active for u in users] == [True, False, True, True, True]
        assert [int(u.credits) for u in users] == [0, 1, 2, 7, 7]


async def test_update_by_of_several_rows_needs_allow_multiple(db: tk.Database) -> None:
    await seed(db)
    with pytest.raises(tk.MultipleResultsFound, match="allow_multiple=True"):
        async with db.session() as s:
            await crud.update_by(s, User, {"credits": 9}, credits__gt=2)
    async with db.transaction() as s:
        await crud.update_by(s, User, {"full_name": "kept"}, username="u0")
        with pytest.raises(tk.MultipleResultsFound):
            await crud.update_by(s, User, {"credits": 9}, credits__gt=2)
    async with db.session() as s:
        assert await crud.count(s, User, credits=9) == 0
        assert (await crud.get_by(s, User, username="u0")).full_name == "kept"  # type: ignore[union-attr]


async def test_update_by_validates_values(db: tk.Database) -> None:
    await seed(db)
    async with db.session() as s:
        with pytest.raises(tk.ValidationError) as info:
            await crud.update_by(s, User, {"credits": -1}, username="u1")
        assert info.value.field == "credits"
        with pytest.raises(tk.UnknownFieldError, match="nickname"):
            await crud.update_by(s, User, {"nickname": "x"}, username="u1")
        with pytest.raises(tk.DuplicateError):
            await crud.update_by(s, User, {"username": "u2"}, username="u1")


async def test_delete_by(db: tk.Database) -> None:
    await seed(db)
    async with db.session() as s:
        assert await crud.delete_by(s, User, username="u0") == 1
        with pytest.raises(tk.MultipleResultsFound):
            await crud.delete_by(s, User, credits__gt=1)
        assert await crud.count(s, User) == 4
        with pytest.raises(tk.MultipleResultsFound):
            await crud.delete_by(s, User)  # every row: needs allow_multiple too
        assert (
            await crud.delete_by(s, User, allow_multiple=True, _or={"credits": 1, "username": "u4"})
            == 2
        )
        with pytest.raises(tk.ForeignKeyError):
            await crud.delete_by(s, Team, name="red")
        assert await crud.count(s, User) == 2 and await crud.count(s, Team) == 1


async def test_create_many_with_explicit_ids_moves_the_sequence(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create_many(s, Team, [{"id": 1, "name": "a"}, {"id": 7, "name": "b"}])
        assert (await crud.create(s, Team, name="c")).id == 8
        await crud.create(s, Team, id=20, name="d")
        assert (await crud.create(s, Team, name="e")).id == 21
        await crud.upsert(s, Team, {"id": 30, "name": "f"})
        assert (await crud.create_many(s, Team, [{"name": "g"}]))[0].id == 31


async def test_every_write_returns_loaded_server_columns(db: tk.Database) -> None:
    """Server defaults and onupdate values are read back by each write: reading them
    after the session is gone needs no IO (MissingGreenlet before)."""
    async with db.session() as s:
        created = await crud.create(s, Stamped, name="a")
        made = await crud.create_many(s, Stamped, [{"name": "b"}])
    assert created.version == 1 and isinstance(created.updated_at, dt.datetime)
    assert made[0].version == 1 and made[0].updated_at is not None
    async with db.session() as s:
        updated = await crud.update(s, Stamped, created.id, qty=3)
    assert updated is not None and updated.qty == 3
    assert isinstance(updated.updated_at, dt.datetime) and updated.version == 1
    async with db.session() as s:
        upserted = await crud.upsert(s, Stamped, {"name": "a", "qty": 5})
        found, new = await crud.get_or_create(s, Stamped, name="z")
    assert upserted.id == created.id and upserted.qty == 5 and upserted.updated_at is not None
    assert new and found.version == 1 and found.updated_at is not None


async def test_update_many_and_delete_many_return_rowcounts(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create_many(s, Keyed, [{"id": k, "code": f"c{k}"} for k in range(1, 6)])
        assert await crud.update_many(s, Keyed, [1, 2, 99], qty=4) == 2
        assert await crud.delete_many(s, Keyed, [3, 4, 99]) == 2
        assert [k.qty for k in await crud.search(s, Keyed)] == [4, 4, 0]


async def test_writes_by_ids_and_by_filter_run_the_models_validators(db: tk.Database) -> None:
    """update_many and update_by apply the model's field validators as update does:
    User lower-cases an e-mail and refuses one without '@'."""
    await seed(db)
    async with db.session() as s:
        assert await crud.update_by(s, User, {"email": "Ann@Example.ORG"}, username="u1") == 1
        user = await crud.get_by(s, User, username="u1")
        assert user is not None and user.email == "ann@example.org"
        for call in (
            crud.update_by(s, User, {"email": "not an address"}, username="u2"),
            crud.update_many(s, User, [user.id], email="not an address"),
        ):
            with pytest.raises(tk.ValidationError) as info:
                await call
            assert info.value.field == "email"
        assert await crud.count(s, User, email__contains="not an") == 0
