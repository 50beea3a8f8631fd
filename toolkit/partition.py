"""Planning a partitioned read: the ranges of a column, and one query per range.

A partitioned read splits a query's result by ranges of one output column. Each range
is a *piece*: the query wrapped as a subquery and filtered on that column. The first
range has no lower bound and the last no upper bound, so rows outside the given bounds
still belong to a piece; NULLs are a piece of their own. Together the pieces hold
exactly the query's rows, each once.

This module only plans (pure functions on values and SQL); :mod:`toolkit.scale` reads
the pieces on one snapshot, and :mod:`toolkit.dask_io` in Dask's workers.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, TextClause, and_, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Executable

from .dtypes import spec_from_type
from .errors import ConfigurationError

__all__ = [
    "Order",
    "Piece",
    "bounds_query",
    "check_options",
    "order_of",
    "piece_query",
    "plan_pieces",
]

#: Alias of the subquery a piece filters.
_ALIAS = "_tk_part"


@dataclass(frozen=True)
class Piece:
    """One range of the partition column: ``lower <= col < upper``.

    ``lower`` None means no lower bound, ``upper`` None no upper bound; ``nulls`` marks
    the piece that holds the rows whose column is NULL.
    """

    lower: Any = None
    upper: Any = None
    nulls: bool = False


def check_options(partition_on: Any, partitions: Any, bounds: Any) -> None:
    """Refuse options a partitioned read cannot use, saying which and why."""
    if not isinstance(partition_on, str) or not partition_on:
        raise ConfigurationError(
            f"partition_on must name a column of the query's result, not {partition_on!r}."
        )
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ConfigurationError(
            f"partitions must be a whole number of at least 1, not {partitions!r}."
        )
    if bounds is not None and (not isinstance(bounds, Sequence) or len(bounds) != 2):
        raise ConfigurationError(
            f"bounds must be a (lowest, highest) pair or None (min and max of "
            f"{partition_on}), not {bounds!r}."
        )


def _sql_text(query: Any) -> str | None:
    """Raw SQL of a string or ``text()`` query (without a trailing ``;``), else None."""
    if isinstance(query, str):
        return query.strip().rstrip(";").rstrip()
    if isinstance(query, TextClause):
        return query.text.strip().rstrip(";").rstrip()
    return None


def _subquery(query: Any) -> Any:
    """A SQLAlchemy select as a subquery named ``_tk_part``."""
    if isinstance(query, Select) or (
        isinstance(query, ClauseElement)
        and isinstance(query, Executable)
        and hasattr(query, "subquery")
    ):
        return query.subquery(_ALIAS)
    raise ConfigurationError(
        f"A partitioned read takes a SQL string or a SQLAlchemy select, not {type(query).__name__}."
    )


def _column(sub: Any, name: str) -> Any:
    if name not in sub.c:
        names = ", ".join(sub.c.keys())
        raise ConfigurationError(
            f"partition_on={name!r} is not a column of the query's result ({names}); "
            "name one of them."
        )
    column = sub.c[name]
    kind = spec_from_type(name, column.type).kind
    if kind in {"bool", "str"}:
        raise ConfigurationError(
            f"Cannot split {name!r} ({column.type}) into ranges; partition_on takes an "
            "integer, numeric, date or date/time column."
        )
    return column


def bounds_query(
    query: Any, partition_on: str, dialect: Dialect, params: Mapping[str, Any] | None
) -> tuple[Any, dict[str, Any]]:
    """A statement returning ``min`` and ``max`` of ``partition_on`` over the query,
    and the parameters to run it with."""
    raw = _sql_text(query)
    if raw is not None:
        col = f"{_ALIAS}.{dialect.identifier_preparer.quote(partition_on)}"
        sql = f"SELECT min({col}), max({col}) FROM ({raw}) AS {_ALIAS}"
        return text(sql), dict(params or {})
    sub = _subquery(query)
    col = _column(sub, partition_on)
    return select(func.min(col), func.max(col)).select_from(sub), dict(params or {})


def piece_query(
    query: Any,
    partition_on: str,
    piece: Piece,
    dialect: Dialect,
    params: Mapping[str, Any] | None,
) -> tuple[Any, dict[str, Any]]:
    """The query restricted to ``piece``, and the parameters to run it with.

    A select keeps its column types (the wrapper selects the subquery's columns); raw
    SQL is wrapped as text, with parameters of its own next to the caller's.
    """
    values = dict(params or {})
    raw = _sql_text(query)
    if raw is not None:
        col = f"{_ALIAS}.{dialect.identifier_preparer.quote(partition_on)}"
        if piece.nulls:
            where = f"{col} IS NULL"
        else:
            parts = [f"{col} IS NOT NULL"]
            if piece.lower is not None:
                parts.append(f"{col} >= :_tk_lower")
                values["_tk_lower"] = piece.lower
            if piece.upper is not None:
                parts.append(f"{col} < :_tk_upper")
                values["_tk_upper"] = piece.upper
            where = " AND ".join(parts)
        return text(f"SELECT * FROM ({raw}) AS {_ALIAS} WHERE {where}"), values
    sub = _subquery(query)
    col = _column(sub, partition_on)
    stmt = select(*sub.c)
    if piece.nulls:
        return stmt.where(col.is_(None)), values
    conditions: list[Any] = [col.is_not(None)]
    if piece.lower is not None:
        conditions.append(col >= piece.lower)
    if piece.upper is not None:
        conditions.append(col < piece.upper)
    return stmt.where(and_(*conditions)), values


# -- ranges -----------------------------------------------------------------------------


def plan_pieces(lowest: Any, highest: Any, partitions: int) -> list[Piece]:
    """Split ``[lowest, highest]`` into at most ``partitions`` ranges, plus the NULL piece.

    The first range is open below and the last open above. Integers, floats, decimals,
    dates, datetimes (naive or aware) and their ISO text (SQLite stores dates as text)
    are split; an empty result (both None) reads as one piece.

    Raises
    ------
    ConfigurationError
        The column holds values that have no ranges (text, booleans).
    """
    if lowest is None or highest is None:
        return [Piece(), Piece(nulls=True)]
    if lowest > highest:
        raise ConfigurationError(
            f"bounds=({lowest!r}, {highest!r}): the lowest value is above the highest."
        )
    edges = _edges(lowest, highest, partitions)
    pieces = [Piece(lower=None, upper=edges[0] if edges else None)]
    pieces += [Piece(lower=a, upper=b) for a, b in itertools.pairwise(edges)]
    if edges:
        pieces.append(Piece(lower=edges[-1], upper=None))
    return [*pieces, Piece(nulls=True)]


def _edges(lowest: Any, highest: Any, partitions: int) -> list[Any]:
    """The ``partitions - 1`` inner cut points between ``lowest`` and ``highest``."""
    if partitions <= 1:
        return []
    if isinstance(lowest, bool) or isinstance(highest, bool):
        raise _no_ranges(lowest)
    cuts: list[Any]
    if isinstance(lowest, int) and isinstance(highest, int):
        span = highest - lowest + 1
        cuts = [lowest + (span * i) // partitions for i in range(1, partitions)]
    elif isinstance(lowest, int | float | decimal.Decimal) and isinstance(
        highest, int | float | decimal.Decimal
    ):
        lo, hi = float(lowest), float(highest)
        cuts_f = [lo + (hi - lo) * i / partitions for i in range(1, partitions)]
        if isinstance(lowest, decimal.Decimal):
            cuts = [decimal.Decimal(repr(c)) for c in cuts_f]
        else:
            cuts = list(cuts_f)
    elif isinstance(lowest, dt.datetime) and isinstance(highest, dt.datetime):
        step = (highest - lowest) / partitions
        cuts = [lowest + step * i for i in range(1, partitions)]
    elif isinstance(lowest, dt.date) and isinstance(highest, dt.date):
        a, b = lowest.toordinal(), highest.toordinal()
        span = b - a + 1
        cuts = [dt.date.fromordinal(a + (span * i) // partitions) for i in range(1, partitions)]
    elif isinstance(lowest, str) and isinstance(highest, str):
        return _text_edges(lowest, highest, partitions)
    else:
        raise _no_ranges(lowest)
    unique: list[Any] = []
    for cut in cuts:
        if lowest < cut <= highest and (not unique or cut > unique[-1]):
            unique.append(cut)
    return unique


def _text_edges(lowest: str, highest: str, partitions: int) -> list[str]:
    """Cut points of ISO date/time text (SQLite's storage of dates), in the same format.

    ISO text sorts as the moments it names, so cut points rendered in the stored
    format compare correctly with the stored values.
    """
    try:
        lo, hi = dt.datetime.fromisoformat(lowest), dt.datetime.fromisoformat(highest)
    except ValueError:
        raise _no_ranges(lowest) from None
    if len(lowest) == 10 and len(highest) == 10:
        return [str(c) for c in _edges(lo.date(), hi.date(), partitions)]
    sep = "T" if "T" in lowest else " "
    spec = "microseconds" if "." in lowest else "seconds"
    if lo.tzinfo is not None or hi.tzinfo is not None:
        raise _no_ranges(lowest)
    return [c.isoformat(sep=sep, timespec=spec) for c in _edges(lo, hi, partitions)]


def _no_ranges(value: Any) -> ConfigurationError:
    return ConfigurationError(
        f"Cannot split a column holding {type(value).__name__} values (such as {value!r}) "
        "into ranges; partition_on takes an integer, numeric, date or date/time column."
    )


# -- ORDER BY ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    """The query's leading ORDER BY key when it is the partition column.

    ``descending`` orders the pieces from the highest range down; ``nulls_first``
    puts the NULL piece first.
    """

    descending: bool
    nulls_first: bool


_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\(|\)|,|[^\s(),'"]+""",
    re.DOTALL,
)


def _top_level_order_by(sql: str) -> list[list[str]] | None:
    """The items of the last top-level ORDER BY of ``sql`` as token lists, or None."""
    tokens = [t for t in _TOKEN.findall(sql) if not t.startswith(("--", "/*"))]
    depth, start = 0, None
    for i, tok in enumerate(tokens):
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        elif (
            depth == 0
            and tok.upper() == "ORDER"
            and i + 1 < len(tokens)
            and tokens[i + 1].upper() == "BY"
        ):
            start = i + 2
    if start is None:
        return None
    items: list[list[str]] = [[]]
    depth = 0
    for tok in tokens[start:]:
        upper = tok.upper()
        if depth == 0 and upper in {"LIMIT", "OFFSET", "FETCH", "FOR"}:
            break
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        if depth == 0 and tok == ",":
            items.append([])
        else:
            items[-1].append(tok)
    return items


def _names(expression: str) -> str:
    """The column an ORDER BY expression names (its last identifier, unquoted)."""
    last = re.split(r"\.(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", expression)[-1]
    if last.startswith('"') and last.endswith('"'):
        return last[1:-1].replace('""', '"')
    return last.lower()


def order_of(query: Any, partition_on: str, dialect: Dialect) -> tuple[bool, Order | None]:
    """Whether the query has a top-level ORDER BY, and how to order the pieces.

    Returns ``(False, None)`` without ORDER BY; ``(True, Order)`` when its leading key
    is the partition column (concatenating the pieces in range order keeps the order);
    ``(True, None)`` otherwise (the pieces cannot be concatenated in order).
    """
    raw = _sql_text(query)
    sql = raw if raw is not None else str(query.compile(dialect=dialect))
    items = _top_level_order_by(sql)
    if not items or not items[0]:
        return False, None
    first = items[0]
    words = [t.upper() for t in first]
    expression = first[0] if first else ""
    if len(first) > 1 and words[1] not in {"ASC", "DESC", "NULLS"}:
        return True, None  # an expression, not a column
    target = partition_on if partition_on != partition_on.lower() else partition_on.lower()
    named = _names(expression)
    if named != target and named != partition_on:
        return True, None
    descending = "DESC" in words
    # Where each dialect puts NULLs by default: PostgreSQL sorts them as the largest
    # value, SQLite as the smallest.
    nulls_first = descending if dialect.name == "postgresql" else not descending
    if "NULLS" in words:
        nulls_first = words[words.index("NULLS") + 1] == "FIRST"
    return True, Order(descending=descending, nulls_first=nulls_first)
