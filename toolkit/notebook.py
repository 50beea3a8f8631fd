"""Sync entry points for notebooks and scripts: :func:`run` and the IPython extension.

``run(coro)`` drives a coroutine to completion from synchronous code. Without a
running event loop it uses one loop per thread that stays open between calls: a
pooled asyncpg or aiosqlite connection belongs to the loop that opened it, so
``asyncio.run`` (a new loop each time) would break the second call on the same
``Database``. Inside a running loop (a Jupyter kernel, an async test) it makes that
loop re-entrant with ``nest_asyncio2``, at that moment and never at import, and runs
the coroutine on it, so the notebook's pooled connections stay usable. The patch is
made on the loop's class and lasts for the process; in a notebook prefer ``await`` and
keep ``run`` for helpers that must stay synchronous.

``%load_ext toolkit`` registers the line magic ``%toolkit_queries on|off``. While on,
every SQL statement that any engine in the process runs during a cell is counted
(class-level ``Engine`` events: background tasks included), and after the cell a
one-line summary is displayed, such as ``toolkit: 3 SQL statements in 2.1 ms``, with
the N+1 groups highlighted. Cells that run no SQL display nothing. It also registers
``%sql`` / ``%%sql`` (:mod:`toolkit.magics`) and short tracebacks for the toolkit's
errors (:mod:`toolkit.tracebacks`); :func:`toolkit.connect` installs the latter by
itself when it runs inside IPython.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import threading
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Engine

from .queries import QueryLog, _Recorder
from .tracebacks import install, uninstall

if TYPE_CHECKING:
    from .database import Database

__all__ = ["load_ipython_extension", "run", "unload_ipython_extension"]

T = TypeVar("T")

_thread = threading.local()
_MAGIC = "toolkit_queries"
_SQL = "sql"


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


# -- IPython extension ----------------------------------------------------------------------


class _CellQueries:
    """Counts the SQL statements of each cell while ``%toolkit_queries on``."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.enabled = False
        self._recorder: _Recorder | None = None

    def magic(self, line: str) -> None:
        """%toolkit_queries on|off: count SQL statements per cell (all engines)."""
        from IPython.core.error import UsageError

        arg = line.strip().lower()
        if arg == "on":
            self.on()
            print("toolkit: counting SQL statements per cell; %toolkit_queries off to stop.")
        elif arg == "off":
            self.off()
        elif arg == "":
            print(f"toolkit: SQL statement counting is {'on' if self.enabled else 'off'}.")
        else:
            raise UsageError(f"Unknown argument {line.strip()!r}. Usage: %toolkit_queries on|off")

    def on(self) -> None:
        if not self.enabled:
            self.shell.events.register("pre_run_cell", self.pre_run_cell)
            self.shell.events.register("post_run_cell", self.post_run_cell)
            self.enabled = True

    def off(self) -> None:
        if self.enabled:
            self.shell.events.unregister("pre_run_cell", self.pre_run_cell)
            self.shell.events.unregister("post_run_cell", self.post_run_cell)
            self.enabled = False
        self._stop()

    def _stop(self) -> None:
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None

    def pre_run_cell(self, info: Any = None) -> None:
        self._stop()
        self._recorder = _Recorder(Engine, QueryLog(), scoped=False)
        self._recorder.start()

    def post_run_cell(self, result: Any = None) -> None:
        recorder = self._recorder
        self._stop()
        if recorder is None or not recorder.log.count:
            return
        from IPython.display import display

        show: Any = display  # IPython's display() is not annotated
        log = recorder.log
        show(
            {
                "text/plain": log.summary(prefix="toolkit: "),
                "text/html": log.summary_html(prefix="toolkit: "),
            },
            raw=True,
        )


_LOADED: weakref.WeakKeyDictionary[Any, _CellQueries] = weakref.WeakKeyDictionary()
_last_connected: weakref.ref[Database] | None = None


def connected(db: Database) -> None:
    """Note ``db`` as the database connected last (``%%sql``'s default).

    Called by :func:`toolkit.connect`; only a weak reference is kept.
    """
    global _last_connected
    _last_connected = weakref.ref(db)


def last_connected() -> Database | None:
    """The database :func:`toolkit.connect` returned last, while it is still referenced."""
    return _last_connected() if _last_connected is not None else None


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%toolkit_queries on|off``, ``%sql`` and ``%%sql``, and short tracebacks
    for the toolkit's errors (:mod:`toolkit.tracebacks`); called by ``%load_ext toolkit``.

    Parameters
    ----------
    ipython : IPython.core.interactiveshell.InteractiveShell

    Examples
    --------
    In a notebook::

        %load_ext toolkit
        %toolkit_queries on
        teams = await crud.search(s, Team)     # shows: toolkit: 1 SQL statement in 0.4 ms

        %%sql db -o rich
        SELECT username, credits FROM users WHERE credits > :minimum
    """
    install(ipython)
    if ipython in _LOADED:
        return
    from .magics import SqlMagic

    cells = _CellQueries(ipython)
    _LOADED[ipython] = cells
    ipython.register_magic_function(cells.magic, magic_kind="line", magic_name=_MAGIC)
    sql = SqlMagic(ipython)
    ipython.register_magic_function(sql.line, magic_kind="line", magic_name=_SQL)
    ipython.register_magic_function(sql.cell, magic_kind="cell", magic_name=_SQL)


def unload_ipython_extension(ipython: Any) -> None:
    """Stop counting and remove ``%toolkit_queries``; called by ``%unload_ext toolkit``.

    Parameters
    ----------
    ipython : IPython.core.interactiveshell.InteractiveShell

    Examples
    --------
    >>> %unload_ext toolkit
    """
    uninstall(ipython)
    cells = _LOADED.pop(ipython, None)
    if cells is None:
        return
    cells.off()
    ipython.magics_manager.magics["line"].pop(_MAGIC, None)
    ipython.magics_manager.magics["line"].pop(_SQL, None)
    ipython.magics_manager.magics["cell"].pop(_SQL, None)
