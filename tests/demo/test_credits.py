"""transfer_credits: atomic, conserving, never negative, under concurrency."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

import toolkit as tk
from toolkit import crud, demo
from toolkit.demo import User


async def make_users(db: tk.Database, n: int, credits: str = "100.00") -> list[int]:
    async with db.session() as s:
        users = await crud.create_many(
            s,
            User,
            [
                {"username": f"u{i}", "email": f"u{i}@example.org", "credits": credits}
                for i in range(n)
            ],
        )
    return [u.id for u in users if u.id is not None]


async def balances(db: tk.Database) -> dict[int, Decimal]:
    async with db.session() as s:
        return {u.id: u.credits for u in await crud.search(s, User)}


async def test_transfer_moves_credits(db: tk.Database) -> None:
    a, b = await make_users(db, 2)
    assert await demo.transfer_credits(db, a, b, "12.50") == (Decimal("87.50"), Decimal("112.50"))
    assert await balances(db) == {a: Decimal("87.50"), b: Decimal("112.50")}


async def test_insufficient_funds_moves_nothing(db: tk.Database) -> None:
    a, b = await make_users(db, 2, credits="5.00")
    with pytest.raises(demo.InsufficientFunds) as info:
        await demo.transfer_credits(db, a, b, 6)
    assert isinstance(info.value, tk.ToolkitError)
    assert "5.00" in str(info.value)
    assert await balances(db) == {a: Decimal("5.00"), b: Decimal("5.00")}


@pytest.mark.parametrize(
    "amount",
    ["0", "-1", "0.001", "abc", "NaN"],
    ids=["zero", "negative", "sub-cent", "not-a-number", "nan"],
)
async def test_bad_amounts(db: tk.Database, amount: str) -> None:
    a, b = await make_users(db, 2)
    with pytest.raises(tk.ValidationError):
        await demo.transfer_credits(db, a, b, amount)


async def test_unknown_user_and_self_transfer(db: tk.Database) -> None:
    a, b = await make_users(db, 2)
    with pytest.raises(tk.NotFoundError):
        await demo.transfer_credits(db, a, 9999, 1)
    with pytest.raises(tk.ValidationError):
        await demo.transfer_credits(db, a, a, 1)
    assert await balances(db) == {a: Decimal("100.00"), b: Decimal("100.00")}


async def test_concurrent_random_transfers_conserve_total(db: tk.Database) -> None:
    ids = await make_users(db, 8, credits="50.00")
    rng = random.Random(7)
    outcomes = {"ok": 0, "insufficient": 0}

    async def one() -> None:
        a, b = rng.sample(ids, 2)
        amount = Decimal(rng.randint(1, 4000)) / 100
        try:
            await demo.transfer_credits(db, a, b, amount)
            outcomes["ok"] += 1
        except demo.InsufficientFunds:
            outcomes["insufficient"] += 1

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(150))), timeout=120)
    final = await balances(db)
    assert sum(final.values()) == Decimal("400.00")
    assert min(final.values()) >= 0
    assert outcomes["ok"] + outcomes["insufficient"] == 150
    assert outcomes["ok"] > 0
