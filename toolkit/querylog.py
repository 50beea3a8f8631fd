"""The record of what a ``count_queries`` block ran: :class:`QueryLog`.

Statements are normalised to their shape (literals and parameters out, ``IN`` lists
folded), so that repeated shapes show as N+1 groups; the log renders as text and as an
HTML table in a notebook. :mod:`toolkit.queries` fills it.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "N_PLUS_ONE_THRESHOLD",
    "NPlusOneGroup",
    "NPlusOneWarning",
    "QueryLog",
    "StatementRecord",
    "n_plus_one_advice",
    "normalize_sql",
]

#: A statement shape seen this many times is an N+1 group (as Prosopite and django-zeal).
N_PLUS_ONE_THRESHOLD = 2


class NPlusOneWarning(UserWarning):
    """Statements of the same shape repeated in a ``count_queries(..., n_plus_one="warn")``."""


# -- statements and their shapes ---------------------------------------------------------

_TRANSACTION = re.compile(
    r"\s*(BEGIN|START\s+TRANSACTION|SAVEPOINT|RELEASE|ROLLBACK|COMMIT|END|PRAGMA)\b", re.I
)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STRINGS = re.compile(r"'(?:[^']|'')*'")
# $1 (asyncpg), %(name)s / %s (pyformat), :name (named; not the "::" of a cast).
_PLACEHOLDERS = re.compile(r"\$\d+|%\(\w+\)s|%s|(?<![:\w]):\w+")
_NUMBERS = re.compile(r"(?<![\w$.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_SPACES = re.compile(r"\s+")
_PARAM = r"\?(?:::\w+)?"
_IN_LIST = re.compile(rf"\bIN\s*\(\s*{_PARAM}(?:\s*,\s*{_PARAM})*\s*\)", re.I)
# VALUES (...), (...), ... and IN ((...), (...)): identical tuples collapse to one.
_REPEATED_TUPLES = re.compile(r"(\((?:[^()]|\([^()]*\))*\))(?:\s*,\s*\1)+")
_TABLE_TOKENS = re.compile(
    r'(\()|(\))|\b(?:FROM|INTO|UPDATE)\s+((?:"[^"]+"|`[^`]+`|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)',
    re.I,
)


@functools.lru_cache(maxsize=4096)
def normalize_sql(sql: str) -> str:
    """Return the shape of a statement: literals and parameters become ``?``.

    Comments and whitespace runs are dropped, ``IN (?, ?, ?)`` becomes ``IN (...)`` and
    repeated identical tuples (``VALUES (?, ?), (?, ?)``) collapse to one, so that the
    same query with other values or another number of values has the same shape.

    Parameters
    ----------
    sql : str
        A statement as the driver receives it (any paramstyle).

    Returns
    -------
    str

    Examples
    --------
    >>> normalize_sql("SELECT * FROM users WHERE id IN ($1::INTEGER, $2::INTEGER)")
    'SELECT * FROM users WHERE id IN (...)'
    >>> normalize_sql("SELECT * FROM users WHERE name = 'ann' AND age > 30")
    'SELECT * FROM users WHERE name = ? AND age > ?'
    """
    text = _COMMENTS.sub(" ", sql)
    text = _STRINGS.sub("?", text)
    text = _PLACEHOLDERS.sub("?", text)
    text = _NUMBERS.sub("?", text)
    text = _SPACES.sub(" ", text).strip()
    text = _IN_LIST.sub("IN (...)", text)
    return _REPEATED_TUPLES.sub(r"\1", text)


def _main_table(sql: str) -> str | None:
    """The table after the outermost FROM / INTO / UPDATE (else the first one seen)."""
    depth, first = 0, None
    for match in _TABLE_TOKENS.finditer(sql):
        if match.group(1):
            depth += 1
        elif match.group(2):
            depth -= 1
        else:
            name = re.sub(r'["`]', "", match.group(3))
            if depth == 0:
                return name
            first = first or name
    return first


def _is_transaction_control(sql: str) -> bool:
    return _TRANSACTION.match(_COMMENTS.sub(" ", sql)) is not None


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _shorten(text: str, limit: int) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class StatementRecord:
    """One statement a :class:`QueryLog` saw.

    Attributes
    ----------
    sql : str
        The statement as sent to the driver.
    parameters : object
        Its parameters as sent (a tuple, a dict, or a list of them for executemany).
    duration : float
        Seconds from ``before_cursor_execute`` to ``after_cursor_execute``.
    executemany : bool
        True when the driver ran it once per parameter set (or as one batched insert).
    failed : bool
        True when the database raised an error for it.
    """

    sql: str
    parameters: Any
    duration: float
    executemany: bool
    failed: bool = False

    @property
    def normalized(self) -> str:
        """The statement's shape; see :func:`normalize_sql`."""
        return normalize_sql(self.sql)

    @property
    def table(self) -> str | None:
        """The main table (after FROM, INTO or UPDATE), or None."""
        return _main_table(self.normalized)

    def __str__(self) -> str:
        flags = " executemany" if self.executemany else ""
        flags += " FAILED" if self.failed else ""
        params = _shorten(repr(self.parameters), 120)
        return f"[{_duration(self.duration)}{flags}] {_shorten(self.sql, 500)}  {params}"


