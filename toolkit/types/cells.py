"""Helpers shared by the vectorised conversions: missing cells, and where problems go."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd

__all__ = ["Problems", "complex_parts", "is_missing", "numeric", "present"]


class Problems(Protocol):
    """Collects bad cells: ``add(mask, column, message)`` names every cell of ``column``
    where ``mask`` is true (``message`` may be a function of the cell's value)."""

    def add(
        self, mask: np.ndarray | pd.Series, column: str, message: str | Callable[[Any], str]
    ) -> None: ...


def is_missing(v: Any) -> bool:
    """None, ``pd.NA``, ``NaT`` or a float NaN: a NULL cell."""
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def present(series: pd.Series) -> np.ndarray:
    return np.asarray(series.notna(), dtype=bool)


def numeric(series: pd.Series) -> pd.Series:
    """A numeric view of ``series``: numbers as they are, text parsed (NaN where it is
    not a number), booleans NaN (a boolean is not a number)."""
    if pd.api.types.is_bool_dtype(series):
        return pd.Series(np.nan, index=series.index)
    if pd.api.types.is_numeric_dtype(series):
        return series
    return pd.to_numeric(series.astype("object"), errors="coerce")


def complex_parts(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """For a complex column: NaN in place of every value, and where the values were (a
    real column refuses complex numbers, whatever their imaginary part: a column of
    them is not real numbers, and taking ``.real`` is the caller's decision). Other
    columns come back as they are."""
    if series.dtype.kind != "c":
        return series, np.zeros(len(series), dtype=bool)
    return pd.Series(np.nan, index=series.index), present(series)
