"""Shared fixtures: every database test runs on SQLite (a file) and on PostgreSQL.

PostgreSQL is read from ``$TOOLKIT_TEST_POSTGRES_URL`` (default: the local server on
127.0.0.1:5432, database ``test``). Outside CI a server that does not answer skips the
PostgreSQL half with the reason; under ``CI=true`` it fails the test instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import toolkit as tk
import toolkit.demo.models
from toolkit.database import resolve_url

PG_URL = os.environ.get(
    "TOOLKIT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DIALECTS = ["sqlite", "postgresql"]


async def pg_connect(database: str | None = None) -> Any:
    """A plain asyncpg connection to the test PostgreSQL (outside any schema of ours), to
    its test database or to ``database`` on the same server."""
    import asyncpg

    url = resolve_url(PG_URL)
    return await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=database or url.database,
        timeout=5,
    )


@functools.cache
def postgres_problem() -> str | None:
    """None when the test PostgreSQL answers, else why not."""

    async def probe() -> None:
        await (await pg_connect()).close()

    try:
        # A thread of its own: fixtures call this from inside the test's event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, probe()).result()
    except Exception as exc:
        return f"PostgreSQL at {PG_URL} does not answer: {exc!r}"
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run, not skip)")
    pytest.skip(problem)


#: Each test process works in a PostgreSQL schema of its own, so that concurrent runs
#: (a developer's and a helper's, or parallel CI jobs) never drop each other's tables.
PG_SCHEMA = f"toolkit_test_{os.getpid()}"


def run_pg(sql: str, database: str | None = None) -> None:
    """Run ``sql`` on a connection of its own (see :func:`pg_connect`), from any thread."""

    async def go() -> None:
        conn = await pg_connect(database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    require_postgres()
    run_pg(f'CREATE SCHEMA IF NOT EXISTS "{PG_SCHEMA}"')
    yield PG_SCHEMA
    run_pg(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')


def pg_connect_args(schema: str, **settings: str) -> dict[str, Any]:
    """connect_args of a test Database on PostgreSQL: our schema, and a lock wait that
    fails after a minute (a lock left behind by a test must fail the run, not hang it)."""
    return {"server_settings": {"search_path": schema, "lock_timeout": "60s", **settings}}


def connect_test_db(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> tk.Database:
    """A Database for ``dialect``: a SQLite file in tmp_path, or PostgreSQL in our schema."""
    if dialect == "postgresql":
        require_postgres()
        schema = request.getfixturevalue("pg_schema")
        return tk.connect(PG_URL, connect_args=pg_connect_args(schema))
    return tk.connect(tmp_path / "test.db")


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def fresh(database: tk.Database) -> AsyncIterator[tk.Database]:
    """Create every SQLModel table empty, yield, then dispose of the engine."""
    await database.drop_all()
    await database.create_all()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def db(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tk.Database]:
    """A fresh Database with every SQLModel table created empty."""
    async for database in fresh(connect_test_db(dialect, tmp_path, request)):
        yield database


@pytest.fixture
async def pg_db(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[tk.Database]:
    """PostgreSQL only, for PostgreSQL-only paths (marked ``postgres_only``)."""
    async for database in fresh(connect_test_db("postgresql", tmp_path, request)):
        yield database
