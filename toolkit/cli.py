"""The ``toolkit`` command: ``demo``, ``load`` and ``query``.

Every command takes ``--url`` (default: ``$TOOLKIT_DATABASE_URL``, else the SQLite file
``./toolkit.db``). A mistake prints one line on stderr, without a traceback, and sets
the exit status:

* 2: the command line itself is wrong (unknown option, ``--model`` not in
  ``module:Class`` form, an ``--out`` suffix other than .csv / .parquet, a URL the
  toolkit cannot use);
* 1: the work failed (missing CSV file, a model that cannot be imported or is not a
  table, rejected rows, an SQL error, a database that does not answer);
* 130: interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import exc as sa_exc
from sqlmodel import SQLModel

from .database import Database, connect
from .errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    FrameValidationError,
    QueryError,
    ToolkitError,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["main"]

USAGE = 2
FAILURE = 1
INTERRUPTED = 130
#: Rows per batch in ``toolkit load``: the progress bar moves once per batch.
BATCH_ROWS = 10_000
OUT_SUFFIXES = (".csv", ".parquet")


class CommandError(Exception):
    """A user mistake: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# -- helpers ----------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    """One line saying why ``exc`` happened, without a final full stop.

    For a database error that is the driver's own message, not SQLAlchemy's wrapper
    with the statement and a link.
    """
    reason: BaseException = exc
    if isinstance(exc, QueryError) and exc.__cause__ is not None:
        reason = exc.__cause__
    elif isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        # asyncpg's error hides behind SQLAlchemy's adapter class; its text is plainer.
        reason = exc.orig.__cause__ or exc.orig
    lines = [line.strip() for line in str(reason).splitlines() if line.strip()]
    text = lines[0] if lines else type(reason).__name__
    return text.rstrip(".")


def _show_url(db: Database) -> str:
    return db.url.render_as_string(hide_password=True)


def _progress_enabled() -> bool:
    ci = os.environ.get("CI", "").strip().lower()
    return sys.stdout.isatty() and ci in ("", "0", "false", "no")


async def _reach(db: Database) -> None:
    """Open a connection first, so that "cannot connect" is not mistaken for bad SQL."""
    try:
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    except (OSError, sa_exc.DBAPIError) as exc:
        fix = (
            "Check that the SQLite file's folder exists and is writable."
            if db.dialect == "sqlite"
            else "Check that the server is running and that the URL's host, port, "
            "database name and user are right."
        )
        raise DatabaseUnavailableError(
            f"Cannot reach the database at {_show_url(db)}: {_reason(exc)}. {fix}"
        ) from exc


def _import_model(spec: str) -> type[SQLModel]:
    module_name, _, class_name = spec.partition(":")
    # The console script's sys.path starts at its own bin/ folder; models usually live
    # in the project the user runs the command from.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CommandError(
            f"Cannot import module {module_name!r} from --model {spec!r}: {exc}. Give an "
            "importable module (run from the project folder, or install it)."
        ) from exc
    model = getattr(module, class_name, None)
    if model is None:
        raise CommandError(
            f"Module {module_name!r} has no class {class_name!r} (from --model {spec!r}); "
            "check the spelling, it is case-sensitive."
        )
    if not (
        isinstance(model, type) and issubclass(model, SQLModel) and hasattr(model, "__table__")
    ):
        raise CommandError(
            f"{spec} is not a SQLModel table model; give a class declared with "
            "`class Name(SQLModel, table=True)`."
        )
    return model


def _check_model_spec(spec: str) -> None:
    module_name, colon, class_name = spec.partition(":")
    if not (colon and module_name and class_name.isidentifier()):
        raise CommandError(
            f"--model {spec!r} is not in the form module:Class "
            "(e.g. --model toolkit.demo.models:User).",
            USAGE,
        )


def _read_csv(path: Path, model: type[SQLModel]) -> pd.DataFrame:
    """The CSV as a frame of text (empty cells in nullable columns are NULL)."""
    import pandas as pd

    from .demo.sample import read_csv_frame

    if not path.is_file():
        raise CommandError(f"CSV file {str(path)!r} not found; check the path.")
    try:
        return read_csv_frame(path, model)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CommandError(
            f"Cannot read {str(path)!r} as CSV: {_reason(exc)}. It must be a UTF-8 CSV "
            "file with a header row of column names."
        ) from exc


async def _insert_rows(
    db: Database, model: type[SQLModel], frame: pd.DataFrame, *, progress: bool
) -> int:
    """Insert the CSV's rows, validated and all or nothing, with a progress bar."""
    from .frames import insert_frame

    try:
        return await insert_frame(db, model, frame, progress=progress, chunk_size=BATCH_ROWS)
    except FrameValidationError as exc:
        raise _locate(exc) from exc


