"""count_queries, QueryLog, N+1 detection and strict loading, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import toolkit as tk
from toolkit import crud
from toolkit.demo.models import Post, Team, User
from toolkit.errors import NPlusOneError
from toolkit.loading import strict_loading
from toolkit.queries import count_queries
from toolkit.querylog import (
    NPlusOneWarning,
    QueryLog,
    StatementRecord,
    _is_transaction_control,
    _main_table,
    normalize_sql,
)

N_TEAMS = 3
MEMBERS = 2  # per team


@pytest.fixture
async def teams(db: tk.Database) -> list[int]:
    """N_TEAMS teams of MEMBERS users, one post per user; returns the team ids."""
    async with db.session() as s:
        created = await crud.create_many(s, Team, [{"name": f"team{i}"} for i in range(N_TEAMS)])
        users = await crud.create_many(
            s,
            User,
            [
                {"username": f"u{t}{m}", "email": f"u{t}{m}@example.org", "team_id": team.id}
                for t, team in enumerate(created)
                for m in range(MEMBERS)
            ],
        )
        await crud.create_many(
            s, Post, [{"title": f"by {u.username}", "author_id": u.id} for u in users]
        )
    return [team.id for team in created if team.id is not None]


# -- loading strategies --------------------------------------------------------------------


async def lazy(s: AsyncSession) -> list[Team]:
    loaded = list((await s.exec(select(Team).order_by(col(Team.id)))).all())
    for team in loaded:
        await team.awaitable_attrs.members
    return loaded


async def selectin(s: AsyncSession) -> list[Team]:
    stmt = select(Team).options(selectinload(Team.members)).order_by(col(Team.id))
    return list((await s.exec(stmt)).all())


async def joined(s: AsyncSession) -> list[Team]:
    stmt = select(Team).options(joinedload(Team.members)).order_by(col(Team.id))
    return list((await s.exec(stmt)).unique().all())


Loader = Callable[[AsyncSession], Awaitable[list[Team]]]


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        pytest.param(lazy, 1 + N_TEAMS, id="lazy"),
        pytest.param(selectin, 2, id="selectinload"),
        pytest.param(joined, 1, id="joinedload"),
    ],
)
async def test_exact_count_per_loading_strategy(
    db: tk.Database, teams: list[int], load: Loader, expected: int
) -> None:
    async with db.session() as s, count_queries(db) as log:
        loaded = await load(s)
    assert log.count == expected, str(log)
    assert [len(team.members) for team in loaded] == [MEMBERS] * N_TEAMS


async def test_lazy_loading_is_one_n_plus_one_group(db: tk.Database, teams: list[int]) -> None:
    async with db.session() as s, count_queries(db) as log:
        await lazy(s)
    [group] = log.n_plus_one
    assert group.table == "users"
    assert group.count == N_TEAMS
    assert "users.team_id" in group.sql
    assert "$1" not in group.sql  # parameters are stripped, whatever the paramstyle


@pytest.mark.parametrize("load", [selectin, joined], ids=["selectinload", "joinedload"])
async def test_eager_loading_has_no_n_plus_one(
    db: tk.Database, teams: list[int], load: Loader
) -> None:
    async with db.session() as s, count_queries(db, n_plus_one="raise") as log:
        await load(s)
    assert log.n_plus_one == []


async def test_batched_in_lists_are_not_n_plus_one(db: tk.Database) -> None:
    """selectinload sends one IN (...) query per 500 keys: batches, not an N+1."""
    async with db.session() as s:
        users = await crud.create_many(
            s, User, [{"username": f"b{i}", "email": f"b{i}@x.org"} for i in range(1200)]
        )
        ids = [u.id for u in users]
        async with count_queries(db) as log:
            await crud.search(s, User, id__in=ids[:500])
            await crud.search(s, User, id__in=ids[500:1000])
            await crud.search(s, User, id__in=ids[1000:])
    assert log.count == 3
    assert log.n_plus_one == []


async def test_crud_load_selects_once_per_level(db: tk.Database, teams: list[int]) -> None:
    async with db.session() as s, count_queries(s) as log:
        team = await crud.get(s, Team, teams[0], load=["members.posts"])
    assert team is not None
    assert [len(member.posts) for member in team.members] == [1] * MEMBERS
    log.assert_count(3)  # teams, users IN (...), posts IN (...)
    assert log.n_plus_one == []


# -- what is counted -----------------------------------------------------------------------


async def test_transaction_control_is_logged_apart(db: tk.Database, dialect: str) -> None:
    async with db.session() as s, count_queries(s) as log:
        await crud.create(s, Team, name="solo")
    assert log.count == 1
    assert log.statements[0].sql.startswith("INSERT INTO teams")
    first_words = [record.sql.split()[0] for record in log.transaction_statements]
    assert {"SAVEPOINT", "RELEASE"} <= set(first_words)
    if dialect == "sqlite":
        # The engine's own BEGIN IMMEDIATE; asyncpg begins and commits without a cursor.
        assert "BEGIN" in first_words


@pytest.mark.parametrize(
    ("sql", "control"),
    [
        ("BEGIN IMMEDIATE", True),
        ("SAVEPOINT sa_savepoint_1", True),
        ("RELEASE SAVEPOINT sa_savepoint_1", True),
        ("ROLLBACK TO SAVEPOINT sa_savepoint_1", True),
        ("COMMIT", True),
        ("  rollback", True),
        ("PRAGMA foreign_keys = ON", True),
        ("SELECT * FROM commits", False),
        ("INSERT INTO savepoints (name) VALUES (?)", False),
    ],
)
def test_transaction_control_statements(sql: str, control: bool) -> None:
    assert _is_transaction_control(sql) is control


async def test_statements_after_the_block_are_not_seen(db: tk.Database, teams: list[int]) -> None:
    async with db.session() as s:
        async with count_queries(db) as log:
            await crud.search(s, Team)
        await crud.search(s, User)
    assert log.count == 1
    assert "FROM teams" in log.statements[0].sql


async def test_a_concurrent_task_outside_the_block_is_not_counted(
    db: tk.Database, teams: list[int]
) -> None:
    go = asyncio.Event()

    async def outsider() -> None:
        await go.wait()
        async with db.session() as s:
            for _ in range(3):
                await crud.search(s, User)

    task = asyncio.create_task(outsider())  # created before the block: not inside it
    async with count_queries(db) as log:
        go.set()
        async with db.session() as s:
            await crud.search(s, Team)
        await task  # its three SELECTs ran while the block was open, on the same engine
    assert log.count == 1
    assert "FROM teams" in log.statements[0].sql


async def test_tasks_started_inside_the_block_are_counted(
    db: tk.Database, teams: list[int]
) -> None:
    async def read(model: Any) -> list[Any]:
        async with db.session() as s:
            return await crud.search(s, model)

    async with count_queries(db) as log:
        await asyncio.gather(read(Team), read(User))
    assert log.count == 2


async def test_plain_with_works(db: tk.Database, teams: list[int]) -> None:
    async with db.session() as s:
        with count_queries(db) as log:
            await crud.search(s, Team)
    assert log.count == 1


@pytest.mark.parametrize("kind", ["database", "engine", "connection", "session"])
async def test_every_source_is_mapped_to_its_engine(db: tk.Database, kind: str) -> None:
    async with db.engine.connect() as conn, db.session() as s:
        sources: dict[str, Any] = {"database": db, "engine": db.engine, "connection": conn}
        source = {**sources, "session": s}[kind]
        async with count_queries(source) as log:
            await conn.execute(text("SELECT 1"))
    assert [record.sql for record in log.statements] == ["SELECT 1"]


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(TypeError, match="count_queries\\(\\) needs a toolkit Database"):
        count_queries("sqlite:///x.db")  # type: ignore[arg-type]


async def test_an_unknown_n_plus_one_mode_is_refused(db: tk.Database) -> None:
    with pytest.raises(tk.ConfigurationError, match="'warn' or 'raise'"):
        count_queries(db, n_plus_one="log")  # type: ignore[arg-type]


async def test_a_failed_statement_is_recorded(db: tk.Database) -> None:
    async with db.engine.connect() as conn, count_queries(conn) as log:
        with pytest.raises(sa_exc.DBAPIError):
            await conn.execute(text("SELECT * FROM no_such_table"))
    [record] = log.statements
    assert record.failed
    assert "no_such_table" in record.sql


# -- assertions and reports ----------------------------------------------------------------


async def test_assertions_list_the_statements(db: tk.Database, teams: list[int]) -> None:
    async with db.session() as s, count_queries(db) as log:
        await lazy(s)
    log.assert_at_most(1 + N_TEAMS)
    log.assert_count(1 + N_TEAMS)
    with pytest.raises(AssertionError, match=r"(?s)at most 2 SQL statements, 4 ran.*FROM users"):
        log.assert_at_most(2)
    with pytest.raises(AssertionError, match=r"(?s)exactly 1 SQL.*N\+1: 3 x users"):
        log.assert_count(1)


async def test_reports(db: tk.Database, teams: list[int]) -> None:
    async with db.session() as s, count_queries(db) as log:
        await lazy(s)
    assert log.total_time == pytest.approx(sum(r.duration for r in log.statements))
    assert log.total_time > 0
    assert repr(log) == f"<QueryLog {log.headline()}, 1 N+1 group>"
    assert log.headline().startswith("4 SQL statements in ")
    report = str(log)
    assert "N+1: 3 x users" in report
    assert "  4. [" in report
    page = log._repr_html_()
    assert "<table>" in page
    # The group's line plus its three statements are highlighted.
    assert page.count("background:#fde2e1") == 1 + N_TEAMS


def test_an_empty_log_reads_well() -> None:
    log = tk.queries.QueryLog()
    assert str(log) == "0 SQL statements in 0.0 ms"
    assert repr(log) == "<QueryLog 0 SQL statements in 0.0 ms>"
    log.assert_count(0)


async def test_n_plus_one_raise(db: tk.Database, teams: list[int]) -> None:
    async with db.session() as s:
        with pytest.raises(NPlusOneError, match=r"(?s)3 x users.*selectinload") as info:
            async with count_queries(db, n_plus_one="raise"):
                await lazy(s)
    assert isinstance(info.value, tk.ToolkitError)
    assert isinstance(info.value, AssertionError)


async def test_n_plus_one_warn(db: tk.Database, teams: list[int]) -> None:
    async with db.session() as s:
        with pytest.warns(NPlusOneWarning, match="3 x users"):
            async with count_queries(db, n_plus_one="warn") as log:
                await lazy(s)
    assert log.count == 1 + N_TEAMS


async def test_n_plus_one_guard_does_not_hide_the_blocks_own_error(
    db: tk.Database, teams: list[int]
) -> None:
    async with db.session() as s:
        with pytest.raises(KeyError):
            async with count_queries(db, n_plus_one="raise"):
                await lazy(s)
                raise KeyError("mine")


# -- statement shapes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        (
            "SELECT * FROM t WHERE a = ? AND b IN (?, ?, ?)",
            "SELECT * FROM t WHERE a = ? AND b IN (...)",
        ),
        (
            "SELECT * FROM t WHERE b IN ($1::INTEGER, $2::INTEGER)",
            "SELECT * FROM t WHERE b IN (...)",
        ),
        (
            "SELECT * FROM t WHERE name = 'O''Brien' AND n > 42 AND x = 1.5e3",
            "SELECT * FROM t WHERE name = ? AND n > ? AND x = ?",
        ),
        (
            "SELECT * FROM t WHERE a = :a_1 AND b = %(b)s AND c = %s AND d = $3::VARCHAR",
            "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?::VARCHAR",
        ),
        (
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)",
            "INSERT INTO t (a, b) VALUES (?, ?)",
        ),
        ("SELECT a -- why\n  FROM   t /* note */", "SELECT a FROM t"),
        ("SELECT sa_savepoint_1, t2.c3 FROM t2", "SELECT sa_savepoint_1, t2.c3 FROM t2"),
    ],
    ids=[
        "in-list",
        "asyncpg-in-list",
        "literals",
        "paramstyles",
        "values-rows",
        "comments",
        "names",
    ],
)
def test_normalize_sql(sql: str, shape: str) -> None:
    assert normalize_sql(sql) == shape


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("SELECT users.id FROM users WHERE ? = users.team_id", "users"),
        ('INSERT INTO "teams" (name) VALUES (?)', "teams"),
        ("UPDATE posts SET title=? WHERE posts.id = ?", "posts"),
        ("DELETE FROM comments WHERE comments.id IN (...)", "comments"),
        ("SELECT count(*) FROM (SELECT users.id FROM users) AS anon_1", "users"),
        (
            "SELECT teams.id FROM teams WHERE teams.id IN (SELECT u.team_id FROM users AS u)",
            "teams",
        ),
        ("SELECT public.teams.id FROM public.teams", "public.teams"),
        ("SELECT 1", None),
    ],
    ids=["select", "insert", "update", "delete", "subquery", "outer-first", "schema", "none"],
)
def test_main_table(sql: str, table: str | None) -> None:
    assert _main_table(sql) == table


# -- strict loading ------------------------------------------------------------------------


async def test_strict_loading_raises_on_lazy_load_and_leaks_nothing(
    db: tk.Database, teams: list[int]
) -> None:
    pool: Any = db.engine.sync_engine.pool
    async with db.session() as s:
        strict = strict_loading(s)
        loaded = await crud.search(s, Team)  # commits: no connection is held afterwards
        assert pool.checkedout() == 0
        with pytest.raises(sa_exc.InvalidRequestError, match=r"'Team\.members' is not available"):
            loaded[0].members  # noqa: B018
        with pytest.raises(sa_exc.InvalidRequestError, match=r"Team\.members"):
            await loaded[1].awaitable_attrs.members
        assert pool.checkedout() == 0
        assert not s.in_transaction()

        eager = await crud.search(s, Team, load=["members"])
        assert [len(team.members) for team in eager] == [MEMBERS] * N_TEAMS
        with pytest.raises(sa_exc.InvalidRequestError, match=r"User\.posts"):
            eager[0].members[0].posts  # noqa: B018  (one level only was asked for)

        strict.remove()
        s.expunge_all()
        relaxed = await crud.search(s, Team)
        assert len(await relaxed[0].awaitable_attrs.members) == MEMBERS


async def test_strict_loading_refuses_lazy_loads_of_objects_loaded_before(
    db: tk.Database, teams: list[int]
) -> None:
    pool: Any = db.engine.sync_engine.pool
    async with db.session() as s:
        users = await crud.search(s, User)  # loaded with the default lazy loaders
        with strict_loading(s):
            with pytest.raises(
                sa_exc.InvalidRequestError,
                match=r"refused the lazy load of User\.posts.*selectinload\(User\.posts\)",
            ):
                await users[0].awaitable_attrs.posts
            with pytest.raises(sa_exc.InvalidRequestError, match=r"joinedload\(User\.team\)"):
                users[0].team  # noqa: B018
            assert pool.checkedout() == 0
            # Explicit loads are not lazy loads.
            await s.refresh(users[0], ["posts"])
            assert len(users[0].posts) == 1


async def test_strict_loading_block_adds_the_fix_and_switches_off(
    db: tk.Database, teams: list[int]
) -> None:
    async with db.session() as s:
        with pytest.raises(sa_exc.InvalidRequestError) as info:
            async with strict_loading(s) as strict:
                loaded = await crud.search(s, Team)
                loaded[0].members  # noqa: B018
        assert not strict.active
        assert isinstance(info.value, tk.LazyLoadError)
        assert "selectinload(Team.members)" in str(info.value)
        assert "load=['members']" in str(info.value)
        s.expunge_all()
        again = await crud.search(s, Team)
        assert len(await again[0].awaitable_attrs.members) == MEMBERS


async def test_repeated_inserts_get_write_advice(db: tk.Database) -> None:
    with pytest.raises(NPlusOneError) as info:
        async with db.session() as s, count_queries(db, n_plus_one="raise"):
            for i in range(4):
                await crud.create(s, Team, name=f"loop{i}")
    message = str(info.value)
    assert "x teams" in message
    assert "crud.create_many" in message and "insert_frame" in message
    assert "selectinload" not in message  # no loader advice for writes


def test_html_headers_align_with_their_cells() -> None:
    log = QueryLog()
    log._add(StatementRecord("SELECT 1", (), 0.001, False))
    page = log._repr_html_()
    assert '<th style="text-align:right">#</th>' in page
    assert '<th style="text-align:left">SQL</th>' in page
    assert '<td style="text-align:left"><code>SELECT 1' in page


async def test_plain_strict_loading_gives_the_advice(db: tk.Database, teams: list[int]) -> None:
    async with db.session() as s:
        tk.strict_loading(s)  # called plainly, as the README shows
        loaded = await crud.search(s, Team)
        with pytest.raises(tk.LazyLoadError, match=r"selectinload\(Team\.members\)"):
            loaded[0].members  # noqa: B018
        with pytest.raises(tk.LazyLoadError, match=r"load=\['members'\]"):
            await loaded[0].awaitable_attrs.members


async def test_lazy_load_outside_a_transaction_is_a_clean_error(
    db: tk.Database,
    teams: list[int],
    recwarn: pytest.WarningsRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No MissingGreenlet half-way, no pool 'Exception during reset', no coroutine left
    to warn 'never awaited' later: the load is refused before it checks out a connection."""
    import gc

    pool: Any = db.engine.sync_engine.pool
    async with db.session() as s:
        team = await crud.get(s, Team, teams[0])
        assert team is not None
        with pytest.raises(tk.LazyLoadError, match=r"'Team\.members' is not available") as info:
            team.members  # noqa: B018
        assert isinstance(info.value, sa_exc.InvalidRequestError)
        assert pool.checkedout() == 0 and not s.in_transaction()
        async with db.transaction() as t:
            inside = await crud.get(t, Team, teams[0])
            with pytest.raises(tk.LazyLoadError):
                inside.members  # noqa: B018
        # The explicit asyncio forms still load.
        assert len(await team.awaitable_attrs.members) == MEMBERS
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
    assert "Exception during reset" not in caplog.text
