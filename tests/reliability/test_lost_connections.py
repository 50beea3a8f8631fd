"""Connections lost mid-call (PostgreSQL): the server backend is terminated under the toolkit.

An operator's ``pg_terminate_backend``, a fail-over or a restart all look like this to the
client. The toolkit must raise a clear ``DatabaseUnavailableError``, leave nothing
half-written, and the next call on the same Database must work without the user doing
anything (the pool replaces the dead connection).

The tests find the backend to terminate by the ``application_name`` that only this test's
Database uses (``watched_pg_db``), so concurrent test runs never hit each other.
"""

from __future__ import annotations

import asyncio

import asyncpg
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlmodel import select

import toolkit as tk
from toolkit import crud
from toolkit.demo import Team

from ..conftest import pg_connect
from ..frame_models import AllTypes
from .support import (
    ProgressProbe,
    backend_pid,
    ended,
    row_count,
    terminate_backend,
    wait_for_lock_wait,
    wait_until_pool_idle,
)

pytestmark = pytest.mark.postgres_only

#: Large enough that the COPY is still running long after the first chunk.
STREAM_SQL = "SELECT g AS n, md5(g::text) AS digest FROM generate_series(1, 2000000) AS g"
STREAM_CHUNK = 10_000
INSERT_ROWS = 200_000
INSERT_CHUNK = 2_000
#: A call on a lost connection must end (with an error) within this; it hangs otherwise.
ENDS_WITHIN_SECONDS = 10


def big_frame(rows: int = INSERT_ROWS) -> pd.DataFrame:
    return pd.DataFrame({"i": np.arange(rows), "t": [f"row {k}" for k in range(rows)]})


async def assert_usable(db: tk.Database) -> None:
    """The next calls succeed on the same Database: a read, a CRUD write, a frame insert."""
    assert (await tk.read_frame(db, "SELECT 1 AS one"))["one"].tolist() == [1]
    async with db.session() as s:
        await crud.create(s, Team, name="after the outage")
    assert await tk.insert_frame(db, AllTypes, big_frame(10)) == 10


# -- stream_frames -----------------------------------------------------------------------


async def test_stream_frames_lost_after_first_chunk(
    watched_pg_db: tk.Database, app_name: str, pg_admin: asyncpg.Connection
) -> None:
    """Terminating the COPY's backend after the first chunk raises DatabaseUnavailableError
    from the loop; the pool is idle afterwards and the next calls work."""
    db = watched_pg_db
    received = 0
    with pytest.raises(tk.DatabaseUnavailableError, match="lost") as info:
        async for chunk in tk.stream_frames(db, STREAM_SQL, chunk_size=STREAM_CHUNK):
            received += len(chunk)
            if received == STREAM_CHUNK:
                pid = await backend_pid(pg_admin, app_name, "COPY%")
                await terminate_backend(pg_admin, pid)
    assert STREAM_CHUNK <= received < 2_000_000
    assert isinstance(info.value, tk.ToolkitError)
    assert info.value.__cause__ is not None  # the driver's error stays chained
    await wait_until_pool_idle(db)
    await assert_usable(db)


# -- insert_frame ------------------------------------------------------------------------


async def insert_and_terminate(
    db: tk.Database,
    app_name: str,
    admin: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    on_conflict: str,
) -> BaseException:
    """Run a large insert_frame, terminate its backend after the first chunk, return the error."""
    probe = ProgressProbe.expect(INSERT_CHUNK)
    monkeypatch.setattr("toolkit.progress._bar_class", lambda: probe)

    async def operator() -> None:
        await probe.reached.wait()
        await terminate_backend(admin, await backend_pid(admin, app_name, "COPY%"))

    killer = asyncio.create_task(operator())
    insert = asyncio.create_task(
        tk.insert_frame(
            db,
            AllTypes,
            big_frame(),
            chunk_size=INSERT_CHUNK,
            progress=True,
            on_conflict=on_conflict,  # type: ignore[arg-type]
        )
    )
    try:
        with pytest.raises(Exception) as info:
            (await ended(insert, within=ENDS_WITHIN_SECONDS)).result()
    finally:
        await asyncio.wait_for(killer, timeout=30)
    assert probe.rows < INSERT_ROWS, "the insert finished before the backend was terminated"
    return info.value


