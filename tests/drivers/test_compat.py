"""One test per entry of toolkit.drivers.compat: each fails when an upgrade of the
library changes the private API the entry relies on."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from typing import Any

import aiosqlite
import pydantic
import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import PG_URL, pg_connect, require_postgres
from toolkit.database import resolve_url
from toolkit.drivers import compat

_table = Table(
    "compat_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", DateTime),
)


def test_compiled_params_refuses_a_missing_value() -> None:
    compiled = text("SELECT :a, :b").compile(dialect=sqlite_dialect.dialect())
    assert compat.compiled_params(compiled, {"a": 1, "b": 2}) == {"a": 1, "b": 2}
    with pytest.raises(InvalidRequestError, match="b"):
        compat.compiled_params(compiled, {"a": 1})


def test_bind_processors_convert_values_for_the_dbapi() -> None:
    stmt = select(_table.c.id).where(_table.c.at > dt.datetime(2024, 1, 2, 3, 4, 5))
    compiled: Any = stmt.compile(dialect=sqlite_dialect.dialect())
    processors = compat.bind_processors(compiled)
    (name,) = compiled.positiontup
    assert processors[name](dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02 03:04:05.000000"


def test_bind_processors_cover_expanded_in_lists() -> None:
    at = dt.datetime(2024, 1, 2, 3, 4, 5)
    stmt = select(_table.c.id).where(_table.c.at.in_([at, at]))
    compiled: Any = stmt.compile(
        dialect=sqlite_dialect.dialect(), compile_kwargs={"render_postcompile": True}
    )
    processors = compat.bind_processors(compiled)
    assert len(compiled.positiontup) == 2
    for name in compiled.positiontup:
        assert processors[name](at) == "2024-01-02 03:04:05.000000"


def test_result_columns_name_and_type_each_column() -> None:
    compiled = select(_table).compile(dialect=sqlite_dialect.dialect())
    columns = compat.result_columns(compiled)
    assert [entry[0] for entry in columns] == ["id", "at"]
    assert isinstance(columns[0][3], Integer)
    assert isinstance(columns[1][3], DateTime)


@pytest.mark.parametrize("echo", [False, True], ids=["quiet", "echo"])
def test_cursor_events_reach_the_listeners(echo: bool) -> None:
    engine = create_engine("sqlite://", echo=echo)
    seen: list[tuple[str, str, Any]] = []
    event.listen(
        engine, "before_cursor_execute", lambda c, cur, sql, p, ctx, m: seen.append(("b", sql, p))
    )
    event.listen(
        engine, "after_cursor_execute", lambda c, cur, sql, p, ctx, m: seen.append(("a", sql, p))
    )
    with engine.connect() as conn:
        compat.fire_before_cursor_execute(conn, "SELECT 1", [7])
        compat.fire_after_cursor_execute(conn, "SELECT 1", [7])
    engine.dispose()
    assert seen == [("b", "SELECT 1", (7,)), ("a", "SELECT 1", (7,))]


@pytest.mark.postgres_only
async def test_asyncpg_adapter_begins_lazily_and_can_begin_now() -> None:
    require_postgres()
    engine = create_async_engine(resolve_url(PG_URL))
    try:
        async with engine.connect() as conn, conn.begin():
            raw = await conn.get_raw_connection()
            adapter, driver = raw.dbapi_connection, raw.driver_connection
            assert compat.adapter_transaction_pending(adapter)
            assert not compat.adapter_tracks_transaction(adapter)
            assert not driver.is_in_transaction()
            await compat.adapter_begin_now(adapter)
            assert driver.is_in_transaction()
            assert compat.adapter_tracks_transaction(adapter)
            assert not compat.adapter_transaction_pending(adapter)
    finally:
        await engine.dispose()


async def test_await_in_greenlet_runs_a_coroutine_from_sync_code() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.connect() as conn:
            result = await conn.run_sync(
                lambda _sync: compat.await_in_greenlet(asyncio.sleep(0, result=5))
            )
    finally:
        await engine.dispose()
    assert result == 5


def test_top_level_orm_context_exists_on_load_options() -> None:
    from sqlalchemy.orm.context import QueryContext

    options = QueryContext.default_load_options
    assert "_sa_top_level_orm_context" in dir(options)
    assert compat.top_level_orm_context(options) is None
    marked = options + {"_sa_top_level_orm_context": "ctx"}
    assert compat.top_level_orm_context(marked) == "ctx"


def test_replace_type_implementation_is_per_engine() -> None:
    class Marked(sqlite_dialect.DATETIME):
        pass

    one, other = create_engine("sqlite://"), create_engine("sqlite://")
    compat.replace_type_implementation(one.dialect, DateTime, Marked)
    impl = DateTime(timezone=True).dialect_impl(one.dialect)
    assert isinstance(impl, Marked)
    assert impl.timezone
    assert not isinstance(DateTime().dialect_impl(other.dialect), Marked)
    one.dispose()
    other.dispose()


@pytest.mark.postgres_only
async def test_asyncpg_forget_transaction_clears_its_record() -> None:
    require_postgres()
    conn = await pg_connect()
    try:
        transaction = conn.transaction()
        await transaction.start()
        assert compat.asyncpg_forget_transaction(conn) is True
        assert compat.asyncpg_forget_transaction(conn) is False
        await conn.execute("ROLLBACK")
        # asyncpg no longer believes a block is open: a new one is a real BEGIN.
        async with conn.transaction():
            assert conn.is_in_transaction()
        assert not conn.is_in_transaction()
    finally:
        await conn.close()


@pytest.mark.postgres_only
async def test_asyncpg_copy_writer_event_is_woken() -> None:
    require_postgres()
    conn = await pg_connect()
    try:
        allowed = conn._protocol.writing_allowed
        assert isinstance(allowed, asyncio.Event)
        allowed.clear()
        compat.asyncpg_wake_copy_writer(conn)
        assert allowed.is_set()
    finally:
        await conn.close()


async def test_aiosqlite_runs_a_job_on_its_worker_thread() -> None:
    async with aiosqlite.connect(":memory:") as conn:
        caller = threading.get_ident()
        job, raw = compat.aiosqlite_run_job(
            conn, lambda c: (c.execute("SELECT 41 + 1").fetchone(), threading.get_ident())
        )
        assert isinstance(raw, sqlite3.Connection)
        row, thread = await job
    assert row == (42,)
    assert thread != caller


async def test_aiosqlite_open_connection_and_queue_job() -> None:
    conn = await aiosqlite.connect(":memory:")
    raw = compat.aiosqlite_open_connection(conn)
    assert isinstance(raw, sqlite3.Connection)
    ran = threading.Event()
    compat.aiosqlite_queue_job(conn, ran.set)
    assert await asyncio.to_thread(ran.wait, 5)
    await conn.close()
    assert compat.aiosqlite_open_connection(conn) is None


def test_rows_to_object_array_uses_pandas_routine() -> None:
    assert compat._to_object_array is not None, "pandas._libs.lib.to_object_array_tuples is gone"
    table = compat.rows_to_object_array([(1, "a"), (2, None)])
    assert table.shape == (2, 2)
    assert table.dtype == object
    assert list(table[:, 1]) == ["a", None]


def test_field_validator_fields_lists_validated_fields() -> None:
    class Probe(pydantic.BaseModel):
        a: int
        b: int
        c: int

        @pydantic.field_validator("a", "b")
        @classmethod
        def positive(cls, value: int) -> int:
            return value

    assert compat.field_validator_fields(Probe) == {"a", "b"}


def test_patch_loop_makes_one_loop_reentrant() -> None:
    import nest_asyncio2

    assert hasattr(nest_asyncio2, "_patch_loop"), "nest_asyncio2._patch_loop is gone"

    async def inner() -> int:
        return 3

    async def outer(loop: asyncio.AbstractEventLoop) -> int:
        compat.patch_loop(loop)
        return loop.run_until_complete(inner())

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(outer(loop)) == 3
    finally:
        loop.close()


def test_show_ipython_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactiveshell.InteractiveShell.instance()
    error = ValueError("boom")
    compat.show_ipython_traceback(shell, ValueError, error, ["line one", "line two"])
    out = capsys.readouterr()
    assert "line one\nline two" in out.out + out.err
