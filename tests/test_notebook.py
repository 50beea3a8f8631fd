"""toolkit.notebook: run() with and without a running loop, and the IPython extension."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import toolkit as tk
from tests.conftest import connect_test_db
from toolkit import crud
from toolkit.demo.models import Team
from toolkit.notebook import load_ipython_extension, run, unload_ipython_extension
from toolkit.queries import count_queries


async def answer() -> int:
    await asyncio.sleep(0)
    return 42


@pytest.fixture
def new_db(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> tk.Database:
    """A Database that no event loop has used yet: the test chooses the loop."""
    return connect_test_db(dialect, tmp_path, request)


async def make_teams(db: tk.Database, n: int) -> None:
    await db.drop_all()
    await db.create_all()
    async with db.session() as s:
        await crud.create_many(s, Team, [{"name": f"team{i}"} for i in range(n)])


async def list_teams(db: tk.Database) -> list[Team]:
    async with db.session() as s:
        return await crud.search(s, Team)


# -- run() ---------------------------------------------------------------------------------


def test_run_from_sync_code() -> None:
    assert run(answer()) == 42


def test_run_refuses_what_is_not_a_coroutine() -> None:
    with pytest.raises(TypeError, match=r"call it: run\(f\(\)\)"):
        run(answer)  # type: ignore[arg-type]


def test_run_keeps_pooled_connections_usable_between_calls(new_db: tk.Database) -> None:
    # asyncio.run would close the loop that owns the pooled connection after each call.
    try:
        run(make_teams(new_db, 2))
        assert len(run(list_teams(new_db))) == 2
        assert len(run(list_teams(new_db))) == 2
    finally:
        run(new_db.dispose())


def test_plain_with_around_run_counts_its_statements(new_db: tk.Database) -> None:
    try:
        run(make_teams(new_db, 2))
        with count_queries(new_db) as log:
            run(list_teams(new_db))
        assert log.count == 1
    finally:
        run(new_db.dispose())


async def test_run_inside_a_running_loop(db: tk.Database) -> None:
    # A sync helper called from async code: run() nests in the test's own loop.
    assert run(answer()) == 42
    await make_teams(db, 3)
    with count_queries(db) as log:
        teams = run(list_teams(db))  # the db's pooled connections belong to this loop
    assert len(teams) == 3
    assert log.count == 1
    assert len(await list_teams(db)) == 3  # and the loop is still fine afterwards


# -- the IPython extension -----------------------------------------------------------------


@pytest.fixture
def shell() -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ipython = InteractiveShell.instance(config=config)
    try:
        yield ipython
    finally:
        unload_ipython_extension(ipython)
        InteractiveShell.clear_instance()


def run_cell(shell: Any, code: str) -> Any:
    """Run one cell; return what it printed and displayed."""
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = shell.run_cell(code)
    result.raise_error()
    return captured


SETUP = """
import toolkit as tk
from sqlmodel import select
from toolkit import crud
from toolkit.demo.models import Team, User

await db.drop_all()
await db.create_all()
async with db.session() as s:
    teams = await crud.create_many(s, Team, [{"name": f"team{i}"} for i in range(3)])
    await crud.create_many(
        s, User,
        [{"username": f"u{t.id}", "email": f"u{t.id}@example.org", "team_id": t.id} for t in teams],
    )
"""

LAZY = """
async with db.session() as s:
    teams = (await s.exec(select(Team).order_by(Team.id))).all()
    for team in teams:
        await team.awaitable_attrs.members
