"""SQL strings as users type them: statements, one statement, parameters in any DBAPI style.

The frame functions wrap a SQL string in other SQL (PostgreSQL's ``COPY (...) TO``), so
it must be exactly one statement with nothing after it: :func:`one_statement` drops a
trailing ``;`` and comments. pandas users pass parameters positionally (``?``, ``$1``,
``%s``) or in pyformat (``%(name)s``); :func:`named_parameters` rewrites them to the
``:name`` form SQLAlchemy binds. Both read the SQL with its string literals, quoted
identifiers, dollar-quoted bodies and comments left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from .errors import ConfigurationError

__all__ = ["code_text", "named_parameters", "one_statement", "segments", "split_statements"]

Kind = Literal["code", "quoted", "comment"]

#: Where a quote, comment or dollar quote may begin.
_SPECIAL = re.compile(r"['\"`]|--|/\*|\$(?=[A-Za-z_$])")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
#: Placeholders in code: %(name)s, %s, %%, $1, ? and :name (left as they are).
_PLACEHOLDER = re.compile(r"%\((?P<pyname>[^)]+)\)s|%s|%%|\$(?P<num>[0-9]+)|\?|(?<![:\w]):(?=\w)")


def segments(sql: str) -> Iterator[tuple[Kind, str]]:
    """Split ``sql`` into code, quoted text (strings, identifiers) and comments.

    An unterminated quote or comment runs to the end (the database reports it).
    """
    i, n, start = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        end = -1
        kind: Kind = "quoted"
        if ch in "'\"`":
            # E'...' strings take backslash escapes; elsewhere a quote is doubled.
            backslash = ch == "'" and i > 0 and sql[i - 1] in "eE" and not _word(sql, i - 2)
            end = _quote_end(sql, i, ch, backslash)
        elif sql.startswith("--", i):
            kind = "comment"
            newline = sql.find("\n", i)
            end = n if newline < 0 else newline
        elif sql.startswith("/*", i):
            kind = "comment"
            end = _block_comment_end(sql, i)
        elif ch == "$" and not _word(sql, i - 1):
            tag = _DOLLAR_TAG.match(sql, i)
            if tag is not None:
                close = sql.find(tag.group(0), tag.end())
                end = n if close < 0 else close + len(tag.group(0))
        if end < 0:
            found = _SPECIAL.search(sql, i + 1)
            i = found.start() if found is not None else n
            continue
        if start < i:
            yield "code", sql[start:i]
        yield kind, sql[i:end]
        i = start = end
    if start < n:
        yield "code", sql[start:]


def _word(sql: str, i: int) -> bool:
    return i >= 0 and (sql[i].isalnum() or sql[i] == "_")


def _quote_end(sql: str, i: int, quote: str, backslash: bool) -> int:
    j = i + 1
    while j < len(sql):
        if backslash and sql[j] == "\\":
            j += 2
            continue
        if sql[j] == quote:
            if sql.startswith(quote * 2, j):
                j += 2
                continue
            return j + 1
        j += 1
    return len(sql)


def _block_comment_end(sql: str, i: int) -> int:
    depth, j = 0, i
    while j < len(sql):
        if sql.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif sql.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return len(sql)


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, split at the ``;`` outside quotes and comments.

    Statements are stripped; those holding only comments and white space are dropped
    (a trailing ``;`` adds none).

    Examples
    --------
    >>> split_statements("INSERT INTO t VALUES ('a;b'); SELECT * FROM t;")
    ["INSERT INTO t VALUES ('a;b')", 'SELECT * FROM t']
    """
    statements: list[str] = []
    current: list[str] = []
    meaningful = False
    for kind, text in segments(sql):
        if kind != "code":
            current.append(text)
            meaningful = meaningful or kind == "quoted"
            continue
        for k, piece in enumerate(text.split(";")):
            if k:
                if meaningful:
                    statements.append("".join(current).strip())
                current, meaningful = [], False
            current.append(piece)
            meaningful = meaningful or bool(piece.strip())
    if meaningful:
        statements.append("".join(current).strip())
    return statements


