"""upsert / upsert_many: by primary key or a unique key (composite included)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

import toolkit as tk
from toolkit import crud
from toolkit.demo import Team

from ..frame_models import Keyed, Pair
from .models import Slot

DAY = dt.date(2024, 5, 1)


async def test_upsert_by_primary_key(db: tk.Database) -> None:
    async with db.session() as s:
        made = await crud.upsert(s, Keyed, {"id": 1, "code": "a", "qty": 1})
        again = await crud.upsert(s, Keyed, {"id": 1, "code": "a", "qty": 5})
        assert made.id == again.id == 1 and again.qty == 5
        rows = await crud.upsert_many(
            s, Keyed, [{"id": 2, "code": "b"}, {"id": 1, "code": "a", "qty": 9}]
        )
        assert [(k.id, k.qty) for k in rows] == [(2, 0), (1, 9)]
    async with db.session() as s:
        assert [(k.id, k.code, k.qty) for k in await crud.search(s, Keyed)] == [
            (1, "a", 9),
            (2, "b", 0),
        ]


async def test_upsert_keeps_what_the_row_leaves_out(db: tk.Database) -> None:
    """An existing row gets the fields the new row gives, not the model's defaults."""
    async with db.session() as s:
        await crud.create(s, Keyed, id=1, code="a", qty=4, note="keep me")
        updated = await crud.upsert(s, Keyed, {"id": 1, "code": "a2"})
        assert (updated.code, updated.qty, updated.note) == ("a2", 4, "keep me")
        only = await crud.upsert(
            s, Keyed, {"id": 1, "code": "a3", "qty": 8}, update_columns=["qty"]
        )
        assert (only.code, only.qty) == ("a2", 8)


async def test_upsert_by_unique_keys(db: tk.Database) -> None:
    async with db.session() as s:
        red = await crud.upsert(s, Team, {"name": "red"})
        same = await crud.upsert(s, Team, Team(name="red"))
        assert same.id == red.id
        slots = await crud.upsert_many(
            s,
            Slot,
            [{"room": "A", "day": DAY, "note": "x"}, {"room": "B", "day": DAY, "note": "y"}],
        )
        again = await crud.upsert_many(
            s,
            Slot,
            [{"room": "B", "day": DAY, "note": "z"}, {"room": "A", "day": DAY + dt.timedelta(1)}],
        )
        assert again[0].id == slots[1].id and again[0].note == "z"
        assert again[1].id not in {slot.id for slot in slots}
        assert await crud.count(s, Slot) == 3


async def test_upsert_composite_primary_key(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.upsert_many(s, Pair, [{"a": 1, "b": 1, "ratio": 0.5}, {"a": 1, "b": 2}])
        rows = await crud.upsert_many(s, Pair, [{"a": 1, "b": 2, "ratio": 2.0}])
        assert rows[0].ratio == 2.0
        assert [(p.a, p.b, p.ratio) for p in await crud.search(s, Pair)] == [
            (1, 1, 0.5),
            (1, 2, 2.0),
        ]


async def test_upsert_errors(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create(s, Keyed, id=1, code="a")
        with pytest.raises(tk.ValidationError, match="key"):
            await crud.upsert(s, Keyed, {"qty": 3})  # neither id nor code
        with pytest.raises(tk.ValidationError, match="same key"):
            await crud.upsert_many(s, Keyed, [{"id": 2, "code": "b"}, {"id": 2, "code": "c"}])
        with pytest.raises(tk.ValidationError, match="row 1"):
            await crud.upsert_many(
                s, Keyed, [{"id": 2, "code": "b"}, {"id": 3, "code": "c", "qty": -1}]
            )
        with pytest.raises(tk.DuplicateError):
            await crud.upsert_many(s, Keyed, [{"id": 5, "code": "z"}, {"id": 6, "code": "a"}])
        assert await crud.count(s, Keyed) == 1
        assert await crud.upsert_many(s, Keyed, []) == []


async def test_concurrent_upserts_of_one_key_make_one_row(db: tk.Database) -> None:
    async def one(qty: int) -> int:
        async with db.session() as s:
            return (await crud.upsert(s, Team, {"name": "race"})).id or 0

    ids = await asyncio.gather(*(one(k) for k in range(6)))
    assert len(set(ids)) == 1
    async with db.session() as s:
        assert await crud.count(s, Team) == 1
