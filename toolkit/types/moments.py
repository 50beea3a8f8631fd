"""Vectorised checks and conversion of frame columns for DATE, TIME, TIMESTAMP,
TIMESTAMP WITH TIME ZONE and INTERVAL.

Text is read as ISO 8601 where it is; text shaped ``NN/NN/YYYY`` (or with ``.`` or
``-``) is read both day-first and month-first, and a cell the two readings disagree on
(``05/01/2024``) is refused as ambiguous, naming it: the toolkit never guesses a date per
value. Text one reading alone makes sense of (``13/01/2024``) is that date.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa

from .cells import Problems, is_missing, present
from .spec import ColumnSpec

__all__ = ["interval_array", "moment_array", "time_array"]

_NOT_A_MOMENT = "is not a date/time"
_ISO = re.compile(r"\s*[+-]?\d{4}-")
_DMY = re.compile(r"\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}(?!\d)")


def _ambiguous_message(first: pd.Timestamp, second: pd.Timestamp) -> str:
    return (
        f"could be {first:%Y-%m-%d} (month first) or {second:%Y-%m-%d} (day first); give "
        "dates as YYYY-MM-DD, or parse the column with pd.to_datetime(..., format=...) first"
    )


def _parse_text(objs: pd.Series, errors: Problems, col: str) -> pd.Series:
    """Parse a column of mixed values (text, datetimes) to UTC timestamps, refusing
    text whose day and month could be either way round."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        iso = pd.to_datetime(objs, utc=True, errors="coerce", format="ISO8601")
        rest = present(objs) & ~present(iso)
        if not rest.any():
            return iso
        # Text that starts as ISO 8601 (a year, a dash) is ISO or nothing: dateutil
        # would read 2024-13-01 as January 13.
        others = objs[rest].map(lambda v: None if isinstance(v, str) and _ISO.match(v) else v)
        month_first = pd.to_datetime(others, utc=True, errors="coerce", format="mixed")
        # Only text shaped day/month/year (or month/day/year) has a second reading.
        shaped = others.map(lambda v: isinstance(v, str) and _DMY.match(v) is not None)
        day_first = pd.to_datetime(
            others.where(shaped.astype(bool)),
            utc=True,
            errors="coerce",
            format="mixed",
            dayfirst=True,
        )
    both = present(month_first) & present(day_first)
    differ = both & (month_first != day_first).to_numpy(dtype=bool, na_value=False)
    rest_positions = np.flatnonzero(rest)
    for k in np.flatnonzero(differ):
        errors.add(
            _single(len(objs), int(rest_positions[k])),
            col,
            _ambiguous_message(month_first.iloc[k], day_first.iloc[k]),
        )
    chosen = month_first.where(present(month_first), day_first).where(~differ)
    unreadable = np.zeros(len(objs), dtype=bool)
    unreadable[rest_positions[~differ & ~present(chosen)]] = True
    errors.add(unreadable, col, _NOT_A_MOMENT)
    out = iso.copy()
    out.iloc[rest_positions] = chosen.to_numpy()
    return out


def _single(n: int, pos: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[pos] = True
    return mask


def moment_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """A DATE, TIMESTAMP or TIMESTAMP WITH TIME ZONE column.

    With a time zone, naive values are taken as UTC and everything is stored as UTC;
    without, aware values are converted to UTC, then made naive. A DATE takes dates
    or midnight timestamps.
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        stamps = series.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(series):
        stamps = series.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        errors.add(present(series), col, _NOT_A_MOMENT)
        stamps = pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]")
    else:
        stamps = _parse_text(series.astype(object), errors, col)
    if spec.kind == "date":
        naive = stamps.dt.tz_convert(None)
        errors.add(
            present(naive) & (naive != naive.dt.normalize()),
            col,
            "is a date with a time of day; a DATE column takes dates only",
        )
        days = naive.to_numpy(dtype="datetime64[s]").astype("datetime64[D]")
        return pa.array(days, pa.date32(), mask=~present(naive))
    stamps_us = stamps.astype("datetime64[us, UTC]")
    array = pa.array(stamps_us, pa.timestamp("us", tz="UTC"))
    return array if spec.kind == "datetime_tz" else array.cast(pa.timestamp("us"))


def _time_of(value: object) -> dt.time | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.time):
        return None if value.tzinfo is not None else value
    if isinstance(value, str):
        try:
            parsed = dt.time.fromisoformat(value.strip())
        except ValueError:
            return _clock_time(value)
        return parsed if parsed.tzinfo is None else None
    return None


_CLOCK = re.compile(r"\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*")


def _clock_time(text: str) -> dt.time | None:
    """``H:MM[:SS[.ffffff]]`` with a one-digit hour, which ISO 8601 does not allow."""
    match = _CLOCK.fullmatch(text)
    if match is None:
        return None
    hour, minute, second, fraction = match.groups()
    try:
        return dt.time(
            int(hour), int(minute), int(second or 0), int((fraction or "0").ljust(6, "0"))
        )
    except ValueError:
        return None


def time_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """A TIME column: ``datetime.time`` values (without a time zone) or ISO text
    ``HH:MM[:SS[.ffffff]]``."""
    if isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_time(series.dtype.pyarrow_dtype):
        return pa.array(series).cast(pa.time64("us"))
    out: list[dt.time | None] = []
    bad = np.zeros(len(series), dtype=bool)
    for i, v in enumerate(series.to_numpy(dtype=object)):
        if is_missing(v):
            out.append(None)
            continue
        parsed = _time_of(v)
        bad[i] = parsed is None
        out.append(parsed)
    errors.add(bad, col, "is not a time of day (a datetime.time or text HH:MM:SS)")
    return pa.array(out, pa.time64("us"))


def interval_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """An INTERVAL column: ``timedelta64`` values, ``timedelta`` objects or text pandas
    reads as a duration (``"1 days 02:00:00"``, ``"PT2H"``). Numbers are refused: their
    unit is not known."""
    if pd.api.types.is_timedelta64_dtype(series):
        deltas = series
    elif pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        errors.add(present(series), col, "is a number, not an interval; use pd.to_timedelta")
        deltas = pd.Series(pd.NaT, index=series.index, dtype="timedelta64[us]")
    else:
        objs = series.astype(object)
        numbers = np.fromiter(
            (isinstance(v, int | float | np.number) and not is_missing(v) for v in objs),
            dtype=bool,
            count=len(objs),
        )
        deltas = pd.to_timedelta(objs.where(~numbers), errors="coerce")
        errors.add(numbers, col, "is a number, not an interval; use pd.to_timedelta")
        errors.add(present(objs) & ~numbers & ~present(deltas), col, "is not an interval")
    micros = deltas.astype("timedelta64[us]")
    return pa.array(micros, pa.duration("us"))
