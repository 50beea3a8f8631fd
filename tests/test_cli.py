"""The ``toolkit`` command, run as a subprocess: each command, and every error path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pandas as pd
import pytest

from tests.conftest import PG_URL, require_postgres
from toolkit import demo
from toolkit.database import resolve_url

SMALL = {"seed": 1, "teams": 3, "users": 20, "posts": 50, "comments": 80}


def toolkit(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "TOOLKIT_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("toolkit"), lines[0]
    assert text in lines[0]


def strategy_table(stdout: str) -> dict[str, tuple[int, int]]:
    """{strategy: (queries, rows)} from the table ``toolkit demo`` prints."""
    rows = re.findall(r"^ *(\S.*?) +(\d+) +(\d+) +[\d.]+$", stdout, flags=re.MULTILINE)
    return {name: (int(queries), int(count)) for name, queries, count in rows}


LOADED = "Sample loaded (rows): teams 24, users 600, posts 2,400, comments 6,000."
EXPECTED = {
    "lazy (awaitable_attrs)": (570, 2156),
    "selectinload": (4, 2156),
    "joinedload": (1, 2156),
    "subqueryload": (3, 2156),
    "joinedload+selectinload": (3, 2156),
}


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    folder = tmp_path / "sample"
    demo.write_sample_csv(folder, **SMALL)
    return folder


# -- help ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [[], ["demo"], ["load"], ["query"]], ids=lambda c: c[0] if c else "toolkit"
)
def test_help(command: list[str], tmp_path: Path) -> None:
    result = toolkit(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: {' '.join(['toolkit', *command])}")
    assert "--url" in result.stdout or not command


# -- demo ---------------------------------------------------------------------------------


def test_demo_on_the_default_sqlite_file(tmp_path: Path) -> None:
    first = toolkit("demo", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "toolkit.db").exists()
    assert "Database: sqlite+aiosqlite:///toolkit.db" in first.stdout
    assert LOADED in first.stdout
    assert strategy_table(first.stdout) == EXPECTED
    assert "(the N+1 pattern)" in first.stdout
    assert first.stderr == ""

    again = toolkit("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Sample already loaded; reusing it." in again.stdout
    assert strategy_table(again.stdout) == EXPECTED


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """URL of a PostgreSQL database of this test's own on the test server.

    The command runs in another process, so it cannot share the per-process schema
    that conftest gives in-process tests; a database of its own keeps concurrent test
    runs from seeing each other's tables.
    """
    require_postgres()
    server = resolve_url(PG_URL)
    name = f"toolkit_cli_{os.getpid()}"
    admin = await asyncpg.connect(
        host=server.host,
        port=server.port or 5432,
        user=server.username,
        password=server.password,
        database=server.database,
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.mark.postgres_only
def test_demo_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    result = toolkit("demo", "--url", pg_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Database: postgresql+asyncpg://" in result.stdout
    assert (
        "Sample loaded (rows): teams 24, users 600, posts 2,400, comments 6,000." in result.stdout
    )
    assert strategy_table(result.stdout) == EXPECTED
    assert not (tmp_path / "toolkit.db").exists()
    # The id sequences were moved past the loaded ids: a new row does not collide.
    insert = toolkit(
        "query", "INSERT INTO teams (name) VALUES ('New') RETURNING id", "--url", pg_url,
        cwd=tmp_path,
    )  # fmt: skip
    assert insert.returncode == 0, insert.stderr
    assert insert.stdout.split()[:2] == ["id", "25"]


def test_demo_refuses_a_database_with_other_rows(tmp_path: Path, sample: Path) -> None:
    loaded = toolkit(
        "load", str(sample / "teams.csv"), "--model", "toolkit.demo.models:Team", cwd=tmp_path
    )
    assert loaded.returncode == 0, loaded.stderr
    assert_one_line_error(toolkit("demo", cwd=tmp_path), 1, "already holds 3 rows")


# -- load ---------------------------------------------------------------------------------


def test_load_in_foreign_key_order(tmp_path: Path, sample: Path) -> None:
    for name, model in [
        ("teams", "Team"),
        ("users", "User"),
        ("posts", "Post"),
        ("comments", "Comment"),
    ]:
        result = toolkit(
            "load", str(sample / f"{name}.csv"), "--model", f"toolkit.demo.models:{model}",
            "--url", "x.db", cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        rows = SMALL[name]
        assert result.stdout.startswith(f"Loaded {rows} rows from ")
        assert f"into {name} (sqlite+aiosqlite:///x.db)" in result.stdout
        # Not a terminal: no progress bar in the captured output.
        assert result.stderr == ""
    nulls = toolkit(
        "query", "SELECT count(*) AS n FROM users WHERE full_name IS NULL", "--url", "x.db",
        "--out", "nulls.csv", cwd=tmp_path,
    )  # fmt: skip
    assert nulls.returncode == 0, nulls.stderr
    expected = pd.read_csv(sample / "users.csv")["full_name"].isna().sum()
    assert pd.read_csv(tmp_path / "nulls.csv")["n"].tolist() == [expected]


def test_load_uses_modules_from_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / "mymodels.py").write_text(
        "from sqlmodel import Field, SQLModel\n\n\n"
        "class Reading(SQLModel, table=True):\n"
        "    id: int | None = Field(default=None, primary_key=True)\n"
        "    sensor: str\n"
        "    value: float\n"
        "    note: str | None = None\n",
        encoding="utf-8",
    )
    (tmp_path / "readings.csv").write_text(
        "sensor,value,note\na,1.5,\nb,2.5,ok\n", encoding="utf-8"
    )
    result = toolkit(
        "load", "readings.csv", "--model", "mymodels:Reading", "--url", "r.db", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    shown = toolkit(
        "query",
        "SELECT id, sensor, value, note IS NULL AS no_note FROM reading ORDER BY id",
        "--url",
        "r.db",
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [
        *("id", "sensor", "value", "no_note"),
        *("1", "a", "1.5", "1"),
        *("2", "b", "2.5", "0"),
        *("(2", "rows)"),
    ]


# -- query --------------------------------------------------------------------------------


@pytest.fixture
def loaded(tmp_path: Path, sample: Path) -> Path:
    result = toolkit(
        "load", str(sample / "teams.csv"), "--model", "toolkit.demo.models:Team", "--url", "q.db",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_query_prints_rows(loaded: Path) -> None:
    result = toolkit("query", "SELECT id, name FROM teams ORDER BY id", "--url", "q.db", cwd=loaded)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "name"]
    assert len(lines) == 1 + 3 + 1 and lines[-1] == "(3 rows)"


def test_query_default_url_from_the_environment(tmp_path: Path) -> None:
    result = toolkit(
        "query", "SELECT 1 AS one", cwd=tmp_path, env={"TOOLKIT_DATABASE_URL": "env.db"}
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.db").exists() and not (tmp_path / "toolkit.db").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"], ids=["csv", "parquet"])
def test_query_writes_files(loaded: Path, suffix: str, sample: Path) -> None:
    out = loaded / f"teams{suffix}"
    result = toolkit(
        "query", "SELECT * FROM teams ORDER BY id", "--url", "q.db", "--out", str(out), cwd=loaded
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Wrote 3 row(s) to {out}."
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    pd.testing.assert_frame_equal(frame, pd.read_csv(sample / "teams.csv"), check_dtype=False)
    if suffix == ".parquet":  # typed as tk.read_frame types it
        assert [str(t) for t in frame.dtypes] == ["Int64", "string"]


def test_query_runs_and_commits_writes(loaded: Path) -> None:
    result = toolkit(
        "query", "UPDATE teams SET name = name || '!' WHERE id < 3", "--url", "q.db", cwd=loaded
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Done; 2 row(s) affected."
    check = toolkit(
        "query", "SELECT count(*) AS n FROM teams WHERE name LIKE '%!'", "--url", "q.db", cwd=loaded
    )
    assert check.stdout.split()[:2] == ["n", "2"]


def test_query_takes_colons_and_percents_literally(tmp_path: Path) -> None:
    result = toolkit("query", "SELECT ':x' AS a, '50%' AS b", "--url", "x.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:4] == ["a", "b", ":x", "50%"]


# -- errors -------------------------------------------------------------------------------

M = "toolkit.demo.models"
PG_DOWN = "postgresql://x@127.0.0.1:1/t"
REACH = "Cannot reach the database"


def case(name: str, args: list[str], code: int, text: str) -> pytest.ParameterSet:
    return pytest.param(args, code, text, id=name)


ERRORS = [
    case("no-command", [], 2, "required: COMMAND"),
    case("unknown-option", ["demo", "--bogus"], 2, "unrecognized arguments: --bogus"),
    case("load-without-model", ["load", "x.csv"], 2, "--model"),
    case("url-unknown-scheme", ["demo", "--url", "foo://bar"], 2, "'foo' in 'foo://bar' is not"),
    case("url-unsupported", ["query", "SELECT 1", "--url", "mysql://a@b/c"], 2, "not supported"),
    case("url-unparsable", ["query", "SELECT 1", "--url", "postgresql://x@[::1/t"], 2, "parse"),
    case("server-down", ["query", "SELECT 1", "--url", PG_DOWN], 1, REACH),
    case("sqlite-folder-missing", ["demo", "--url", "no/such/dir/x.db"], 2, "does not exist"),
    case("csv-missing", ["load", "missing.csv", "--model", f"{M}:Team"], 1, "not found"),
    case("model-spec", ["load", "teams.csv", "--model", "Team"], 2, "not in the form"),
    case("model-module", ["load", "teams.csv", "--model", "no_such_xyz:T"], 1, "Cannot import"),
    case("model-class", ["load", "teams.csv", "--model", f"{M}:Nope"], 1, "has no class 'Nope'"),
    case(
        "model-not-table", ["load", "teams.csv", "--model", f"{M}:UserCreate"], 1, "not a SQLModel"
    ),
    case(
        "csv-columns", ["load", "users.csv", "--model", f"{M}:Team"], 1, "is not a column of Team"
    ),
    case(
        "csv-values",
        ["load", "bad_teams.csv", "--model", f"{M}:Team"],
        1,
        "CSV row 1 (line 2), name=",
    ),
    case("parent-missing", ["load", "posts.csv", "--model", f"{M}:Post"], 1, "load users first"),
    case("sql-syntax", ["query", "SELEC 1"], 1, 'The SQL failed: near "SELEC": syntax error'),
    case("sql-table", ["query", "SELECT * FROM nosuch"], 1, "no such table: nosuch"),
    case("out-suffix", ["query", "SELECT 1", "--out", "x.txt"], 2, "a .csv or .parquet file"),
    case("out-no-rows", ["query", "CREATE TABLE t (x int)", "--out", "x.csv"], 1, "no rows"),
    case("out-folder-missing", ["query", "SELECT 1", "--out", "no/dir/x.csv"], 1, "Cannot write"),
]


@pytest.mark.parametrize(("args", "code", "text"), ERRORS)
def test_errors_are_one_line(
    args: list[str], code: int, text: str, tmp_path: Path, sample: Path
) -> None:
    for name in ("teams.csv", "users.csv", "posts.csv"):
        (tmp_path / name).write_bytes((sample / name).read_bytes())
    (tmp_path / "bad_teams.csv").write_text(f"id,name\n1,{'x' * 101}\n", encoding="utf-8")
    if args and "--url" not in args:
        args = [*args, "--url", "e.db"]
    assert_one_line_error(toolkit(*args, cwd=tmp_path), code, text)


@pytest.mark.postgres_only
def test_sql_error_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    result = toolkit("query", "SELECT * FROM no_such_table_xyz", "--url", pg_url, cwd=tmp_path)
    assert_one_line_error(result, 1, 'The SQL failed: relation "no_such_table_xyz" does not exist')


def test_duplicate_load_writes_nothing(loaded: Path, sample: Path) -> None:
    again = toolkit(
        "load", str(sample / "teams.csv"), "--model", "toolkit.demo.models:Team", "--url", "q.db",
        cwd=loaded,
    )  # fmt: skip
    assert_one_line_error(again, 1, "already exists")
    count = toolkit("query", "SELECT count(*) AS n FROM teams", "--url", "q.db", cwd=loaded)
    assert count.stdout.split()[:2] == ["n", "3"]
