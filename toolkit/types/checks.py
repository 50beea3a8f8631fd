"""What a SQL column can hold, one value at a time (CRUD writes and search lookups).

The same rules and messages as the vectorised checks of :mod:`toolkit.types.convert`
(``insert_frame``), looked up by the column's kind.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from typing import Any

from .spec import ColumnSpec

__all__ = [
    "COMPLEX_MESSAGE",
    "NOT_FINITE_DECIMAL",
    "NUL_MESSAGE",
    "SURROGATE_MESSAGE",
    "decimal_digits_message",
    "decimal_places_message",
    "decimal_problem",
    "int_in_range",
    "int_range_message",
    "is_utf8",
    "too_long_message",
    "value_problem",
]

NUL_MESSAGE = "contains a NUL character, which PostgreSQL cannot store"
SURROGATE_MESSAGE = "is not valid Unicode text (a lone surrogate); fix its encoding"
NOT_FINITE_DECIMAL = "is not a finite decimal number"
COMPLEX_MESSAGE = (
    "is a complex number; the column holds real numbers only (take .real or abs() on purpose)"
)


def int_range_message(bits: int) -> str:
    return f"is outside the range of a {bits}-bit integer"


def too_long_message(max_length: int) -> str:
    return f"is longer than {max_length} characters"


def decimal_places_message(scale: int) -> str:
    return f"has more than {scale} decimal places"


def decimal_digits_message(precision: int, scale: int) -> str:
    return f"has more than {precision - scale} digits before the point"


def is_utf8(text: str) -> bool:
    """False for text holding a lone surrogate (e.g. from a ``surrogateescape`` decode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def int_in_range(value: int, bits: int) -> bool:
    limit = 1 << (bits - 1)
    return -limit <= value < limit


#: Room for any NUMERIC (precision up to 1000) when quantizing without rounding.
_WIDE = decimal.Context(prec=1002)


def decimal_problem(value: decimal.Decimal, precision: int, scale: int) -> str | None:
    """Why NUMERIC(precision, scale) cannot hold ``value`` exactly, or None."""
    if not value.is_finite():
        return NOT_FINITE_DECIMAL
    if value and value.adjusted() >= precision - scale:  # its leading digit's exponent
        return decimal_digits_message(precision, scale)
    if value != value.quantize(decimal.Decimal(1).scaleb(-scale), context=_WIDE):
        return decimal_places_message(scale)
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL_MESSAGE
    return None if is_utf8(text) else SURROGATE_MESSAGE


def _int(spec: ColumnSpec, value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return None if int_in_range(value, spec.bits) else int_range_message(spec.bits)
    return None


def _str(spec: ColumnSpec, value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    problem = _text_problem(value)
    if problem is None and spec.max_length is not None and len(value) > spec.max_length:
        return too_long_message(spec.max_length)
    return problem


def _decimal(spec: ColumnSpec, value: Any) -> str | None:
    if isinstance(value, complex):
        return COMPLEX_MESSAGE
    if not isinstance(value, decimal.Decimal):
        return None
    if spec.scale is None:
        return None if value.is_finite() else NOT_FINITE_DECIMAL
    return decimal_problem(value, spec.precision or 38, spec.scale)


def _float(spec: ColumnSpec, value: Any) -> str | None:
    return COMPLEX_MESSAGE if isinstance(value, complex) else None


def _int_list(spec: ColumnSpec, value: Any) -> str | None:
    if isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, int) and not int_in_range(item, 64):
                return "holds an integer outside the range of a 64-bit integer"
    return None


def _str_list(spec: ColumnSpec, value: Any) -> str | None:
    if isinstance(value, list | tuple):
        for item in value:
            problem = _text_problem(item) if isinstance(item, str) else None
            if problem is not None:
                return f"holds text that {problem}"
    return None


def _json(spec: ColumnSpec, value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number, which JSON cannot hold"
    if isinstance(value, str):
        return _text_problem(value)
    return None


_CHECKS: dict[str, Callable[[ColumnSpec, Any], str | None]] = {
    "int": _int,
    "str": _str,
    "decimal": _decimal,
    "float": _float,
    "int_list": _int_list,
    "str_list": _str_list,
    "json": _json,
}


def value_problem(spec: ColumnSpec, value: Any) -> str | None:
    """Why a column of ``spec`` cannot store ``value`` exactly, or None when it can.

    ``value`` is already of the field's Python type (pydantic has run). Checked: the
    integer range, text length, NUL and encoding, a NUMERIC's precision and scale, and
    complex numbers (refused by number columns, never truncated to their real part).
    """
    if value is None:
        return None
    check = _CHECKS.get(spec.kind)
    return check(spec, value) if check is not None else None
