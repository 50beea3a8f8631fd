"""The SQL of ``toolkit query``: where it comes from, and its statements one by one."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .common import USAGE, CommandError

__all__ = ["read_sql", "split_statements"]

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


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


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, split at semicolons outside quotes and comments.

    Quoted strings ('...'), quoted names ("..."), PostgreSQL dollar quotes ($tag$...$tag$),
    line comments (--) and block comments (/* */) are kept whole. Statements that hold
    only comments and white space are dropped.
    """
    statements: list[str] = []
    start = i = 0
    meaningful = False
    n = len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == char:
                    if end + 1 < n and sql[end + 1] == char:  # a doubled quote
                        end += 2
                        continue
                    break
                end += 1
            i, meaningful = end + 1, True
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close < 0 else close + 2
        elif char == "$" and (match := _DOLLAR.match(sql, i)):
            close = sql.find(match.group(0), match.end())
            i, meaningful = (n if close < 0 else close + len(match.group(0))), True
        elif char == ";":
            if meaningful:
                statements.append(sql[start:i].strip())
            start, i, meaningful = i + 1, i + 1, False
        else:
            meaningful = meaningful or not char.isspace()
            i += 1
    if meaningful:
        statements.append(sql[start:].strip())
    return statements