def _locate(exc: FrameValidationError) -> CommandError:
    """Say which CSV rows failed, by row number and line (the header is line 1)."""
    import pandas as pd

    lines = []
    for record in exc.errors.head(5).to_dict("records"):
        label: Any = record["row"]
        if label is None or pd.isna(label):
            lines.append(f"column {record['column']}: {record['message']}")
        else:
            row = int(label) + 1
            lines.append(
                f"CSV row {row} (line {row + 1}), {record['column']}={record['value']!r}: "
                f"{record['message']}"
            )
    more = len(exc.errors) - len(lines)
    tail = f" (and {more} more)" if more > 0 else ""
    return CommandError("; ".join(lines) + tail + ". Nothing was loaded.")


async def _check_parents(db: Database, model: type[SQLModel]) -> None:
    """Fail early, and clearly, when a table the model's foreign keys point to is missing."""
    from sqlalchemy import inspect as sa_inspect

    table = model.__table__  # type: ignore[attr-defined]
    parents = sorted(
        {fk.target_fullname.rsplit(".", 1)[0] for fk in table.foreign_keys} - {table.fullname}
    )
    if not parents:
        return
    async with db.engine.connect() as conn:
        existing = set(await conn.run_sync(lambda sync: sa_inspect(sync).get_table_names()))
    missing = [name for name in parents if name.rsplit(".", 1)[-1] not in existing]
    if missing:
        raise CommandError(
            f"Table {table.name} refers to {', '.join(missing)}, which does not exist in "
            f"{_show_url(db)}; load {' and '.join(missing)} first (parent tables before "
            "the tables that point to them)."
        )


_ROW_STATEMENTS = ("select", "with", "values", "table", "show", "explain", "pragma")


async def _run_sql(db: Database, sql: str) -> pd.DataFrame | int:
    """Run ``sql``: a typed DataFrame of its rows, or the number of rows it changed."""
    from sqlalchemy import text

    from .frames import read_frame

    if sql.lstrip().lower().startswith(_ROW_STATEMENTS[:5]):
        # Typed as tk.read_frame types it; a ":" in the SQL is literal, not a parameter.
        return await read_frame(db, text(sql.replace(":", "\\:")))
    async with db.engine.begin() as conn:
        result = await conn.exec_driver_sql(sql)
        if not result.returns_rows:
            return int(result.rowcount)
        import pandas as pd

        keys = list(result.keys())
        rows = result.fetchall()
    return pd.DataFrame([tuple(row) for row in rows], columns=keys)


# -- commands ---------------------------------------------------------------------------


async def _demo(db: Database, args: argparse.Namespace) -> int:
    from .demo import compare_loading, load_sample, loading_summary

    await _reach(db)
    print(f"Database: {_show_url(db)}")
    loaded = await load_sample(db)
    if any(loaded.values()):
        counts = ", ".join(f"{table} {count:,}" for table, count in loaded.items() if count)
        print(f"Sample loaded (rows): {counts}.")
    else:
        print("Sample already loaded; reusing it.")
    frame = await compare_loading(db)
    print("\nAll teams with their members' posts, loaded five ways:\n")
    print(frame.round({"seconds": 3}).to_string(index=False))
    print()
    print(loading_summary(frame))
    return 0


async def _load(db: Database, args: argparse.Namespace) -> int:
    path = Path(args.csv)
    model = _import_model(args.model)
    frame = _read_csv(path, model)
    await _reach(db)
    await _check_parents(db, model)
    await db.create_all(model)
    count = await _insert_rows(db, model, frame, progress=_progress_enabled())
    print(f"Loaded {count:,} rows from {path} into {model.__tablename__!s} ({_show_url(db)}).")
    return 0


async def _query(db: Database, args: argparse.Namespace) -> int:
    await _reach(db)
    try:
        outcome = await _run_sql(db, args.sql)
    except (sa_exc.DBAPIError, QueryError) as exc:
        raise CommandError(
            f"The SQL failed: {_reason(exc)}. Check the statement against the tables "
            f"and columns of {_show_url(db)}."
        ) from exc
    if isinstance(outcome, int):
        if args.out is not None:
            raise CommandError(
                f"The statement returned no rows, so nothing was written to {args.out}; "
                "--out needs a SELECT (or a statement with RETURNING)."
            )
        print(f"Done; {outcome} row(s) affected.")
        return 0
    if args.out is None:
        if outcome.empty:
            print("  ".join(str(c) for c in outcome.columns))
        else:
            print(outcome.to_string(index=False))
        print(f"({len(outcome)} row{'s' if len(outcome) != 1 else ''})")
        return 0
    _write_frame(outcome, Path(args.out))
    print(f"Wrote {len(outcome)} row(s) to {args.out}.")
    return 0


