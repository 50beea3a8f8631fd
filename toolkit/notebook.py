"""The IPython extension, and :func:`run` for sync code in notebooks and scripts.

``run(coro)`` lives in :mod:`toolkit.running` and is re-exported here.

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

import weakref
from typing import Any

from sqlalchemy.engine import Engine

from .queries import QueryLog, _Recorder
from .running import run as run
from .tracebacks import install, uninstall

__all__ = ["load_ipython_extension", "run", "unload_ipython_extension"]

_MAGIC = "toolkit_queries"
_SQL = "sql"


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
