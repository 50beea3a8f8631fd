"""The ``toolkit`` command: ``demo``, ``load`` and ``query``.

``--url`` (default: ``$TOOLKIT_DATABASE_URL``, else the SQLite file ``./toolkit.db``) goes
before or after the command. A mistake prints one line on stderr, without a traceback,
and sets the exit status:

* 2: the command line itself is wrong (unknown option, no SQL or empty SQL, ``--model``
  not in ``module:Class`` form, an ``--out`` suffix other than .csv / .parquet, a URL
  the toolkit cannot use);
* 1: the work failed (missing CSV or SQL file, a model that cannot be imported or is not
  a table, rejected rows, an SQL error, a database that does not answer);
* 130: interrupted with Ctrl-C.

The commands live in :mod:`toolkit.cli.demo`, :mod:`toolkit.cli.load` and
:mod:`toolkit.cli.query`; what they share in :mod:`toolkit.cli.common`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn

from sqlalchemy import exc as sa_exc

from ..database import Database, connect
from ..errors import ConfigurationError, ToolkitError
from .common import FAILURE, INTERRUPTED, USAGE, CommandError, check_model_spec, reason
from .demo import run_demo
from .load import ON_CONFLICT, run_load
from .query import check_out, run_query

__all__ = ["build_parser", "main"]

#: Rows ``toolkit query`` prints unless ``--limit`` says otherwise.
DEFAULT_LIMIT = 100


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("toolkit")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from .. import __version__

        return __version__


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a row count (0 or more)")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The ``toolkit`` argument parser, with one sub-parser per command.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> build_parser().parse_args(["--url", "x.db", "query", "SELECT 1"]).url
    'x.db'
    """
    url_help = (
        "database URL or SQLite file path (default: $TOOLKIT_DATABASE_URL, else ./toolkit.db)"
    )
    parser = _Parser(
        prog="toolkit",
        description="An async data toolkit: sample data, bulk loading and SQL to DataFrames.",
        epilog="Exit status: 0 success, 1 the work failed, 2 bad command line.",
    )
    parser.add_argument("--version", action="version", version=f"toolkit {_version()}")
    parser.add_argument("--url", help=url_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, *, help: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description)
        # Also after the command; SUPPRESS keeps a --url given before it.
        sub.add_argument("--url", default=argparse.SUPPRESS, help=url_help)
        return sub

    command(
        "demo",
        help="load the sample data and compare loading strategies (N+1 vs eager)",
        description="Create the demo tables, load the sample CSVs (once; a second run "
        "reuses them) and print how many queries and how long each loading strategy "
        "takes for all teams with their members' posts.",
    )

    load = command(
        "load",
        help="bulk-load a CSV file into a model's table",
        description="Insert every row of a CSV file into the table of a SQLModel table "
        "model (created if missing), validated, all or nothing: when nothing is written, "
        "a table this command created is dropped again. An empty cell in a nullable "
        "column is NULL.",
    )
    load.add_argument("csv", metavar="CSV", help="CSV file with a header row of field names")
    load.add_argument(
        "--model",
        required=True,
        metavar="MODULE:CLASS",
        help="the SQLModel table class, e.g. toolkit.demo.models:User",
    )
    load.add_argument(
        "--on-conflict",
        choices=ON_CONFLICT,
        default="error",
        help="rows whose key exists: fail and load nothing (default), skip them, or update them",
    )
    load.add_argument(
        "--errors",
        metavar="FILE",
        help="when values are rejected, write every problem (row, line, column, value, "
        "message) to this CSV file",
    )

    query = command(
        "query",
        help="run SQL and print the result or write it to a file",
        description="Run SQL (one or more statements separated by ';') in one "
        "transaction, committed on success, and print each result: at most --limit "
        f"rows, NULL printed as {'NULL'}. With --out, the last result's rows go to a "
        "file, typed as toolkit.read_frame types them.",
    )
    query.add_argument(
        "sql",
        metavar="SQL",
        nargs="?",
        help="the SQL, e.g. 'SELECT * FROM users'; - reads standard input",
    )
    query.add_argument("-f", "--file", metavar="FILE", help="read the SQL from FILE (- for stdin)")
    query.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"print at most N rows of each result (default {DEFAULT_LIMIT}; 0: all)",
    )
    query.add_argument(
        "--out", metavar="FILE", help="write the rows to FILE.csv or FILE.parquet instead"
    )
    query.add_argument(
        "--model",
        action="append",
        metavar="MODULE:CLASS",
        help="a table model whose column types type the result (e.g. keep time zones "
        "on SQLite); may be repeated",
    )
    return parser


_COMMANDS: dict[str, Callable[[Database, argparse.Namespace], Awaitable[int]]] = {
    "demo": run_demo,
    "load": run_load,
    "query": run_query,
}


async def _run(db: Database, args: argparse.Namespace) -> int:
    try:
        return await _COMMANDS[args.command](db, args)
    finally:
        await db.dispose()


def _check_arguments(args: argparse.Namespace) -> None:
    if args.command == "load":
        check_model_spec(args.model)
    if args.command == "query":
        for spec in args.model or ():
            check_model_spec(spec)
        check_out(args.out)


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
    >>> main(["query", "SELECT 1 AS one, NULL AS missing", "--url", ":memory:"])
     one missing
       1    NULL
    (1 row)
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error already printed
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
        _fail(prog, f"the database refused the operation: {reason(exc)}.")
        return FAILURE
    except KeyboardInterrupt:
        _fail(prog, "interrupted")
        return INTERRUPTED


def _fail(prog: str, message: str) -> None:
    text = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"{prog}: error: {text}", file=sys.stderr)