def _write_frame(frame: pd.DataFrame, out: Path) -> None:
    try:
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(out, index=False)
        else:
            frame.to_csv(out, index=False)
    except ImportError as exc:
        raise CommandError(
            f"Writing {out} needs a parquet engine: {_reason(exc)}. Install one with "
            "`pip install pyarrow`, or write .csv instead."
        ) from exc
    except OSError as exc:
        raise CommandError(f"Cannot write {out}: {_reason(exc)}.") from exc


# -- parser and main --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``toolkit`` argument parser, with one sub-parser per command.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> build_parser().parse_args(["query", "SELECT 1"]).command
    'query'
    """
    url_help = (
        "database URL or SQLite file path (default: $TOOLKIT_DATABASE_URL, else ./toolkit.db)"
    )
    parser = _Parser(
        prog="toolkit",
        description="An async data toolkit: sample data, bulk loading and SQL to DataFrames.",
        epilog="Exit status: 0 success, 1 the work failed, 2 bad command line.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="load the sample data and compare loading strategies (N+1 vs eager)",
        description="Create the demo tables, load the sample CSVs (once; a second run "
        "reuses them) and print how many queries and how long each loading strategy "
        "takes for all teams with their members' posts.",
    )
    demo.add_argument("--url", help=url_help)

    load = commands.add_parser(
        "load",
        help="bulk-load a CSV file into a model's table",
        description="Insert every row of a CSV file into the table of a SQLModel table "
        "model (created if missing), validated, all or nothing. An empty cell in a "
        "nullable column is NULL.",
    )
    load.add_argument("csv", metavar="CSV", help="CSV file with a header row of field names")
    load.add_argument(
        "--model",
        required=True,
        metavar="MODULE:CLASS",
        help="the SQLModel table class, e.g. toolkit.demo.models:User",
    )
    load.add_argument("--url", help=url_help)

    query = commands.add_parser(
        "query",
        help="run SQL and print the result or write it to a file",
        description="Run one SQL statement in a transaction (committed on success) and "
        "print its rows, or write them with --out.",
    )
    query.add_argument("sql", metavar="SQL", help="the statement, e.g. 'SELECT * FROM users'")
    query.add_argument("--url", help=url_help)
    query.add_argument(
        "--out", metavar="FILE", help="write the rows to FILE.csv or FILE.parquet instead"
    )
    return parser


_COMMANDS = {"demo": _demo, "load": _load, "query": _query}


async def _run(db: Database, args: argparse.Namespace) -> int:
    try:
        return await _COMMANDS[args.command](db, args)
    finally:
        await db.dispose()


def _check_arguments(args: argparse.Namespace) -> None:
    if args.command == "load":
        _check_model_spec(args.model)
    if args.command == "query" and args.out is not None:
        suffix = Path(args.out).suffix.lower()
        if suffix not in OUT_SUFFIXES:
            raise CommandError(
                f"--out {args.out!r}: cannot write {suffix or 'a file without suffix'}; "
                "name a .csv or .parquet file.",
                USAGE,
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``toolkit`` command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 when the work failed, 2 for a bad command line, 130 when
        interrupted. Errors are printed as one line on stderr.

    Examples
    --------
    >>> main(["query", "SELECT 1 AS one", "--url", ":memory:"])
    one
      1
    (1 row)
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed
        return exit_.code if isinstance(exit_.code, int) else USAGE
    prog = f"toolkit {args.command}"
    try:
        _check_arguments(args)
        try:
            db = connect(args.url)
        except ConfigurationError as exc:  # a bad URL, or an unsupported database
            raise CommandError(str(exc), USAGE) from exc
        return asyncio.run(_run(db, args))
    except CommandError as exc:
        _fail(prog, str(exc))
        return exc.code
    except BrokenPipeError:
        # The reader went away (`toolkit query ... | head`): not an error to report.
        # Point stdout at devnull so that flushing it at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILURE
    except (ToolkitError, OSError) as exc:
        # The toolkit's messages already say what to do; the first line is the gist.
        _fail(prog, str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        return FAILURE
    except sa_exc.SQLAlchemyError as exc:
        _fail(prog, f"the database refused the operation: {_reason(exc)}.")
        return FAILURE
    except KeyboardInterrupt:
        _fail(prog, "interrupted")
        return INTERRUPTED


def _fail(prog: str, message: str) -> None:
    text = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"{prog}: error: {text}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
