"""Vectorised validation of a DataFrame against a SQLModel table, for ``insert_frame``.

Split from :mod:`toolkit.dtypes` (which holds the type rules it applies) to keep each
module to one concern. Every check runs over whole columns; the model's own pydantic
validators (``@field_validator``), which no vectorised check can express, run once per
*distinct* value of the fields they cover. Every failure of every row is collected,
then raised together as :class:`~toolkit.errors.FrameValidationError`.

Value rules, per target column kind (see :mod:`toolkit.dtypes`):

- int: numbers without a fraction or numeric text, within the column's range (INTEGER
  is 32-bit on both dialects, BIGINT 64-bit); bool is refused.
- float: numbers or numeric text; NaN is NULL, infinities are kept.
- bool: bool, 0/1, or the text true/false/t/f/yes/no/y/n/1/0 (any case).
- text: text only (a number in a text column is refused: convert it on purpose with
  ``astype(str)``); length within the column's; no NUL character (PostgreSQL cannot
  store one, so SQLite refuses it too).
- decimal: numbers, numeric text or ``Decimal``; no more decimal places than the scale,
  no more digits than the precision.
- timestamp with time zone: naive values are taken as UTC; stored as UTC.
- timestamp without time zone: aware values are converted to UTC, then made naive.
- date: dates or midnight timestamps.
"""

from __future__ import annotations

import decimal
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import annotated_types as at
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Column, Table, UniqueConstraint
from sqlalchemy import inspect as sa_inspect

from .dtypes import (
    NOT_FINITE_DECIMAL,
    NUL_MESSAGE,
    SURROGATE_MESSAGE,
    ColumnSpec,
    arrow_type,
    decimal_digits_message,
    decimal_places_message,
    decimal_problem,
    int_in_range,
    int_range_message,
    is_utf8,
    spec_from_type,
    too_long_message,
)
from .errors import ConfigurationError, FrameValidationError, plain_reason
from .problems import ProblemFrame

__all__ = ["ValidatedFrame", "validate_frame"]

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


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

    def raise_if_any(self, model: type[Any]) -> None:
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
        raise FrameValidationError(model.__name__, errors)


def _constraints(model: type[Any], name: str) -> list[Any]:
    info = getattr(model, "model_fields", {}).get(name)
    return list(info.metadata) if info is not None else []


