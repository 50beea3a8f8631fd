"""The pytest plugin (``toolkit.testing``), driven through ``pytester`` on both dialects.

The inner sessions run in this process (``runpytest``), so each declares its models
under table names of its own: SQLModel's metadata outlives an inner session. Both
drivers connect once before any inner session (``warm_drivers``): pytester removes the
modules imported after its fixture starts, and asyncpg's protocol extension imported a
second time in one process crashes the interpreter.
"""

from __future__ import annotations

import asyncio
import itertools
import textwrap

import pytest

import toolkit as tk
from tests.conftest import PG_URL, pg_connect, postgres_problem, require_postgres
from toolkit.testing import TEST_DATABASE_ENV

pytest_plugins = ["pytester"]

_ids = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def warm_drivers() -> None:
    async def touch(url: str) -> None:
        async with tk.connect(url) as db, db.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    asyncio.run(touch(":memory:"))
    if postgres_problem() is None:
        asyncio.run(touch(PG_URL))


@pytest.fixture
def target(dialect: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where ``toolkit_db`` goes: SQLite in memory, or PostgreSQL through the env var."""
    if dialect == "postgresql":
        require_postgres()
        monkeypatch.setenv(TEST_DATABASE_ENV, PG_URL)
    else:
        monkeypatch.delenv(TEST_DATABASE_ENV, raising=False)
    return dialect


def models(suffix: str) -> str:
    """Source of two related models (a team and its heroes) with unique table names."""
    return textwrap.dedent(
        f"""
        import pytest
        from sqlalchemy import inspect, text
        from sqlmodel import Field, SQLModel, select

        import toolkit as tk


        class Squad{suffix}(SQLModel, table=True):
            __tablename__ = "squad_{suffix}"
            id: int | None = Field(default=None, primary_key=True)
            name: str


        class Hero{suffix}(SQLModel, table=True):
            __tablename__ = "hero_{suffix}"
            id: int | None = Field(default=None, primary_key=True)
            name: str
            squad_id: int | None = Field(default=None, foreign_key="squad_{suffix}.id")


        class Other{suffix}(SQLModel, table=True):
            __tablename__ = "other_{suffix}"
            id: int | None = Field(default=None, primary_key=True)


        async def tables(db):
            async with db.engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        """
    )


def write_tests(pytester: pytest.Pytester, body: str, *, auto: bool = False) -> str:
    suffix = f"t{next(_ids)}"
    mode = "auto" if auto else "strict"
    pytester.makeini(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
    )
    source = models(suffix) + textwrap.dedent(body).replace("SUFFIX", suffix)
    pytester.makepyfile(**{f"test_inner_{suffix}": source})
    return suffix


def test_fresh_tables_per_test(pytester: pytest.Pytester, target: str) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.asyncio
        @pytest.mark.toolkit_models([HeroSUFFIX])
        @pytest.mark.parametrize("run", [1, 2])
        async def test_each_test_starts_empty(toolkit_db, run):
            assert isinstance(toolkit_db, tk.Database)
            # The hero table and the squad table its foreign key points to; not Other.
            assert {"hero_SUFFIX", "squad_SUFFIX", "other_SUFFIX"} & await tables(
                toolkit_db
            ) == {"hero_SUFFIX", "squad_SUFFIX"}
            async with toolkit_db.transaction() as s:
                assert (await s.exec(select(HeroSUFFIX))).all() == []
                squad = SquadSUFFIX(name="red")
                s.add(squad)
                await s.flush()
                s.add(HeroSUFFIX(name=f"ann{run}", squad_id=squad.id))
        """,
    )
    result = pytester.runpytest("-p", "no:randomly", "--strict-markers")
    result.assert_outcomes(passed=2)


