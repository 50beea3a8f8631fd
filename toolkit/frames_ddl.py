"""The SQL type of a new table's column, from a frame column: the inverse of the dtype table.

``insert_frame(..., create=True)`` makes a missing table with these types, chosen so that
reading the table back gives the frame's dtypes again (``int64`` comes back ``Int64``,
the dtype of integers that may be NULL). The README's table of them is
:func:`create_table_doc`, checked against the README by ``tests/test_frames_tables.py``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine, UserDefinedType

from .errors import ConfigurationError
from .types.cells import is_missing

__all__ = ["CREATE_TYPES", "SQLITE_DECLARED", "column_type", "create_table_doc", "declared_type"]


class _Declared(UserDefinedType[Any]):
    """A column type name for SQLite's DDL only (values go through the type it stands
    in for): SQLite keeps the declared name, so reflection can tell the type again."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **kw: Any) -> str:
        return self.name


#: SQLite has no time zone, interval or UUID types: tables made from a frame declare the
#: first three names (holding "TEXT" and no "INT", SQLite and SQLAlchemy give them TEXT
#: affinity), and the toolkit's reflection reads all of these as the types they stand for.
SQLITE_DECLARED: dict[str, TypeEngine[Any]] = {
    "TIMESTAMPTZ TEXT": sqltypes.DateTime(timezone=True),
    "DURATION TEXT": sqltypes.Interval(),
    "UUID TEXT": sqltypes.Uuid(),
    "TIMESTAMP WITH TIME ZONE": sqltypes.DateTime(timezone=True),
    "TIMESTAMPTZ": sqltypes.DateTime(timezone=True),
    "INTERVAL": sqltypes.Interval(),
}


def _tz_datetime() -> TypeEngine[Any]:
    return sqltypes.DateTime(timezone=True).with_variant(_Declared("TIMESTAMPTZ TEXT"), "sqlite")


def _interval() -> TypeEngine[Any]:
    return sqltypes.Interval().with_variant(_Declared("DURATION TEXT"), "sqlite")


def declared_type(declared: str) -> TypeEngine[Any] | None:
    """The type a SQLite column declared as ``declared`` stands for, when reflection
    cannot tell it (:data:`SQLITE_DECLARED`); None for other names."""
    return SQLITE_DECLARED.get(" ".join(declared.upper().split()))


#: (frame dtype, PostgreSQL type, SQLite type) as the README documents them.
CREATE_TYPES: tuple[tuple[str, str, str], ...] = (
    ("`int8` ... `int64`, `Int64`, `uint8` ... `uint32`, Arrow integers", "BIGINT", "BIGINT"),
    ("`uint64`", "NUMERIC(20, 0)", "NUMERIC(20, 0)"),
    ("`float64`, `Float64`, Arrow `double`", "DOUBLE PRECISION", "DOUBLE"),
    ("`float32`, `Float32`, Arrow `float`", "REAL", "REAL"),
    ("`bool`, `boolean`, Arrow `bool`", "BOOLEAN", "BOOLEAN"),
    ("`str`, `string`, `object` of `str`, Arrow `string`", "TEXT", "TEXT"),
    ("`decimal128(p, s)[pyarrow]`", "NUMERIC(p, s)", "NUMERIC(p, s)"),
    ("`object` of `Decimal`", "NUMERIC(p, s), p and s the values' widest", "NUMERIC(p, s)"),
    (
        "`datetime64[..., tz]`, `object` of aware `datetime`",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMPTZ TEXT (the UTC wall time)",
    ),
    ("`datetime64[...]`, `object` of naive `datetime`", "TIMESTAMP WITHOUT TIME ZONE", "DATETIME"),
    ("`object` of `date`, Arrow `date32`", "DATE", "DATE"),
    ("`object` of `time`, Arrow `time64`", "TIME", "TIME"),
    (
        "`timedelta64[...]`, `object` of `timedelta`",
        "INTERVAL",
        "DATETIME (as SQLAlchemy's Interval)",
    ),
    ("`object` of `bytes`, Arrow `binary`", "BYTEA", "BLOB"),
    ("`object` of `UUID`", "UUID", "UUID TEXT (32 hex digits)"),
    ("`object` of `dict` / `list`", "JSON", "JSON"),
    ("Arrow `list<int64>` / `list<string>`", "BIGINT[] / TEXT[]", "(PostgreSQL only)"),
    ("`category`", "the type of its categories", "the same"),
    ("`object` of only NULLs", "TEXT", "TEXT"),
)


def create_table_doc() -> str:
    """The README's table of the types ``create=True`` gives (Markdown)."""
    lines = ["| frame dtype | PostgreSQL | SQLite |", "|---|---|---|"]
    lines += [f"| {dtype} | {pg} | {lite} |" for dtype, pg, lite in CREATE_TYPES]
    return "\n".join(lines)


def _refused(label: str, what: str) -> ConfigurationError:
    return ConfigurationError(
        f"Column {label!r} holds {what}, which tells no single SQL type for a new table. "
        f"Pass dtypes={{{label!r}: <SQLAlchemy type>}} (e.g. sqlalchemy.Text) to choose "
        "it, or convert the column first."
    )


