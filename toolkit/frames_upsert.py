"""Upsert frames that hold only a key and the columns to change.

A row that exists keeps every column the frame lacks; a row that is new needs every
NOT NULL column without a default. Which rows exist is looked up by key, in the
transaction of the write, before anything is written. The database checks NOT NULL on
the row an ``INSERT ... ON CONFLICT DO UPDATE`` proposes before it finds the conflict,
so the proposed row of an existing key carries the stored values of those columns
(the upsert then rewrites only the frame's columns).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Column, Table, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import FrameValidationError
from .types.convert import convert
from .types.spec import spec_from_type
from .validation import ValidatedFrame

__all__ = ["LOOKUP_PARAMETERS", "complete_upsert"]

#: Bound values per key lookup query (under SQLite's and PostgreSQL's limits).
LOOKUP_PARAMETERS = 10_000


def _normal(value: Any, kind: str) -> Any:
    """A key value of a column of ``kind``, the same whether the frame's Arrow column or
    the database's rows give it (dates as dates, instants as naive UTC, UUIDs as text)."""
    if value is None:
        return None
    if kind == "date" and isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return dt.datetime.fromisoformat(value.isoformat())  # a Timestamp as a datetime
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _bindable(value: Any, kind: str) -> Any:
    if kind == "uuid" and isinstance(value, str):
        return uuid.UUID(value)
    return value


class _Problems:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []

    def add(
        self, mask: np.ndarray | pd.Series, column: str, message: str | Callable[[Any], str]
    ) -> None:
        if np.asarray(mask, dtype=bool).any():
            text = message if isinstance(message, str) else "a stored value"
            self.rows.append((column, text))


async def _stored(
    conn: AsyncConnection,
    key_columns: Sequence[Column[Any]],
    wanted: Sequence[Column[Any]],
    keys: list[tuple[Any, ...]],
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The ``wanted`` values of the stored rows whose key is one of ``keys``."""
    found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    per_query = max(1, LOOKUP_PARAMETERS // len(key_columns))
    n_key = len(key_columns)
    kinds = [spec_from_type(c.name, c.type).kind for c in key_columns]
    for start in range(0, len(keys), per_query):
        batch = keys[start : start + per_query]
        bound = [tuple(_bindable(v, kind) for v, kind in zip(k, kinds, strict=True)) for k in batch]
        if n_key == 1:
            where = key_columns[0].in_([k[0] for k in bound])
        else:
            where = tuple_(*key_columns).in_(bound)
        result = await conn.execute(select(*key_columns, *wanted).where(where))
        for row in result:
            normal = tuple(_normal(v, kind) for v, kind in zip(row[:n_key], kinds, strict=True))
            found[normal] = tuple(row[n_key:])
    return found


async def complete_upsert(
    conn: AsyncConnection,
    table: Table,
    name: str,
    validated: ValidatedFrame,
    key: tuple[str, ...],
) -> ValidatedFrame:
    """``validated`` with the NOT NULL columns it lacks filled from the stored rows.

    Returns ``validated`` itself when it lacks none. The filled columns are not in
    ``given``: the upsert leaves them as they are.

    Raises
    ------
    FrameValidationError
        Rows whose key is not in the table (new rows) lack NOT NULL columns: one entry
        per row and missing column; nothing was written.
    """
    missing = validated.missing_required
    if not missing or not key:
        return validated
    by_name = {c.name: c for c in table.columns}
    key_columns = [by_name[k] for k in key]
    wanted = [by_name[m] for m in missing]
    arrow = validated.table
    columns = [arrow.column(k).to_pylist() for k in key]
    kinds = [spec_from_type(c.name, c.type).kind for c in key_columns]
    row_keys = [
        tuple(_normal(v, kind) for v, kind in zip(values, kinds, strict=True))
        for values in zip(*columns, strict=True)
    ]
    lookup = sorted(
        {k for k in row_keys if all(v is not None for v in k)}, key=lambda k: tuple(map(str, k))
    )
    found = await _stored(conn, key_columns, wanted, lookup)
    labels = validated.labels if validated.labels is not None else pd.RangeIndex(arrow.num_rows)
    new = [i for i, k in enumerate(row_keys) if k not in found]
    if new:
        keys = ", ".join(key)
        records = [
            (
                labels[i],
                m,
                None,
                f"is required for a new row (NOT NULL, no default): no row of {name} has "
                f"this key ({keys}), and the frame has no {m!r} column. Add the column, or "
                "leave out the rows that are new",
            )
            for i in new
            for m in missing
        ]
        errors = pd.DataFrame(records, columns=["row", "column", "value", "message"])
        errors["value"] = errors["value"].astype(object)
        raise FrameValidationError(name, errors)
    problems = _Problems()
    filled = arrow
    specs = list(validated.specs)
    for j, column in enumerate(wanted):
        values = pd.Series([found[k][j] for k in row_keys], dtype=object)
        spec = spec_from_type(column.name, column.type)
        array, field = convert(values, spec, problems, column.name)
        filled = filled.append_column(field.with_type(array.type), array)
        specs.append(spec)
    if problems.rows:
        bad, message = problems.rows[0]
        raise FrameValidationError(
            name,
            pd.DataFrame(
                {
                    "row": [None],
                    "column": [bad],
                    "value": pd.Series([None], dtype=object),
                    "message": [
                        f"holds stored values the upsert cannot carry ({message}); add the "
                        "column to the frame"
                    ],
                }
            ),
        )
    return dataclasses.replace(validated, table=filled, specs=specs, missing_required=())
