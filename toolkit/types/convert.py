"""``insert_frame``'s vectorised check and conversion, one function per kind.

Each function takes a frame column, the target column's spec, where to report bad cells
(:class:`~toolkit.types.cells.Problems`) and the column's name, and returns the column
as the kind's Arrow array (bad cells NULL). :func:`convert` picks it and tags the
result with the kind for the drivers (:func:`~toolkit.types.encode.tagged_field`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa

from .cells import Problems
from .encode import tagged_field
from .moments import interval_array, moment_array, time_array
from .numbers import bool_array, decimal_array, float_array, int_array
from .objects import (
    bytes_array,
    int_list_array,
    json_array,
    str_array,
    str_list_array,
    uuid_array,
)
from .spec import ColumnSpec

__all__ = ["CONVERTERS", "convert", "writable"]

Converter = Callable[[pd.Series, ColumnSpec, Problems, str], pa.Array]

CONVERTERS: dict[str, Converter] = {
    "int": int_array,
    "float": float_array,
    "bool": bool_array,
    "decimal": decimal_array,
    "uuid": uuid_array,
    "datetime_tz": moment_array,
    "datetime": moment_array,
    "date": moment_array,
    "time": time_array,
    "interval": interval_array,
    "json": json_array,
    "bytes": bytes_array,
    "int_list": int_list_array,
    "str_list": str_list_array,
}


def writable(spec: ColumnSpec) -> bool:
    """Whether ``insert_frame`` can write a column of ``spec`` (every registry family;
    not ``object``, a type the registry does not know)."""
    return spec.kind == "str" or spec.kind in CONVERTERS


def convert(
    series: pd.Series,
    spec: ColumnSpec,
    errors: Problems,
    col: str,
    *,
    constraints: list[Any] | None = None,
) -> tuple[pa.Array, pa.Field]:
    """Check and convert one frame column for a column of ``spec``.

    Returns the Arrow array (bad cells NULL, each reported to ``errors``) and its field,
    named ``spec.name`` and tagged with the kind.
    """
    if spec.kind == "str":
        array = str_array(series, spec, errors, col, constraints)
    else:
        array = CONVERTERS[spec.kind](series, spec, errors, col)
    return array, tagged_field(spec.name, array, spec.kind)
