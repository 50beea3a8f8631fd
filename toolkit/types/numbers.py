"""Vectorised checks and conversion of frame columns for number and boolean families:
SMALLINT/INTEGER/BIGINT, REAL/DOUBLE, NUMERIC (with and without precision), BOOLEAN."""

from __future__ import annotations

import decimal
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .cells import Problems, complex_parts, is_missing, numeric, present
from .checks import (
    COMPLEX_MESSAGE,
    NOT_FINITE_DECIMAL,
    decimal_digits_message,
    decimal_places_message,
    decimal_problem,
    int_in_range,
    int_range_message,
)
from .registry import DECIMAL128_DIGITS
from .spec import ColumnSpec

__all__ = ["bool_array", "decimal_array", "float_array", "int_array"]

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def _object_ints(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """Exact, value by value: Python ints of any size, integral floats, numeric text."""
    out: list[int | None] = []
    kinds: dict[str, np.ndarray] = {
        k: np.zeros(len(series), dtype=bool) for k in ("type", "whole", "range", "complex")
    }
    for i, v in enumerate(series.to_numpy(dtype=object)):
        value: int | None = None
        if is_missing(v):
            out.append(None)
            continue
        if isinstance(v, complex | np.complexfloating):
            kinds["complex"][i] = True
        elif isinstance(v, bool | np.bool_):
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
    errors.add(kinds["complex"], col, COMPLEX_MESSAGE)
    errors.add(kinds["whole"], col, "is not a whole number")
    errors.add(kinds["range"], col, int_range_message(spec.bits))
    return pa.array(out, pa.int64())


def int_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """An INTEGER column: whole numbers (or their text) within the column's range."""
    if pd.api.types.is_bool_dtype(series):
        errors.add(present(series), col, "is a boolean, not an integer")
        return pa.nulls(len(series), pa.int64())
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        return _object_ints(series, spec, errors, col)
    series, complex_cells = complex_parts(series)
    errors.add(complex_cells, col, COMPLEX_MESSAGE)
    num = numeric(series)
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
        out = present(num) & ((ints64 < -limit) | (ints64 >= limit))
        errors.add(out, col, int_range_message(spec.bits))
    return pa.array(ints64, pa.int64(), mask=~present(num))


def float_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """A REAL/DOUBLE column (and a NUMERIC without precision): numbers or numeric text;
    NaN is NULL, infinities are kept; complex numbers and booleans are refused."""
    if series.dtype == object:
        out: list[float | None] = []
        bad = np.zeros(len(series), dtype=bool)
        cplx = np.zeros(len(series), dtype=bool)
        for i, v in enumerate(series.to_numpy(dtype=object)):
            if is_missing(v):
                out.append(None)
                continue
            if isinstance(v, complex | np.complexfloating):
                cplx[i] = True
                out.append(None)
                continue
            try:
                if isinstance(v, bool | np.bool_):
                    raise TypeError("a boolean is not a number")
                number = float(v.strip() if isinstance(v, str) else v)
            except (TypeError, ValueError, OverflowError):
                bad[i] = True
                out.append(None)
            else:
                out.append(None if math.isnan(number) else number)
        errors.add(bad, col, "is not a number")
        errors.add(cplx, col, COMPLEX_MESSAGE)
        return pa.array(out, pa.float64())
    series, complex_cells = complex_parts(series)
    errors.add(complex_cells, col, COMPLEX_MESSAGE)
    num = numeric(series)
    errors.add(present(series) & ~present(num) & ~complex_cells, col, "is not a number")
    values = num.to_numpy(dtype="float64", na_value=np.nan)
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def bool_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """A BOOLEAN column: bool, 0/1, or the text true/false/t/f/yes/no/y/n/1/0."""
    if pd.api.types.is_bool_dtype(series):
        return pa.array(series.astype("boolean"), pa.bool_())
    out: list[bool | None] = []
    bad = np.zeros(len(series), dtype=bool)
    for i, v in enumerate(series.to_numpy(dtype=object)):
        if is_missing(v):
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


def _object_decimals(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    scale = spec.scale or 0
    precision = spec.precision or 38
    out: list[decimal.Decimal | None] = []
    problems: dict[str, np.ndarray] = {}
    step = decimal.Decimal(1).scaleb(-scale)
    context = decimal.Context(prec=precision + 2)
    for i, v in enumerate(series.to_numpy(dtype=object)):
        if is_missing(v):
            out.append(None)
            continue
        problem: str | None
        if isinstance(v, complex | np.complexfloating):
            problem = COMPLEX_MESSAGE
        else:
            try:
                if isinstance(v, bool | np.bool_):
                    raise TypeError("a boolean is not a number")
                d = decimal.Decimal(v) if not isinstance(v, float) else decimal.Decimal(repr(v))
            except (decimal.InvalidOperation, TypeError, ValueError):
                problem = NOT_FINITE_DECIMAL
            else:
                problem = decimal_problem(d, precision, scale)
        if problem is None:
            out.append(d.quantize(step, context=context))
        else:
            problems.setdefault(problem, np.zeros(len(series), dtype=bool))[i] = True
            out.append(None)
    for message, mask in problems.items():
        errors.add(mask, col, message)
    if precision > DECIMAL128_DIGITS:
        return pa.array([None if d is None else format(d, "f") for d in out], pa.string())
    return pa.array(out, pa.decimal128(precision, scale))


def decimal_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """A NUMERIC(p, s) column: numbers, numeric text or ``Decimal``, with no more decimal
    places than the scale and no more digits than the precision. A NUMERIC without
    precision is a float column (its frame dtype is ``float64``)."""
    if spec.scale is None:
        return float_array(series, spec, errors, col)
    scale = spec.scale
    precision = spec.precision or 38
    if isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_decimal(series.dtype.pyarrow_dtype):
        series = series.astype(object)
    if (
        series.dtype == object
        or pd.api.types.is_string_dtype(series)
        or precision > DECIMAL128_DIGITS
    ):
        return _object_decimals(series.astype(object), spec, errors, col)
    target = pa.decimal128(precision, scale)
    series, complex_cells = complex_parts(series)
    errors.add(complex_cells, col, COMPLEX_MESSAGE)
    num = numeric(series)
    errors.add(present(series) & ~present(num) & ~complex_cells, col, "is not a number")
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