def test_default_is_every_table_and_auto_mode_works(pytester: pytest.Pytester, target: str) -> None:
    write_tests(
        pytester,
        """
        async def test_all_tables(toolkit_db):
            assert {"hero_SUFFIX", "squad_SUFFIX", "other_SUFFIX"} <= await tables(toolkit_db)
            assert toolkit_db.dialect == DIALECT
        """.replace("DIALECT", repr(target)),
        auto=True,
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_marker_takes_several_models(pytester: pytest.Pytester, target: str) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.asyncio
        @pytest.mark.toolkit_models(SquadSUFFIX, OtherSUFFIX)
        async def test_two(toolkit_db):
            names = await tables(toolkit_db)
            assert {"squad_SUFFIX", "other_SUFFIX"} <= names and "hero_SUFFIX" not in names
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_toolkit_models_fixture_can_be_overridden(pytester: pytest.Pytester, target: str) -> None:
    write_tests(
        pytester,
        """
        @pytest.fixture
        def toolkit_models():
            return [OtherSUFFIX]

        @pytest.mark.asyncio
        async def test_only_other(toolkit_db):
            names = await tables(toolkit_db)
            assert "other_SUFFIX" in names and "hero_SUFFIX" not in names
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


async def schema_exists(name: str) -> bool:
    conn = await pg_connect()
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", name)
    finally:
        await conn.close()
    return found is not None


@pytest.mark.postgres_only
async def test_postgresql_schema_is_dropped(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgres()
    monkeypatch.setenv(TEST_DATABASE_ENV, PG_URL)
    seen = pytester.path / "schema.txt"
    write_tests(
        pytester,
        f"""
        @pytest.mark.asyncio
        @pytest.mark.toolkit_models([SquadSUFFIX])
        async def test_records_schema(toolkit_db):
            async with toolkit_db.engine.connect() as conn:
                schema = (await conn.exec_driver_sql("SELECT current_schema()")).scalar()
            assert schema.startswith("toolkit_test_")
            with open({str(seen)!r}, "w") as file:
                file.write(schema)
        """,
    )
    # In a thread of its own: this test's event loop is running.
    result = await asyncio.to_thread(pytester.runpytest)
    result.assert_outcomes(passed=1)
    assert not await schema_exists(seen.read_text())


def test_max_queries_passes_within_budget(pytester: pytest.Pytester, target: str) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.asyncio
        @pytest.mark.max_queries(1)
        @pytest.mark.toolkit_models([SquadSUFFIX])
        async def test_one_query(toolkit_db):
            # The fixture's CREATE TABLE statements are not counted.
            async with toolkit_db.session() as s:
                await s.exec(select(SquadSUFFIX))
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_max_queries_fails_with_the_n_plus_one_groups(
    pytester: pytest.Pytester, target: str
) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.asyncio
        @pytest.mark.max_queries(2)
        @pytest.mark.toolkit_models([HeroSUFFIX])
        async def test_n_plus_one(toolkit_db):
            async with toolkit_db.transaction() as s:
                for name in ("a", "b", "c", "d"):
                    s.add(SquadSUFFIX(name=name))
            async with toolkit_db.session() as s:
                squads = (await s.exec(select(SquadSUFFIX))).all()
                for squad in squads:
                    await s.exec(select(HeroSUFFIX).where(HeroSUFFIX.squad_id == squad.id))
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*max_queries(2): Expected at most 2 SQL statements, * ran:*",
            "*N+1: 4 x hero_t*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_max_queries_counts_only_the_marked_test(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.asyncio
        async def test_unmarked_runs_many(toolkit_db):
            async with toolkit_db.session() as s:
                for _ in range(5):
                    await s.exec(select(SquadSUFFIX))
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("args", ["", "'3'"], ids=["none", "text"])
def test_max_queries_needs_one_count(pytester: pytest.Pytester, args: str) -> None:
    write_tests(
        pytester,
        f"""
        @pytest.mark.max_queries({args})
        def test_x():
            pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*max_queries takes one count of statements*"])


def test_marker_is_declared_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.max_queries(0)
        def test_no_sql():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)
    pytester.runpytest("--markers").stdout.fnmatch_lines(
        ["*toolkit_models(*models)*", "*max_queries(n)*"]
    )


def test_a_session_without_the_plugin_imports_nothing(pytester: pytest.Pytester) -> None:
    """The plugin loads in every session of an environment with the toolkit installed;
    one that does not use it must not pay for SQLAlchemy or pandas, nor get their hooks."""
    pytester.makepyfile(
        """
        import sys

        def test_nothing_heavy_loaded():
            heavy = {"sqlalchemy", "pandas", "sqlmodel", "toolkit.database"}
            assert heavy.isdisjoint(sys.modules), sorted(heavy & set(sys.modules))
            assert "toolkit.testing" in sys.modules
        """
    )
    pytester.runpytest_subprocess("-p", "no:nbval", "-p", "no:hypothesispytest").assert_outcomes(
        passed=1
    )
