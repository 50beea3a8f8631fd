"""The column types of a SQL string's result on PostgreSQL, type modifiers included.

A prepared statement tells the result's column types (asyncpg's ``get_attributes``)
but not their type modifiers, so a ``NUMERIC(12, 2)`` column read by a SQL string would
lose its precision and scale. When a result holds a NUMERIC column, the statement is
made a temporary view, inside a savepoint that is always rolled back, and the view's
columns' ``atttypmod`` is read from ``pg_attribute``: public SQL only, no private API of
asyncpg. Parameters (``$1``...) become typed NULLs for the view, which changes no
column's type. Where the view cannot be made (a read-only transaction or standby, a
statement that is not a query), the NUMERIC keeps no modifier and reads as ``float64``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from ..types.spec import PG_TYPE_NAMES, ColumnSpec, spec_from_pg

__all__ = ["describe", "inline_parameters"]

# Tokens a parameter marker may hide in: quoted text and names, comments, dollar quotes.
_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$(\d+)|(\$(?:[A-Za-z_]\w*)?\$)""",
    re.S,
)


class _RolledBack(Exception):
    """Ends the describing savepoint: nothing it made is kept."""


def inline_parameters(sql: str, types: Sequence[str]) -> str | None:
    """``sql`` with each ``$n`` outside quotes and comments replaced by
    ``CAST(NULL AS <type n>)``; None when a marker has no type (cannot happen for a
    prepared statement) or a dollar quote is not closed."""
    out: list[str] = []
    pos = 0
    while (match := _TOKENS.search(sql, pos)) is not None:
        out.append(sql[pos : match.start()])
        if match.group(1) is not None:
            n = int(match.group(1))
            if not 1 <= n <= len(types):
                return None
            out.append(f"CAST(NULL AS {types[n - 1]})")
            pos = match.end()
        elif match.group(2) is not None:
            close = sql.find(match.group(2), match.end())
            if close < 0:
                return None
            pos = close + len(match.group(2))
            out.append(sql[match.start() : pos])
        else:
            out.append(match.group(0))
            pos = match.end()
    out.append(sql[pos:])
    return "".join(out)


def _type_name(t: Any) -> str:
    schema = str(t.schema).replace('"', '""')
    name = str(t.name).replace('"', '""')
    return f'"{schema}"."{name}"'


async def _typmods(conn: asyncpg.Connection, statement: Any, sql: str, width: int) -> list[int]:
    unknown = [-1] * width
    body = inline_parameters(
        sql.strip().rstrip(";"), [_type_name(p) for p in statement.get_parameters()]
    )
    if body is None:
        return unknown
    view = f"toolkit_describe_{uuid.uuid4().hex[:12]}"
    columns = ", ".join(f'"c{i}"' for i in range(width))
    found: list[int] = unknown
    try:
        async with conn.transaction():  # a savepoint inside the caller's transaction
            await conn.execute(f'CREATE TEMP VIEW "{view}" ({columns}) AS {body}')
            rows = await conn.fetch(
                "SELECT atttypmod FROM pg_attribute WHERE attrelid = $1::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                f'pg_temp."{view}"',
            )
            found = [int(r[0]) for r in rows]
            raise _RolledBack
    except _RolledBack:
        pass
    except asyncpg.PostgresError:
        return unknown
    return found if len(found) == width else unknown


async def _other_types(conn: asyncpg.Connection, oids: set[int]) -> dict[int, tuple[str, str]]:
    """For types the registry does not name: (type name, kind) by oid, where an enum's
    kind is ``"enum"`` and a domain is described by its base type."""
    if not oids:
        return {}
    rows = await conn.fetch(
        "SELECT t.oid, t.typtype::text AS typtype, b.typname::text AS base "
        "FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype "
        "WHERE t.oid = ANY($1::oid[])",
        list(oids),
    )
    out: dict[int, tuple[str, str]] = {}
    for row in rows:
        if row["typtype"] == "e":
            out[int(row["oid"])] = ("", "enum")
        elif row["typtype"] == "d" and row["base"] is not None:
            out[int(row["oid"])] = (str(row["base"]), "scalar")
    return out


async def describe(conn: asyncpg.Connection, sql: str) -> list[ColumnSpec]:
    """Column specs of a SQL string's result, from the server: types from a prepared
    statement, enums and domains from ``pg_type``, NUMERIC precision and scale from a
    temporary view's ``pg_attribute``."""
    statement = await conn.prepare(sql)
    attributes = statement.get_attributes()
    others = await _other_types(
        conn, {a.type.oid for a in attributes if a.type.name not in PG_TYPE_NAMES}
    )
    typmods = [-1] * len(attributes)
    if any(
        a.type.name == "numeric" or others.get(a.type.oid, ("",))[0] == "numeric"
        for a in attributes
    ):
        typmods = await _typmods(conn, statement, sql, len(attributes))
    specs = []
    for a, typmod in zip(attributes, typmods, strict=True):
        name, kind = others.get(a.type.oid, (a.type.name, a.type.kind))
        specs.append(spec_from_pg(a.name, name, kind, typmod))
    return specs
