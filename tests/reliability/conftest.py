"""Fixtures of the reliability suite: a Database with a small pool, a watched PostgreSQL.

The parent ``tests/conftest.py`` provides ``dialect`` (sqlite / postgresql, with readable
ids), ``db``, ``pg_db`` and ``connect_test_db``; these build on it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import toolkit as tk

from ..conftest import (
    PG_URL,
    connect_test_db,
    fresh,
    pg_connect,
    pg_connect_args,
    require_postgres,
)

#: The PostgreSQL pool of the concurrency tests: far fewer connections than tasks.
SMALL_POOL = {"pool_size": 3, "max_overflow": 2}


@pytest.fixture
async def small_pool_db(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tk.Database]:
    """Every SQLModel table, empty; PostgreSQL with a pool of 3 + 2 overflow connections.

    SQLite is the file database with the toolkit's default pool.
    """
    if dialect == "postgresql":
        require_postgres()
        schema = request.getfixturevalue("pg_schema")
        database = tk.connect(PG_URL, connect_args=pg_connect_args(schema), **SMALL_POOL)
    else:
        database = connect_test_db(dialect, tmp_path, request)
    async for fresh_db in fresh(database):
        yield fresh_db


@pytest.fixture
def app_name() -> str:
    """An ``application_name`` of this test alone, to find its backends among others'."""
    return f"toolkit-reliability-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def watched_pg_db(
    app_name: str, request: pytest.FixtureRequest
) -> AsyncIterator[tk.Database]:
    """PostgreSQL whose connections carry ``app_name``, every SQLModel table empty."""
    require_postgres()
    schema = request.getfixturevalue("pg_schema")
    database = tk.connect(
        PG_URL,
        connect_args=pg_connect_args(schema, application_name=app_name),
    )
    async for fresh_db in fresh(database):
        yield fresh_db


@pytest.fixture
async def pg_admin() -> AsyncIterator[asyncpg.Connection]:
    """A second, plain asyncpg connection: the operator who terminates backends."""
    require_postgres()
    conn = await pg_connect()
    try:
        yield conn
    finally:
        await conn.close()
