"""Tables without a model, for ``insert_frame``: a table's name, or a SQLAlchemy ``Table``.

A name is reflected from the database (``"orders"``, ``"sales.orders"``; double quotes
keep a dot or quotes inside a part: ``'"sales"."order.items"'``). A missing table is
made from the frame's dtypes when the caller asks (``create=True``, the types of
:mod:`toolkit.frames_ddl`), in the transaction that writes the rows, so that a call
that writes nothing leaves no table behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Column, MetaData, Table
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import NullType, TypeEngine

from .errors import ConfigurationError
from .frames_connection import Source, read_connection
from .frames_ddl import column_type, declared_type
from .validation import string_labels

__all__ = ["ResolvedTable", "ensure_table", "resolve_table", "split_name", "table_from_frame"]


@dataclass(frozen=True)
class ResolvedTable:
    """The table ``insert_frame`` writes to.

    Attributes
    ----------
    target : SQLModel table class or sqlalchemy.Table
        What the frame is validated against.
    table : sqlalchemy.Table
    name : str
        How errors name it (the model's class name, else the table's full name).
    create : bool
        Create the table (if it is still missing) in the write's transaction.
    known : bool
        The table is known to exist or to be made (a model's, a reflected one, or
        ``create``); otherwise the write's transaction checks that it exists.
    """

    target: Any
    table: Table
    name: str
    create: bool = False
    known: bool = True


def split_name(name: str) -> tuple[str | None, str]:
    """``(schema, table)`` of a table's name: ``"orders"`` -> ``(None, "orders")``,
    ``"sales.orders"`` -> ``("sales", "orders")``. A part in double quotes is taken as it
    is (``""`` inside it is one quote), so it may hold dots.

    Raises
    ------
    ConfigurationError
        The name is empty, has more than two parts, or an unclosed quote.
    """
    parts: list[str] = []
    i, n = 0, len(name)
    while True:
        if i < n and name[i] == '"':
            j, part = i + 1, []
            while True:
                end = name.find('"', j)
                if end < 0:
                    raise ConfigurationError(
                        f"The table name {name!r} has an unclosed double quote; close it "
                        '(\'"sales"."orders"\') or leave quotes out.'
                    )
                part.append(name[j:end])
                if name.startswith('""', end):
                    part.append('"')
                    j = end + 2
                    continue
                i = end + 1
                break
            parts.append("".join(part))
        else:
            end = name.find(".", i)
            end = n if end < 0 else end
            parts.append(name[i:end].strip())
            i = end
        if i >= n:
            break
        if name[i] != ".":
            raise ConfigurationError(
                f"The table name {name!r} has text after a quoted part; write it as "
                "'schema.table' or '\"schema\".\"table\"'."
            )
        i += 1
    if len(parts) > 2 or not all(parts):
        raise ConfigurationError(
            f"{name!r} is not a table name: write 'table' or 'schema.table' (double quotes "
            "around a part that holds a dot)."
        )
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def _reflect(sync: Connection, name: str, schema: str | None) -> Table | None:
    try:
        table = Table(name, MetaData(), schema=schema, autoload_with=sync)
    except sa_exc.NoSuchTableError:
        return None
    if sync.dialect.name == "sqlite":
        # SQLite keeps each column's declared type name, but SQLAlchemy reads names it
        # does not know by affinity (INTERVAL as INTEGER): take back those that stand
        # for a type of the toolkit's (as create=True declares them).
        prep = sync.dialect.identifier_preparer
        where = f"{prep.quote_identifier(schema)}." if schema else ""
        pragma = f"PRAGMA {where}table_info({prep.quote_identifier(name)})"
        for row in sync.exec_driver_sql(pragma):
            declared = declared_type(str(row[2] or ""))
            if declared is not None and row[1] in table.c:
                table.c[row[1]].type = declared
    return table


async def reflect(conn: AsyncConnection, name: str, schema: str | None) -> Table | None:
    """The table ``schema.name`` as the database describes it, or None when missing."""
    return await conn.run_sync(_reflect, name, schema)


def _primary_key(frame: pd.DataFrame, primary_key: str | Sequence[str] | None) -> list[str]:
    if primary_key is None:
        return []
    keys = [primary_key] if isinstance(primary_key, str) else [str(k) for k in primary_key]
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ConfigurationError(
            f"primary_key names {', '.join(map(repr, missing))}, which the frame does not "
            f"hold (its columns: {', '.join(map(str, frame.columns))})."
        )
    return keys


def table_from_frame(
    name: str,
    schema: str | None,
    frame: pd.DataFrame,
    dialect: Dialect,
    *,
    primary_key: str | Sequence[str] | None = None,
    dtypes: Mapping[str, Any] | None = None,
) -> Table:
    """A new table for ``frame``: one column per frame column, typed from its dtype (see
    :func:`toolkit.frames_ddl.column_type`; ``dtypes`` maps a column to a SQLAlchemy type
    instead), every column NULL-able but the primary key's.

    Raises
    ------
    ConfigurationError
        A column whose type cannot be told from its values (pass ``dtypes=``), or a
        ``primary_key`` / ``dtypes`` entry naming no column of the frame.
    """
    frame = string_labels(frame)
    keys = _primary_key(frame, primary_key)
    given = dict(dtypes or {})
    unknown = [k for k in given if k not in frame.columns]
    if unknown:
        raise ConfigurationError(
            f"dtypes names {', '.join(map(repr, unknown))}, which the frame does not hold "
            f"(its columns: {', '.join(map(str, frame.columns))})."
        )
    for label, sa_type in given.items():
        if not (
            isinstance(sa_type, TypeEngine)
            or (isinstance(sa_type, type) and issubclass(sa_type, TypeEngine))
        ):
            raise ConfigurationError(
                f"dtypes[{label!r}] is {sa_type!r}; give a SQLAlchemy type such as "
                "sqlalchemy.Text or sqlalchemy.Numeric(12, 2)."
            )
    columns = []
    for label in frame.columns:
        sa_type = given.get(label)
        if sa_type is None:
            sa_type = column_type(frame[label], label, dialect)
        # A key the frame gives values for: no sequence, no AUTOINCREMENT.
        columns.append(Column(label, sa_type, primary_key=label in keys, autoincrement=False))
    return Table(name, MetaData(), *columns, schema=schema)


def _type_untyped(table: Table, frame: pd.DataFrame, dialect: Dialect) -> None:
    """Columns declared without a type (SQLite's ``CREATE TABLE t (a, b)``) take the type
    their frame column's dtype gives, as ``create=True`` would make them."""
    frame = string_labels(frame)
    for column in table.columns:
        if isinstance(column.type, NullType) and column.name in frame.columns:
            with contextlib.suppress(ConfigurationError):  # then validation names it
                column.type = column_type(frame[column.name], column.name, dialect)


async def resolve_table(
    source: Source,
    target: Any,
    frame: pd.DataFrame,
    *,
    create: bool,
    primary_key: str | Sequence[str] | None,
    dtypes: Mapping[str, Any] | None,
) -> ResolvedTable:
    """What ``insert_frame``'s ``target`` argument names: a model, a ``Table``, or a name
    (reflected now; made from the frame when missing and ``create`` is true). A model's
    or a ``Table``'s own definition makes it when ``create`` is true.

    Raises
    ------
    ConfigurationError
        The table does not exist and ``create`` is false; or the arguments do not fit
        (``primary_key``/``dtypes`` apply only to a table that ``create=True`` makes).
    """
    if not create and (primary_key is not None or dtypes):
        raise ConfigurationError(
            "primary_key= and dtypes= describe a table for insert_frame to make: pass "
            "them with create=True (an existing table keeps its own keys and types)."
        )
    model_table = getattr(target, "__table__", None) if isinstance(target, type) else None
    if isinstance(model_table, Table):
        return ResolvedTable(target, model_table, target.__name__, create=create)
    if isinstance(target, Table):
        return ResolvedTable(target, target, target.fullname, create=create, known=create)
    if not isinstance(target, str):
        raise ConfigurationError(
            f"insert_frame writes to a SQLModel table class, a sqlalchemy Table or a "
            f"table's name, not {type(target).__name__}."
        )
    schema, name = split_name(target)
    async with read_connection(source) as conn:
        table = await reflect(conn, name, schema)
        dialect = conn.dialect
    if table is not None:
        _type_untyped(table, frame, dialect)
        return ResolvedTable(table, table, table.fullname)
    if not create:
        raise _missing_table(Table(name, MetaData(), schema=schema))
    table = table_from_frame(name, schema, frame, dialect, primary_key=primary_key, dtypes=dtypes)
    return ResolvedTable(table, table, table.fullname, create=True)


def _missing_table(table: Table) -> ConfigurationError:
    where = f" in schema {table.schema!r}" if table.schema else ""
    return ConfigurationError(
        f"There is no table {table.name!r}{where} in the database. Pass create=True to "
        "make it from the frame's dtypes (with primary_key=... for a key), or check the "
        "name ('schema.table' for a table in another schema)."
    )


async def ensure_table(conn: AsyncConnection, resolved: ResolvedTable) -> None:
    """Make ``resolved``'s table when it is to be made and does not exist yet.

    Raises
    ------
    ConfigurationError
        A ``Table`` given without ``create=True`` does not exist.
    """
    if resolved.known and not resolved.create:
        return
    table = resolved.table

    def ensure(sync: Connection) -> None:
        if sa_inspect(sync).has_table(table.name, table.schema):
            return
        if not resolved.create:
            raise _missing_table(table)
        try:
            with sync.begin_nested():
                table.create(sync)
        except sa_exc.DBAPIError:
            # A concurrent call made it first (PostgreSQL lets the second CREATE wait
            # for the first, then fail): insert into that one.
            if not sa_inspect(sync).has_table(table.name, table.schema):
                raise

    await conn.run_sync(ensure)
