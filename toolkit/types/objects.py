"""Vectorised checks and conversion of frame columns for VARCHAR/TEXT/ENUM, UUID,
JSON/JSONB, BYTEA/BLOB and PostgreSQL arrays of integers and of text."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from typing import Any

import annotated_types as at
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .cells import Problems, is_missing
from .checks import NUL_MESSAGE, SURROGATE_MESSAGE, int_in_range, is_utf8, too_long_message
from .spec import ColumnSpec

__all__ = [
    "bytes_array",
    "int_list_array",
    "json_array",
    "str_array",
    "str_list_array",
    "uuid_array",
]


def _each(
    series: pd.Series, errors: Problems, col: str, convert: Callable[[Any], Any], message: str
) -> list[Any]:
    """``convert`` each present cell (it raises ValueError/TypeError for a bad one);
    NULL cells are None."""
    out: list[Any] = []
    bad = np.zeros(len(series), dtype=bool)
    for i, v in enumerate(series.to_numpy(dtype=object)):
        if _null(v):
            out.append(None)
            continue
        try:
            out.append(convert(v))
        except (ValueError, TypeError, OverflowError):
            bad[i] = True
            out.append(None)
    errors.add(bad, col, message)
    return out


def _null(v: Any) -> bool:
    return not isinstance(v, list | tuple | np.ndarray | dict) and is_missing(v)


def str_array(
    series: pd.Series,
    spec: ColumnSpec,
    errors: Problems,
    col: str,
    constraints: list[Any] | None = None,
) -> pa.Array:
    """A text column: text only (a number is refused: ``astype(str)`` it on purpose),
    within the column's (and the field's ``max_length``/``min_length``) length, without
    NUL, valid Unicode."""
    if pd.api.types.is_string_dtype(series) and series.dtype != object:
        text = series
    else:
        objs = series.to_numpy(dtype=object)
        nonstr = np.fromiter(
            (not is_missing(v) and not isinstance(v, str) for v in objs),
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
    for c in constraints or []:
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


def _uuid(v: Any) -> str:
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, str):
        return str(uuid.UUID(v.strip()))
    if isinstance(v, bytes) and len(v) == 16:
        return str(uuid.UUID(bytes=v))
    raise TypeError("not a UUID")


def uuid_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """A UUID column: ``uuid.UUID`` values or their text (with or without dashes);
    stored canonical (lower-case ``8-4-4-4-12``)."""
    out = _each(series, errors, col, _uuid, "is not a UUID")
    return pa.array(out, pa.string())


def _json_text(v: Any) -> str:
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, np.generic):
        v = v.item()
    text = json.dumps(v, allow_nan=False, default=_json_default)
    if "\\u0000" in text:
        raise ValueError("NUL")
    return text


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} is not JSON")


def json_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """A JSON/JSONB column: any value ``json.dumps`` writes (dicts, lists, text,
    numbers, booleans) without NaN, infinities or NUL characters; stored as its JSON
    text. A missing cell is SQL NULL."""
    out = _each(
        series,
        errors,
        col,
        _json_text,
        "is not JSON (dicts, lists, text, finite numbers, booleans; no NUL characters)",
    )
    return pa.array(out, pa.string())


def _bytes(v: Any) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    raise TypeError("not bytes")


def bytes_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """A BYTEA/BLOB column: ``bytes``, ``bytearray`` or ``memoryview`` (text is refused:
    ``.encode()`` it on purpose)."""
    out = _each(series, errors, col, _bytes, "is not bytes; encode text with .encode() first")
    return pa.array(out, pa.binary())


def _items(v: Any) -> list[Any]:
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if not isinstance(v, list | tuple):
        raise TypeError("not a list")
    return list(v)


def _int_item(item: Any) -> int | None:
    if item is None or (isinstance(item, float) and math.isnan(item)):
        return None
    if isinstance(item, bool | np.bool_):
        raise TypeError("a boolean is not an integer")
    if isinstance(item, int | np.integer) and int_in_range(int(item), 64):
        return int(item)
    if isinstance(item, float) and item.is_integer() and int_in_range(int(item), 64):
        return int(item)
    raise ValueError("not a 64-bit integer")


def _int_list(v: Any) -> list[int | None]:
    return [_int_item(i) for i in _items(v)]


def _str_item(item: Any) -> str | None:
    if item is None:
        return None
    if not isinstance(item, str) or "\x00" in item or not is_utf8(item):
        raise TypeError("not text a column can hold")
    return item


def _str_list(v: Any) -> list[str | None]:
    return [_str_item(i) for i in _items(v)]


def _arrow_lists(series: pd.Series, target: pa.DataType) -> pa.Array | None:
    """A column already of Arrow lists, cast to ``target``; None if it is not one or
    does not cast."""
    dtype = series.dtype
    if not (isinstance(dtype, pd.ArrowDtype) and pa.types.is_list(dtype.pyarrow_dtype)):
        return None
    try:
        return pa.array(series).cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def int_list_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """An array of integers: lists (or tuples, arrays) of 64-bit integers or None."""
    lists = _arrow_lists(series, pa.list_(pa.int64()))
    if lists is not None:
        return lists
    out = _each(series, errors, col, _int_list, "is not a list of 64-bit integers")
    return pa.array(out, pa.list_(pa.int64()))


def str_list_array(series: pd.Series, spec: ColumnSpec, errors: Problems, col: str) -> pa.Array:
    """An array of text: lists (or tuples, arrays) of text (without NUL) or None."""
    lists = _arrow_lists(series, pa.list_(pa.string()))
    if lists is not None and not pc.any(pc.match_substring(pc.list_flatten(lists), "\x00")).as_py():
        return lists
    out = _each(series, errors, col, _str_list, "is not a list of text")
    return pa.array(out, pa.list_(pa.string()))
