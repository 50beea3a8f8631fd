"""connect(), URL resolution and the engine set-up that makes SQLite behave like PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlmodel import select

import toolkit as tk
from toolkit import crud
from toolkit.database import DEFAULT_URL, ENV_VAR, resolve_url
from toolkit.demo import Comment, Post, Team, User


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (":memory:", "sqlite+aiosqlite:///:memory:"),
        ("data.db", "sqlite+aiosqlite:///data.db"),
        ("/abs/data.db", "sqlite+aiosqlite:////abs/data.db"),
        ("sqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
        ("sqlite+aiosqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
        ("postgresql://ann@db:5432/sales", "postgresql+asyncpg://ann@db:5432/sales"),
        ("postgres://ann@db/sales", "postgresql+asyncpg://ann@db/sales"),
        ("postgresql+psycopg2://ann@db/sales", "postgresql+asyncpg://ann@db/sales"),
    ],
    ids=[
        "memory",
        "relative-path",
        "absolute-path",
        "sqlite-url",
        "aiosqlite-url",
        "postgresql-url",
        "postgres-scheme",
        "sync-driver-upgraded",
    ],
)
def test_resolve_url_shorthands(given: str, expected: str) -> None:
    assert resolve_url(given) == make_url(expected)


def test_resolve_path_object(tmp_path: Path) -> None:
    assert resolve_url(tmp_path / "x.db").database == str(tmp_path / "x.db")


def test_default_and_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_url().render_as_string() == DEFAULT_URL
    monkeypatch.setenv(ENV_VAR, "postgres://u@h/d")
    assert resolve_url().render_as_string() == "postgresql+asyncpg://u@h/d"
    assert tk.connect().dialect == "postgresql"  # nothing is opened until first use


@pytest.mark.parametrize(
    "bad",
    [
        "foo://bar",
        "mysql://u@h/d",
        "sqlite+pysqlcipher:///x.db",
        "postgresql+pg8000://u@h/d",
        "://x",
        "postgresql://u@h:port/d",
    ],
    ids=[
        "unknown-scheme",
        "mysql",
        "other-sqlite-driver",
        "other-pg-driver",
        "garbage",
        "bad-port",
    ],
)
def test_unsupported_urls_raise_configuration_error(bad: str) -> None:
    with pytest.raises(tk.ConfigurationError) as info:
        resolve_url(bad)
    assert "postgresql://" in str(info.value) or "aiosqlite" in str(info.value)
    assert isinstance(info.value, ValueError)


async def test_repr_hides_password() -> None:
    db = tk.connect("postgresql://ann:secret@db/sales")
    assert "secret" not in repr(db)
    await db.dispose()


async def test_sqlite_file_pragmas(tmp_path: Path) -> None:
    async with tk.connect(tmp_path / "p.db") as db, db.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 30000


async def test_memory_pragmas_and_foreign_keys() -> None:
    async with tk.connect(":memory:") as db:
        await db.create_all()
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        async with db.session() as s:
            with pytest.raises(tk.ForeignKeyError):
                await crud.create(s, User, username="a", email="a@x.org", team_id=42)


async def test_memory_database_shared_by_sessions_and_tasks() -> None:
    async with tk.connect(":memory:") as db:
        await db.create_all()

        async def add(i: int) -> None:
            async with db.session() as s:
                await crud.create(s, Team, name=f"t{i}")

        await asyncio.gather(*(add(i) for i in range(25)))
        async with db.session() as s:
            assert len(await crud.search(s, Team)) == 25


async def test_memory_transactions_isolated_between_tasks() -> None:
    """Two tasks on ':memory:' do not share one transaction: a rollback undoes only its own."""
    async with tk.connect(":memory:") as db:
        await db.create_all()
        started = asyncio.Event()

        async def failing() -> None:
            with pytest.raises(RuntimeError):
                async with db.transaction() as s:
                    await crud.create(s, Team, name="rolled-back")
                    started.set()
                    await asyncio.sleep(0.05)
                    raise RuntimeError

        async def committing() -> None:
            await started.wait()
            async with db.transaction() as s:
                await crud.create(s, Team, name="kept")

        await asyncio.gather(failing(), committing())
        async with db.session() as s:
            assert [t.name for t in await crud.search(s, Team)] == ["kept"]


async def test_two_memory_databases_are_separate() -> None:
    async with tk.connect(":memory:") as a, tk.connect(":memory:") as b:
        await a.create_all()
        await b.create_all()
        async with a.session() as s:
            await crud.create(s, Team, name="only-in-a")
        async with b.session() as s:
            assert await crud.search(s, Team) == []


async def test_connect_context_manager_disposes(tmp_path: Path) -> None:
    async with tk.connect(tmp_path / "c.db") as db:
        await db.create_all()
        async with db.session() as s:
            await crud.create(s, Team, name="x")
    assert db.engine.pool.checkedout() == 0


# -- semantics that must agree on both dialects --------------------------------------


async def names(db: tk.Database) -> list[str]:
    async with db.session() as s:
        return [t.name for t in await crud.search(s, Team, order_by="name")]


async def test_dialect_and_engine(db: tk.Database, dialect: str) -> None:
    assert db.dialect == dialect
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1


async def test_transaction_commits_on_success(db: tk.Database) -> None:
    async with db.transaction() as s:
        await crud.create(s, Team, name="a")
        await crud.create(s, Team, name="b")
    assert await names(db) == ["a", "b"]


async def test_transaction_rolls_back_on_error(db: tk.Database) -> None:
    with pytest.raises(ZeroDivisionError):
        async with db.transaction() as s:
            await crud.create(s, Team, name="a")
            _ = 1 / 0
    assert await names(db) == []


async def test_nothing_durable_until_block_exits(db: tk.Database) -> None:
    async with db.transaction() as s:
        await crud.create(s, Team, name="pending")
        # A second connection does not see the uncommitted row (on SQLite it would
        # wait for the write lock, so look with a read-only deferred transaction).
        async with db.engine.connect() as other:
            other = await other.execution_options(toolkit_read_only=True)
            seen = (await other.execute(select(Team.name))).scalars().all()
            await other.rollback()
        assert seen == []
    assert await names(db) == ["pending"]


async def test_failed_call_leaves_block_usable(db: tk.Database) -> None:
    async with db.transaction() as s:
        await crud.create(s, Team, name="first")
        with pytest.raises(tk.DuplicateError):
            await crud.create(s, Team, name="first")
        with pytest.raises(tk.ValidationError):
            await crud.create(s, Team, name="x" * 500)
        await crud.create(s, Team, name="second")
    assert await names(db) == ["first", "second"]


async def test_savepoint_rollback_keeps_outer_work(db: tk.Database) -> None:
    async with db.transaction() as s:
        await crud.create(s, Team, name="outer")
        with pytest.raises(RuntimeError):
            async with tk.savepoint(s):
                await crud.create(s, Team, name="inner")
                raise RuntimeError("undo the savepoint only")
        async with tk.savepoint(s):
            await crud.create(s, Team, name="inner-kept")
    assert await names(db) == ["inner-kept", "outer"]


async def test_released_savepoint_undone_by_outer_rollback(db: tk.Database) -> None:
    """The pysqlite quirk: a released SAVEPOINT must not commit on its own."""
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            async with tk.savepoint(s):
                await crud.create(s, Team, name="inside-savepoint")
            raise RuntimeError
    assert await names(db) == []


async def test_nested_savepoints(db: tk.Database) -> None:
    async with db.transaction() as s, tk.savepoint(s):
        await crud.create(s, Team, name="level1")
        with pytest.raises(RuntimeError):
            async with tk.savepoint(s):
                await crud.create(s, Team, name="level2")
                raise RuntimeError
    assert await names(db) == ["level1"]


async def test_read_before_write_is_inside_the_transaction(db: tk.Database) -> None:
    """pysqlite would run the first SELECT outside any transaction; we BEGIN first."""
    async with db.engine.connect() as conn:
        await conn.execute(select(Team))
        assert conn.in_transaction()
        if db.dialect == "sqlite":
            raw = await conn.get_raw_connection()
            assert raw.driver_connection is not None
            assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
        await conn.rollback()


async def test_savepoint_integrity_error_is_typed(db: tk.Database) -> None:
    async with db.transaction() as s:
        await crud.create(s, Team, name="dup")
        with pytest.raises(tk.DuplicateError):
            async with tk.savepoint(s):
                s.add(Team(name="dup"))
                await s.flush()
        await crud.create(s, Team, name="after")
    assert await names(db) == ["after", "dup"]


async def test_transaction_commit_time_integrity_error_is_typed(db: tk.Database) -> None:
    with pytest.raises(tk.DuplicateError):
        async with db.transaction() as s:
            s.add(Team(name="x"))
            s.add(Team(name="x"))
    assert await names(db) == []


async def test_create_and_drop_selected_models(db: tk.Database) -> None:
    await db.drop_all([Comment, Post, User, Team])
    async with db.session() as s:
        with pytest.raises(Exception, match=r"(?i)no such table|does not exist"):
            await s.exec(select(Team))
    await db.create_all(Team)
    async with db.session() as s:
        assert await crud.search(s, Team) == []


def test_sqlite_file_in_a_missing_folder_is_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(tk.ConfigurationError, match="does not exist"):
        tk.connect(tmp_path / "no" / "such" / "x.db")
    assert tk.connect(tmp_path / "x.db").dialect == "sqlite"