def _numeric(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series
    if pd.api.types.is_bool_dtype(series):
        return pd.Series(np.nan, index=series.index)
    return pd.to_numeric(series.astype("object"), errors="coerce")


def _present(series: pd.Series) -> np.ndarray:
    return np.asarray(series.notna(), dtype=bool)


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _object_ints(series: pd.Series, spec: ColumnSpec, errors: _Errors, col: str) -> pa.Array:
    """Exact, value by value: Python ints of any size, integral floats, numeric text."""
    out: list[int | None] = []
    kinds: dict[str, np.ndarray] = {
        k: np.zeros(len(series), dtype=bool) for k in ("type", "whole", "range")
    }
    for i, v in enumerate(series.to_numpy(dtype=object)):
        value: int | None = None
        if _missing(v):
            out.append(None)
            continue
        if isinstance(v, bool | np.bool_):
            kinds["type"][i] = True
        elif isinstance(v, int | np.integer):
            value = int(v)
        else:
            try:
                number = decimal.Decimal(v.strip() if isinstance(v, str) else v)
            except (decimal.InvalidOperation, TypeError, ValueError):
                kinds["type"][i] = True
            else:
                if number.is_finite() and number == number.to_integral_value():
                    value = int(number)
                else:
                    kinds["whole"][i] = True
        if value is not None and not int_in_range(value, spec.bits):
            kinds["range"][i] = True
            value = None
        out.append(value)
    errors.add(kinds["type"], col, "is not an integer")
    errors.add(kinds["whole"], col, "is not a whole number")
    errors.add(kinds["range"], col, int_range_message(spec.bits))
    return pa.array(out, pa.int64())


def _int_array(series: pd.Series, spec: ColumnSpec, errors: _Errors, col: str) -> pa.Array:
    if pd.api.types.is_bool_dtype(series):
        errors.add(_present(series), col, "is a boolean, not an integer")
        return pa.nulls(len(series), pa.int64())
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        return _object_ints(series, spec, errors, col)
    num = _numeric(series)
    values = num.to_numpy(dtype="float64", na_value=np.nan) if num.dtype.kind != "i" else None
    if values is not None:
        with np.errstate(invalid="ignore"):
            frac = np.isfinite(values) & (np.floor(values) != values)
            inf = np.isinf(values)
        errors.add(frac | inf, col, "is not a whole number")
        limit_f = float(2 ** (spec.bits - 1))
        with np.errstate(invalid="ignore"):
            out = np.isfinite(values) & ((values < -limit_f) | (values >= limit_f))
        errors.add(out, col, int_range_message(spec.bits))
        keep = np.isfinite(values) & ~frac & ~out
        ints = np.where(keep, values, 0).astype("int64")
        return pa.array(ints, pa.int64(), mask=~keep)
    ints64 = num.to_numpy(dtype="int64", na_value=0)
    limit = 2 ** (spec.bits - 1)
    if spec.bits < 64:
        out = _present(num) & ((ints64 < -limit) | (ints64 >= limit))
        errors.add(out, col, int_range_message(spec.bits))
    return pa.array(ints64, pa.int64(), mask=~_present(num))


def _float_array(series: pd.Series, errors: _Errors, col: str) -> pa.Array:
    if series.dtype == object:
        out: list[float | None] = []
        bad = np.zeros(len(series), dtype=bool)
        for i, v in enumerate(series.to_numpy(dtype=object)):
            try:
                if _missing(v):
                    out.append(None)
                    continue
                if isinstance(v, bool | np.bool_):
                    raise TypeError("a boolean is not a number")
                number = float(v.strip() if isinstance(v, str) else v)
            except (TypeError, ValueError, OverflowError):
                bad[i] = True
                out.append(None)
            else:
                out.append(None if math.isnan(number) else number)
        errors.add(bad, col, "is not a number")
        return pa.array(out, pa.float64())
    num = _numeric(series)
    errors.add(_present(series) & ~_present(num), col, "is not a number")
    values = num.to_numpy(dtype="float64", na_value=np.nan)
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def _bool_array(series: pd.Series, errors: _Errors, col: str) -> pa.Array:
    if pd.api.types.is_bool_dtype(series):
        return pa.array(series.astype("boolean"), pa.bool_())
    out: list[bool | None] = []
    bad = np.zeros(len(series), dtype=bool)
    for i, v in enumerate(series.to_numpy(dtype=object)):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, bool | np.bool_) or (
            isinstance(v, int | float | np.integer | np.floating) and v in (0, 1)
        ):
            out.append(bool(v))
        elif isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
            out.append(v.strip().lower() in _TRUE)
        else:
            bad[i] = True
            out.append(None)
    errors.add(bad, col, "is not a boolean (use True/False, 1/0 or 'true'/'false')")
    return pa.array(out, pa.bool_())


def _str_array(
    series: pd.Series, spec: ColumnSpec, model: type[Any], errors: _Errors, col: str
) -> pa.Array:
    if pd.api.types.is_string_dtype(series) and series.dtype != object:
        text = series
    else:
        objs = series.to_numpy(dtype=object)
        nonstr = np.fromiter(
            (
                v is not None
                and v is not pd.NA
                and not isinstance(v, str)
                and not (isinstance(v, float) and math.isnan(v))
                for v in objs
            ),
            dtype=bool,
            count=len(objs),
        )
        errors.add(
            nonstr,
            col,
            lambda v: (
                f"is not text (got {type(v).__name__}); convert the column with astype(str) first"
            ),
        )
        text = series.where(~nonstr)
    try:
        text = text.astype(pd.StringDtype("pyarrow"))
    except UnicodeEncodeError:
        # Lone surrogates (from a surrogateescape decode) are not UTF-8: no database
        # stores them. Name those cells, keep the rest.
        bad = np.fromiter(
            (isinstance(v, str) and not is_utf8(v) for v in text.to_numpy(dtype=object)),
            dtype=bool,
            count=len(text),
        )
        errors.add(bad, col, SURROGATE_MESSAGE)
        text = text.where(~bad).astype(pd.StringDtype("pyarrow"))
    lengths = text.str.len().to_numpy(dtype="float64", na_value=np.nan)
    max_length = spec.max_length
    min_length = 0
    for c in _constraints(model, col):
        if isinstance(c, at.MaxLen):
            max_length = min(max_length or c.max_length, c.max_length)
        if isinstance(c, at.MinLen):
            min_length = c.min_length
    if max_length is not None:
        errors.add(lengths > max_length, col, too_long_message(max_length))
    if min_length:
        errors.add(lengths < min_length, col, f"is shorter than {min_length} characters")
    nul = text.str.contains("\x00", regex=False).to_numpy(dtype=bool, na_value=False)
    errors.add(nul, col, NUL_MESSAGE)
    return pa.array(text, pa.string())