"""


def test_extension_counts_sql_per_cell(shell: Any, new_db: tk.Database) -> None:
    shell.user_ns["db"] = new_db
    try:
        run_cell(shell, "%load_ext toolkit.notebook")
        assert run_cell(shell, SETUP).outputs == []  # counting is off until asked for

        turned_on = run_cell(shell, "%toolkit_queries on")
        assert "counting SQL statements per cell" in turned_on.stdout

        [shown] = run_cell(shell, LAZY).outputs
        plain, page = shown.data["text/plain"], shown.data["text/html"]
        assert plain.startswith("toolkit: 4 SQL statements in ")
        assert "N+1: 3 x users" in plain
        assert "toolkit: <b>4 SQL statements in" in page
        assert "#fde2e1" in page  # the N+1 group is highlighted

        [eager] = run_cell(shell, "await crud.search(s, Team, load=['members'])").outputs
        assert eager.data["text/plain"].startswith("toolkit: 2 SQL statements in ")
        assert "N+1" not in eager.data["text/plain"]

        assert run_cell(shell, "x = 1").outputs == []  # no SQL, nothing shown
        assert "is on" in run_cell(shell, "%toolkit_queries").stdout

        run_cell(shell, "%toolkit_queries off")
        assert run_cell(shell, LAZY).outputs == []
    finally:
        run_cell(shell, "await db.dispose()")


def test_extension_rejects_unknown_arguments(shell: Any) -> None:
    load_ipython_extension(shell)
    result = shell.run_cell("%toolkit_queries maybe")
    assert "Usage: %toolkit_queries on|off" in str(result.error_in_exec)


def test_unload_removes_the_magic_and_the_hooks(shell: Any) -> None:
    load_ipython_extension(shell)
    assert shell.find_cell_magic("sql") is not None and shell.find_line_magic("sql") is not None
    run_cell(shell, "%toolkit_queries on")
    before = len(shell.events.callbacks["post_run_cell"])
    unload_ipython_extension(shell)
    assert shell.find_line_magic("toolkit_queries") is None
    assert shell.find_cell_magic("sql") is None and shell.find_line_magic("sql") is None
    assert len(shell.events.callbacks["post_run_cell"]) == before - 1


def test_load_ext_toolkit_from_the_package(shell: Any) -> None:
    if not hasattr(tk, "load_ipython_extension"):
        pytest.skip("toolkit/__init__.py does not re-export load_ipython_extension yet")
    run_cell(shell, "%load_ext toolkit")
    assert shell.find_line_magic("toolkit_queries") is not None


# -- short tracebacks ------------------------------------------------------------------------

DUPLICATE = """
async with db.session() as s:
    await crud.create(s, Team, name="team0")
"""


def test_uncaught_toolkit_error_is_short_and_keeps_its_chain(
    shell: Any, new_db: tk.Database, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    shell.user_ns["db"] = new_db
    try:
        run_cell(shell, "%load_ext toolkit")
        run_cell(shell, SETUP)
        capsys.readouterr()
        result = shell.run_cell(DUPLICATE)
        shown = capsys.readouterr().out
        assert isinstance(result.error_in_exec, tk.DuplicateError)
        lines = shown.strip().splitlines()
        assert len(lines) <= 20
        assert 'await crud.create(s, Team, name="team0")' in lines[1]
        assert lines[2].startswith("DuplicateError: Team: a row with the same name")
        assert "%tb" in lines[-1] and "__cause__" in lines[-1]
        assert "sqlalchemy" not in shown  # none of the library's frames
        # The chain is intact, and %tb shows all of it.
        assert sys.last_value is result.error_in_exec
        assert result.error_in_exec.__cause__ is not None
        shell.run_cell("%tb")
        full = capsys.readouterr().out
        assert "IntegrityError" in full and "sqlalchemy" in full
        assert len(full.splitlines()) > 40
    finally:
        run_cell(shell, "await db.dispose()")


def test_other_errors_and_other_modes_keep_ipython_tracebacks(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    load_ipython_extension(shell)
    shell.run_cell("raise KeyError('plain')")
    assert "Traceback" in capsys.readouterr().out
    shell.run_cell("%xmode Verbose")
    shell.run_cell("import toolkit as tk\nraise tk.NotFoundError('gone')")
    assert "Traceback" in capsys.readouterr().out
    shell.run_cell("%xmode Context")


def test_connect_inside_ipython_installs_short_errors(shell: Any) -> None:
    assert tuple(shell.custom_exceptions) == ()
    run_cell(shell, "import toolkit as tk\ndb = tk.connect(':memory:')")
    assert tuple(shell.custom_exceptions) == (tk.ToolkitError,)
    unload_ipython_extension(shell)
    assert tuple(shell.custom_exceptions) == ()


def test_another_custom_handler_is_left_alone(shell: Any) -> None:
    def mine(self: Any, etype: Any, value: Any, tb: Any, tb_offset: Any = None) -> None:
        return None

    shell.set_custom_exc((KeyError,), mine)
    load_ipython_extension(shell)
    assert tuple(shell.custom_exceptions) == (KeyError,)


def test_a_bad_url_already_gets_the_short_form(
    shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell("import toolkit as tk")
    capsys.readouterr()
    result = shell.run_cell(f"tk.connect({str(tmp_path / 'missing' / 'x.db')!r})")
    assert isinstance(result.error_in_exec, tk.ConfigurationError)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("ConfigurationError: Cannot create the SQLite database")
    assert len(lines) <= 20
