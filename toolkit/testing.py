"""The ``toolkit`` pytest plugin: a fresh database per test, and a query budget.

Installed with the package (a ``pytest11`` entry point), so users' own test suites get:

* ``toolkit_db``: an async fixture giving a fresh :class:`toolkit.Database` per test,
  with the tables of the models the test names. SQLite in memory by default; when
  ``$TOOLKIT_TEST_DATABASE_URL`` names a PostgreSQL database, a schema of the test's own
  on it, created before the test and dropped after it. Needs pytest-asyncio (the test
  is ``async def``; in pytest-asyncio's strict mode mark it ``@pytest.mark.asyncio``).
* ``toolkit_models``: which models' tables ``toolkit_db`` creates. By default the
  ``@pytest.mark.toolkit_models(User, Team)`` marker's arguments, else every table in
  SQLModel's metadata. A single model goes in a list, ``toolkit_models([User])``:
  pytest applies a mark called with one class to that class instead. Override the
  fixture in a ``conftest.py`` to choose for a whole folder. The tables that the named
  models' foreign keys point to are created too.
* ``@pytest.mark.max_queries(n)``: fails the test when its body runs more than ``n``
  SQL statements (on any engine; fixtures' set-up and tear-down are not counted), and
  lists the statements and the N+1 groups (the same shape run once per row).

The plugin imports nothing from the toolkit, SQLAlchemy or pandas until a test uses
one of these, so a pytest session that does not use it runs as if it were not there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table

    from .database import Database, Models
    from .queries import QueryLog

__all__ = ["TEST_DATABASE_ENV", "toolkit_db", "toolkit_models"]

#: The environment variable naming the database ``toolkit_db`` uses instead of SQLite in
#: memory (e.g. ``postgresql://postgres@127.0.0.1/test``).
TEST_DATABASE_ENV = "TOOLKIT_TEST_DATABASE_URL"

_MODELS_MARKER = "toolkit_models"
_BUDGET_MARKER = "max_queries"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the plugin's markers (so ``--strict-markers`` accepts them)."""
    config.addinivalue_line(
        "markers",
        f"{_MODELS_MARKER}(*models): the SQLModel table models whose tables the "
        "toolkit_db fixture creates (default: every SQLModel table)",
    )
    config.addinivalue_line(
        "markers",
        f"{_BUDGET_MARKER}(n): fail the test when its body runs more than n SQL "
        "statements; the report lists them and any N+1 groups",
    )


@pytest.fixture
def toolkit_models(request: pytest.FixtureRequest) -> Models:
    """The models whose tables ``toolkit_db`` creates.

    Returns the arguments of the closest ``@pytest.mark.toolkit_models(...)`` marker, or
    None (every table in SQLModel's metadata) when there is none. Override this fixture
    to return model classes or a ``MetaData`` for a module or folder.
    """
    marker = request.node.get_closest_marker(_MODELS_MARKER)
    if marker is None:
        return None
    models: list[Any] = []
    for arg in marker.args:
        models.extend(arg if isinstance(arg, list | tuple) else [arg])
    if not models or marker.kwargs:
        raise pytest.UsageError(
            f"@pytest.mark.{_MODELS_MARKER} takes the table models, e.g. "
            f"@pytest.mark.{_MODELS_MARKER}(User, Team), or [User] for a single one; got "
            f"args={marker.args!r} kwargs={marker.kwargs!r}."
        )
    return models


def _tables(models: Models) -> tuple[MetaData, list[Table] | None]:
    """The metadata and tables to create: ``models`` plus every table their foreign keys
    point to, recursively (None: all of the metadata)."""
    from sqlalchemy import MetaData
    from sqlmodel import SQLModel

    if models is None:
        return SQLModel.metadata, None
    if isinstance(models, MetaData):
        return models, None
    pending: list[Table] = []
    for model in [models] if isinstance(models, type) else list(models):
        table = getattr(model, "__table__", None)
        if table is None:
            raise pytest.UsageError(
                f"{model!r} is not a SQLModel table model; toolkit_models takes classes "
                "declared with `class Name(SQLModel, table=True)`."
            )
        pending.append(table)
    if not pending:
        return SQLModel.metadata, []
    seen: dict[str, Table] = {}
    while pending:
        table = pending.pop()
        if table.key not in seen:
            seen[table.key] = table
            pending.extend(fk.column.table for fk in table.foreign_keys)
    tables = list(seen.values())
    return tables[0].metadata, tables


