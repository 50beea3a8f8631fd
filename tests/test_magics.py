"""%%sql and %sql: driven through an IPython shell and through a real kernel (nbclient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import toolkit as tk
from tests.conftest import PG_URL, connect_test_db, pg_connect_args, require_postgres
from toolkit import database
from toolkit.magics import split_statements
from toolkit.notebook import unload_ipython_extension


@pytest.fixture
def shell() -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ipython = InteractiveShell.instance(config=config)
    ipython.run_cell("%load_ext toolkit")
    try:
        yield ipython
    finally:
        unload_ipython_extension(ipython)
        InteractiveShell.clear_instance()


@pytest.fixture
def sql_db(shell: Any, dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """The test database as ``db`` in the shell, with teams and users."""
    db = connect_test_db(dialect, tmp_path, request)
    shell.user_ns["db"] = db
    cell(shell, SETUP)
    yield db
    cell(shell, "await db.dispose()")


SETUP = """
import toolkit as tk
from toolkit import crud
from toolkit.demo import Team, User

await db.drop_all()
await db.create_all()
async with db.session() as s:
    await crud.create_many(s, Team, [{"name": "red"}, {"name": "blue"}])
    await crud.create_many(s, User, [
        {"username": "ann", "email": "ann@example.org", "credits": "12.50", "team_id": 1},
        {"username": "bob", "email": "bob@example.org", "credits": "3.25", "team_id": 2},
    ])
