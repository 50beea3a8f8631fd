"""The ``toolkit`` command, run in this process (``main([...])`` with capsys) on SQLite
and PostgreSQL; a few subprocess smoke tests at the end check the installed command."""

from __future__ import annotations

import io
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import PG_URL, require_postgres, run_pg
from toolkit import demo
from toolkit.cli import main
from toolkit.database import resolve_url

SMALL = {"seed": 1, "teams": 3, "users": 20, "posts": 50, "comments": 80}
M = "toolkit.demo.models"


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """URL of a PostgreSQL database of this module's own (the command takes a URL, so it
    cannot be pointed at the per-process schema that conftest gives other tests)."""
    require_postgres()
    name = f"toolkit_cli_{os.getpid()}"
    run_pg(f'DROP DATABASE IF EXISTS "{name}"')
    run_pg(f'CREATE DATABASE "{name}"')
    yield resolve_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    run_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The database the command works on, empty: a SQLite file, or PostgreSQL."""
    if dialect == "postgresql":
        name: str = request.getfixturevalue("pg_database")
        run_pg("DROP SCHEMA public CASCADE; CREATE SCHEMA public", resolve_url(name).database)
        return name
    return str(tmp_path / "cli.db")


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOOLKIT_DATABASE_URL", raising=False)
    monkeypatch.setenv("CI", "true")  # no progress bars in captured output
    return tmp_path


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    folder = tmp_path / "sample"
    demo.write_sample_csv(folder, **SMALL)
    return folder


def toolkit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(result: tuple[int, str, str], code: int, text: str) -> None:
    returned, _, err = result
    assert returned == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("toolkit"), lines[0]
    assert text in lines[0]


def load(capsys: pytest.CaptureFixture[str], csv: Path | str, model: str, url: str, *more: str):
    return toolkit(capsys, "load", str(csv), "--model", model, "--url", url, *more)


# -- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [[], ["demo"], ["load"], ["query"]], ids=lambda c: c[0] if c else "toolkit"
)
def test_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = toolkit(capsys, *command, "--help")
    assert code == 0
    assert out.startswith(f"usage: {' '.join(['toolkit', *command])}")
    assert "--url" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _ = toolkit(capsys, "--version")
    assert code == 0
    assert out.strip() == f"toolkit {version('toolkit')}"


@pytest.mark.parametrize("where", ["before", "after"])
def test_url_before_or_after_the_command(
    where: str, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    args = ["query", "SELECT 1 AS one"]
    args = ["--url", "u.db", *args] if where == "before" else [*args, "--url", "u.db"]
    code, _, err = toolkit(capsys, *args)
    assert code == 0, err
    assert (workdir / "u.db").exists() and not (workdir / "toolkit.db").exists()


def test_url_from_the_environment(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLKIT_DATABASE_URL", "env.db")
    assert toolkit(capsys, "query", "SELECT 1 AS one")[0] == 0
    assert (workdir / "env.db").exists() and not (workdir / "toolkit.db").exists()


# -- query: where the SQL comes from --------------------------------------------------------


def test_sql_from_a_file_and_from_stdin(
    url: str, capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "setup.sql").write_text(
        "-- a table; semicolons in strings and comments do not split ;\n"
        "CREATE TABLE notes (id integer PRIMARY KEY, body text);\n"
        "INSERT INTO notes VALUES (1, 'a;b'), (2, '/* not a comment */');\n"
        "/* a comment; with a semicolon */\n",
        encoding="utf-8",
    )
    code, out, err = toolkit(capsys, "query", "-f", "setup.sql", "--url", url)
    assert code == 0, err
    assert out == "Done.\n\nDone; 2 rows affected.\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT body FROM notes ORDER BY id"))
    code, out, err = toolkit(capsys, "query", "-", "--url", url)
    assert code == 0, err
    assert out.split() == ["body", "a;b", "/*", "not", "a", "comment", "*/", "(2", "rows)"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT count(*) AS n FROM notes;"))
    assert toolkit(capsys, "query", "-f", "-", "--url", url)[1].split() == ["n", "2", "(1", "row)"]


def test_statements_run_in_one_transaction(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert toolkit(capsys, "query", "CREATE TABLE t (x integer)", "--url", url)[0] == 0
    failed = toolkit(
        capsys, "query", "INSERT INTO t VALUES (1); INSERT INTO nosuch VALUES (2)", "--url", url
    )
    one_line_error(failed, 1, "The SQL failed (statement 2 of 2)")
    assert "nothing was changed" in failed[2]
    assert (
        toolkit(capsys, "query", "SELECT count(*) AS n FROM t", "--url", url)[1].split()[1] == "0"
    )


@pytest.mark.parametrize(
    "args",
    [["query", ""], ["query", "  \n "], ["query", "-- only a comment\n;/* and */;"]],
    ids=["empty", "blank", "comments"],
)
def test_empty_sql_is_a_usage_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(toolkit(capsys, *args, "--url", "e.db"), 2, "the SQL is empty")


def test_empty_stdin_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    one_line_error(toolkit(capsys, "query", "-", "--url", "e.db"), 2, "the SQL is empty")


# -- query: printing ------------------------------------------------------------------------


def test_null_prints_the_same_in_every_column_type(
    url: str, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    (workdir / "all.csv").write_text("id,i,f,n,s,b,ts,d\n1,,,,,,,\n2,7,1.5,2.25,x,true,"
                                     "2024-05-01T12:00:00+02:00,2024-05-01\n")  # fmt: skip
    code, _, err = load(capsys, "all.csv", "tests.frame_models:AllTypes", url)
    assert code == 0, err
    code, out, err = toolkit(
        capsys, "query", "SELECT id, i, f, n, s, b, ts, d FROM test_all_types ORDER BY id",
        "--url", url,
    )  # fmt: skip
    assert code == 0, err
    _, first, second, footer = out.splitlines()
    assert first.split() == ["1", *["NULL"] * 7]
    assert second.split()[:6] == ["2", "7", "1.5", "2.25", "x", "True"]
    assert "2024-05-01 10:00:00+00:00" in second
    assert footer == "(2 rows)"
    for missing in ("None", "<NA>", "NaN", "NaT", "nan"):
        assert missing not in out


def test_print_limit(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    series = (
        "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 250) "
        "SELECT x FROM s"
    )
    code, out, _ = toolkit(capsys, "query", series, "--url", url)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1 + 100 + 2
    assert lines[-2:] == ["… 150 more rows (--limit 0 shows all)", "(250 rows)"]
    lines = toolkit(capsys, "query", series, "--limit", "3", "--url", url)[1].splitlines()
    assert [line.strip() for line in lines] == [
        *("x", "1", "2", "3"),
        *("… 247 more rows (--limit 0 shows all)", "(250 rows)"),
    ]
    assert (
        len(toolkit(capsys, "query", series, "--limit", "0", "--url", url)[1].splitlines()) == 252
    )
    one_line_error(toolkit(capsys, "query", "SELECT 1", "--limit", "-1"), 2, "not a row count")


def test_query_runs_and_commits_writes(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    toolkit(capsys, "query", "CREATE TABLE t (x integer); INSERT INTO t VALUES (1), (2), (3)",
            "--url", url)  # fmt: skip
    code, out, _ = toolkit(capsys, "query", "UPDATE t SET x = x * 10 WHERE x < 3", "--url", url)
    assert (code, out.strip()) == (0, "Done; 2 rows affected.")
    code, out, _ = toolkit(
        capsys, "query", "INSERT INTO t VALUES (4) RETURNING x, x + 1 AS y", "--url", url
    )
    assert out.split() == ["x", "y", "4", "5", "(1", "row)"]
    assert toolkit(capsys, "query", "SELECT sum(x) AS s FROM t", "--url", url)[1].split()[1] == "37"


def test_colons_and_percents_are_literal(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = toolkit(capsys, "query", "SELECT ':x' AS a, '50%' AS b", "--url", url)[1]
    assert out.split()[:4] == ["a", "b", ":x", "50%"]


# -- query --out ----------------------------------------------------------------------------


#: The Arrow types of AllTypes' columns in a parquet file, from either dialect.
PARQUET_TYPES = {
    **dict.fromkeys(["id", "small", "i", "big"], "int64"),
    "f": "double",
    "n": "decimal128(12, 2)",
    "s": "large_string",
    "t": "large_string",
    "b": "bool",
    "ts": "timestamp[us, tz=UTC]",
    "naive": "timestamp[us]",
    "d": "timestamp[ms]",  # the frame's datetime64[s]; parquet has no seconds unit
}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"], ids=["csv", "parquet"])
def test_out_files_have_the_same_types_on_both_dialects(
    url: str, suffix: str, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    (workdir / "all.csv").write_text(
        "id,small,i,big,f,n,s,t,b,ts,naive,d\n"
        "1,1,2,3,0.5,1.25,x,long,true,2024-05-01T12:00:00+02:00,2024-05-01T12:00:00,2024-05-01\n"
        "2,,,,,,,,,,,\n",
        encoding="utf-8",
    )
    assert load(capsys, "all.csv", "tests.frame_models:AllTypes", url)[0] == 0
    out = workdir / f"all{suffix}"
    code, printed, err = toolkit(
        capsys, "query", "SELECT * FROM test_all_types ORDER BY id", "--url", url, "--out", str(out)
    )
    assert code == 0, err
    assert printed.strip() == f"Wrote 2 rows to {out}."
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(out)
        assert {name: str(schema.field(name).type) for name in schema.names} == PARQUET_TYPES
        frame = pd.read_parquet(out)
        assert str(frame["ts"][0]) == "2024-05-01 10:00:00+00:00"
    else:
        text = out.read_text(encoding="utf-8").splitlines()
        assert text[0] == "id,small,i,big,f,n,s,t,b,ts,naive,d"
        assert text[1] == (
            "1,1,2,3,0.5,1.25,x,long,True,2024-05-01 10:00:00+00:00,2024-05-01 12:00:00,2024-05-01"
        )
        assert text[2] == "2,,,,,,,,,,,"


# -- load -----------------------------------------------------------------------------------


def test_load_in_foreign_key_order(
    url: str, sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, model in [("teams", "Team"), ("users", "User"), ("posts", "Post")]:
        code, out, err = load(capsys, sample / f"{name}.csv", f"{M}:{model}", url)
        assert code == 0, err
        assert out.startswith(f"Loaded {SMALL[name]} rows from ")
        assert f"into {name} (" in out
        assert err == ""
    code, out, _ = toolkit(
        capsys, "query", "SELECT count(*) AS n FROM users WHERE full_name IS NULL", "--url", url
    )
    expected = pd.read_csv(sample / "users.csv")["full_name"].isna().sum()
    assert out.split()[:2] == ["n", str(expected)]


def test_load_uses_modules_from_the_working_folder(
    url: str, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    module = f"cli_models_{next(_modules)}"
    (workdir / f"{module}.py").write_text(
        "from sqlmodel import Field, SQLModel\n\n\n"
        "class Reading(SQLModel, table=True):\n"
        f"    __tablename__ = {module!r}\n"
        "    id: int | None = Field(default=None, primary_key=True)\n"
        "    sensor: str\n"
        "    value: float\n",
        encoding="utf-8",
    )
    (workdir / "readings.csv").write_text("sensor,value\na,1.5\nb,2.5\n", encoding="utf-8")
    code, out, err = load(capsys, "readings.csv", f"{module}:Reading", url)
    assert code == 0, err
    assert out.startswith("Loaded 2 rows from readings.csv")


_modules = itertools.count()


@pytest.mark.parametrize("mode", ["error", "ignore", "update"])
def test_load_on_conflict(
    url: str, mode: str, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    (workdir / "a.csv").write_text("id,code,qty\n1,a,1\n2,b,2\n", encoding="utf-8")
    (workdir / "b.csv").write_text("id,code,qty\n2,b,20\n3,c,30\n", encoding="utf-8")
    assert load(capsys, "a.csv", "tests.frame_models:Keyed", url)[0] == 0
    result = load(capsys, "b.csv", "tests.frame_models:Keyed", url, "--on-conflict", mode)
    rows = toolkit(capsys, "query", "SELECT id, qty FROM test_keyed ORDER BY id", "--url", url)[1]
    if mode == "error":
        one_line_error(result, 1, "already exists")
        assert rows.split()[2:6] == ["1", "1", "2", "2"] and "(2 rows)" in rows
    elif mode == "ignore":
        assert result[0] == 0 and "Loaded 1 row from" in result[1] and "1 skipped" in result[1]
        assert rows.split()[2:8] == ["1", "1", "2", "2", "3", "30"]
    else:
        assert result[0] == 0 and "Loaded 2 rows" in result[1]
        assert rows.split()[2:8] == ["1", "1", "2", "20", "3", "30"]


def test_errors_file_holds_every_problem(
    url: str, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    bad = "".join(f"{i},{'x' * 100}{i}\n" for i in range(1, 13))
    (workdir / "bad.csv").write_text("id,name\n" + bad, encoding="utf-8")
    result = load(capsys, "bad.csv", f"{M}:Team", url)
    one_line_error(result, 1, "(and 7 more). Nothing was loaded. Add --errors FILE")
    result = load(capsys, "bad.csv", f"{M}:Team", url, "--errors", "problems.csv")
    one_line_error(result, 1, "All 12 problem(s) are in problems.csv")
    problems = pd.read_csv(workdir / "problems.csv")
    assert list(problems.columns) == ["row", "line", "column", "value", "message"]
    assert problems["row"].tolist() == list(range(12))
    assert problems["line"].tolist() == list(range(2, 14))
    assert set(problems["column"]) == {"name"}


def table_names(capsys: pytest.CaptureFixture[str], url: str, dialect: str) -> str:
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if dialect == "sqlite"
        else "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
    )
    return toolkit(capsys, "query", sql, "--url", url)[1]


@pytest.mark.parametrize(
    "content",
    ["id,name\n1,red\n1,blue\n", f"id,name\n1,{'x' * 101}\n", "id,name\n"],
    ids=["duplicate-in-file", "bad-value", "no-rows"],
)
def test_no_table_left_behind_when_nothing_loads(
    url: str, dialect: str, content: str, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    (workdir / "teams.csv").write_text(content, encoding="utf-8")
    code, out, err = load(capsys, "teams.csv", f"{M}:Team", url)
    if content == "id,name\n":
        assert (code, err) == (0, "")
        assert (
            out.strip()
            == "Nothing loaded from teams.csv (0 rows in the file); table teams was not created."
        )
    else:
        assert (code == 1 and "Nothing was loaded" in err) or "nothing was written" in err
    assert "teams" not in table_names(capsys, url, dialect)


def test_a_table_that_existed_is_kept(
    url: str, dialect: str, sample: Path, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    assert load(capsys, sample / "teams.csv", f"{M}:Team", url)[0] == 0
    one_line_error(load(capsys, sample / "teams.csv", f"{M}:Team", url), 1, "already exists")
    assert "teams" in table_names(capsys, url, dialect)
    assert (
        toolkit(capsys, "query", "SELECT count(*) AS n FROM teams", "--url", url)[1].split()[1]
        == "3"
    )


# -- errors ---------------------------------------------------------------------------------

PG_DOWN = "postgresql://x@127.0.0.1:1/t"
REACH = "Cannot reach the database"


def case(name: str, args: list[str], code: int, text: str) -> pytest.ParameterSet:
    return pytest.param(args, code, text, id=name)


ERRORS = [
    case("no-command", [], 2, "required: COMMAND"),
    case("unknown-option", ["demo", "--bogus"], 2, "unrecognized arguments: --bogus"),
    case("load-without-model", ["load", "x.csv"], 2, "--model"),
    case(
        "on-conflict-choice",
        ["load", "x.csv", "--model", f"{M}:Team", "--on-conflict", "x"],
        2,
        "invalid choice",
    ),
    case("query-no-sql", ["query"], 2, "no SQL given"),
    case("query-sql-and-file", ["query", "SELECT 1", "-f", "x.sql"], 2, "not both"),
    case("query-file-missing", ["query", "-f", "nosuch.sql"], 1, "SQL file 'nosuch.sql' not found"),
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
    case("parent-missing", ["load", "posts.csv", "--model", f"{M}:Post"], 1, "load users first"),
    case("sql-syntax", ["query", "SELEC 1"], 1, 'The SQL failed: near "SELEC": syntax error'),
    case("sql-table", ["query", "SELECT * FROM nosuch"], 1, "no such table: nosuch"),
    case("out-suffix", ["query", "SELECT 1", "--out", "x.txt"], 2, "a .csv or .parquet file"),
    case("out-no-rows", ["query", "CREATE TABLE t (x int)", "--out", "x.csv"], 1, "no rows"),
    case("out-folder-missing", ["query", "SELECT 1", "--out", "no/dir/x.csv"], 1, "Cannot write"),
]


@pytest.mark.parametrize(("args", "code", "text"), ERRORS)
def test_errors_are_one_line(
    args: list[str], code: int, text: str, workdir: Path, sample: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name in ("teams.csv", "users.csv", "posts.csv"):
        (workdir / name).write_bytes((sample / name).read_bytes())
    if args and "--url" not in args:
        args = [*args, "--url", "e.db"]
    one_line_error(toolkit(capsys, *args), code, text)


@pytest.mark.postgres_only
def test_sql_error_on_postgresql(pg_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = toolkit(capsys, "query", "SELECT * FROM no_such_table_xyz", "--url", pg_database)
    one_line_error(result, 1, 'The SQL failed: relation "no_such_table_xyz" does not exist')


# -- demo -----------------------------------------------------------------------------------


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


def test_demo(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = toolkit(capsys, "demo", "--url", url)
    assert code == 0, err
    assert LOADED in out
    assert strategy_table(out) == EXPECTED
    assert "(the N+1 pattern)" in out
    code, out, _ = toolkit(capsys, "demo", "--url", url)
    assert "Sample already loaded; reusing it." in out
    # The id sequences were moved past the loaded ids: a new row does not collide.
    code, out, err = toolkit(
        capsys, "query", "INSERT INTO teams (name) VALUES ('New') RETURNING id", "--url", url
    )
    assert code == 0, err
    assert out.split()[:2] == ["id", "25"]


def test_demo_refuses_a_database_with_other_rows(
    url: str, sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load(capsys, sample / "teams.csv", f"{M}:Team", url)[0] == 0
    one_line_error(toolkit(capsys, "demo", "--url", url), 1, "already holds 3 rows")


# -- the installed command, as a subprocess ---------------------------------------------------


def command(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TOOLKIT_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args],
        cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_smoke_demo_on_the_default_sqlite_file(workdir: Path) -> None:
    result = command("demo", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "toolkit.db").exists()
    assert "Database: sqlite+aiosqlite:///toolkit.db" in result.stdout
    assert strategy_table(result.stdout) == EXPECTED
    assert result.stderr == ""


def test_smoke_query_from_stdin_and_a_usage_error(workdir: Path) -> None:
    result = command("query", "-", "--url", "s.db", cwd=workdir, stdin="SELECT NULL AS x;")
    assert (result.returncode, result.stdout.split()) == (0, ["x", "NULL", "(1", "row)"])
    result = command("query", "", cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("toolkit query: error: the SQL is empty")


def test_smoke_query_typed_by_a_model_keeps_the_time_zone_on_sqlite(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    """A new process does not know the table's model; --model gives its column types
    (SQLite's schema says DATETIME whether or not the column holds a time zone)."""
    (workdir / "all.csv").write_text("id,ts\n1,2024-05-01T12:00:00+02:00\n", encoding="utf-8")
    assert load(capsys, "all.csv", "tests.frame_models:AllTypes", "m.db")[0] == 0
    (workdir / "tests").symlink_to(Path(__file__).parent)
    sql = "SELECT id, ts FROM test_all_types"
    typed = command("query", sql, "--url", "m.db", "--model", "tests.frame_models:AllTypes",
                    "--out", "typed.csv", cwd=workdir)  # fmt: skip
    assert typed.returncode == 0, typed.stderr
    assert (workdir / "typed.csv").read_text().splitlines()[1] == "1,2024-05-01 10:00:00+00:00"
