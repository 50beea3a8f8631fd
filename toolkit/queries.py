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
import functools
import html
import itertools
import re
import time
import warnings
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeAlias

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from .database import Database
from .errors import ConfigurationError, NPlusOneError

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

#: A statement shape seen this many times is an N+1 group (as Prosopite and django-zeal).
N_PLUS_ONE_THRESHOLD = 2


class NPlusOneWarning(UserWarning):
    """Statements of the same shape repeated in a ``count_queries(..., n_plus_one="warn")``."""


# -- statements and their shapes ---------------------------------------------------------

_TRANSACTION = re.compile(
    r"\s*(BEGIN|START\s+TRANSACTION|SAVEPOINT|RELEASE|ROLLBACK|COMMIT|END|PRAGMA)\b", re.I
)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STRINGS = re.compile(r"'(?:[^']|'')*'")
# $1 (asyncpg), %(name)s / %s (pyformat), :name (named; not the "::" of a cast).
_PLACEHOLDERS = re.compile(r"\$\d+|%\(\w+\)s|%s|(?<![:\w]):\w+")
_NUMBERS = re.compile(r"(?<![\w$.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_SPACES = re.compile(r"\s+")
_PARAM = r"\?(?:::\w+)?"
_IN_LIST = re.compile(rf"\bIN\s*\(\s*{_PARAM}(?:\s*,\s*{_PARAM})*\s*\)", re.I)
# VALUES (...), (...), ... and IN ((...), (...)): identical tuples collapse to one.
_REPEATED_TUPLES = re.compile(r"(\((?:[^()]|\([^()]*\))*\))(?:\s*,\s*\1)+")
_TABLE_TOKENS = re.compile(
    r'(\()|(\))|\b(?:FROM|INTO|UPDATE)\s+((?:"[^"]+"|`[^`]+`|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)',
    re.I,
)


@functools.lru_cache(maxsize=4096)
def normalize_sql(sql: str) -> str:
    """Return the shape of a statement: literals and parameters become ``?``.

    Comments and whitespace runs are dropped, ``IN (?, ?, ?)`` becomes ``IN (...)`` and
    repeated identical tuples (``VALUES (?, ?), (?, ?)``) collapse to one, so that the
    same query with other values or another number of values has the same shape.

    Parameters
    ----------
    sql : str
        A statement as the driver receives it (any paramstyle).

    Returns
    -------
    str

    Examples
    --------
    >>> normalize_sql("SELECT * FROM users WHERE id IN ($1::INTEGER, $2::INTEGER)")
    'SELECT * FROM users WHERE id IN (...)'
    >>> normalize_sql("SELECT * FROM users WHERE name = 'ann' AND age > 30")
    'SELECT * FROM users WHERE name = ? AND age > ?'
    """
    text = _COMMENTS.sub(" ", sql)
    text = _STRINGS.sub("?", text)
    text = _PLACEHOLDERS.sub("?", text)
    text = _NUMBERS.sub("?", text)
    text = _SPACES.sub(" ", text).strip()
    text = _IN_LIST.sub("IN (...)", text)
    return _REPEATED_TUPLES.sub(r"\1", text)


def _main_table(sql: str) -> str | None:
    """The table after the outermost FROM / INTO / UPDATE (else the first one seen)."""
    depth, first = 0, None
    for match in _TABLE_TOKENS.finditer(sql):
        if match.group(1):
            depth += 1
        elif match.group(2):
            depth -= 1
        else:
            name = re.sub(r'["`]', "", match.group(3))
            if depth == 0:
                return name
            first = first or name
    return first


def _is_transaction_control(sql: str) -> bool:
    return _TRANSACTION.match(_COMMENTS.sub(" ", sql)) is not None


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _shorten(text: str, limit: int) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class StatementRecord:
    """One statement a :class:`QueryLog` saw.

    Attributes
    ----------
    sql : str
        The statement as sent to the driver.
    parameters : object
        Its parameters as sent (a tuple, a dict, or a list of them for executemany).
    duration : float
        Seconds from ``before_cursor_execute`` to ``after_cursor_execute``.
    executemany : bool
        True when the driver ran it once per parameter set (or as one batched insert).
    failed : bool
        True when the database raised an error for it.
    """

    sql: str
    parameters: Any
    duration: float
    executemany: bool
    failed: bool = False

    @property
    def normalized(self) -> str:
        """The statement's shape; see :func:`normalize_sql`."""
        return normalize_sql(self.sql)

    @property
    def table(self) -> str | None:
        """The main table (after FROM, INTO or UPDATE), or None."""
        return _main_table(self.normalized)

    def __str__(self) -> str:
        flags = " executemany" if self.executemany else ""
        flags += " FAILED" if self.failed else ""
        params = _shorten(repr(self.parameters), 120)
        return f"[{_duration(self.duration)}{flags}] {_shorten(self.sql, 500)}  {params}"


@dataclass(frozen=True, slots=True)
class NPlusOneGroup:
    """Data statements that repeated with one shape: an N+1 query pattern.

    Attributes
    ----------
    table : str or None
        The main table (after FROM, INTO or UPDATE).
    count : int
        How many times the shape ran.
    sql : str
        The normalised statement (see :func:`normalize_sql`).
    """

    table: str | None
    count: int
    sql: str

    def __str__(self) -> str:
        return f"{self.count} x {self.table or 'the same query'}: {_shorten(self.sql, 300)}"

    @property
    def writes(self) -> bool:
        """True when the repeated statement writes (INSERT, UPDATE, DELETE, MERGE)."""
        words = self.sql.split(None, 1)
        return bool(words) and words[0].upper() in _WRITE_VERBS


_WRITE_VERBS = {"INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "UPSERT"}


def _n_plus_one_advice(groups: list[NPlusOneGroup]) -> str:
    lines = [f"  N+1: {group}" for group in groups]
    advice = []
    if any(not group.writes for group in groups):
        advice.append(
            "Load the relationship with the first query instead: .options(selectinload(...)) "
            "for a collection, joinedload(...) for a many-to-one, or load=[...] in "
            "toolkit.crud."
        )
    if any(group.writes for group in groups):
        advice.append(
            "Write the rows in one call instead of one per row: crud.create_many(s, Model, "
            "rows) or tk.insert_frame(db, Model, frame) for inserts, crud.update_many / "
            "crud.delete_many (by ids) or crud.update_by / crud.delete_by for the rest."
        )
    return (
        "Statements of the same shape ran once per row (an N+1 pattern):\n"
        + "\n".join(lines)
        + "\n"
        + "\n".join(advice)
    )


class QueryLog:
    """What a :func:`count_queries` block saw. Renders as a table in a notebook.

    Attributes
    ----------
    statements : list of StatementRecord
        The data statements (everything but transaction control), in order.
    transaction_statements : list of StatementRecord
        BEGIN, SAVEPOINT, RELEASE, ROLLBACK, COMMIT and PRAGMA statements; never counted.
    """

    def __init__(self) -> None:
        self.statements: list[StatementRecord] = []
        self.transaction_statements: list[StatementRecord] = []

    def _add(self, record: StatementRecord) -> None:
        if _is_transaction_control(record.sql):
            self.transaction_statements.append(record)
        else:
            self.statements.append(record)

    @property
    def count(self) -> int:
        """Number of data statements (failed ones included)."""
        return len(self.statements)

    @property
    def total_time(self) -> float:
        """Seconds spent in the data statements."""
        return sum(record.duration for record in self.statements)

    @property
    def n_plus_one(self) -> list[NPlusOneGroup]:
        """Shapes that ran at least :data:`N_PLUS_ONE_THRESHOLD` times, by first run.

        A shape with an ``IN (...)`` list is already batched (``selectinload`` sends
        one per 500 keys), so its repeats are not counted as N+1.
        """
        seen: dict[str, int] = {}
        for record in self.statements:
            if "IN (...)" in record.normalized:
                continue
            seen[record.normalized] = seen.get(record.normalized, 0) + 1
        return [
            NPlusOneGroup(_main_table(sql), count, sql)
            for sql, count in seen.items()
            if count >= N_PLUS_ONE_THRESHOLD
        ]

    def headline(self) -> str:
        """One line: ``"3 SQL statements in 2.1 ms"``."""
        noun = "statement" if self.count == 1 else "statements"
        return f"{self.count} SQL {noun} in {_duration(self.total_time)}"

    def summary(self, prefix: str = "") -> str:
        """The headline (after ``prefix``), then one line per N+1 group."""
        lines = [prefix + self.headline(), *(f"  N+1: {g}" for g in self.n_plus_one)]
        return "\n".join(lines)

    def summary_html(self, prefix: str = "") -> str:
        """:meth:`summary` as HTML, N+1 groups highlighted."""
        groups = "".join(
            '<div style="background:#fde2e1;color:#8a1c1c;padding:1px 4px">'
            f"<b>N+1</b>: {group.count} &times; <code>{html.escape(group.table or '?')}</code>"
            f" &mdash; <code>{html.escape(_shorten(group.sql, 300))}</code></div>"
            for group in self.n_plus_one
        )
        return f"<div>{html.escape(prefix)}<b>{html.escape(self.headline())}</b></div>{groups}"

    def _listing(self) -> str:
        return "\n".join(f"  {i}. {record}" for i, record in enumerate(self.statements, 1))

    def _fail(self, expectation: str) -> None:
        message = f"Expected {expectation} SQL statements, {self.count} ran:\n{self._listing()}"
        if self.n_plus_one:
            message += "\n" + _n_plus_one_advice(self.n_plus_one)
        raise AssertionError(message)

    def assert_at_most(self, n: int) -> None:
        """Fail, listing every statement, when more than ``n`` data statements ran.

        Raises
        ------
        AssertionError
            With the statements, their parameters and any N+1 groups.

        Examples
        --------
        >>> async with tk.count_queries(db) as log:
        ...     await crud.get(s, Team, 1, load=["members"])
        >>> log.assert_at_most(2)
        """
        if self.count > n:
            self._fail(f"at most {n}")

    def assert_count(self, n: int) -> None:
        """Fail, listing every statement, unless exactly ``n`` data statements ran.

        Raises
        ------
        AssertionError
            With the statements, their parameters and any N+1 groups.

        Examples
        --------
        >>> log.assert_count(2)
        """
        if self.count != n:
            self._fail(f"exactly {n}")

    def __repr__(self) -> str:
        groups = len(self.n_plus_one)
        extra = f", {groups} N+1 group{'s' if groups != 1 else ''}" if groups else ""
        return f"<QueryLog {self.headline()}{extra}>"

    def __str__(self) -> str:
        return f"{self.summary()}\n{self._listing()}" if self.statements else self.summary()

    def _repr_html_(self) -> str:
        repeated = {group.sql for group in self.n_plus_one}
        rows = []
        for i, record in enumerate(self.statements[:200], 1):
            style = ' style="background:#fde2e1"' if record.normalized in repeated else ""
            rows.append(
                f"<tr{style}><td>{i}</td><td>{record.duration * 1000:.2f}</td>"
                f'<td style="text-align:left"><code>{html.escape(_shorten(record.sql, 500))}'
                f"</code></td></tr>"
            )
        more = len(self.statements) - len(rows)
        if more > 0:
            rows.append(f'<tr><td colspan="3">&hellip; {more} more</td></tr>')
        table = (
            # Headers aligned as their cells: notebooks right-align both by default.
            '<table><thead><tr><th style="text-align:right">#</th>'
            '<th style="text-align:right">ms</th><th style="text-align:left">SQL</th>'
            "</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            if rows
            else ""
        )
        return f"{self.summary_html()}{table}"


# -- recording -----------------------------------------------------------------------------

#: Ids of the count_queries blocks the current task (context) is inside.
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
        message = _n_plus_one_advice(self.log.n_plus_one)
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