@dataclass(frozen=True, slots=True)
class NPlusOneGroup:
    """Data statements that repeated with one shape: an N+1 query pattern.

    Attributes
    ----------
    table : str or None
        The main table (after FROM, INTO or UPDATE).
    count : int
        How many times the shape ran.
    sql : str
        The normalised statement (see :func:`normalize_sql`).
    """

    table: str | None
    count: int
    sql: str

    def __str__(self) -> str:
        return f"{self.count} x {self.table or 'the same query'}: {_shorten(self.sql, 300)}"

    @property
    def writes(self) -> bool:
        """True when the repeated statement writes (INSERT, UPDATE, DELETE, MERGE)."""
        words = self.sql.split(None, 1)
        return bool(words) and words[0].upper() in _WRITE_VERBS


_WRITE_VERBS = {"INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "UPSERT"}


def n_plus_one_advice(groups: list[NPlusOneGroup]) -> str:
    lines = [f"  N+1: {group}" for group in groups]
    advice = []
    if any(not group.writes for group in groups):
        advice.append(
            "Load the relationship with the first query instead: .options(selectinload(...)) "
            "for a collection, joinedload(...) for a many-to-one, or load=[...] in "
            "toolkit.crud."
        )
    if any(group.writes for group in groups):
        advice.append(
            "Write the rows in one call instead of one per row: crud.create_many(s, Model, "
            "rows) or tk.insert_frame(db, Model, frame) for inserts, crud.update_many / "
            "crud.delete_many (by ids) or crud.update_by / crud.delete_by for the rest."
        )
    return (
        "Statements of the same shape ran once per row (an N+1 pattern):\n"
        + "\n".join(lines)
        + "\n"
        + "\n".join(advice)
    )


class QueryLog:
    """What a :func:`count_queries` block saw. Renders as a table in a notebook.

    Attributes
    ----------
    statements : list of StatementRecord
        The data statements (everything but transaction control), in order.
    transaction_statements : list of StatementRecord
        BEGIN, SAVEPOINT, RELEASE, ROLLBACK, COMMIT and PRAGMA statements; never counted.
    """

    def __init__(self) -> None:
        self.statements: list[StatementRecord] = []
        self.transaction_statements: list[StatementRecord] = []

    def _add(self, record: StatementRecord) -> None:
        if _is_transaction_control(record.sql):
            self.transaction_statements.append(record)
        else:
            self.statements.append(record)

    @property
    def count(self) -> int:
        """Number of data statements (failed ones included)."""
        return len(self.statements)

    @property
    def total_time(self) -> float:
        """Seconds spent in the data statements."""
        return sum(record.duration for record in self.statements)

    @property
    def n_plus_one(self) -> list[NPlusOneGroup]:
        """Shapes that ran at least :data:`N_PLUS_ONE_THRESHOLD` times, by first run.

        A shape with an ``IN (...)`` list is already batched (``selectinload`` sends
        one per 500 keys), so its repeats are not counted as N+1.
        """
        seen: dict[str, int] = {}
        for record in self.statements:
            if "IN (...)" in record.normalized:
                continue
            seen[record.normalized] = seen.get(record.normalized, 0) + 1
        return [
            NPlusOneGroup(_main_table(sql), count, sql)
            for sql, count in seen.items()
            if count >= N_PLUS_ONE_THRESHOLD
        ]

    def headline(self) -> str:
        """One line: ``"3 SQL statements in 2.1 ms"``."""
        noun = "statement" if self.count == 1 else "statements"
        return f"{self.count} SQL {noun} in {_duration(self.total_time)}"

    def summary(self, prefix: str = "") -> str:
        """The headline (after ``prefix``), then one line per N+1 group."""
        lines = [prefix + self.headline(), *(f"  N+1: {g}" for g in self.n_plus_one)]
        return "\n".join(lines)

    def summary_html(self, prefix: str = "") -> str:
        """:meth:`summary` as HTML, N+1 groups highlighted."""
        groups = "".join(
            '<div style="background:#fde2e1;color:#8a1c1c;padding:1px 4px">'
            f"<b>N+1</b>: {group.count} &times; <code>{html.escape(group.table or '?')}</code>"
            f" &mdash; <code>{html.escape(_shorten(group.sql, 300))}</code></div>"
            for group in self.n_plus_one
        )
        return f"<div>{html.escape(prefix)}<b>{html.escape(self.headline())}</b></div>{groups}"

    def _listing(self) -> str:
        return "\n".join(f"  {i}. {record}" for i, record in enumerate(self.statements, 1))

    def _fail(self, expectation: str) -> None:
        message = f"Expected {expectation} SQL statements, {self.count} ran:\n{self._listing()}"
        if self.n_plus_one:
            message += "\n" + n_plus_one_advice(self.n_plus_one)
        raise AssertionError(message)

    def assert_at_most(self, n: int) -> None:
        """Fail, listing every statement, when more than ``n`` data statements ran.

        Raises
        ------
        AssertionError
            With the statements, their parameters and any N+1 groups.

        Examples
        --------
        >>> async with tk.count_queries(db) as log:
        ...     await crud.get(s, Team, 1, load=["members"])
        >>> log.assert_at_most(2)
        """
        if self.count > n:
            self._fail(f"at most {n}")

    def assert_count(self, n: int) -> None:
        """Fail, listing every statement, unless exactly ``n`` data statements ran.

        Raises
        ------
        AssertionError
            With the statements, their parameters and any N+1 groups.

        Examples
        --------
        >>> log.assert_count(2)
        """
        if self.count != n:
            self._fail(f"exactly {n}")

    def __repr__(self) -> str:
        groups = len(self.n_plus_one)
        extra = f", {groups} N+1 group{'s' if groups != 1 else ''}" if groups else ""
        return f"<QueryLog {self.headline()}{extra}>"

    def __str__(self) -> str:
        return f"{self.summary()}\n{self._listing()}" if self.statements else self.summary()

    def _repr_html_(self) -> str:
        repeated = {group.sql for group in self.n_plus_one}
        rows = []
        for i, record in enumerate(self.statements[:200], 1):
            style = ' style="background:#fde2e1"' if record.normalized in repeated else ""
            rows.append(
                f"<tr{style}><td>{i}</td><td>{record.duration * 1000:.2f}</td>"
                f'<td style="text-align:left"><code>{html.escape(_shorten(record.sql, 500))}'
                f"</code></td></tr>"
            )
        more = len(self.statements) - len(rows)
        if more > 0:
            rows.append(f'<tr><td colspan="3">&hellip; {more} more</td></tr>')
        table = (
            # Headers aligned as their cells: notebooks right-align both by default.
            '<table><thead><tr><th style="text-align:right">#</th>'
            '<th style="text-align:right">ms</th><th style="text-align:left">SQL</th>'
            "</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            if rows
            else ""
        )
        return f"{self.summary_html()}{table}"


# -- recording -----------------------------------------------------------------------------

#: Ids of the count_queries blocks the current task (context) is inside.
