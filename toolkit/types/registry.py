"""The type registry: one :class:`TypeFamily` per SQL type family, in one place.

Each family says what the toolkit does with the type everywhere: the pandas dtype a
frame column gets, the Arrow type used to build or parse it, whether PostgreSQL's COPY
CSV route can carry it, and how SQLite stores it. The per-value rules live next door and
are looked up by the same ``kind``: :mod:`toolkit.types.checks` (CRUD's scalar checks),
:mod:`toolkit.types.convert` (``insert_frame``'s vectorised checks and conversion),
:mod:`toolkit.types.encode` (each driver's bulk write path) and
:mod:`toolkit.types.decode` (each driver's read path). The README's dtype table is
:func:`dtype_table`, checked against the README by a test.

Numbers come back numeric: a NUMERIC without a declared precision (a bare NUMERIC
column, or ``avg()``/``sum()`` of one) is ``float64`` as in pandas and ConnectorX; a
NUMERIC(p, s) column stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from .spec import ColumnSpec, Kind

__all__ = [
    "DECIMAL128_DIGITS",
    "FAMILIES",
    "STRING_DTYPE",
    "TypeFamily",
    "arrow_type",
    "copyable",
    "dtype_table",
    "family_of",
    "pandas_dtype",
]

STRING_DTYPE = pd.StringDtype("pyarrow")
#: The most digits Arrow's decimal128 (and so an exact NUMERIC frame column) holds.
DECIMAL128_DIGITS = 38


@dataclass(frozen=True)
class TypeFamily:
    """One SQL type family.

    Attributes
    ----------
    name : str
        As the README's dtype table names it (``"SMALLINT / INTEGER / BIGINT"``).
    kind : str
        The :class:`~toolkit.types.spec.ColumnSpec` kind the family's columns get.
    dtype : str
        The pandas dtype, as the README shows it.
    sqlite : str
        How SQLite stores it (the same way SQLAlchemy's type does, so CRUD and frames
        read each other's rows); "" for a PostgreSQL-only family.
    postgres_only : bool
        SQLite has no such type (arrays; JSONB is JSON there).
    """

    name: str
    kind: Kind
    dtype: str
    sqlite: str
    postgres_only: bool = False


FAMILIES: tuple[TypeFamily, ...] = (
    TypeFamily("SMALLINT / INTEGER / BIGINT", "int", "`Int64`", "INTEGER"),
    TypeFamily("BOOLEAN", "bool", "`boolean`", "INTEGER 0/1"),
    TypeFamily("REAL / DOUBLE PRECISION", "float", "`float64` (NULL is `NaN`)", "REAL"),
    TypeFamily(
        "NUMERIC(p, s)",
        "decimal",
        "`decimal128(p, s)[pyarrow]`, exact (NUMERIC(p) is NUMERIC(p, 0); more than 38 "
        "digits: `object` of `Decimal`)",
        "REAL, rounded to the scale when read",
    ),
    TypeFamily(
        "NUMERIC (no precision), avg() / sum() results",
        "decimal",
        "`float64`, as in pandas and ConnectorX",
        "REAL",
    ),
    TypeFamily("VARCHAR(n) / TEXT", "str", "`string[pyarrow]`", "TEXT"),
    TypeFamily("ENUM", "str", "`string[pyarrow]`", "VARCHAR"),
    TypeFamily("UUID", "uuid", "`string[pyarrow]` (`8-4-4-4-12` lower-case hex)", "32 hex digits"),
    TypeFamily(
        "DATE",
        "date",
        "`datetime64[s]` at midnight (pandas has no date dtype; this keeps `.dt`)",
        "TEXT `YYYY-MM-DD`",
    ),
    TypeFamily("TIME", "time", "`time64[us][pyarrow]`", "TEXT `HH:MM:SS.ffffff`"),
    TypeFamily("TIMESTAMP", "datetime", "`datetime64[us]`", "TEXT `YYYY-MM-DD HH:MM:SS.ffffff`"),
    TypeFamily(
        "TIMESTAMP WITH TIME ZONE",
        "datetime_tz",
        "`datetime64[us, UTC]` (converted to UTC)",
        "TEXT, the UTC wall time",
    ),
    TypeFamily(
        "INTERVAL",
        "interval",
        "`timedelta64[us]` (a month counts 30 days, as asyncpg reads it)",
        "TEXT, the instant 1970-01-01 + interval (as SQLAlchemy's Interval)",
    ),
    TypeFamily("JSON / JSONB", "json", "`object` of parsed values (dict, list, ...)", "TEXT"),
    TypeFamily("BYTEA / BLOB", "bytes", "`object` of `bytes`", "BLOB"),
    TypeFamily("INTEGER[] / BIGINT[]", "int_list", "`list<item: int64>[pyarrow]`", "", True),
    TypeFamily("TEXT[] / VARCHAR[]", "str_list", "`list<item: string>[pyarrow]`", "", True),
)


def family_of(spec: ColumnSpec) -> TypeFamily | None:
    """The family of a spec (None for ``object``: a type the registry does not know)."""
    for family in FAMILIES:
        if family.kind == spec.kind:
            if spec.kind == "decimal" and (spec.scale is None) != ("no precision" in family.name):
                continue
            return family
    return None


def _exact_decimal(spec: ColumnSpec) -> bool:
    """A NUMERIC with a declared scale and at most 38 digits (Arrow's decimal128)."""
    return spec.scale is not None and (spec.precision or 38) <= DECIMAL128_DIGITS


def pandas_dtype(spec: ColumnSpec) -> Any:
    """The pandas dtype for a column spec (see :data:`FAMILIES`)."""
    if spec.kind == "decimal":
        if spec.scale is None:
            return "float64"
        return pd.ArrowDtype(arrow_type(spec)) if _exact_decimal(spec) else "object"
    if spec.kind in ("time", "int_list", "str_list"):
        return pd.ArrowDtype(arrow_type(spec))
    return _DTYPES.get(spec.kind, "object")


_DTYPES: dict[str, Any] = {
    "int": pd.Int64Dtype(),
    "bool": pd.BooleanDtype(),
    "str": STRING_DTYPE,
    "uuid": STRING_DTYPE,
    "float": "float64",
    "datetime_tz": "datetime64[us, UTC]",
    "datetime": "datetime64[us]",
    "date": "datetime64[s]",
    "interval": "timedelta64[us]",
}

_ARROW: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "bool": pa.bool_(),
    "str": pa.string(),
    "uuid": pa.string(),
    "float": pa.float64(),
    "datetime_tz": pa.timestamp("us", tz="UTC"),
    "datetime": pa.timestamp("us"),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "interval": pa.duration("us"),
    "bytes": pa.binary(),
    "int_list": pa.list_(pa.int64()),
    "str_list": pa.list_(pa.string()),
}


def arrow_type(spec: ColumnSpec) -> pa.DataType | None:
    """The Arrow type a column is built or parsed as; None where a frame column holds
    Python objects (JSON, NUMERIC beyond 38 digits, unknown types)."""
    if spec.kind == "decimal":
        if spec.scale is None:
            return pa.float64()
        return pa.decimal128(spec.precision or 38, spec.scale) if _exact_decimal(spec) else None
    return _ARROW.get(spec.kind)


#: Kinds whose text in PostgreSQL's COPY CSV Arrow's CSV reader parses exactly.
_CSV_KINDS = frozenset(
    {"int", "bool", "str", "uuid", "float", "decimal", "datetime_tz", "datetime", "date", "time"}
)


def copyable(spec: ColumnSpec) -> bool:
    """Whether a result column can be read through COPY CSV and Arrow's CSV reader."""
    return spec.kind in _CSV_KINDS and arrow_type(spec) is not None


def dtype_table() -> str:
    """The README's dtype table (Markdown), generated from :data:`FAMILIES`."""
    lines = [
        "| SQL type | pandas dtype | SQLite stores it as |",
        "|---|---|---|",
    ]
    for family in FAMILIES:
        sqlite = family.sqlite or "(PostgreSQL only)"
        lines.append(f"| {family.name} | {family.dtype} | {sqlite} |")
    lines.append("| anything else | `object` of the driver's values | |")
    return "\n".join(lines)
