"""Assembling typed frames from Arrow arrays and decoded chunks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from .decode import Source, column_arrays
from .registry import STRING_DTYPE, arrow_type, pandas_dtype
from .spec import ColumnSpec

__all__ = ["arrow_to_frame", "chunks_to_frame", "empty_frame", "values_to_frame"]


def _types_mapper(t: pa.DataType) -> Any:
    if pa.types.is_integer(t):
        return pd.Int64Dtype()
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return STRING_DTYPE
    if pa.types.is_decimal(t) or pa.types.is_time(t) or pa.types.is_list(t):
        return pd.ArrowDtype(t)
    return None


def _series(spec: ColumnSpec, array: pa.Array | pa.ChunkedArray) -> pd.Series:
    series: pd.Series = array.to_pandas(types_mapper=_types_mapper)
    dtype = pandas_dtype(spec)
    if str(series.dtype) != str(dtype):
        series = series.astype(dtype)
    return series


def _assemble(
    specs: Sequence[ColumnSpec], columns: Sequence[pd.Series | Sequence[Any]]
) -> pd.DataFrame:
    # Positional keys first, names after: a result may repeat a column name.
    frame = pd.DataFrame(dict(enumerate(columns)), copy=False)
    frame.columns = pd.Index([s.name for s in specs])
    return frame


def empty_frame(specs: Sequence[ColumnSpec]) -> pd.DataFrame:
    """A frame with no rows and the columns and dtypes of ``specs``."""
    return _assemble(specs, [pd.Series([], dtype=pandas_dtype(s)) for s in specs])


def arrow_to_frame(table: pa.Table, specs: Sequence[ColumnSpec]) -> pd.DataFrame:
    """Convert an Arrow table (of the specs' :func:`arrow_type`) to a typed frame."""
    return _assemble(specs, [_series(s, table.column(i)) for i, s in enumerate(specs)])


def chunks_to_frame(
    specs: Sequence[ColumnSpec], chunks: Sequence[Sequence[pa.Array | list[Any]]]
) -> pd.DataFrame:
    """One typed frame from chunks made by :func:`column_arrays`, in order."""
    if not chunks:
        return empty_frame(specs)
    series: list[pd.Series] = []
    for i, spec in enumerate(specs):
        parts = [chunk[i] for chunk in chunks]
        if arrow_type(spec) is None:
            values = [v for part in parts for v in part]
            series.append(pd.Series(values, dtype="object"))
        else:
            series.append(_series(spec, pa.chunked_array(parts, arrow_type(spec))))
    return _assemble(specs, series)


def values_to_frame(
    specs: Sequence[ColumnSpec],
    columns: Sequence[Sequence[Any]],
    source: Source = "python",
) -> pd.DataFrame:
    """Build a typed frame from per-column sequences of values (``None`` for NULL)
    as ``source`` (a driver, or Python objects) gives them."""
    return chunks_to_frame(specs, [column_arrays(specs, columns, source)])