async def test_insert_frame_lost_while_the_server_reads_nothing(
    watched_pg_db: tk.Database,
    app_name: str,
    pg_admin: asyncpg.Connection,
    pg_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A COPY whose server reads nothing (here it waits for a table lock) fills the
    socket's buffers, and asyncpg waits for them to drain before the next batch. Losing
    the connection then ends the call with DatabaseUnavailableError; nothing is written.

    Found by this suite: under load, a lost-COPY test hung for minutes; asyncpg (0.30 to
    0.32) never ends that wait when the connection is lost."""
    db = watched_pg_db
    rows = 2_000_000  # far more CSV than the socket buffers hold
    probe = ProgressProbe.expect(rows)
    monkeypatch.setattr("toolkit.progress._bar_class", lambda: probe)
    locker = await pg_connect()  # pg_admin polls pg_stat_activity, outside any transaction
    try:
        async with locker.transaction():
            await locker.execute(
                f'LOCK TABLE "{pg_schema}".test_all_types IN ACCESS EXCLUSIVE MODE'
            )
            insert = asyncio.create_task(
                tk.insert_frame(db, AllTypes, big_frame(rows), progress=True)
            )
            pid = await wait_for_lock_wait(pg_admin, app_name)
            await wait_until_stalled(probe)
            assert 0 < probe.rows < rows, "the feed did not wait for the socket to drain"
            await terminate_backend(pg_admin, pid)
            with pytest.raises(tk.DatabaseUnavailableError, match="lost"):
                (await ended(insert, within=ENDS_WITHIN_SECONDS)).result()
    finally:
        await locker.close()
    monkeypatch.undo()
    await wait_until_pool_idle(db)
    assert await row_count(db, "test_all_types") == 0
    await assert_usable(db)


async def wait_until_stalled(probe: type[ProgressProbe], quiet: float = 0.5) -> None:
    """Wait until rows went out, then until the probe's count has not moved for ``quiet`` s."""
    deadline = asyncio.get_running_loop().time() + ENDS_WITHIN_SECONDS
    while not probe.rows:
        assert asyncio.get_running_loop().time() < deadline, "no rows went out"
        await asyncio.sleep(0.01)
    seen = -1
    while probe.rows != seen:
        seen = probe.rows
        await asyncio.sleep(quiet)


@pytest.mark.parametrize("on_conflict", ["error", "ignore"], ids=["copy", "staged-copy"])
async def test_insert_frame_lost_mid_copy_writes_nothing_and_recovers(
    watched_pg_db: tk.Database,
    app_name: str,
    pg_admin: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    on_conflict: str,
) -> None:
    """Terminating the backend between COPY chunks writes none of the frame; the pool is
    idle and the next calls work. (The error's type is pinned by the test below.)"""
    db = watched_pg_db
    await insert_and_terminate(db, app_name, pg_admin, monkeypatch, on_conflict)
    monkeypatch.undo()
    await wait_until_pool_idle(db)
    assert await row_count(db, "test_all_types") == 0
    await assert_usable(db)


@pytest.mark.parametrize("on_conflict", ["error", "ignore"], ids=["copy", "staged-copy"])
async def test_insert_frame_lost_mid_copy_raises_database_unavailable(
    watched_pg_db: tk.Database,
    app_name: str,
    pg_admin: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    on_conflict: str,
) -> None:
    """The error of an insert_frame whose connection is lost is DatabaseUnavailableError."""
    error = await insert_and_terminate(watched_pg_db, app_name, pg_admin, monkeypatch, on_conflict)
    assert isinstance(error, tk.DatabaseUnavailableError), repr(error)


# -- CRUD and idle connections -----------------------------------------------------------


async def terminate_own_backend(s: object, admin: asyncpg.Connection) -> None:
    pid = (await s.exec(text("SELECT pg_backend_pid()"))).scalar_one()  # type: ignore[attr-defined]
    await terminate_backend(admin, pid)
    await asyncio.sleep(0.05)  # let the termination reach the client socket


async def test_transaction_lost_mid_way_commits_nothing_and_recovers(
    watched_pg_db: tk.Database, pg_admin: asyncpg.Connection
) -> None:
    """A transaction whose backend dies between CRUD calls commits nothing; the pool is
    idle and the next calls work. (The error's type is pinned by the test below.)"""
    db = watched_pg_db
    with pytest.raises(Exception):  # noqa: B017 - any error; its type is the next test's
        async with db.transaction() as s:
            await crud.create(s, Team, name="before")
            await terminate_own_backend(s, pg_admin)
            await crud.create(s, Team, name="after")
    await wait_until_pool_idle(db)
    async with db.session() as s:
        assert await crud.search(s, Team) == []
    await assert_usable(db)


async def test_transaction_lost_mid_way_raises_database_unavailable(
    watched_pg_db: tk.Database, pg_admin: asyncpg.Connection
) -> None:
    """A CRUD call on a connection lost mid-transaction raises DatabaseUnavailableError."""
    with pytest.raises(tk.DatabaseUnavailableError):
        async with watched_pg_db.transaction() as s:
            await crud.create(s, Team, name="before")
            await terminate_own_backend(s, pg_admin)
            await crud.create(s, Team, name="after")


async def test_idle_pooled_connections_terminated_are_replaced(
    watched_pg_db: tk.Database, app_name: str, pg_admin: asyncpg.Connection
) -> None:
    """Backends of idle pooled connections terminated (a server restart between cells):
    the next read, CRUD call and insert succeed without any error (pre-ping)."""
    db = watched_pg_db
    await asyncio.gather(*(tk.read_frame(db, select(Team)) for _ in range(3)))
    killed = await pg_admin.fetch(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        app_name,
    )
    assert killed
    await assert_usable(db)
    await wait_until_pool_idle(db)


@pytest.mark.parametrize("call", ["read_frame", "crud.get", "insert_frame"])
async def test_unreachable_server_raises_database_unavailable(call: str) -> None:
    """Every entry point reports a server nobody listens on as DatabaseUnavailableError."""
    db = tk.connect("postgresql://postgres@127.0.0.1:1/test")
    try:
        with pytest.raises(tk.DatabaseUnavailableError):
            if call == "read_frame":
                await tk.read_frame(db, "SELECT 1")
            elif call == "crud.get":
                async with db.session() as s:
                    await crud.get(s, Team, 1)
            else:
                await tk.insert_frame(db, Team, pd.DataFrame({"name": ["red"]}))
    finally:
        await db.dispose()
