"""``toolkit query``: run SQL, print the rows (NULL shown as ``NULL``) or write them.

The rows are typed as :func:`toolkit.read_frame` types them, so ``--out`` writes the same
column types from SQLite and PostgreSQL. SQLite reports no types for a raw query, so a
result column named like a column of a table the query reads (after FROM or JOIN) takes
that column's type: from the model when one is imported (``--model``, or the table was
loaded by this process), else from the table's definition in the database.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc

from ..database import Database
from ..errors import QueryError, ToolkitError
from ..sqltext import split_statements
from .common import USAGE, CommandError, import_model, reach, reason, show_url
from .sqltext import read_sql

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Connection, Table
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["NULL", "OUT_SUFFIXES", "check_out", "format_rows", "run_query"]

#: How a missing value is printed, whatever the column's type (psql's ``\pset null``).
NULL = "NULL"
OUT_SUFFIXES = (".csv", ".parquet")

_ROW_STATEMENTS = ("select", "with", "values", "table", "show", "explain", "pragma")
_RETURNING = re.compile(r"\breturning\b", re.IGNORECASE)
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_TABLE_REF = re.compile(rf"\b(?:from|join)\s+({_NAME}(?:\s*\.\s*{_NAME})?)", re.IGNORECASE)


def check_out(out: str | None) -> None:
    """Refuse an ``--out`` file that is neither .csv nor .parquet (a usage error)."""
    if out is None:
        return
    suffix = Path(out).suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise CommandError(
            f"--out {out!r}: cannot write {suffix or 'a file without suffix'}; "
            "name a .csv or .parquet file.",
            USAGE,
        )


def _returns_rows(statement: str) -> bool:
    head = statement.lstrip().lower()
    # A leading comment hides the verb; strip them first.
    while head.startswith(("--", "/*")):
        end = head.find("\n") + 1 if head.startswith("--") else head.find("*/") + 2
        head = head[end:].lstrip() if end > 0 else ""
    return head.startswith(_ROW_STATEMENTS) or bool(_RETURNING.search(statement))


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


async def _reflect(conn: AsyncConnection, name: str, schema: str | None) -> Table | None:
    """The table as the database defines it; None for a name that is not a table."""
    from sqlalchemy import MetaData, Table

    def load(sync: Connection) -> Table:
        return Table(name, MetaData(), schema=schema, autoload_with=sync)

    try:
        return await conn.run_sync(load)
    except sa_exc.SQLAlchemyError:  # a CTE, a function, a view it cannot read
        return None


async def _column_types(conn: AsyncConnection, statement: str) -> dict[str, Any]:
    """SQL types of the columns of the tables ``statement`` reads, by column name.

    A name found in two tables with different types is left out (the result decides).
    """
    from sqlmodel import SQLModel

    found: dict[str, list[Any]] = {}
    for ref in dict.fromkeys(_TABLE_REF.findall(statement)):
        parts = [_unquote(part) for part in re.split(rf"\s*\.\s*(?={_NAME})", ref)]
        schema, name = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
        table = next((t for t in SQLModel.metadata.tables.values() if t.name == name), None)
        if table is None:
            table = await _reflect(conn, name, schema)
        if table is None:
            continue
        for column in table.columns:
            found.setdefault(column.name, []).append(column.type)
    return {
        name: types[0]
        for name, types in found.items()
        if all(type(t) is type(types[0]) for t in types)
    }


async def _execute(conn: AsyncConnection, statement: str) -> pd.DataFrame | int:
    """One statement: a typed DataFrame of its rows, or the number of rows it changed."""
    from sqlalchemy import text

    from ..frames import read_frame

    if _returns_rows(statement):
        hints = await _column_types(conn, statement)
        # A ":" in the SQL is literal, not a parameter.
        return await read_frame(conn, text(statement.replace(":", "\\:")), dtypes=hints)
    result = await conn.exec_driver_sql(statement)
    if not result.returns_rows:
        return int(result.rowcount)
    import pandas as pd

    return pd.DataFrame([tuple(row) for row in result.fetchall()], columns=list(result.keys()))


async def _run_all(db: Database, statements: list[str]) -> list[pd.DataFrame | int]:
    """Every statement in one transaction: all committed, or none when one fails."""
    outcomes: list[pd.DataFrame | int] = []
    async with db.engine.begin() as conn:
        for number, statement in enumerate(statements, 1):
            try:
                outcomes.append(await _execute(conn, statement))
            except (sa_exc.DBAPIError, QueryError) as exc:
                where = f" (statement {number} of {len(statements)})" if len(statements) > 1 else ""
                undone = "; nothing was changed" if len(statements) > 1 else ""
                raise CommandError(
                    f"The SQL failed{where}: {reason(exc)}{undone}. Check the statement "
                    f"against the tables and columns of {show_url(db)}."
                ) from exc
    return outcomes


def format_rows(frame: pd.DataFrame, *, limit: int | None) -> str:
    """The rows as an aligned table, missing values as ``NULL``, at most ``limit`` rows.

    Ends with ``(N rows)``, after ``… M more rows`` when rows were left out.
    """
    total = len(frame)
    shown = frame if limit is None or total <= limit else frame.head(limit)
    if frame.columns.empty:
        lines = []
    elif shown.empty:
        lines = ["  ".join(str(c) for c in frame.columns)]
    else:
        text = shown.astype(object).where(shown.notna(), NULL)
        lines = [text.to_string(index=False)]
    if len(shown) < total:
        more = total - len(shown)
        lines.append(f"… {more:,} more row{'s' if more != 1 else ''} (--limit 0 shows all)")
    lines.append(f"({total:,} row{'s' if total != 1 else ''})")
    return "\n".join(lines)


def _write_frame(frame: pd.DataFrame, out: Path) -> None:
    try:
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(out, index=False)
        else:
            frame.to_csv(out, index=False)
    except ImportError as exc:
        raise CommandError(
            f"Writing {out} needs a parquet engine: {reason(exc)}. Install one with "
            "`pip install pyarrow`, or write .csv instead."
        ) from exc
    except OSError as exc:
        raise CommandError(f"Cannot write {out}: {reason(exc)}.") from exc


async def run_query(db: Database, args: argparse.Namespace) -> int:
    """Run the statements, print each result (or write the last one to ``--out``)."""
    statements = split_statements(read_sql(args.sql, args.file))
    if not statements:
        raise CommandError(
            "the SQL is empty (only white space or comments); give a statement to run.",
            USAGE,
        )
    for spec in args.model or ():
        import_model(spec)  # its column types then type the result
    await reach(db)
    try:
        outcomes = await _run_all(db, statements)
    except ToolkitError as exc:
        raise CommandError(f"The SQL failed: {str(exc).splitlines()[0]}") from exc
    last = outcomes[-1]
    if args.out is not None:
        if isinstance(last, int):
            raise CommandError(
                f"The last statement returned no rows, so nothing was written to {args.out}; "
                "--out needs a SELECT (or a statement with RETURNING)."
            )
        _write_frame(last, Path(args.out))
        print(f"Wrote {len(last):,} row{'s' if len(last) != 1 else ''} to {args.out}.")
        return 0
    limit = args.limit or None
    for number, outcome in enumerate(outcomes):
        if number:
            print()
        if isinstance(outcome, int):
            affected = (
                "" if outcome < 0 else f"; {outcome:,} row{'s' if outcome != 1 else ''} affected"
            )
            print(f"Done{affected}.")
        else:
            print(format_rows(outcome, limit=limit))
    return 0