def _decimal_array(series: pd.Series, spec: ColumnSpec, errors: _Errors, col: str) -> pa.Array:
    scale = spec.scale or 0
    precision = spec.precision or 38
    target = pa.decimal128(precision, scale)
    if isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_decimal(series.dtype.pyarrow_dtype):
        series = series.astype(object)
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        out: list[decimal.Decimal | None] = []
        problems: dict[str, np.ndarray] = {}
        step = decimal.Decimal(1).scaleb(-scale)
        context = decimal.Context(prec=precision + 2)
        for i, v in enumerate(series.to_numpy(dtype=object)):
            if _missing(v):
                out.append(None)
                continue
            try:
                if isinstance(v, bool | np.bool_):
                    raise TypeError("a boolean is not a number")
                d = decimal.Decimal(v) if not isinstance(v, float) else decimal.Decimal(repr(v))
            except (decimal.InvalidOperation, TypeError, ValueError):
                problem: str | None = NOT_FINITE_DECIMAL
            else:
                problem = decimal_problem(d, precision, scale)
            if problem is None:
                out.append(d.quantize(step, context=context))
            else:
                problems.setdefault(problem, np.zeros(len(series), dtype=bool))[i] = True
                out.append(None)
        for message, mask in problems.items():
            errors.add(mask, col, message)
        return pa.array(out, target)
    num = _numeric(series)
    errors.add(_present(series) & ~_present(num), col, "is not a number")
    values = num.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    # A float has more decimal places than the scale unless it is (within a few units in
    # the last place, the noise of float arithmetic) the float nearest a decimal of that
    # scale. An absolute or relative tolerance would let a third place through from some
    # magnitude on (1000.005 -> 1000.00) and then round it away.
    with np.errstate(invalid="ignore", over="ignore"):
        rounded = np.round(values, scale)
        limit = float(10 ** (precision - scale))
        noise = 4 * np.spacing(np.abs(values))
        places_f = finite & (np.abs(values) < limit) & (np.abs(values - rounded) > noise)
        # Too many digits as given, or once rounded to the scale (just under the limit).
        big_f = finite & ~places_f & (np.abs(rounded) >= limit)
    errors.add(~finite & ~np.isnan(values), col, NOT_FINITE_DECIMAL)
    errors.add(places_f, col, decimal_places_message(scale))
    errors.add(big_f, col, decimal_digits_message(precision, scale))
    keep = finite & ~places_f & ~big_f
    floats = pa.array(np.where(keep, rounded, 0.0), pa.float64(), mask=~keep)
    return pc.round(floats, scale).cast(target)


def _datetime_array(series: pd.Series, spec: ColumnSpec, errors: _Errors, col: str) -> pa.Array:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        stamps = series.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(series):
        stamps = series.dt.tz_localize("UTC")
    else:
        objs = series.astype(object)
        stamps = pd.to_datetime(objs, utc=True, errors="coerce", format="mixed")
        errors.add(_present(series) & ~_present(stamps), col, "is not a date/time")
    if spec.kind == "date":
        naive = stamps.dt.tz_convert(None)
        errors.add(
            _present(naive) & (naive != naive.dt.normalize()),
            col,
            "is a date with a time of day; a DATE column takes dates only",
        )
        days = naive.to_numpy(dtype="datetime64[s]").astype("datetime64[D]")
        return pa.array(days, pa.date32(), mask=~_present(naive))
    stamps_us = stamps.astype("datetime64[us, UTC]")
    array = pa.array(stamps_us, pa.timestamp("us", tz="UTC"))
    return array if spec.kind == "datetime_tz" else array.cast(pa.timestamp("us"))


def _numeric_bounds(model: type[Any], col: str, array: pa.Array, errors: _Errors) -> None:
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
    decorators = getattr(model, "__pydantic_decorators__", None)
    if decorators is None:
        return
    fields: set[str] = set()
    for dec in decorators.field_validators.values():
        fields.update(f for f in dec.info.fields if f in frame.columns)
    if not fields:
        return
    probe = model.model_construct()
    validator = model.__pydantic_validator__
    for name in sorted(fields):
        series = frame[name]
        verdict: dict[Any, tuple[bool, Any, str]] = {}
        values = series.to_numpy(dtype=object)
        for v in pd.unique(values):
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
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


