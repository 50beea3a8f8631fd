"""Every private or undocumented API of another library that the toolkit touches.

Each is wrapped in one named function here, and ``tests/drivers/test_compat.py`` has a
test per entry that fails loudly when an upgrade changes what it relies on. Nothing
outside this module reaches into another library's private names.

Entries (library: what is touched -> function):

SQLAlchemy
    * ``Compiled.construct_params(_check=True)``, ``Compiled._bind_processors``,
      ``Compiled._post_compile_expanded_state`` and ``Compiled._result_columns`` ->
      :func:`compiled_params`, :func:`bind_processors`, :func:`result_columns`
    * ``Connection.dispatch.before_cursor_execute`` / ``after_cursor_execute`` and
      ``Engine.logger`` (firing the cursor events for a statement sent to the driver)
      -> :func:`fire_before_cursor_execute`, :func:`fire_after_cursor_execute`
    * the asyncpg adapter's ``_transaction`` and ``_start_transaction()`` ->
      :func:`adapter_transaction_pending`, :func:`adapter_begin_now`,
      :func:`adapter_tracks_transaction`
    * ``sqlalchemy.util.await_only`` -> :func:`await_in_greenlet`
    * ORM load options' ``_sa_top_level_orm_context`` -> :func:`top_level_orm_context`
    * a dialect instance's ``colspecs`` (per-engine type implementations) ->
      :func:`replace_type_implementation`
asyncpg
    * ``Connection._top_xact`` -> :func:`asyncpg_forget_transaction`
    * ``Connection._protocol.writing_allowed`` -> :func:`asyncpg_wake_copy_writer`
aiosqlite
    * ``Connection._execute`` / ``_conn`` (run a job on the worker thread) ->
      :func:`aiosqlite_run_job`
    * ``Connection._connection`` and ``_running`` -> :func:`aiosqlite_open_connection`
    * ``Connection._tx`` (the worker's queue) -> :func:`aiosqlite_queue_job`
pandas
    * ``pandas._libs.lib.to_object_array_tuples`` -> :func:`rows_to_object_array`
pydantic
    * ``BaseModel.__pydantic_decorators__`` -> :func:`field_validator_fields`
nest_asyncio2
    * ``_patch_loop`` -> :func:`patch_loop`
IPython
    * ``InteractiveShell._showtraceback`` -> :func:`show_ipython_traceback`
SQLAlchemy (concurrency)
    * ``sqlalchemy.util.concurrency.in_greenlet`` -> :func:`in_sqlalchemy_greenlet`
"""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = [
    "adapter_begin_now",
    "adapter_tracks_transaction",
    "adapter_transaction_pending",
    "aiosqlite_open_connection",
    "aiosqlite_queue_job",
    "aiosqlite_run_job",
    "asyncpg_forget_transaction",
    "asyncpg_wake_copy_writer",
    "await_in_greenlet",
    "bind_processors",
    "compiled_params",
    "field_validator_fields",
    "fire_after_cursor_execute",
    "fire_before_cursor_execute",
    "in_sqlalchemy_greenlet",
    "patch_loop",
    "replace_type_implementation",
    "result_columns",
    "rows_to_object_array",
    "show_ipython_traceback",
    "top_level_orm_context",
]

T = TypeVar("T")


# -- SQLAlchemy -------------------------------------------------------------------------


