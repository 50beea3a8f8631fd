"""Count the SQL statements a block runs, find N+1 patterns, and refuse lazy loads.

:func:`count_queries` listens to ``before_cursor_execute`` / ``after_cursor_execute``
on the engine behind its source and fills a :class:`QueryLog`. What is "inside" the
block is decided per asyncio task, with a :mod:`contextvars` variable:

* recorded: statements run, while the block is open, by the task that entered it and
  by tasks it creates inside the block (``asyncio.create_task``, ``gather``,
  ``TaskGroup`` and ``asyncio.to_thread`` copy the context), and, for a plain ``with``
  around :func:`toolkit.run`, by the coroutine that ``run`` drives;
* not recorded: statements of other tasks, even on the same engine and at the same
  time (a task created before the block does not see it), and anything run after the
  block exits, even by a child task that outlives it (the listeners are removed).

This works because SQLAlchemy's asyncio layer runs the synchronous event hooks in a
greenlet that shares the calling task's context, with aiosqlite and asyncpg alike.

Transaction control (``BEGIN``, ``SAVEPOINT``, ``RELEASE``, ``ROLLBACK``, ``COMMIT``,
``PRAGMA``) is logged apart and never counted. Drivers may also commit or roll back
through the DBAPI connection rather than a cursor (asyncpg always does for ``BEGIN``
and ``COMMIT``); those never reach the hooks and are simply not seen.

Strict loading (:func:`toolkit.strict_loading`), which refuses lazy loads outright,
lives in :mod:`toolkit.loading`.
"""

from __future__ import annotations

import contextvars
import itertools
import time
import warnings
from types import TracebackType
from typing import Any, Literal, TypeAlias

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from .database import Database
from .errors import ConfigurationError, NPlusOneError
from .querylog import N_PLUS_ONE_THRESHOLD as N_PLUS_ONE_THRESHOLD
from .querylog import NPlusOneGroup as NPlusOneGroup
from .querylog import NPlusOneWarning as NPlusOneWarning
from .querylog import QueryLog as QueryLog
from .querylog import StatementRecord as StatementRecord
from .querylog import n_plus_one_advice
from .querylog import normalize_sql as normalize_sql

__all__ = [
    "N_PLUS_ONE_THRESHOLD",
    "NPlusOneGroup",
    "NPlusOneWarning",
    "QueryCounter",
    "QueryLog",
    "StatementRecord",
    "count_queries",
    "normalize_sql",
]

#: What :func:`count_queries` accepts; each is mapped to its synchronous ``Engine``.
Source: TypeAlias = Database | AsyncEngine | AsyncConnection | AsyncSession | Engine
NPlusOneMode: TypeAlias = Literal["warn", "raise"] | None

_ACTIVE: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "toolkit_count_queries", default=frozenset()
)
_ids = itertools.count(1)


class _Recorder:
    """Listens on one Engine (or on the Engine class: every engine) and fills a QueryLog.

    ``scoped`` recorders only take statements from contexts inside their block; the
    notebook extension uses an unscoped one to count everything a cell runs.
    """

    def __init__(self, target: Engine | type[Engine], log: QueryLog, *, scoped: bool) -> None:
        self.target = target
        self.log = log
        self.scoped = scoped
        self.id = next(_ids)
        self.listening = False
        self._started: dict[tuple[int, int], float] = {}

    def start(self) -> None:
        if self.scoped:
            _ACTIVE.set(_ACTIVE.get() | {self.id})
        event.listen(self.target, "before_cursor_execute", self._before)
        event.listen(self.target, "after_cursor_execute", self._after)
        event.listen(self.target, "handle_error", self._error)
        self.listening = True

    def stop(self) -> None:
        if self.listening:
            event.remove(self.target, "before_cursor_execute", self._before)
            event.remove(self.target, "after_cursor_execute", self._after)
            event.remove(self.target, "handle_error", self._error)
            self.listening = False
        if self.scoped:
            _ACTIVE.set(_ACTIVE.get() - {self.id})
        self._started.clear()

    # Keyed by connection and execution context: toolkit.frames announces its
    # driver-level statements with no context, and concurrent tasks use their own
    # connections.
    def _before(
        self, conn: Any, _cursor: Any, _sql: str, _params: Any, ctx: Any, _many: bool
    ) -> None:
        if not self.scoped or self.id in _ACTIVE.get():
            self._started[id(conn), id(ctx)] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        start = self._started.pop((id(conn), id(ctx)), None)
        if start is not None:
            self.log._add(StatementRecord(sql, params, time.perf_counter() - start, many))

    def _error(self, exception_context: ExceptionContext) -> None:
        ctx = exception_context.execution_context
        start = self._started.pop((id(exception_context.connection), id(ctx)), None)
        if start is not None and exception_context.statement is not None:
            self.log._add(
                StatementRecord(
                    exception_context.statement,
                    exception_context.parameters,
                    time.perf_counter() - start,
                    bool(ctx is not None and ctx.executemany),
                    failed=True,
                )
            )


