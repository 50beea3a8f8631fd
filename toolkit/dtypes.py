"""SQL column types -> pandas dtypes, decided by the column's type, never by its values.

The rules (the same on SQLite and PostgreSQL, and in every chunk of a stream):

=============================  ====================================================
SQL type                       pandas dtype
=============================  ====================================================
SMALLINT / INTEGER / BIGINT    ``Int64`` (nullable; NULL is ``<NA>``)
BOOLEAN                        ``boolean`` (nullable)
VARCHAR / TEXT / ENUM / UUID   ``string[pyarrow]`` (``StringDtype``; NULL is ``<NA>``)
REAL / DOUBLE / FLOAT          ``float64`` (NULL is ``NaN``)
NUMERIC(p, s)                  ``decimal128(p, s)[pyarrow]``: exact, vectorised, and
                               ``.astype(float)`` away when speed matters more;
                               NUMERIC(p) is NUMERIC(p, 0); a bare NUMERIC (any
                               size and scale) or one of more than 38 digits is
                               ``object`` holding ``Decimal``
TIMESTAMP WITH TIME ZONE       ``datetime64[us, UTC]`` (converted to UTC)
TIMESTAMP (naive)              ``datetime64[us]``
DATE                           ``datetime64[s]`` at midnight: pandas has no date dtype,
                               and datetime64 keeps ``.dt``, resampling and plotting
TIME, BYTEA/BLOB, JSON, other  ``object`` holding the driver's Python values
=============================  ====================================================

A query written as a SQL string has no SQLAlchemy types. On PostgreSQL the toolkit
asks the server for the result's column types (a prepared statement's attributes) and
applies the same rules. On SQLite, which has no column types in results, each column's
type is inferred from the first chunk's values (int, float, text, bytes; a column of
only NULLs is ``object``) and then kept for every later chunk; pass ``dtypes=`` to
:func:`toolkit.read_frame` to fix it, or wrap the SQL as
``text(sql).columns(col=Integer, ...)``.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import types as sqltypes

__all__ = [
    "ColumnSpec",
    "arrow_to_frame",
    "arrow_type",
    "chunks_to_frame",
    "column_arrays",
    "empty_frame",
    "infer_specs",
    "model_specs",
    "pandas_dtype",
    "spec_from_pg",
    "spec_from_type",
    "value_problem",
    "values_to_frame",
]

Kind = Literal[
    "int", "float", "bool", "str", "decimal", "datetime_tz", "datetime", "date", "object"
]

STRING_DTYPE = pd.StringDtype("pyarrow")
#: The most digits Arrow's decimal128 (and so a NUMERIC frame column) holds.
DECIMAL128_DIGITS = 38


@dataclass(frozen=True)
class ColumnSpec:
    """What the toolkit knows of one result or table column.

    Attributes
    ----------
    name : str
    kind : str
        One of ``int, float, bool, str, decimal, datetime_tz, datetime, date, object``.
    precision, scale : int or None
        For ``decimal``.
    bits : int
        For ``int``: 16, 32 or 64, the range the column accepts.
    max_length : int or None
        For ``str``.
    """

    name: str
    kind: Kind
    precision: int | None = None
    scale: int | None = None
    bits: int = 64
    max_length: int | None = None


def spec_from_type(name: str, sa_type: Any) -> ColumnSpec:
    """The spec of a column from its SQLAlchemy type."""
    t = sa_type
    if isinstance(t, sqltypes.TypeDecorator):
        t = t.impl_instance if hasattr(t, "impl_instance") else t.impl
    if isinstance(t, sqltypes.Boolean):
        return ColumnSpec(name, "bool")
    if isinstance(t, sqltypes.Integer):
        bits = 16 if isinstance(t, sqltypes.SmallInteger) else 64
        if not isinstance(t, sqltypes.BigInteger | sqltypes.SmallInteger):
            bits = 32
        return ColumnSpec(name, "int", bits=bits)
    if isinstance(t, sqltypes.Float):
        return ColumnSpec(name, "float")
    if isinstance(t, sqltypes.Numeric):
        if t.scale is None and t.precision is None:
            return ColumnSpec(name, "decimal")
        # NUMERIC(p) is NUMERIC(p, 0) in SQL (PostgreSQL rounds to whole numbers).
        return ColumnSpec(name, "decimal", precision=t.precision or 38, scale=t.scale or 0)
    if isinstance(t, sqltypes.DateTime):
        return ColumnSpec(name, "datetime_tz" if t.timezone else "datetime")
    if isinstance(t, sqltypes.Date):
        return ColumnSpec(name, "date")
    if isinstance(t, sqltypes.Enum | sqltypes.Uuid):
        return ColumnSpec(name, "str")
    if isinstance(t, sqltypes.String):
        return ColumnSpec(name, "str", max_length=t.length)
    return ColumnSpec(name, "object")


_MODEL_SPECS: dict[type[Any], dict[str, ColumnSpec]] = {}


def model_specs(model: type[Any]) -> dict[str, ColumnSpec]:
    """The spec of each mapped column of a table model, by attribute name."""
    if model not in _MODEL_SPECS:
        columns = sa_inspect(model).columns.items()
        _MODEL_SPECS[model] = {key: spec_from_type(c.name, c.type) for key, c in columns}
    return _MODEL_SPECS[model]


# -- what a SQL column can hold ---------------------------------------------------------
# One set of rules and messages for every way a value reaches SQL: frames (vectorised in
# toolkit.validation), CRUD writes and search lookups (one value at a time, below).

NUL_MESSAGE = "contains a NUL character, which PostgreSQL cannot store"
SURROGATE_MESSAGE = "is not valid Unicode text (a lone surrogate); fix its encoding"
NOT_FINITE_DECIMAL = "is not a finite decimal number"


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


def decimal_problem(value: decimal.Decimal, precision: int, scale: int) -> str | None:
    """Why NUMERIC(precision, scale) cannot hold ``value`` exactly, or None."""
    if not value.is_finite():
        return NOT_FINITE_DECIMAL
    if value and value.adjusted() >= precision - scale:  # its leading digit's exponent
        return decimal_digits_message(precision, scale)
    if value != value.quantize(decimal.Decimal(1).scaleb(-scale), context=_WIDE):
        return decimal_places_message(scale)
    return None


#: Room for any NUMERIC (precision up to 1000) when quantizing without rounding.
_WIDE = decimal.Context(prec=1002)


def value_problem(spec: ColumnSpec, value: Any) -> str | None:
    """Why a column of ``spec`` cannot store ``value`` exactly, or None when it can.

    ``value`` is already of the field's Python type (pydantic has run). Checked: the
    integer range, text length, NUL and encoding, and a NUMERIC's precision and scale.
    """
    if value is None:
        return None
    if spec.kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return None if int_in_range(value, spec.bits) else int_range_message(spec.bits)
    if spec.kind == "str" and isinstance(value, str):
        if "\x00" in value:
            return NUL_MESSAGE
        if not is_utf8(value):
            return SURROGATE_MESSAGE
        if spec.max_length is not None and len(value) > spec.max_length:
            return too_long_message(spec.max_length)
    if spec.kind == "decimal" and isinstance(value, decimal.Decimal):
        if spec.scale is None:
            return None if value.is_finite() else NOT_FINITE_DECIMAL
        return decimal_problem(value, spec.precision or 38, spec.scale)
    return None


_PG_KINDS: dict[str, tuple[Kind, int]] = {
    "int2": ("int", 16),
    "int4": ("int", 32),
    "int8": ("int", 64),
    "oid": ("int", 64),
    "bool": ("bool", 0),
    "float4": ("float", 0),
    "float8": ("float", 0),
    "numeric": ("decimal", 0),
    "text": ("str", 0),
    "varchar": ("str", 0),
    "bpchar": ("str", 0),
    "name": ("str", 0),
    "uuid": ("str", 0),
    "timestamptz": ("datetime_tz", 0),
    "timestamp": ("datetime", 0),
    "date": ("date", 0),
}


def spec_from_pg(name: str, type_name: str, type_kind: str = "scalar") -> ColumnSpec:
    """The spec of a PostgreSQL result column from its type name (``int4``, ``text``...)."""
    if type_kind == "enum":
        return ColumnSpec(name, "str")
    kind, bits = _PG_KINDS.get(type_name, ("object", 0))
    return ColumnSpec(name, kind, bits=bits or 64)


def pandas_dtype(spec: ColumnSpec) -> Any:
    """The pandas dtype for a column spec (see the module docstring)."""
    match spec.kind:
        case "int":
            return pd.Int64Dtype()
        case "bool":
            return pd.BooleanDtype()
        case "str":
            return STRING_DTYPE
        case "float":
            return "float64"
        case "decimal" if _decimal128(spec):
            return pd.ArrowDtype(pa.decimal128(spec.precision or 38, spec.scale or 0))
        case "datetime_tz":
            return "datetime64[us, UTC]"
        case "datetime":
            return "datetime64[us]"
        case "date":
            return "datetime64[s]"
        case _:
            return "object"


def _decimal128(spec: ColumnSpec) -> bool:
    """A NUMERIC with a scale and at most 38 digits (Arrow's decimal128); wider ones
    are ``object`` of ``Decimal``."""
    return spec.scale is not None and (spec.precision or 38) <= DECIMAL128_DIGITS


def arrow_type(spec: ColumnSpec) -> pa.DataType | None:
    """The Arrow type used to parse or build a column; None where Arrow is not used."""
    match spec.kind:
        case "int":
            return pa.int64()
        case "bool":
            return pa.bool_()
        case "str":
            return pa.string()
        case "float":
            return pa.float64()
        case "decimal" if _decimal128(spec):
            return pa.decimal128(spec.precision or 38, spec.scale or 0)
        case "datetime_tz":
            return pa.timestamp("us", tz="UTC")
        case "datetime":
            return pa.timestamp("us")
        case "date":
            return pa.date32()
        case _:
            return None


def _types_mapper(t: pa.DataType) -> Any:
    if pa.types.is_integer(t):
        return pd.Int64Dtype()
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return STRING_DTYPE
    if pa.types.is_decimal(t):
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
    """Convert an Arrow table (parsed with :func:`arrow_type`) to a frame with the dtypes."""
    return _assemble(specs, [_series(s, table.column(i)) for i, s in enumerate(specs)])


def _text_array(values: Sequence[Any]) -> pa.Array:
    """Values as Arrow text; anything but text or None is turned into its ``str``."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([v if v is None or isinstance(v, str) else str(v) for v in values])


def _bool_array(values: Sequence[Any]) -> pa.Array:
    """Values as Arrow booleans by their truth: asyncpg returns bool, sqlite3 0/1."""
    for source in (pa.bool_(), pa.int64()):
        try:
            return pa.array(values, source).cast(pa.bool_())  # an integer is true if not 0
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            continue
    return pa.array([None if v is None else bool(v) for v in values], pa.bool_())


def _array(spec: ColumnSpec, values: Sequence[Any]) -> pa.Array:
    """Build the Arrow array of one column from driver values (asyncpg or sqlite3)."""
    target = arrow_type(spec)
    assert target is not None
    match spec.kind:
        case "bool":
            return _bool_array(values)
        case "str":
            return _text_array(values)
        case "decimal":
            try:
                return pa.array(values, target)
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                # SQLite stores NUMERIC as REAL: round to the scale, then it is exact.
                floats = pa.array(values, pa.float64())
                return pc.round(floats, spec.scale or 0).cast(target)
        case "datetime_tz" | "datetime" | "date":
            try:
                return pa.array(values, target)
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                # SQLite stores these as ISO text; the stored wall time of a
                # timezone-aware column is UTC.
                parsed = _text_array(values).cast(
                    pa.timestamp("us") if spec.kind != "date" else pa.date32()
                )
                return parsed.cast(target) if spec.kind == "datetime_tz" else parsed
        case _:
            return pa.array(values, target, from_pandas=True)


def column_arrays(
    specs: Sequence[ColumnSpec], columns: Sequence[Sequence[Any]]
) -> list[pa.Array | list[Any]]:
    """Convert one chunk of driver values column by column: Arrow arrays, except that
    ``object`` columns stay lists of Python values. :func:`chunks_to_frame` joins chunks."""
    return [
        list(values) if arrow_type(spec) is None else _array(spec, values)
        for spec, values in zip(specs, columns, strict=True)
    ]


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
            series.append(pd.Series([v for part in parts for v in part], dtype="object"))
        else:
            series.append(_series(spec, pa.chunked_array(parts)))
    return _assemble(specs, series)


def values_to_frame(specs: Sequence[ColumnSpec], columns: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Build a typed frame from per-column lists of Python values.

    Parameters
    ----------
    specs : the columns' specs, in order
    columns : one sequence of values per column (``None`` for NULL)
    """
    return chunks_to_frame(specs, [column_arrays(specs, columns)])


def infer_specs(names: Sequence[str], columns: Sequence[Sequence[Any]]) -> list[ColumnSpec]:
    """Specs for untyped results (raw SQL on SQLite), from the Python types of the values."""
    specs = []
    for name, values in zip(names, columns, strict=True):
        seen = {type(v) for v in values if v is not None}
        kind: Kind
        if not seen:
            kind = "object"
        elif seen == {bool}:
            kind = "bool"
        elif seen <= {int}:
            kind = "int"
        elif seen <= {int, float}:
            kind = "float"
        elif seen == {str}:
            kind = "str"
        else:
            kind = "object"
        specs.append(ColumnSpec(name, kind))
    return specs


def override_specs(
    specs: Sequence[ColumnSpec], dtypes: Mapping[str, Any] | None
) -> list[ColumnSpec]:
    """Apply ``dtypes=`` given by the caller: SQLAlchemy types or kinds by column name."""
    if not dtypes:
        return list(specs)
    out = []
    for spec in specs:
        given = dtypes.get(spec.name)
        if given is None:
            out.append(spec)
        elif isinstance(given, str):
            out.append(replace(spec, kind=given))  # type: ignore[arg-type]
        else:
            sa_type = given() if isinstance(given, type) else given
            out.append(spec_from_type(spec.name, sa_type))
    return out