async def _schema(db: Database, models: Models, *, create: bool) -> None:
    metadata, tables = _tables(models)
    async with db.engine.begin() as conn:
        if create:
            await conn.run_sync(metadata.create_all, tables=tables)
        else:
            await conn.run_sync(metadata.drop_all, tables=tables)


async def _open(models: Models) -> AsyncIterator[Database]:
    from .database import connect

    url = os.environ.get(TEST_DATABASE_ENV, "").strip()
    if not url:
        async with connect(":memory:") as db:
            await _schema(db, models, create=True)
            yield db
        return
    admin = connect(url)
    if admin.dialect != "postgresql":
        # A SQLite file: the tables are made empty before the test and dropped after.
        try:
            await _schema(admin, models, create=False)
            await _schema(admin, models, create=True)
            yield admin
            await _schema(admin, models, create=False)
        finally:
            await admin.dispose()
        return
    schema = f"toolkit_test_{uuid.uuid4().hex[:16]}"
    try:
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            db = connect(url, connect_args={"server_settings": {"search_path": schema}})
            try:
                await _schema(db, models, create=True)
                yield db
            finally:
                await db.dispose()
        finally:
            async with admin.engine.begin() as conn:
                await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await admin.dispose()


async def _toolkit_db(toolkit_models: Models) -> AsyncIterator[Database]:
    """A fresh :class:`toolkit.Database` with the tables of ``toolkit_models``, per test.

    SQLite in memory, or, when ``$TOOLKIT_TEST_DATABASE_URL`` is set, that database: on
    PostgreSQL a new schema (the connection's ``search_path``) dropped with everything in
    it after the test; on a SQLite file the tables, dropped after the test.

    Examples
    --------
    >>> @pytest.mark.toolkit_models(Team, User)
    ... async def test_signup(toolkit_db):
    ...     async with toolkit_db.transaction() as s:
    ...         await crud.create(s, Team, name="red")
    """
    async for db in _open(toolkit_models):
        yield db


def _needs_pytest_asyncio() -> None:
    pytest.fail(
        "The toolkit_db fixture is async and needs pytest-asyncio: "
        "`pip install pytest-asyncio`, then write the test as `async def`.",
        pytrace=False,
    )


def _fixture() -> Any:
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - depends on the user's environment
        return pytest.fixture(_needs_pytest_asyncio, name="toolkit_db")
    return pytest_asyncio.fixture(_toolkit_db, name="toolkit_db")


toolkit_db = _fixture()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Count the SQL statements of a test marked ``max_queries(n)``; fail above ``n``."""
    marker = item.get_closest_marker(_BUDGET_MARKER)
    if marker is None:
        return (yield)
    budget = _budget(marker)
    from sqlalchemy.engine import Engine

    from .queries import QueryLog, _Recorder

    # Every engine: the test may count on toolkit_db or on a Database of its own.
    # Fixtures run outside the call phase, so their statements are not in the log.
    log = QueryLog()
    recorder = _Recorder(Engine, log, scoped=False)
    recorder.start()
    try:
        outcome = yield
    finally:
        recorder.stop()
    if log.count > budget:
        pytest.fail(f"max_queries({budget}): {_report(log, budget)}", pytrace=False)
    return outcome


def _report(log: QueryLog, budget: int) -> str:
    """The statements that ran, and the N+1 groups among them (QueryLog's own report)."""
    try:
        log.assert_at_most(budget)
    except AssertionError as exc:
        return str(exc)
    return log.headline()


def _budget(marker: pytest.Mark) -> int:
    value = marker.args[0] if len(marker.args) == 1 and not marker.kwargs else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        pytest.fail(
            f"@pytest.mark.{_BUDGET_MARKER} takes one count of statements, a whole number "
            f"0 or more, e.g. @pytest.mark.{_BUDGET_MARKER}(3); got "
            f"args={marker.args!r} kwargs={marker.kwargs!r}.",
            pytrace=False,
        )
    return value