def _arrow_type(t: pa.DataType, label: str, dialect: Dialect) -> TypeEngine[Any]:
    if pa.types.is_boolean(t):
        return sqltypes.Boolean()
    if pa.types.is_uint64(t):
        return sqltypes.Numeric(20, 0)
    if pa.types.is_integer(t):
        return sqltypes.BigInteger()
    if pa.types.is_float32(t) or pa.types.is_float16(t):
        return sqltypes.REAL()
    if pa.types.is_floating(t):
        return sqltypes.Double()
    if pa.types.is_decimal(t):
        return sqltypes.Numeric(t.precision, t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return sqltypes.Text()
    if pa.types.is_timestamp(t):
        return _tz_datetime() if t.tz is not None else sqltypes.DateTime()
    if pa.types.is_date(t):
        return sqltypes.Date()
    if pa.types.is_time(t):
        return sqltypes.Time()
    if pa.types.is_duration(t):
        return _interval()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return sqltypes.LargeBinary()
    if pa.types.is_dictionary(t):
        return _arrow_type(t.value_type, label, dialect)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        item = t.value_type
        if dialect.name == "postgresql" and (
            pa.types.is_integer(item) or pa.types.is_string(item) or pa.types.is_large_string(item)
        ):
            inner: TypeEngine[Any] = (
                sqltypes.BigInteger() if pa.types.is_integer(item) else sqltypes.Text()
            )
            return sqltypes.ARRAY(inner)
    raise _refused(label, f"values of Arrow type {t}")


def _decimal_type(values: list[decimal.Decimal], label: str) -> TypeEngine[Any]:
    digits, scale = 1, 0
    for v in values:
        if not v.is_finite():
            raise _refused(label, f"the decimal {v}")
        _, ds, exponent = v.as_tuple()
        assert isinstance(exponent, int)
        scale = max(scale, -exponent)
        digits = max(digits, len(ds) + exponent)  # digits before the point
    return sqltypes.Numeric(digits + scale, scale)


def _python_type(value: Any) -> type:
    """The Python type a value stands for (a NumPy scalar as its Python kind)."""
    if isinstance(value, np.bool_):
        return bool
    if isinstance(value, np.integer):
        return int
    if isinstance(value, np.floating):
        return float
    if isinstance(value, np.datetime64):
        return dt.datetime
    if isinstance(value, np.timedelta64):
        return dt.timedelta
    return type(value)


def _object_type(series: pd.Series, label: str, dialect: Dialect) -> TypeEngine[Any]:
    values = [v for v in series.tolist() if not is_missing(v)]
    if not values:
        return sqltypes.Text()  # as pandas' to_sql: nothing tells more
    seen = {_python_type(v) for v in values}

    def only(*kinds: type) -> bool:
        return all(issubclass(t, kinds) for t in seen)

    if only(bool):
        return sqltypes.Boolean()
    if only(str):
        return sqltypes.Text()
    if only(int) and not any(issubclass(t, bool) for t in seen):
        return sqltypes.BigInteger()
    if only(int, float) and not any(issubclass(t, bool) for t in seen):
        return sqltypes.Double()
    if only(decimal.Decimal):
        return _decimal_type(values, label)
    if only(dt.datetime):
        aware = {
            getattr(v, "tzinfo", None) is not None and v.utcoffset() is not None for v in values
        }
        if len(aware) > 1:
            raise _refused(label, "datetimes with and without a time zone")
        return _tz_datetime() if aware.pop() else sqltypes.DateTime()
    if only(dt.date) and not any(issubclass(t, dt.datetime) for t in seen):
        return sqltypes.Date()
    if only(dt.time):
        return sqltypes.Time()
    if only(dt.timedelta):
        return _interval()
    if only(bytes, bytearray, memoryview):
        return sqltypes.LargeBinary()
    if only(uuid.UUID):
        return sqltypes.Uuid().with_variant(_Declared("UUID TEXT"), "sqlite")
    if only(dict, list):
        return sqltypes.JSON()
    names = ", ".join(sorted(t.__name__ for t in seen))
    raise _refused(label, f"values of several Python types ({names})")


def column_type(series: pd.Series, label: str, dialect: Dialect) -> TypeEngine[Any]:
    """The SQL type ``create=True`` gives a frame column (see :data:`CREATE_TYPES`).

    Raises
    ------
    ConfigurationError
        The column's values tell no single SQL type (an ``object`` column of mixed
        values, complex numbers, ...): the message says to pass ``dtypes=``.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return column_type(
            pd.Series(dtype.categories, dtype=dtype.categories.dtype), label, dialect
        )
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_type(dtype.pyarrow_dtype, label, dialect)
    if isinstance(dtype, pd.StringDtype):
        return sqltypes.Text()
    if pd.api.types.is_bool_dtype(dtype):
        return sqltypes.Boolean()
    size = getattr(dtype, "itemsize", 8)
    if pd.api.types.is_integer_dtype(dtype):
        return (
            sqltypes.Numeric(20, 0) if dtype.kind == "u" and size == 8 else (sqltypes.BigInteger())
        )
    if pd.api.types.is_float_dtype(dtype):
        return sqltypes.REAL() if size == 4 else sqltypes.Double()
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _tz_datetime()
    if pd.api.types.is_datetime64_dtype(dtype):
        return sqltypes.DateTime(timezone=False)
    if pd.api.types.is_timedelta64_dtype(dtype):
        return _interval()
    if pd.api.types.is_object_dtype(dtype):
        return _object_type(series, label, dialect)
    raise _refused(label, f"values of dtype {dtype}")