"""


def cell(shell: Any, code: str) -> Any:
    """Run a cell that must succeed; return its result and what it displayed."""
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = shell.run_cell(code)
    result.raise_error()
    return result.result, captured


def failing(shell: Any, code: str, capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    capsys.readouterr()
    result = shell.run_cell(code)
    assert result.error_in_exec is not None or result.error_before_exec is not None
    captured = capsys.readouterr()
    return result.error_in_exec or result.error_before_exec, captured.out + captured.err


def test_cell_shows_a_frame_with_the_toolkits_dtypes(shell: Any, sql_db: Any) -> None:
    frame, shown = cell(
        shell, "%%sql db -o rich\nSELECT id, username, credits FROM users ORDER BY id"
    )
    assert isinstance(frame, pd.DataFrame)
    assert frame["username"].tolist() == ["ann", "bob"]
    assert str(frame["id"].dtype) == "Int64"
    assert str(frame["username"].dtype).startswith("string")
    assert shell.user_ns["rich"] is frame
    [count] = shown.outputs
    assert count.data["text/plain"].startswith("toolkit: 1 SQL statement in ")
    cell(shell, 'direct = await tk.read_frame(db, "SELECT id, username, credits FROM users")')
    direct = shell.user_ns["direct"]
    assert frame.dtypes.equals(direct.dtypes)


def test_parameters_are_bound_from_the_namespace(shell: Any, sql_db: Any) -> None:
    shell.user_ns["who"] = "ann' OR '1'='1"
    frame, _ = cell(shell, "%%sql\nSELECT username FROM users WHERE username = :who")
    assert len(frame) == 0  # bound, not pasted into the SQL
    shell.user_ns["who"] = "bob"
    shell.user_ns["least"] = 1
    frame, _ = cell(
        shell, "%%sql\nSELECT username FROM users WHERE username = :who AND credits > :least"
    )
    assert frame["username"].tolist() == ["bob"]


def test_missing_parameter_is_a_usage_error(
    shell: Any, sql_db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, shown = failing(shell, "%sql SELECT :nobody_defined_this", capsys)
    assert "no variable of that name" in shown and ":nobody_defined_this" in shown


def test_statements_run_in_one_transaction(
    shell: Any, sql_db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    frame, shown = cell(
        shell,
        "%%sql\nINSERT INTO teams (name) VALUES ('semi;colon');\n"
        "-- a comment; not a statement\nSELECT count(*) AS n FROM teams;",
    )
    assert frame["n"].tolist() == [3]
    assert "2 SQL statements" in shown.outputs[0].data["text/plain"]
    error, shown_error = failing(
        shell, "%%sql\nINSERT INTO teams (name) VALUES ('gone');\nSELEC 1;\nSELECT 1", capsys
    )
    assert isinstance(error, tk.QueryError)
    assert "statement 2" in str(error) and error.__cause__ is not None
    assert len(shown_error.strip().splitlines()) <= 20
    frame, _ = cell(shell, "%%sql\nSELECT count(*) AS n FROM teams WHERE name = 'gone'")
    assert frame["n"].tolist() == [0]  # the first statement was rolled back


def test_missing_table_error_is_short(
    shell: Any, sql_db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    error, shown = failing(shell, "%%sql\nSELECT * FROM no_such_table_here", capsys)
    assert isinstance(error, tk.MissingTableError)
    lines = shown.strip().splitlines()
    assert lines[0].startswith("MissingTableError: The table 'no_such_table_here'")
    assert len(lines) <= 20 and "%tb" in lines[-1]


def test_line_magic_returns_the_frame(shell: Any, sql_db: Any) -> None:
    _, shown = cell(shell, "n = %sql db SELECT count(*) AS n FROM users\nprint(n['n'].iloc[0])")
    assert shown.stdout.strip() == "2"


def test_default_is_the_last_connected_then_the_environment(
    shell: Any, sql_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tk.connect(tmp_path / "other.db")  # connected last: the default now
    shell.user_ns["other"] = other
    error = shell.run_cell("%%sql\nSELECT * FROM users").error_in_exec
    assert isinstance(error, tk.MissingTableError)  # other.db has no tables
    frame, _ = cell(shell, "%%sql db\nSELECT * FROM users")  # named: that one
    assert len(frame) == 2
    monkeypatch.setattr(database, "_last_connected", None)
    monkeypatch.setenv("TOOLKIT_DATABASE_URL", str(tmp_path / "env.db"))
    frame, _ = cell(shell, "%%sql\nSELECT 'from the environment' AS origin")
    assert frame["origin"].tolist() == ["from the environment"]
    cell(shell, "await other.dispose()")


def test_no_database_at_all_says_how_to_get_one(
    shell: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(database, "_last_connected", None)
    monkeypatch.delenv("TOOLKIT_DATABASE_URL", raising=False)
    _, shown = failing(shell, "%%sql\nSELECT 1", capsys)
    assert "tk.connect" in shown and "TOOLKIT_DATABASE_URL" in shown


def test_unknown_argument_is_a_usage_error(
    shell: Any, sql_db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, shown = failing(shell, "%%sql nosuchdb\nSELECT 1", capsys)
    assert "does not understand 'nosuchdb'" in shown


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT 1;", ["SELECT 1"]),
        ("SELECT 'a;b'; SELECT 2", ["SELECT 'a;b'", "SELECT 2"]),
        ('SELECT "odd;name" FROM t', ['SELECT "odd;name" FROM t']),
        ("-- c; d\nSELECT 1", ["-- c; d\nSELECT 1"]),
        ("/* ; */ ; SELECT 1", ["SELECT 1"]),
        ("SELECT $$a;b$$; SELECT $f$;$f$", ["SELECT $$a;b$$", "SELECT $f$;$f$"]),
        ("SELECT 'it''s;'", ["SELECT 'it''s;'"]),
        (" ;\n ; ", []),
    ],
    ids=[
        "one",
        "trailing",
        "string",
        "identifier",
        "line-comment",
        "block-comment",
        "dollar-quotes",
        "escaped-quote",
        "empty",
    ],
)
def test_split_statements(sql: str, expected: list[str]) -> None:
    assert split_statements(sql) == expected


# -- a real kernel ---------------------------------------------------------------------------


def test_sql_magic_in_a_notebook(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if dialect == "postgresql":
        require_postgres()
        schema = request.getfixturevalue("pg_schema")
        connect = f"tk.connect({PG_URL!r}, connect_args={pg_connect_args(schema)!r})"
    else:
        connect = "tk.connect('magic.db')"
    cells = [
        "%load_ext toolkit",
        f"import toolkit as tk\nfrom toolkit.demo import Team\ndb = {connect}\n"
        "await db.drop_all()\nawait db.create_all()",
        "%%sql\nINSERT INTO teams (name) VALUES ('red'), ('blue');\n"
        "SELECT name FROM teams ORDER BY name",
        "wanted = 'red'",
        "%%sql -o found\nSELECT id, name FROM teams WHERE name = :wanted",
        "print(found.dtypes.astype(str).tolist(), len(found))",
        "%%sql\nSELECT * FROM not_a_table",
        "await db.dispose()",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in cells]
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [c.outputs for c in nb.cells]
    shown = outputs[2]
    assert shown[0]["data"]["text/plain"].startswith("toolkit: 2 SQL statements")
    assert "blue" in shown[1]["data"]["text/html"]
    assert outputs[5][0]["text"].startswith("['Int64', 'string")
    assert outputs[5][0]["text"].strip().endswith(" 1")
    [error] = [o for o in outputs[6] if o["output_type"] == "error"]
    assert error["ename"] == "MissingTableError"
    assert len("\n".join(error["traceback"]).splitlines()) <= 20
    assert all(o["output_type"] != "error" for o in outputs[7])


def test_a_cell_that_ends_with_a_write_shows_no_frame(shell: Any, sql_db: Any) -> None:
    result, shown = cell(
        shell,
        "%%sql\nCREATE TABLE magic_scratch (x integer);\n"
        "INSERT INTO magic_scratch VALUES (1), (2);\nDROP TABLE magic_scratch",
    )
    assert result is None
    assert shown.outputs[0].data["text/plain"].startswith("toolkit: 3 SQL statements")
    result, _ = cell(shell, "%%sql\nUPDATE users SET credits = credits + 1 WHERE username = 'ann'")
    assert result is None
    frame, _ = cell(shell, "%%sql\nSELECT credits FROM users WHERE username = 'ann'")
    assert float(frame["credits"].iloc[0]) == 13.5
