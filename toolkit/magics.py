"""``%%sql`` and ``%sql``: a cell (or a line) of SQL -> a DataFrame with the toolkit's dtypes.

::

    %%sql [DB] [-o NAME]
    SELECT * FROM users WHERE credits > :minimum

* ``DB`` names a :class:`~toolkit.Database` in the notebook's namespace. Without it the
  database :func:`toolkit.connect` returned last is used, else one connected to
  ``$TOOLKIT_DATABASE_URL`` (kept for the next cells).
* ``:name`` placeholders take the value of the notebook variable ``name``, always sent
  as a bound parameter, never pasted into the SQL.
* Several statements separated by ``;`` run in one transaction (all or nothing); the
  result of the last one is shown. A cell that only reads runs no write transaction.
* The result is read by :func:`toolkit.read_frame`, so its dtypes follow the column
  types; ``-o NAME`` also assigns it to ``NAME``. The cell's SQL statement count is
  shown above it.
* Errors are the toolkit's (``QueryError``, ``MissingTableError``, ...), shown short.

``%sql [DB] [-o NAME] SELECT ...`` does the same for one line and returns the frame, so
``df = %sql SELECT ...`` works.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import text

from .database import Database, connect
from .errors import QueryError, ToolkitError
from .frames import read_frame
from .queries import QueryLog, count_queries
from .sqltext import code_text, split_statements
from .translation import connection_errors

__all__ = ["SqlMagic", "split_statements"]

T = TypeVar("T")

_IDENTIFIER = re.compile(r"[A-Za-z_]\w*\Z")
_WORD = re.compile(r"\S+")
_READS = ("select", "with", "values", "show", "explain", "pragma", "table")
_RETURNING = re.compile(r"\breturning\b", re.IGNORECASE)


def _first_word(statement: str) -> str:
    words = code_text(statement).split()
    return words[0].lower() if words else ""


def _parameter_names(statement: str) -> list[str]:
    return list(text(statement).compile().params)


@dataclass
class _Arguments:
    db_name: str | None
    out: str | None
    rest: str


class SqlMagic:
    """The ``%sql`` / ``%%sql`` magic of one IPython shell."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self._from_environment: Database | None = None

    # -- arguments ------------------------------------------------------------------------

    def _parse(self, line: str, *, cell: bool) -> _Arguments:
        from IPython.core.error import UsageError

        words = list(_WORD.finditer(line))
        db_name: str | None = None
        out: str | None = None
        k = 0
        while k < len(words):
            word = words[k].group(0)
            if word in ("-o", "--out"):
                name = words[k + 1].group(0) if k + 1 < len(words) else ""
                if not _IDENTIFIER.match(name):
                    raise UsageError(f"{word} needs a variable name: %%sql [DB] -o NAME")
                out = name
                k += 2
            elif db_name is None and _IDENTIFIER.match(word) and self._is_database(word):
                db_name = word
                k += 1
            elif cell:
                raise UsageError(
                    f"%%sql does not understand {word!r}. Usage: %%sql [DB] [-o NAME], "
                    "where DB names a toolkit Database in the notebook."
                )
            else:
                break
        rest = line[words[k].start() :] if k < len(words) else ""
        return _Arguments(db_name, out, rest)

    def _is_database(self, name: str) -> bool:
        return isinstance(self.shell.user_ns.get(name), Database)

    def _database(self, name: str | None) -> Database:
        from IPython.core.error import UsageError

        from .database import last_connected

        if name is not None:
            db: Database = self.shell.user_ns[name]
            return db
        last = last_connected()
        if last is not None:
            return last
        if os.environ.get("TOOLKIT_DATABASE_URL"):
            if self._from_environment is None:
                self._from_environment = connect()
            return self._from_environment
        raise UsageError(
            "%%sql has no database: connect one first (db = tk.connect(...)), name it "
            "(%%sql db), or set TOOLKIT_DATABASE_URL."
        )

    def _parameters(self, statements: list[str]) -> dict[str, Any]:
        from IPython.core.error import UsageError

        names = dict.fromkeys(name for s in statements for name in _parameter_names(s))
        missing = [name for name in names if name not in self.shell.user_ns]
        if missing:
            shown = ", ".join(f":{name}" for name in missing)
            raise UsageError(
                f"The SQL uses {shown}, but the notebook has no variable of that name. "
                "Define it first; its value is sent as a bound parameter."
            )
        return {name: self.shell.user_ns[name] for name in names}

    # -- the magics -----------------------------------------------------------------------

    def line(self, line: str) -> pd.DataFrame | None:
        """%sql [DB] [-o NAME] SQL: run one line of SQL and return the last result."""
        args = self._parse(line, cell=False)
        return self._run(args, args.rest)

    def cell(self, line: str, cell: str | None = None) -> pd.DataFrame | None:
        """%%sql [DB] [-o NAME]: run the cell's SQL and return the last result."""
        if cell is None:
            return self.line(line)
        return self._run(self._parse(line, cell=True), cell)

    def _run(self, args: _Arguments, sql: str) -> pd.DataFrame | None:
        from IPython.core.error import UsageError
        from IPython.display import display

        statements = split_statements(sql)
        if not statements:
            raise UsageError("%%sql found no SQL to run (the cell is empty or only comments).")
        db = self._database(args.db_name)
        params = self._parameters(statements)
        frame, log = _in_shell_loop(_execute(db, statements, params))
        show: Any = display  # IPython's display() is not annotated
        show(
            {
                "text/plain": log.summary(prefix="toolkit: "),
                "text/html": log.summary_html(prefix="toolkit: "),
            },
            raw=True,
        )
        if frame is None:
            return None
        if args.out is not None:
            self.shell.user_ns[args.out] = frame
        return frame if len(frame.columns) else None


