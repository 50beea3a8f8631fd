"""Vectorised validation of a DataFrame against a table, for ``insert_frame``.

The table is a SQLModel table class or a plain SQLAlchemy ``Table`` (reflected, or made
from the frame by ``create=True``); a plain table has no pydantic rules to add.

The type rules it applies live in the type registry: each column is checked and
converted by its kind's function in :mod:`toolkit.types.convert` (the value rules of
every family are stated there). This module adds what belongs to a table: unknown,
repeated and missing columns, defaults, NOT NULL, keys repeated inside the frame, the
model's bounds (``ge``/``le``...) and its pydantic validators, which no vectorised
check can express and which run once per *distinct* value of the fields they cover.
Every failure of every row is collected, then raised together as
:class:`~toolkit.errors.FrameValidationError`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import annotated_types as at
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Column, Table, UniqueConstraint
from sqlalchemy import inspect as sa_inspect

from .drivers.compat import field_validator_fields
from .errors import ConfigurationError, FrameValidationError, plain_reason
from .problems import ProblemFrame
from .types.cells import is_missing
from .types.convert import convert, writable
from .types.spec import ColumnSpec, spec_from_type

__all__ = ["ValidatedFrame", "conflict_key", "unique_keys", "validate_frame"]


@dataclass
class ValidatedFrame:
    """The frame's values as an Arrow table of the target types, ready for a driver.

    Attributes
    ----------
    table : pyarrow.Table
        One column per column to write, named as in the database.
    specs : list[ColumnSpec]
    explicit_serial : str | None
        Name of an auto-increment primary key the frame gives values for.
    """

    table: pa.Table
    specs: list[ColumnSpec]
    explicit_serial: str | None
    #: Database names of the columns the caller's frame holds (not filled by defaults).
    given: tuple[str, ...] = ()
    #: NOT NULL columns without a default that the frame lacks (only for an upsert,
    #: where rows that already exist need them not): new rows need them.
    missing_required: tuple[str, ...] = ()
    #: The frame's row labels, in the order of ``table``'s rows.
    labels: pd.Index | None = None


class _Errors:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        # (position in the frame, -1 for a whole column; label, column, value, message)
        self.rows: list[tuple[int, Any, str, Any, str]] = []

    def add(
        self, mask: np.ndarray | pd.Series, column: str, message: str | Callable[[Any], str]
    ) -> None:
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(positions):
            return
        values = self.frame[column].iloc[positions] if column in self.frame else None
        for k, pos in enumerate(positions):
            value = values.iloc[k] if values is not None else None
            text = plain_reason(message(value) if callable(message) else message)
            self.rows.append((int(pos), self.frame.index[int(pos)], column, value, text))

    def add_column(self, column: str, message: str) -> None:
        self.rows.append((-1, None, column, None, message))

    def raise_if_any(self, name: str) -> None:
        if not self.rows:
            return
        order = {name: k for k, name in enumerate(self.frame.columns)}
        # Frame order: by row, then by the column's place in the frame (stable sort).
        ordered = sorted(self.rows, key=lambda r: (r[0], order.get(r[2], len(order))))
        _, rows, columns, values, messages = zip(*ordered, strict=True)
        errors = ProblemFrame(
            {
                "row": list(rows),
                "column": list(columns),
                # object: a bad value may be text no string dtype can hold (a surrogate)
                "value": pd.Series(values, dtype=object),
                "message": list(messages),
            }
        )
        raise FrameValidationError(name, errors)


def _constraints(model: type[Any] | None, name: str) -> list[Any]:
    info = getattr(model, "model_fields", {}).get(name)
    return list(info.metadata) if info is not None else []


def _present(series: pd.Series) -> np.ndarray:
    return np.asarray(series.notna(), dtype=bool)


def _numeric_bounds(model: type[Any] | None, col: str, array: pa.Array, errors: _Errors) -> None:
    checks = {
        at.Ge: (pc.less, "at least", "ge"),
        at.Gt: (pc.less_equal, "greater than", "gt"),
        at.Le: (pc.greater, "at most", "le"),
        at.Lt: (pc.greater_equal, "less than", "lt"),
    }
    for c in _constraints(model, col):
        for kind, (fails, words, attr) in checks.items():
            if isinstance(c, kind):
                bound = getattr(c, attr)
                scalar = pa.scalar(bound, array.type) if pa.types.is_decimal(array.type) else bound
                mask = fails(array, scalar).fill_null(False).to_numpy(zero_copy_only=False)
                errors.add(mask, col, f"must be {words} {bound}")


def _verdict_message(verdict: dict[Any, tuple[bool, Any, str]], value: Any) -> str:
    return verdict[value][2]


def _custom_validators(
    model: type[Any], frame: pd.DataFrame, errors: _Errors, converted: dict[str, pa.Array]
) -> None:
    fields = {f for f in field_validator_fields(model) if f in frame.columns}
    if not fields:
        return
    probe = model.model_construct()
    validator = model.__pydantic_validator__
    for name in sorted(fields):
        series = frame[name]
        verdict: dict[Any, tuple[bool, Any, str]] = {}
        values = series.to_numpy(dtype=object)
        for v in pd.unique(values):
            if is_missing(v):
                continue
            try:
                validator.validate_assignment(probe, name, v)
                verdict[v] = (True, getattr(probe, name), "")
            except Exception as exc:  # pydantic.ValidationError, or the validator's own
                errs = getattr(exc, "errors", None)
                message = errs()[0]["msg"] if callable(errs) else str(exc)
                verdict[v] = (False, None, message)
        bad = np.fromiter(
            (v in verdict and not verdict[v][0] for v in values), dtype=bool, count=len(values)
        )
        errors.add(bad, name, functools.partial(_verdict_message, verdict))
        if name in converted and pa.types.is_string(converted[name].type):
            # A validator may normalise (e.g. lower-case an e-mail): keep its output.
            out = [verdict[v][1] if v in verdict and verdict[v][0] else None for v in values]
            converted[name] = pa.array(out, pa.string())


def unique_keys(table: Table) -> list[tuple[str, ...]]:
    """Every key of ``table`` whose values are unique in all rows, by column name.

    The primary key first, then unique columns, unique constraints (composite
    included) and unique indexes. A partial unique index (``WHERE ...``) is no key: it
    binds only some rows, and ``ON CONFLICT`` cannot name it by its columns alone.
    Expression indexes have no columns and are left out.
    """
    keys = [tuple(c.name for c in table.primary_key.columns)]
    keys += [(c.name,) for c in table.columns if c.unique]
    keys += [
        tuple(c.name for c in con.columns)
        for con in table.constraints
        if isinstance(con, UniqueConstraint)
    ]
    keys += [
        tuple(c.name for c in ix.columns)
        for ix in table.indexes
        if ix.unique and not _partial(ix) and len(ix.columns) == len(ix.expressions)
    ]
    return [k for k in dict.fromkeys(keys) if k]


def _partial(index: Any) -> bool:
    return any(options.get("where") is not None for options in index.dialect_options.values())


def conflict_key(table: Table, columns: Sequence[str]) -> tuple[str, ...]:
    """The key an upsert matches rows on: the first of :func:`unique_keys` whose columns
    are all in ``columns`` (database names); ``()`` when none is."""
    for key in unique_keys(table):
        if all(k in columns for k in key):
            return key
    return ()


def _has_default(key: str, column: Column[Any], model: type[Any] | None) -> bool:
    info = getattr(model, "model_fields", {}).get(key)
    has_model_default = info is not None and not info.is_required()
    return (
        column.default is not None
        or column.server_default is not None
        or column.identity is not None
        or column.computed is not None
        or (
            column.primary_key
            and column.autoincrement in (True, "auto")
            and spec_from_type(column.name, column.type).kind == "int"
        )
        or has_model_default
    )


def _default_values(column: Column[Any], info: Any, n: int) -> list[Any] | None:
    """Values for a column the frame lacks: the model's default, else the column's."""
    if info is not None and not info.is_required():
        if info.default_factory is not None:
            return [info.default_factory() for _ in range(n)]
        return [info.default] * n
    default = column.default
    if default is None or (
        not getattr(default, "is_scalar", False) and not getattr(default, "is_callable", False)
    ):
        return None
    arg: Any = getattr(default, "arg", None)
    if default.is_scalar:
        return [arg] * n
    return [arg(None) for _ in range(n)]


def _defaults(
    model: type[Any] | None, frame: pd.DataFrame, by_key: dict[str, Column[Any]]
) -> pd.DataFrame:
    """Add the columns the frame lacks that have a Python-side default.

    The bulk paths bypass SQLAlchemy's INSERT compilation, which is where Python-side
    defaults (the model's, or ``Column(default=...)``) are normally applied.
    """
    fields = getattr(model, "model_fields", {})
    extra: dict[str, list[Any]] = {}
    for key, column in by_key.items():
        if key in frame.columns or column.primary_key or column.server_default is not None:
            continue
        values = _default_values(column, fields.get(key), len(frame))
        if values is not None:
            extra[key] = values
    if not extra:
        return frame
    return frame.assign(
        **{k: pd.Series(v, index=frame.index, dtype=object) for k, v in extra.items()}
    )


def _table_of(target: type[Any] | Table) -> tuple[type[Any] | None, Table, str]:
    """The model (None for a plain table), its table and the name errors use."""
    if isinstance(target, Table):
        return None, target, target.fullname
    table: Table | None = getattr(target, "__table__", None)
    if table is None:
        raise ConfigurationError(
            f"{target!r} is not a table; pass a SQLModel class with table=True, a "
            "sqlalchemy Table or a table's name."
        )
    return target, table, target.__name__


def string_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column label a string: a label that is not one (``0``, a
    tuple) names the column ``str(label)``, as pandas' ``to_sql`` names it."""
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    return frame.set_axis([c if isinstance(c, str) else str(c) for c in frame.columns], axis=1)


def validate_frame(
    target: type[Any] | Table, frame: pd.DataFrame, *, on_conflict: str = "error"
) -> ValidatedFrame:
    """Check every cell of ``frame`` against a table, and a model's pydantic rules.

    Parameters
    ----------
    target : SQLModel table class or sqlalchemy.Table
    frame : pandas.DataFrame
        Column labels that are not strings name the columns ``str(label)``.
    on_conflict : str
        With ``"update"`` a NOT NULL column without a default may be missing from the
        frame (rows that exist keep their value); it is listed in
        ``ValidatedFrame.missing_required`` for the caller to check the new rows.

    Returns
    -------
    ValidatedFrame

    Raises
    ------
    FrameValidationError
        Lists every bad cell (row label, column, value, message); column-level problems
        (unknown or missing columns) have ``row`` None.
    """
    model, table, name = _table_of(target)
    # Fields by attribute name (a field may be named apart from its column); a frame may
    # name a column by either (read_frame names them as the SQL result does).
    by_key: dict[str, Column[Any]] = (
        dict(sa_inspect(model).columns.items())
        if model is not None
        else {c.key: c for c in table.columns}
    )
    by_name = {c.name: k for k, c in by_key.items() if c.name not in by_key}
    frame = string_labels(frame)
    frame = frame.rename(columns={n: by_name[n] for n in frame.columns if n in by_name})
    errors = _Errors(frame)
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    for label in duplicated:
        errors.add_column(label, "appears more than once in the frame")
    unknown = [c for c in frame.columns if c not in by_key]
    for label in unknown:
        errors.add_column(label, f"is not a column of {name} (its columns: {', '.join(by_key)})")
    for label in frame.columns:
        if label in by_key and by_key[label].computed is not None:
            errors.add_column(
                label, "is computed by the database (GENERATED): leave it out of the frame"
            )
    errors.raise_if_any(name)

    given = tuple(by_key[k].name for k in frame.columns)
    frame = _defaults(model, frame, by_key)
    missing_required = tuple(
        column.name
        for key, column in by_key.items()
        if key not in frame.columns and not column.nullable and not _has_default(key, column, model)
    )
    if on_conflict != "update":
        for column_name in missing_required:
            errors.add_column(
                column_name, "is required (NOT NULL, no default) but missing from the frame"
            )

    converted: dict[str, pa.Array] = {}
    fields: dict[str, pa.Field] = {}
    specs: dict[str, ColumnSpec] = {}
    explicit_serial: str | None = None
    for key in frame.columns:
        column = by_key[key]
        spec = spec_from_type(column.name, column.type)
        if not writable(spec):
            instead = (
                "Write those rows with crud.create_many instead."
                if model is not None
                else "Leave the column out of the frame, or write it with SQL."
            )
            raise ConfigurationError(
                f"insert_frame cannot write column {key!r} of type {column.type}: the "
                "type registry (toolkit.types) has no family for it, so its values could "
                f"not be checked. {instead}"
            )
        series = frame[key]
        array, field = convert(series, spec, errors, key, constraints=_constraints(model, key))
        if spec.kind in ("int", "float", "decimal"):
            _numeric_bounds(model, key, array, errors)
        missing = ~_present(series)
        if column.primary_key and spec.kind == "int" and column.autoincrement in (True, "auto"):
            if missing.all():
                continue  # the database numbers the rows
            errors.add(missing, key, "is NULL while other rows give an id: give every id or none")
            explicit_serial = column.name
        elif not column.nullable:
            errors.add(missing, key, "may not be NULL")
        converted[key] = array
        fields[key] = field
        specs[key] = spec

    if model is not None:
        _custom_validators(model, frame, errors, converted)
    present_frame = frame[list(converted)]
    key_of = {c.name: k for k, c in by_key.items()}
    for unique in unique_keys(table):
        key_cols = tuple(key_of.get(n, n) for n in unique)
        if all(k in converted for k in key_cols):
            subset = present_frame[list(key_cols)]
            dup = subset.duplicated(keep=False).to_numpy() & subset.notna().all(axis=1).to_numpy()
            errors.add(
                dup,
                key_cols[0],
                f"repeats the key ({', '.join(key_cols)}) of another row in the frame",
            )
    errors.raise_if_any(name)
    names = list(converted)
    schema = pa.schema([fields[k].with_type(converted[k].type) for k in names])
    arrow_table = pa.Table.from_arrays([converted[k] for k in names], schema=schema)
    return ValidatedFrame(
        arrow_table,
        [specs[k] for k in names],
        explicit_serial,
        given,
        missing_required if on_conflict == "update" else (),
        frame.index,
    )