def code_text(sql: str, *, blank_quoted: bool = False) -> str:
    """``sql`` with each comment replaced by a space (and, with ``blank_quoted``, each
    quoted string or name by ``x``), for looking at its keywords."""
    pieces = []
    for kind, text in segments(sql):
        if kind == "comment":
            pieces.append(" ")
        elif kind == "quoted" and blank_quoted:
            pieces.append("x")
        else:
            pieces.append(text)
    return "".join(pieces)


def one_statement(sql: str) -> str:
    """``sql`` without a trailing ``;`` and the whitespace and comments around it.

    Raises
    ------
    ConfigurationError
        ``sql`` holds more than one statement.
    """
    parts = list(segments(sql))
    last = -1  # index of the last segment with something significant in it
    for index, (kind, text) in enumerate(parts):
        if kind == "comment":
            continue
        if kind == "quoted" or text.replace(";", "").strip():
            last = index
    if last < 0:
        return sql
    kept = parts[: last + 1]
    kind, text = kept[-1]
    if kind == "code":
        kept[-1] = (kind, re.sub(r"[\s;]+$", "", text))
    for kind, text in kept:
        if kind == "code" and ";" in text:
            raise ConfigurationError(
                "The SQL holds more than one statement; a frame reads the result of one "
                "query. Run the others separately (e.g. with session.execute(text(...)))."
            )
    return "".join(text for _, text in kept)


def named_parameters(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[str, Any]:
    """Rewrite DBAPI-style placeholders to SQLAlchemy's ``:name`` form.

    ``params`` given as a sequence fills ``?`` and ``%s`` in order, or ``$1``, ``$2``...
    by number. As a mapping it fills ``%(name)s`` (and ``:name``, which is kept).
    Placeholders inside string literals and comments are left alone; so is ``%%``
    (a literal ``%``). Returns the SQL and the parameters as a mapping.

    Raises
    ------
    ConfigurationError
        The SQL mixes placeholder styles, or the number of values does not match.
    """
    positional = not isinstance(params, Mapping)
    values: Sequence[Any] = list(params) if positional else []
    styles: set[str] = set()
    out: list[str] = []
    count = 0
    numbers: set[int] = set()
    # In the format and pyformat styles "%%" is a literal "%".
    percent_escapes = "%s" in sql or "%(" in sql

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        token = match.group(0)
        if token == "%%":
            return "%" if percent_escapes else token
        if token == ":":
            styles.add("named")
            return token
        if match.group("pyname") is not None:
            styles.add("pyformat")
            followed = match.string.startswith(":", match.end())
            return f"(:{match.group('pyname')})" if followed else f":{match.group('pyname')}"
        if not positional:
            return token
        if match.group("num") is not None:
            styles.add("numeric")
            number = int(match.group("num"))
            numbers.add(number)
        else:
            styles.add("qmark" if token == "?" else "format")
            count += 1
            number = count
        # text() does not see ":name" right before "::type" as a parameter.
        followed = match.string.startswith(":", match.end())
        return f"(:_p{number})" if followed else f":_p{number}"

    for kind, text in segments(sql):
        if kind != "code":
            # text() would take a :word inside a literal for a parameter.
            out.append(re.sub(r"(?<![:\w\\]):(?=\w)", r"\\:", text) if positional else text)
            continue
        out.append(_PLACEHOLDER.sub(replace, text))
    if not positional:
        return "".join(out), dict(params)
    if len(styles - {"named"}) > 1 or (styles & {"named"} and values):
        raise ConfigurationError(
            f"The SQL mixes parameter styles ({', '.join(sorted(styles))}); use one: "
            "'?' or '%s' filled in order, '$1'... by number, or ':name' with a dict."
        )
    wanted = max(numbers, default=0) if "numeric" in styles else count
    if wanted != len(values) or ("numeric" in styles and numbers != set(range(1, wanted + 1))):
        raise ConfigurationError(
            f"The SQL has {wanted} positional parameter(s) but params holds {len(values)} "
            "value(s); give one value per placeholder, in order."
        )
    return "".join(out), {f"_p{i}": value for i, value in enumerate(values, start=1)}
