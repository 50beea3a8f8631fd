"""run_transaction retries conflicts; savepoints are covered in test_database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc as sa_exc
from sqlmodel.ext.asyncio.session import AsyncSession

import toolkit as tk
from toolkit import crud
from toolkit.demo import Team


class FakeSerializationFailure(Exception):
    sqlstate = "40001"


def conflict() -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("UPDATE ...", {}, FakeSerializationFailure("could not serialize"))


async def test_run_transaction_retries_then_commits(db: tk.Database) -> None:
    calls = 0

    async def flaky(s: AsyncSession, name: str) -> int:
        nonlocal calls
        calls += 1
        team = await crud.create(s, Team, name=f"{name}{calls}")
        if calls < 3:
            raise conflict()
        assert team.id is not None
        return team.id

    await tk.run_transaction(db, flaky, "t")
    assert calls == 3
    async with db.session() as s:
        assert [t.name for t in await crud.search(s, Team)] == ["t3"]  # earlier attempts undone


async def test_run_transaction_gives_up_with_typed_error(db: tk.Database) -> None:
    async def always(s: AsyncSession) -> None:
        raise conflict()

    with pytest.raises(tk.TransactionConflictError) as info:
        await tk.run_transaction(db, always)
    assert isinstance(info.value.__cause__, sa_exc.DBAPIError)


async def test_run_transaction_does_not_retry_other_errors(db: tk.Database) -> None:
    calls = 0

    async def broken(s: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        raise KeyError("not a conflict")

    with pytest.raises(KeyError):
        await tk.run_transaction(db, broken)
    assert calls == 1


@pytest.mark.postgres_only
async def test_real_serialization_failure_is_retried(pg_db: tk.Database) -> None:
    """Two SERIALIZABLE transactions that read then write the same row: one must retry."""
    async with pg_db.session() as s:
        team = await crud.create(s, Team, name="0")
    both_read = asyncio.Barrier(2)
    attempts = 0

    async def bump(s: AsyncSession) -> None:
        nonlocal attempts
        attempts += 1
        await s.connection(execution_options={"isolation_level": "SERIALIZABLE"})
        current = await crud.get(s, Team, team.id)
        if attempts <= 2:
            await both_read.wait()
        current.name = str(int(current.name) + 1)
        await s.flush()

    await asyncio.gather(tk.run_transaction(pg_db, bump), tk.run_transaction(pg_db, bump))
    assert attempts == 3
    async with pg_db.session() as s:
        assert (await crud.get(s, Team, team.id)).name == "2"
