"""Run a coroutine to completion from synchronous code: :func:`run`.

Without a running event loop it uses one loop per thread that stays open between
calls: a pooled asyncpg or aiosqlite connection belongs to the loop that opened it, so
``asyncio.run`` (a new loop each time) would break the second call on the same
``Database``. Inside a running loop (a Jupyter kernel, an async test) it makes that
loop re-entrant with ``nest_asyncio2``, at that moment and never at import, and runs
the coroutine on it, so the notebook's pooled connections stay usable. The patch is
made on the loop's class and lasts for the process; in a notebook prefer ``await`` and
keep ``run`` for helpers that must stay synchronous.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")

_thread = threading.local()


def _thread_runner() -> asyncio.Runner:
    runner: asyncio.Runner | None = getattr(_thread, "runner", None)
    if runner is None:
        # loop_factory: the runner does not install its loop as the thread's current
        # loop, so code that manages its own loops (pytest-asyncio, IPython) is unaffected.
        runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        _thread.runner = runner
        atexit.register(runner.close)
    return runner


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code and return its result.

    Works with or without a running event loop, so the same helper serves a script,
    a test and a Jupyter cell.

    Parameters
    ----------
    coro : coroutine
        The awaitable to run, already called: ``run(crud.get(s, User, 1))``.

    Returns
    -------
    The coroutine's result; its exception propagates unchanged.

    Raises
    ------
    TypeError
        ``coro`` is not a coroutine (often an async function that was not called).
    RuntimeError
        The running loop cannot be made re-entrant (for example uvloop); ``await``
        the coroutine instead.

    Examples
    --------
    >>> import toolkit as tk
    >>> db = tk.connect(":memory:")
    >>> tk.run(db.create_all())
    >>> with tk.count_queries(db) as log:     # a plain ``with`` sees what run() runs
    ...     teams = tk.run(crud.search(s, Team))
    """
    if not asyncio.iscoroutine(coro):
        hint = " (call it: run(f()) rather than run(f))" if callable(coro) else ""
        raise TypeError(f"run() needs a coroutine, not {type(coro).__name__}{hint}.")
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # A fresh copy of the caller's context for each call, as asyncio.run would take:
        # count_queries() blocks opened around run() must see its statements.
        return _thread_runner().run(coro, context=contextvars.copy_context())
    from .drivers.compat import patch_loop

    # Patch this loop (its class) only. nest_asyncio2.apply() would also replace
    # asyncio.get_event_loop and the policy for the whole process, which then creates
    # loops that nobody closes; re-entering one loop does not need that.
    try:
        patch_loop(loop)
    except ValueError as exc:
        coro.close()
        raise RuntimeError(
            f"run() cannot nest inside the running {type(loop).__name__}: "
            f"nest_asyncio2 refused it ({exc}). Use `await` on the coroutine instead."
        ) from exc
    result: T = loop.run_until_complete(coro)
    return result
