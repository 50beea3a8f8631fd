"""Where the SQL of ``toolkit query`` comes from (its statements: :mod:`toolkit.sqltext`)."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import USAGE, CommandError

__all__ = ["read_sql"]


def read_sql(sql: str | None, file: str | None) -> str:
    """The SQL text from the argument, ``-f FILE`` or standard input (``-``)."""
    if sql is not None and file is not None:
        raise CommandError("give the SQL either as an argument or with -f FILE, not both.", USAGE)
    if sql is None and file is None:
        raise CommandError(
            "no SQL given: pass a statement, -f FILE, or - to read standard input.", USAGE
        )
    if file is not None and file != "-":
        try:
            return Path(file).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise CommandError(f"SQL file {file!r} not found; check the path.") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read SQL file {file!r}: {exc}.") from exc
    if file == "-" or sql == "-":
        return sys.stdin.read()
    assert sql is not None
    return sql