def _engine_of(source: Source) -> Engine:
    if isinstance(source, Database):
        return source.engine.sync_engine
    if isinstance(source, AsyncEngine | AsyncConnection):
        return source.sync_engine
    if isinstance(source, AsyncSession):
        try:
            bind = source.sync_session.get_bind()
        except sa_exc.UnboundExecutionError as exc:
            raise ConfigurationError(
                "count_queries: this session is not bound to an engine; pass the "
                "Database or its engine instead."
            ) from exc
        return bind if isinstance(bind, Engine) else bind.engine
    if isinstance(source, Engine):
        return source
    raise TypeError(
        f"count_queries() needs a toolkit Database, an AsyncEngine, an AsyncConnection or "
        f"an AsyncSession, not {type(source).__name__}."
    )


class QueryCounter:
    """The context manager :func:`count_queries` returns (``with`` or ``async with``)."""

    def __init__(self, engine: Engine, *, n_plus_one: NPlusOneMode = None) -> None:
        if n_plus_one not in (None, "warn", "raise"):
            raise ConfigurationError(
                f"n_plus_one={n_plus_one!r} is not an option; use None, 'warn' or 'raise'."
            )
        self.log = QueryLog()
        self.n_plus_one: NPlusOneMode = n_plus_one
        self._recorder = _Recorder(engine, self.log, scoped=True)

    def __enter__(self) -> QueryLog:
        if self._recorder.listening:
            raise RuntimeError(
                "This count_queries() block is already open; call count_queries() again "
                "for a nested block."
            )
        self._recorder.start()
        return self.log

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc_type, stacklevel=3)

    async def __aenter__(self) -> QueryLog:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc_type, stacklevel=3)

    def _exit(self, exc_type: type[BaseException] | None, *, stacklevel: int) -> None:
        self._recorder.stop()
        # An error from the block itself matters more than an N+1 report.
        if exc_type is not None or self.n_plus_one is None or not self.log.n_plus_one:
            return
        message = n_plus_one_advice(self.log.n_plus_one)
        if self.n_plus_one == "raise":
            raise NPlusOneError(f"{message}\n{self.log._listing()}")
        warnings.warn(message, NPlusOneWarning, stacklevel=stacklevel)


def count_queries(source: Source, *, n_plus_one: NPlusOneMode = None) -> QueryCounter:
    """Count the SQL statements run inside a ``with`` or ``async with`` block.

    Only statements of the task that opens the block and of the tasks it starts inside
    it are recorded (see the module documentation for what "inside" means).

    Parameters
    ----------
    source : Database, AsyncEngine, AsyncConnection or AsyncSession
        Statements on the engine behind it are recorded (a sync ``Engine`` works too).
    n_plus_one : {None, "warn", "raise"}
        What to do at the end of the block when statements of one shape repeated:
        nothing (default), emit :class:`NPlusOneWarning`, or raise
        :class:`toolkit.NPlusOneError`. Not checked when the block itself raised.

    Returns
    -------
    QueryCounter
        A context manager that yields a :class:`QueryLog`.

    Raises
    ------
    TypeError
        ``source`` is none of the above.
    toolkit.ConfigurationError
        ``n_plus_one`` is not one of the options.
    toolkit.NPlusOneError
        At block exit, with ``n_plus_one="raise"``, when an N+1 group was found.

    Examples
    --------
    >>> async with tk.count_queries(db) as log:
    ...     teams = await crud.search(s, Team, load=["members"])
    >>> log.count, log.n_plus_one
    (2, [])
    >>> with tk.count_queries(db, n_plus_one="raise"):      # a plain with works too
    ...     tk.run(report(db))
    """
    return QueryCounter(_engine_of(source), n_plus_one=n_plus_one)
