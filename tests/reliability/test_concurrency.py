"""Many concurrent tasks on one Database whose pool is far smaller than the task count.

The tasks mix the toolkit's writers and readers (credit transfers, get_or_create,
insert_frame, read_frame). Whatever the interleaving, money is conserved, no row is
duplicated, nothing hangs, and every connection is back in the pool afterwards.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import pandas as pd
import pytest
from sqlalchemy import event, text
from sqlmodel import select

import toolkit as tk
from toolkit import crud, demo
from toolkit.demo import Post, Team, User

from ..frame_models import Keyed
from .support import row_count, wait_for_lock_wait, wait_until_pool_idle

TASKS = 200
USERS = 20
START_CREDITS = Decimal("100.00")
TEAM_NAMES = 7
POSTS_PER_FRAME = 40
#: Far more than the workload needs (a few seconds); only a hang reaches it.
TIMEOUT_SECONDS = 120


class CheckoutGauge:
    """Counts connections checked out of an engine's pool, and the peak."""

    def __init__(self, db: tk.Database) -> None:
        self.current = 0
        self.peak = 0
        event.listen(db.engine.sync_engine, "checkout", self._checkout)
        event.listen(db.engine.sync_engine, "checkin", self._checkin)

    def _checkout(self, *_: Any) -> None:
        self.current += 1
        self.peak = max(self.peak, self.current)

    def _checkin(self, *_: Any) -> None:
        self.current -= 1


def pool_capacity(db: tk.Database) -> int:
    pool: Any = db.engine.pool
    return int(pool.size() + pool._max_overflow)


async def make_users(db: tk.Database) -> list[int]:
    async with db.session() as s:
        users = await crud.create_many(
            s,
            User,
            [
                {"username": f"u{i}", "email": f"u{i}@example.org", "credits": START_CREDITS}
                for i in range(USERS)
            ],
        )
    return [u.id for u in users if u.id is not None]


async def test_mixed_workload_on_a_small_pool(small_pool_db: tk.Database) -> None:
    """200 tasks on a pool of 5 (PostgreSQL) or SQLite's default pool: all finish, the
    credit total is conserved in every snapshot, get_or_create creates each team once,
    every frame is inserted once, and the pool is idle afterwards."""
    db = small_pool_db
    ids = await make_users(db)
    total = START_CREDITS * USERS
    gauge = CheckoutGauge(db)
    rng = random.Random(20240601)

    async def transfer(k: int) -> tuple[str, Any]:
        sender, receiver = rng.sample(ids, 2)
        amount = f"{rng.randint(1, 4000) / 100:.2f}"
        try:
            await demo.transfer_credits(db, sender, receiver, amount)
        except demo.InsufficientFunds:
            return "refused", None
        return "moved", None

    async def join_team(k: int) -> tuple[str, Any]:
        async with db.session() as s:
            team, created = await crud.get_or_create(s, Team, name=f"team-{k % TEAM_NAMES}")
        return "team", (team.name, created)

    async def insert_posts(k: int) -> tuple[str, Any]:
        frame = pd.DataFrame(
            {
                "title": [f"post {k}-{j}" for j in range(POSTS_PER_FRAME)],
                "author_id": [rng.choice(ids) for _ in range(POSTS_PER_FRAME)],
            }
        )
        return "posts", await tk.insert_frame(db, Post, frame)

    async def read_credits(k: int) -> tuple[str, Any]:
        frame = await tk.read_frame(db, select(User.id, User.credits))
        return "snapshot", frame["credits"].sum()

    kinds: list[Callable[[int], Awaitable[tuple[str, Any]]]] = [
        transfer,
        join_team,
        insert_posts,
        read_credits,
    ]
    jobs = [kinds[k % len(kinds)](k) for k in range(TASKS)]
    results = await asyncio.wait_for(
        asyncio.gather(*jobs, return_exceptions=True), timeout=TIMEOUT_SECONDS
    )

    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} task(s) failed, first: {failures[0]!r}"
    by_kind: dict[str, list[Any]] = {}
    for kind, value in results:  # type: ignore[misc]
        by_kind.setdefault(kind, []).append(value)

    # Money: every snapshot and the end state hold exactly the starting total.
    assert set(by_kind["snapshot"]) == {total}
    async with db.session() as s:
        balances = [u.credits for u in await crud.search(s, User)]
    assert sum(balances) == total
    assert min(balances) >= 0
    assert len(by_kind.get("moved", [])) > 0

    # get_or_create: one row per name, created exactly once each.
    teams = await tk.read_frame(db, select(Team.name))
    assert sorted(teams["name"]) == sorted(f"team-{i}" for i in range(TEAM_NAMES))
    created = Counter(name for name, was_created in by_kind["team"] if was_created)
    assert created == Counter({f"team-{i}": 1 for i in range(TEAM_NAMES)})

    # insert_frame: every frame once, every title once.
    assert by_kind["posts"] == [POSTS_PER_FRAME] * len(by_kind["posts"])
    titles = (await tk.read_frame(db, select(Post.title)))["title"]
    assert len(titles) == POSTS_PER_FRAME * len(by_kind["posts"])
    assert titles.is_unique

    # The pool was really the bottleneck, and is idle again.
    assert gauge.peak <= pool_capacity(db)
    if db.dialect == "postgresql":
        assert gauge.peak == pool_capacity(db) == 5
    await wait_until_pool_idle(db, timeout=0)