def _unique_keys(table: Table) -> list[tuple[str, ...]]:
    keys = [tuple(c.name for c in table.primary_key.columns)]
    keys += [(c.name,) for c in table.columns if c.unique]
    keys += [
        tuple(c.name for c in con.columns)
        for con in table.constraints
        if isinstance(con, UniqueConstraint)
    ]
    keys += [tuple(c.name for c in ix.columns) for ix in table.indexes if ix.unique]
    return [k for k in dict.fromkeys(keys) if k]


def _has_default(key: str, column: Column[Any], model: type[Any]) -> bool:
    info = getattr(model, "model_fields", {}).get(key)
    has_model_default = info is not None and not info.is_required()
    return (
        column.default is not None
        or column.server_default is not None
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
    model: type[Any], frame: pd.DataFrame, by_key: dict[str, Column[Any]]
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


def validate_frame(model: type[Any], frame: pd.DataFrame) -> ValidatedFrame:
    """Check every cell of ``frame`` against ``model``'s table and pydantic rules.

    Returns
    -------
    ValidatedFrame

    Raises
    ------
    FrameValidationError
        Lists every bad cell (row label, column, value, message); column-level problems
        (unknown or missing columns) have ``row`` None.
    """
    table: Table | None = getattr(model, "__table__", None)
    if table is None:
        raise ConfigurationError(
            f"{model!r} is not a table model; pass a SQLModel class with table=True."
        )
    # Fields by attribute name (a field may be named apart from its column); a frame may
    # name a column by either (read_frame names them as the SQL result does).
    by_key: dict[str, Column[Any]] = dict(sa_inspect(model).columns.items())
    by_name = {c.name: k for k, c in by_key.items() if c.name not in by_key}
    frame = frame.rename(columns={n: by_name[n] for n in frame.columns if n in by_name})
    errors = _Errors(frame)
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    for name in duplicated:
        errors.add_column(str(name), "appears more than once in the frame")
    unknown = [c for c in frame.columns if c not in by_key]
    for name in unknown:
        errors.add_column(
            str(name), f"is not a column of {model.__name__} (its columns: {', '.join(by_key)})"
        )
    errors.raise_if_any(model)

    given = tuple(by_key[k].name for k in frame.columns)
    frame = _defaults(model, frame, by_key)
    for key, column in by_key.items():
        if (
            key not in frame.columns
            and not column.nullable
            and not _has_default(key, column, model)
        ):
            errors.add_column(key, "is required (NOT NULL, no default) but missing from the frame")

    converted: dict[str, pa.Array] = {}
    specs: dict[str, ColumnSpec] = {}
    explicit_serial: str | None = None
    for key in frame.columns:
        column = by_key[key]
        spec = spec_from_type(column.name, column.type)
        if arrow_type(spec) is None:
            raise ConfigurationError(
                f"insert_frame cannot write column {key!r} of type {column.type}; write "
                f"those rows with crud.create_many instead."
            )
        series = frame[key]
        match spec.kind:
            case "int":
                array = _int_array(series, spec, errors, key)
            case "float":
                array = _float_array(series, errors, key)
            case "bool":
                array = _bool_array(series, errors, key)
            case "str":
                array = _str_array(series, spec, model, errors, key)
            case "decimal":
                array = _decimal_array(series, spec, errors, key)
            case _:
                array = _datetime_array(series, spec, errors, key)
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
        specs[key] = spec

    _custom_validators(model, frame, errors, converted)
    present_frame = frame[list(converted)]
    key_of = {c.name: k for k, c in by_key.items()}
    for unique in _unique_keys(table):
        key_cols = tuple(key_of.get(n, n) for n in unique)
        if all(k in converted for k in key_cols):
            subset = present_frame[list(key_cols)]
            dup = subset.duplicated(keep=False).to_numpy() & subset.notna().all(axis=1).to_numpy()
            errors.add(
                dup,
                key_cols[0],
                f"repeats the key ({', '.join(key_cols)}) of another row in the frame",
            )
    errors.raise_if_any(model)
    names = list(converted)
    arrow_table = pa.table([converted[k] for k in names], names=[by_key[k].name for k in names])
    return ValidatedFrame(arrow_table, [specs[k] for k in names], explicit_serial, given)