def compiled_params(compiled: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a compiled statement's parameters, raising for a missing one.

    Relies on ``Compiled.construct_params(params, _check=True)`` (SQLAlchemy 2.0-2.1):
    with ``_check`` a parameter without a value raises ``InvalidRequestError`` instead
    of being sent as NULL.
    """
    values: dict[str, Any] = compiled.construct_params(dict(params), _check=True)
    return values


def bind_processors(compiled: Any) -> Mapping[str, Callable[[Any], Any]]:
    """Per parameter name, the function that converts a value for the DBAPI.

    Covers the parameters an ``IN`` list expands into when the statement was compiled
    with ``render_postcompile``. Relies on ``SQLCompiler._bind_processors`` (a memoized
    dict) and ``SQLCompiler._post_compile_expanded_state.processors`` (SQLAlchemy
    2.0-2.1).
    """
    processors: dict[str, Callable[[Any], Any]] = dict(compiled._bind_processors)
    expanded = getattr(compiled, "_post_compile_expanded_state", None)
    if expanded is not None:
        processors.update(expanded.processors)
    return processors


def result_columns(compiled: Any) -> list[tuple[Any, ...]]:
    """The compiled select's result columns as ``(keyname, name, objects, type)`` tuples.

    Relies on ``SQLCompiler._result_columns`` (SQLAlchemy 1.4-2.1): entry 0 is the
    column's key and entry 3 its SQLAlchemy type.
    """
    columns: list[tuple[Any, ...]] = list(compiled._result_columns or [])
    return columns


def fire_before_cursor_execute(sync: Any, sql: str, args: Sequence[Any]) -> None:
    """Tell ``sync``'s listeners (count_queries, echo) a statement is about to run.

    Relies on ``Connection.dispatch.before_cursor_execute`` being callable with
    ``(conn, cursor, statement, parameters, context, executemany)`` and on
    ``Engine.logger`` (SQLAlchemy 1.4-2.1); the cursor and context are None, since the
    statement goes to the driver without SQLAlchemy's cursor.
    """
    engine = sync.engine
    if engine.echo:
        engine.logger.info("%s [toolkit frames] %r", sql, tuple(args))
    dispatch = sync.dispatch
    if dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(sync, None, sql, tuple(args), None, False)


def fire_after_cursor_execute(sync: Any, sql: str, args: Sequence[Any]) -> None:
    """Tell ``sync``'s listeners a statement sent to the driver has finished.

    Relies on ``Connection.dispatch.after_cursor_execute`` (as
    :func:`fire_before_cursor_execute`).
    """
    dispatch = sync.dispatch
    if dispatch.after_cursor_execute:
        dispatch.after_cursor_execute(sync, None, sql, tuple(args), None, False)


def adapter_transaction_pending(adapter: Any) -> bool:
    """True when SQLAlchemy's asyncpg adapter is in a transaction it has not begun yet.

    Relies on ``AsyncAdapt_asyncpg_connection._transaction`` (None until the first
    statement sends BEGIN) and ``_start_transaction`` (SQLAlchemy 2.0-2.1).
    """
    return getattr(adapter, "_transaction", True) is None and hasattr(adapter, "_start_transaction")


async def adapter_begin_now(adapter: Any) -> None:
    """Send the BEGIN that SQLAlchemy's asyncpg adapter would send with the next statement.

    Relies on ``AsyncAdapt_asyncpg_connection._start_transaction()`` (SQLAlchemy 2.0-2.1).
    """
    await adapter._start_transaction()


def adapter_tracks_transaction(adapter: Any) -> bool:
    """True when SQLAlchemy's asyncpg adapter holds a transaction it began.

    Relies on ``AsyncAdapt_asyncpg_connection._transaction`` (SQLAlchemy 2.0-2.1).
    """
    return getattr(adapter, "_transaction", None) is not None


def await_in_greenlet(awaitable: Awaitable[T]) -> T:
    """Await from synchronous code that SQLAlchemy runs inside its greenlet (pool events).

    Relies on ``sqlalchemy.util.await_only`` (SQLAlchemy 1.4-2.1; 2.1 also names it
    ``await_``).
    """
    from sqlalchemy import util

    wait: Callable[[Awaitable[T]], T] = getattr(util, "await_only", None) or util.await_
    return wait(awaitable)


def top_level_orm_context(load_options: Any) -> Any:
    """The top-level ORM load a post-loader runs under, or None (an attribute access).

    Relies on ``QueryContext.default_load_options._sa_top_level_orm_context``
    (SQLAlchemy 2.0-2.1).
    """
    return getattr(load_options, "_sa_top_level_orm_context", None)


def replace_type_implementation(dialect: Any, generic: type[Any], impl: type[Any]) -> None:
    """Make ``dialect`` (one engine's) implement ``generic`` columns with ``impl``.

    Relies on ``Dialect.colspecs`` (generic type -> dialect type, used by
    ``Dialect.type_descriptor``) being read from the instance (SQLAlchemy 1.4-2.1); the
    dialect class, and so every other engine, is left as it is. Must run before the
    engine's first statement (type implementations are memoized per dialect).
    """
    dialect.colspecs = {**dialect.colspecs, generic: impl}


# -- asyncpg ----------------------------------------------------------------------------


def asyncpg_forget_transaction(driver: Any) -> bool:
    """Forget asyncpg's record of an open transaction block; True if there was one.

    Relies on ``asyncpg.Connection._top_xact`` (asyncpg 0.18-0.32): the outermost
    transaction block asyncpg believes open, which makes ``transaction()`` a savepoint.
    """
    had = getattr(driver, "_top_xact", None) is not None
    driver._top_xact = None
    return had


def asyncpg_wake_copy_writer(driver: Any) -> None:
    """Wake a COPY waiting for the socket to drain.

    Relies on ``asyncpg.Connection._protocol.writing_allowed``, the ``asyncio.Event``
    asyncpg's COPY loop waits on under flow control (asyncpg 0.30-0.32).
    """
    import asyncio

    allowed = getattr(getattr(driver, "_protocol", None), "writing_allowed", None)
    if isinstance(allowed, asyncio.Event):
        allowed.set()


# -- aiosqlite --------------------------------------------------------------------------


def aiosqlite_run_job(
    conn: Any, fn: Callable[[sqlite3.Connection], T]
) -> tuple[Awaitable[T], sqlite3.Connection]:
    """Run ``fn(sqlite3_connection)`` on the connection's worker thread.

    Returns the awaitable result and the ``sqlite3.Connection`` (to interrupt the job).
    Relies on ``aiosqlite.Connection._execute(fn, *args)`` and ``_conn`` (aiosqlite
    0.17-0.22).
    """
    raw: sqlite3.Connection = conn._conn
    job: Awaitable[T] = conn._execute(fn, raw)
    return job, raw


def aiosqlite_open_connection(conn: Any) -> sqlite3.Connection | None:
    """The ``sqlite3.Connection`` of a running aiosqlite connection, else None.

    Relies on ``aiosqlite.Connection._connection`` and ``_running`` (aiosqlite
    0.17-0.22).
    """
    raw: sqlite3.Connection | None = getattr(conn, "_connection", None)
    if raw is None or not getattr(conn, "_running", False):
        return None
    return raw


def aiosqlite_queue_job(conn: Any, fn: Callable[[], None]) -> None:
    """Queue ``fn()`` on the connection's worker thread without waiting for it.

    Relies on ``aiosqlite.Connection._tx``, the worker's queue of ``(future, function)``
    jobs, where a None future means nobody waits for the result (aiosqlite 0.17-0.22).
    """
    conn._tx.put_nowait((None, fn))


# -- pandas -----------------------------------------------------------------------------


def _load_to_object_array() -> Callable[[list[tuple[Any, ...]]], Any] | None:
    try:
        lib = importlib.import_module("pandas._libs.lib")
    except ImportError:
        return None
    fn: Callable[[list[tuple[Any, ...]]], Any] | None = getattr(lib, "to_object_array_tuples", None)
    return fn


_to_object_array = _load_to_object_array()


def rows_to_object_array(rows: list[tuple[Any, ...]]) -> Any:
    """Rows (tuples of equal length) as a 2-D object ndarray, or None when unavailable.

    Relies on ``pandas._libs.lib.to_object_array_tuples``, pandas' own C routine that
    ``read_sql`` uses (pandas 1.x-3.x). Callers fall back to ``zip(*rows)`` on None.
    """
    if _to_object_array is None:
        return None
    return _to_object_array(rows)


# -- pydantic ---------------------------------------------------------------------------


def field_validator_fields(model: type[Any]) -> set[str]:
    """The fields that ``@field_validator`` methods of ``model`` check.

    Relies on ``BaseModel.__pydantic_decorators__.field_validators`` mapping names to
    decorator infos with ``.info.fields`` (pydantic 2.0-2.14).
    """
    decorators = getattr(model, "__pydantic_decorators__", None)
    if decorators is None:
        return set()
    fields: set[str] = set()
    for dec in decorators.field_validators.values():
        fields.update(dec.info.fields)
    return fields


# -- nest_asyncio2 ----------------------------------------------------------------------


def patch_loop(loop: Any) -> None:
    """Make ``loop`` (its class only) re-entrant, so ``run_until_complete`` nests.

    Relies on ``nest_asyncio2._patch_loop`` (nest_asyncio2 1.x), which patches one loop
    where the public ``apply()`` also replaces process-wide asyncio functions; falls
    back to ``apply(loop)`` when it is gone.
    """
    import nest_asyncio2

    patch: Callable[[Any], Any] = getattr(nest_asyncio2, "_patch_loop", None) or nest_asyncio2.apply
    patch(loop)


def show_ipython_traceback(
    shell: Any, etype: type[BaseException], value: BaseException, stb: list[str]
) -> None:
    """Display a structured traceback the way IPython displays its own.

    IPython: ``InteractiveShell._showtraceback(etype, value, stb)``. A custom exception
    handler (``set_custom_exc``) must display what it builds itself, and this is the
    method every front end overrides (ipykernel sends it as the cell's error output,
    with ``ename`` and ``evalue``; the terminal prints it). There is no public
    equivalent that takes a ready traceback.
    """
    shell._showtraceback(etype, value, stb)


def in_sqlalchemy_greenlet() -> bool:
    """True inside SQLAlchemy's asyncio bridge, where a sync ORM call may run SQL.

    SQLAlchemy: ``sqlalchemy.util.concurrency.in_greenlet()``. An implicit lazy load
    (an attribute access) can only run SQL inside ``greenlet_spawn`` (``run_sync``,
    ``awaitable_attrs``); outside it, the load fails half-way with ``MissingGreenlet``
    after checking out a connection. Knowing first lets the toolkit refuse the load
    cleanly. SQLAlchemy has no public way to ask.
    """
    from sqlalchemy.util.concurrency import in_greenlet

    return bool(in_greenlet())