def overlapping_frames(count: int, size: int, seed: int) -> list[pd.DataFrame]:
    """Frames of Keyed rows whose ids overlap from frame to frame, in shuffled order."""
    rng = random.Random(seed)
    frames = []
    for _ in range(count):
        ids = rng.sample(range(1, 2 * size), size)
        frames.append(pd.DataFrame({"id": ids, "code": [f"c{i}" for i in ids]}))
    return frames


@pytest.mark.parametrize("whose", ["own-transaction", "caller-transaction"])
@pytest.mark.parametrize("on_conflict", ["ignore", "update"])
async def test_concurrent_upserts_of_overlapping_keys(
    small_pool_db: tk.Database, on_conflict: str, whose: str
) -> None:
    """Concurrent insert_frame calls whose keys overlap all succeed: the table ends with
    each key once, and (for "ignore") the counts returned add up to the rows written.

    Found by this suite, on PostgreSQL: the staged INSERT ... SELECT took row locks in
    frame order, so overlapping upserts deadlocked (the rows now go in key order); and
    with a conflict target, a concurrent insert of the same new row could fail on the
    table's other unique key (now "ignore" has no target, and "update" merges take
    turns per table). Inside a caller's transaction nothing is retried, so that variant
    shows the calls do not deadlock in the first place."""
    db = small_pool_db
    frames = overlapping_frames(count=8, size=200, seed=7)

    async def upsert(frame: pd.DataFrame) -> int:
        if whose == "own-transaction":
            return await tk.insert_frame(db, Keyed, frame, on_conflict=on_conflict)  # type: ignore[arg-type]
        async with db.transaction() as s:
            return await tk.insert_frame(s, Keyed, frame, on_conflict=on_conflict)  # type: ignore[arg-type]

    results = await asyncio.wait_for(
        asyncio.gather(*(upsert(f) for f in frames), return_exceptions=True),
        timeout=TIMEOUT_SECONDS,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} of {len(frames)} failed, first: {failures[0]!r}"
    union = set().union(*(set(f["id"]) for f in frames))
    assert await row_count(db, "test_keyed") == len(union)
    if on_conflict == "ignore":
        assert sum(results) == len(union)  # type: ignore[arg-type]
    await wait_until_pool_idle(db)


@pytest.mark.postgres_only
@pytest.mark.parametrize("whose", ["own-transaction", "caller-transaction", "session-with-work"])
async def test_deadlocked_upsert(
    watched_pg_db: tk.Database, app_name: str, pg_admin: asyncpg.Connection, whose: str
) -> None:
    """An upsert that PostgreSQL picks as a deadlock's victim: retried when insert_frame
    owns the transaction (and then succeeds); a TransactionConflictError that names the
    fix inside the caller's transaction, or in a session holding other work (a retry
    would lose that work); never a QueryError."""
    db = watched_pg_db
    await tk.insert_frame(db, Keyed, pd.DataFrame({"id": [1, 2], "code": ["a", "b"]}))
    upsert = pd.DataFrame({"id": [1, 2], "code": ["a", "b"], "qty": [5, 5]})
    async with (
        db.engine.connect() as other,
        db.engine.connect() as caller,
        db.session() as session,
    ):
        await other.execute(text("UPDATE test_keyed SET qty = 1 WHERE id = 2"))
        # Only the upsert may be the victim, however the two lock waits are scheduled.
        await other.execute(text("SET LOCAL deadlock_timeout = '60s'"))
        target: Any = {"own-transaction": db, "caller-transaction": caller}.get(whose, session)
        if whose == "caller-transaction":
            await caller.begin()
        if whose == "session-with-work":
            session.add(Keyed(id=3, code="c"))
        # The upsert locks row 1, then waits for row 2; ``other`` then waits for row 1.
        # The upsert's deadlock check fires after 1 s (other's after 60 s): it is the victim.
        task = asyncio.create_task(tk.insert_frame(target, Keyed, upsert, on_conflict="update"))
        await wait_for_lock_wait(pg_admin, app_name)
        await other.execute(text("UPDATE test_keyed SET qty = 2 WHERE id = 1"))
        await other.commit()
        if whose == "own-transaction":
            assert await asyncio.wait_for(task, TIMEOUT_SECONDS) == 2
        else:
            with pytest.raises(tk.TransactionConflictError, match="run_transaction") as info:
                await asyncio.wait_for(task, TIMEOUT_SECONDS)
            assert isinstance(info.value.__cause__, Exception)  # the driver's, chained
            await caller.rollback()
    frame = await tk.read_frame(db, "SELECT id, qty FROM test_keyed ORDER BY id")
    expected = [5, 5] if whose == "own-transaction" else [2, 1]
    assert frame["qty"].tolist() == expected  # and no row 3: nothing half-committed
    await wait_until_pool_idle(db)
