"""Lists of any length: ``in``/``notin`` and every call taking keys, past the drivers'
bound-parameter limits (32,767 on PostgreSQL, 32,766 on SQLite)."""

from __future__ import annotations

from typing import Any

import pytest

import toolkit as tk
from toolkit import crud
from toolkit.demo import Team, User
from toolkit.filters import EXPANDED_MAX

from ..frame_models import AllTypes, Pair, sample_rows

LONG = 40_000  # past both limits

FIELDS = ["small", "i", "big", "f", "n", "s", "t", "b", "ts", "naive", "d"]


@pytest.mark.parametrize("field", FIELDS)
async def test_long_in_list_means_what_a_short_one_means(db: tk.Database, field: str) -> None:
    """Past EXPANDED_MAX values the list travels as one parameter; each value is still
    converted by its column's type (dates, timestamps, decimals, booleans...)."""
    async with db.session() as s:
        created = await crud.create_many(s, AllTypes, sample_rows(40))
    wanted = [getattr(o, field) for o in created[::3] if getattr(o, field) is not None]
    padded = (wanted * (EXPANDED_MAX // len(wanted) + 2))[: EXPANDED_MAX + 5]
    async with db.session() as s:
        for op in ("in", "notin"):
            short = await crud.search(s, AllTypes, **{f"{field}__{op}": wanted})
            long = await crud.search(s, AllTypes, **{f"{field}__{op}": padded})
            assert [o.id for o in long] == [o.id for o in short], op
            assert long or op == "notin", op
        with_null = await crud.search(s, AllTypes, **{f"{field}__in": [*padded, None]})
        nulls = {o.id for o in created if getattr(o, field) is None}
        in_short = {o.id for o in await crud.search(s, AllTypes, **{f"{field}__in": wanted})}
        assert {o.id for o in with_null} == in_short | nulls


async def test_every_call_taking_keys_takes_any_number(db: tk.Database) -> None:
    async with db.session() as s:
        rows = await crud.create_many(s, AllTypes, [{"i": k} for k in range(10)])
    ids = [r.id for r in rows]
    many = [*range(1, LONG), 10**30]  # an unstorable key too
    async with db.session() as s:
        assert len(await crud.search(s, AllTypes, id__in=many)) == 10
        assert await crud.search(s, AllTypes, id__notin=many) == []
        assert await crud.count(s, AllTypes, id__in=many) == 10
        assert [o.id for o in await crud.get_many(s, AllTypes, many[::-1])] == ids[::-1]
        assert await crud.update_many(s, AllTypes, many, i=5) == 10
        assert await crud.update_by(s, AllTypes, {"i": 6}, allow_multiple=True, id__in=many) == 10
        assert {o.i for o in await crud.search(s, AllTypes)} == {6}
        assert await crud.delete_many(s, AllTypes, many) == 10
        assert await crud.count(s, AllTypes) == 0


async def test_composite_keys_of_any_number(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create_many(s, Pair, [{"a": a, "b": b} for a in range(3) for b in range(3)])
    keys: list[Any] = [(a, b) for a in range(200) for b in range(200)]  # 40,000 pairs
    async with db.session() as s:
        found = await crud.get_many(s, Pair, keys)
        assert [(p.a, p.b) for p in found] == [(a, b) for a in range(3) for b in range(3)]
        assert await crud.update_many(s, Pair, keys, ratio=0.5) == 9
        assert await crud.delete_many(s, Pair, [*keys, {"a": 1, "b": 1}]) == 9


async def test_a_write_by_a_long_list_is_all_or_nothing(db: tk.Database) -> None:
    """One referenced team among 40,000 ids: a ForeignKeyError, and no team deleted."""
    async with db.session() as s:
        teams = await crud.create_many(s, Team, [{"name": f"t{k}"} for k in range(5)])
        await crud.create(s, User, username="ann", email="a@x.org", team_id=teams[2].id)
    with pytest.raises(tk.ForeignKeyError):
        async with db.session() as s:
            await crud.delete_many(s, Team, list(range(1, LONG)))
    async with db.session() as s:
        assert await crud.count(s, Team) == 5


def test_a_long_list_is_one_parameter_and_a_plain_predicate() -> None:
    """One bound parameter per key column, whatever the length, and on SQLite no
    ``= 1`` around the predicate (which would keep the key's index from being used)."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlmodel import select

    from toolkit.filters import build_filters

    stmt = select(AllTypes.id).where(*build_filters(AllTypes, {"id__in": list(range(LONG))}))
    lite = stmt.compile(dialect=sqlite.dialect())
    assert "json_each" in str(lite) and "= 1" not in str(lite) and len(lite.params) == 1
    pg = stmt.compile(dialect=postgresql.asyncpg.dialect())
    assert "unnest" in str(pg) and len(pg.params) == 1
