"""Helpers shared by the reliability tests (not fixtures: plain functions and classes)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

import toolkit as tk

#: How long a cancelled or failed call may take to hand its connection back.
SETTLE_SECONDS = 2.0


async def row_count(db: tk.Database, table: str) -> int:
    """Rows in ``table``, read through the toolkit (a new pooled connection)."""
    frame = await tk.read_frame(db, f"SELECT count(*) AS n FROM {table}")
    return int(frame["n"].iloc[0])


async def wait_until_pool_idle(db: tk.Database, timeout: float = SETTLE_SECONDS) -> None:
    """Wait up to ``timeout`` for every pooled connection to be checked in; fail if not."""
    pool = db.engine.pool
    deadline = time.monotonic() + timeout
    while pool.checkedout() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
    checked_out = pool.checkedout()  # type: ignore[attr-defined]
    assert checked_out == 0, f"{checked_out} connection(s) still checked out: {pool.status()}"


async def _poll_activity(
    admin: asyncpg.Connection, app_name: str, condition: str, *args: Any, what: str, timeout: float
) -> int:
    """Poll ``pg_stat_activity`` until a backend of ``app_name`` meets ``condition``
    (SQL over its columns; ``$2``... are ``args``); return its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = await admin.fetchval(
            f"SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND {condition} LIMIT 1",
            app_name,
            *args,
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.002)
    pytest.fail(f"no backend of {app_name} {what} within {timeout} s")


async def backend_pid(
    admin: asyncpg.Connection, app_name: str, query_like: str, timeout: float = 20.0
) -> int:
    """The pid of a backend of ``app_name`` running a query like ``query_like``."""
    condition = "state = 'active' AND query ILIKE $2"
    return await _poll_activity(
        admin, app_name, condition, query_like, what=f"ran {query_like!r}", timeout=timeout
    )


async def wait_for_lock_wait(admin: asyncpg.Connection, app_name: str, timeout: float = 20) -> int:
    """Wait until a backend of ``app_name`` waits for a lock; return its pid."""
    return await _poll_activity(
        admin, app_name, "wait_event_type = 'Lock'", what="waited for a lock", timeout=timeout
    )


async def terminate_backend(admin: asyncpg.Connection, pid: int) -> None:
    """Terminate a server backend, as an operator or a fail-over would."""
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)


async def ended(task: asyncio.Task[Any], within: float) -> asyncio.Task[Any]:
    """``task`` once it has ended on its own; fail (and cancel it) if it has not within
    ``within`` seconds. Unlike ``wait_for``, a hang cannot turn into the cancelled call's
    error."""
    await asyncio.wait({task}, timeout=within)
    if not task.done():
        task.cancel()
        pytest.fail(f"still running {within} s later (hung?): {task!r}")
    return task


async def signalled(event: asyncio.Event, task: asyncio.Task[Any], failure: str) -> None:
    """Wait until ``event`` is set; fail at once, with ``failure``, if ``task`` ends first."""
    waiter = asyncio.create_task(event.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        waiter.cancel()
        pytest.fail(f"{failure}: {task!r}")


class ProgressProbe:
    """Stands in for the tqdm bar class (``toolkit.progress._bar_class``) to see
    ``insert_frame`` write batch after batch.

    ``insert_frame(..., progress=True)`` moves its bar once per written chunk; the probe
    sets ``reached`` once ``wanted`` rows have gone to the database (in the open
    transaction), which is the moment the tests interrupt the call.
    """

    wanted = 1
    reached: asyncio.Event
    rows = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        type(self).rows = 0

    def update(self, n: int) -> None:
        cls = type(self)
        cls.rows += n
        if cls.rows >= cls.wanted:
            cls.reached.set()

    def reset(self, total: int | None = None) -> None:
        type(self).rows = 0

    def close(self) -> None:
        pass

    @classmethod
    async def wait(cls, task: asyncio.Task[Any]) -> None:
        """Wait until ``wanted`` rows were written; fail at once if ``task`` ends first."""
        await signalled(cls.reached, task, f"insert_frame ended before writing {cls.wanted} rows")

    @classmethod
    def expect(cls, rows: int) -> type[ProgressProbe]:
        """A fresh probe class that signals after ``rows`` rows."""
        return type("Probe", (cls,), {"wanted": rows, "reached": asyncio.Event(), "rows": 0})