async def _execute(
    db: Database, statements: list[str], params: dict[str, Any]
) -> tuple[pd.DataFrame | None, QueryLog]:
    """Run the statements in one transaction; the last one's rows as a frame (or None)."""
    from .database import READ_ONLY_OPTION

    async with count_queries(db) as log:
        *before, last = statements
        last_params = _only(last, params)
        if not before and _returns_rows(last):
            return await read_frame(db, text(last), params=last_params), log
        async with db.engine.connect() as conn:
            if all(_first_word(s) in _READS and _returns_rows(s) for s in statements):
                # Reads only: no write lock on SQLite.
                await conn.execution_options(**{READ_ONLY_OPTION: True})
            async with conn.begin():
                for number, statement in enumerate(before, start=1):
                    await _statement(conn, statement, _only(statement, params), number)
                if _returns_rows(last):
                    frame = await read_frame(conn, text(last), params=last_params)
                    return frame, log
                await _statement(conn, last, last_params, len(statements))
        return None, log


def _returns_rows(statement: str) -> bool:
    """Whether the statement gives rows back: a query, or a write with RETURNING."""
    code = code_text(statement, blank_quoted=True)
    return _first_word(statement) in _READS or bool(_RETURNING.search(code))


async def _statement(conn: Any, statement: str, params: dict[str, Any], number: int) -> None:
    try:
        with connection_errors():
            await conn.execute(text(statement), params)
    except ToolkitError:
        raise
    except Exception as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise QueryError(
            f"The database refused statement {number} of the cell ({first}); the cell's "
            "transaction was rolled back, so none of its statements took effect. Correct "
            f"that statement and run the cell again:\n    {statement[:200]}"
        ) from exc


def _only(statement: str, params: dict[str, Any]) -> dict[str, Any]:
    names = _parameter_names(statement)
    return {name: params[name] for name in names}


def _in_shell_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the loop the notebook's own ``await`` uses, so pooled
    connections opened by earlier cells stay usable."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        from IPython.core.async_helpers import get_asyncio_loop

        loop: asyncio.AbstractEventLoop = get_asyncio_loop()  # type: ignore[no-untyped-call]
        return loop.run_until_complete(coro)
    from .running import run

    return run(coro)
