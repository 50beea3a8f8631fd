"""count, exists, select, get_many, projections (columns= / as_=), options vs fields."""

from __future__ import annotations

import pydantic
import pytest
from sqlmodel import select

import toolkit as tk
from toolkit import crud
from toolkit.demo import Team, User

from .models import Odd


async def seed(db: tk.Database) -> list[User]:
    async with db.session() as s:
        team = await crud.create(s, Team, name="red")
        return await crud.create_many(
            s,
            User,
            [
                {
                    "username": f"u{k}",
                    "email": f"u{k}@x.org",
                    "credits": k,
                    "team_id": team.id if k % 2 else None,
                }
                for k in range(6)
            ],
        )


async def test_count_and_exists(db: tk.Database) -> None:
    await seed(db)
    async with db.session() as s:
        assert await crud.count(s, User) == 6
        assert await crud.count(s, User, credits__gt=2) == 3
        assert await crud.count(s, User, User.credits > 2, team__name="red") == 2
        assert await crud.exists(s, User, username="u3") is True
        assert await crud.exists(s, User, username="nobody") is False
        assert await crud.exists(s, User, _or={"credits__gt": 4, "username": "x"}) is True


async def test_select_is_a_statement_for_read_frame(db: tk.Database) -> None:
    await seed(db)
    stmt = crud.select(User, team__name="red", order_by="-username")
    frame = await tk.read_frame(db, stmt)
    assert frame["username"].tolist() == ["u5", "u3", "u1"]
    projected = crud.select(User, columns=["username", "credits"], credits__lt=2, order_by="id")
    frame = await tk.read_frame(db, projected)
    assert list(frame.columns) == ["username", "credits"] and len(frame) == 2
    async with db.session() as s:
        rows = (await s.exec(crud.select(User, credits__ge=4, limit=1, order_by="id"))).all()
        assert [u.username for u in rows] == ["u4"]
        chained = crud.select(User, team__name="red").with_only_columns(User.username)
        assert sorted((await s.exec(chained)).all()) == ["u1", "u3", "u5"]


async def test_get_many_keeps_the_order_asked(db: tk.Database) -> None:
    users = await seed(db)
    ids = [u.id for u in users]
    async with db.session() as s:
        found = await crud.get_many(s, User, [ids[3], 999, ids[0], ids[3], str(ids[1])])
        assert [u.id for u in found] == [ids[3], ids[0], ids[1]]
        assert await crud.get_many(s, User, []) == []
        with pytest.raises(tk.ValidationError):
            await crud.get_many(s, User, ["x"])


class UserName(pydantic.BaseModel):
    username: str
    credits: float
    note: str = "none"


async def test_projections(db: tk.Database) -> None:
    await seed(db)
    async with db.session() as s:
        rows = await crud.search(s, User, columns=["username", "credits"], credits__lt=2)
        assert [r["username"] for r in rows] == ["u0", "u1"]
        assert set(rows[0]) == {"username", "credits"}
        names = await crud.search(s, User, as_=UserName, team__name="red")
        assert [n.username for n in names] == ["u1", "u3", "u5"]
        assert isinstance(names[0], UserName) and names[0].note == "none"
        one = await crud.get_by(s, User, columns=["email"], username="u2")
        assert one == {"email": "u2@x.org"}
        assert await crud.get_by(s, User, as_=UserName, username="nobody") is None
        page = await crud.paginate(s, User, limit=4, columns=["username"], order_by="-credits")
        assert page.items == [{"username": f"u{k}"} for k in (5, 4, 3, 2)]
        rest = await crud.paginate(
            s, User, limit=4, columns=["username"], order_by="-credits", cursor=page.next_cursor
        )
        assert rest.items == [{"username": "u1"}, {"username": "u0"}] and rest.next_cursor is None
        with pytest.raises(tk.UnknownFieldError, match="nickname"):
            await crud.search(s, User, columns=["nickname"])

        class Wrong(pydantic.BaseModel):
            nickname: str

        with pytest.raises(tk.UnknownFieldError, match="nickname"):
            await crud.search(s, User, as_=Wrong)
        with pytest.raises(tk.ValidationError, match="load="):
            await crud.search(s, User, columns=["id"], load=["team"])


async def test_fields_named_like_options(db: tk.Database) -> None:
    """where= filters on a field whose name is an option's; the keyword alone is
    ambiguous and an error, never silently one or the other."""
    async with db.session() as s:
        await crud.create_many(
            s, Odd, [{"limit": k, "offset": 10 - k, "order_by": "x"} for k in range(5)]
        )
        found = await crud.search(s, Odd, where={"limit": 3})
        assert [o.limit for o in found] == [3]
        found = await crud.search(s, Odd, where={"limit__gt": 1}, limit=2, offset=1)
        assert [o.limit for o in found] == [3, 4]
        assert await crud.count(s, Odd, where={"offset__lt": 8}) == 2
        page = await crud.paginate(s, Odd, where={}, limit=2, order_by="-limit")
        assert [o.limit for o in page.items] == [4, 3]
        assert [o.limit for o in await crud.search(s, Odd, limit__lt=1)] == [0]
        with pytest.raises(tk.UnknownFieldError, match=r"where=\{'limit'"):
            await crud.search(s, Odd, limit=3)
        with pytest.raises(tk.UnknownFieldError, match="both in where"):
            await crud.search(s, Odd, where={"id": 3}, id=2)


async def test_statement_binds_every_value() -> None:
    stmt = crud.select(User, username__like="x'--", _or={"credits__between": (1, 2), "email": "e"})
    compiled = stmt.compile()
    assert "x'--" not in str(compiled)
    assert "x'--" in compiled.params.values()
    assert isinstance(stmt, type(select(User)))
