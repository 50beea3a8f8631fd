"""What the toolkit knows of one column: its :class:`ColumnSpec`, from a SQLAlchemy
type, a PostgreSQL result type, a Python annotation, or (untyped SQL) the values."""

from __future__ import annotations

import datetime as dt
import decimal
import typing
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql as pg_types

__all__ = [
    "PG_TYPE_NAMES",
    "ColumnSpec",
    "Kind",
    "infer_specs",
    "model_specs",
    "override_specs",
    "spec_from_annotation",
    "spec_from_pg",
    "spec_from_type",
]

Kind = Literal[
    "int",
    "float",
    "bool",
    "str",
    "uuid",
    "decimal",
    "datetime_tz",
    "datetime",
    "date",
    "time",
    "interval",
    "json",
    "bytes",
    "int_list",
    "str_list",
    "object",
]


@dataclass(frozen=True)
class ColumnSpec:
    """What the toolkit knows of one result or table column.

    Attributes
    ----------
    name : str
    kind : str
        The type family's kind (see :mod:`toolkit.types.registry`): ``int, float, bool,
        str, uuid, decimal, datetime_tz, datetime, date, time, interval, json, bytes,
        int_list, str_list`` or ``object``.
    precision, scale : int or None
        For ``decimal``; both None for a bare NUMERIC (no declared precision).
    bits : int
        For ``int``: 16, 32 or 64, the range the column accepts.
    max_length : int or None
        For ``str``.
    declared : bool
        False when nothing declares the type (a SQLAlchemy expression of ``NullType``,
        such as ``func.avg(...)``): the driver then finds it (the server's result types
        on PostgreSQL; the values on SQLite), as for a SQL string.
    """

    name: str
    kind: Kind
    precision: int | None = None
    scale: int | None = None
    bits: int = 64
    max_length: int | None = None
    declared: bool = True


def _int_bits(t: sqltypes.Integer) -> int:
    if isinstance(t, sqltypes.SmallInteger):
        return 16
    return 64 if isinstance(t, sqltypes.BigInteger) else 32


def spec_from_type(name: str, sa_type: Any) -> ColumnSpec:
    """The spec of a column from its SQLAlchemy type (an instance or a class)."""
    t = sa_type() if isinstance(sa_type, type) else sa_type
    if isinstance(t, sqltypes.NullType):
        return ColumnSpec(name, "object", declared=False)
    # Interval is a TypeDecorator over DateTime on SQLite: decide before unwrapping.
    if isinstance(t, sqltypes.Interval | pg_types.INTERVAL):
        return ColumnSpec(name, "interval")
    if isinstance(t, sqltypes.TypeDecorator):
        t = t.impl_instance if hasattr(t, "impl_instance") else t.impl
    if isinstance(t, sqltypes.ARRAY):
        item = spec_from_type(name, t.item_type).kind
        if t.dimensions in (None, 1) and item in ("int", "str"):
            return ColumnSpec(name, "int_list" if item == "int" else "str_list")
        return ColumnSpec(name, "object")
    if isinstance(t, sqltypes.Boolean):
        return ColumnSpec(name, "bool")
    if isinstance(t, sqltypes.Integer):
        return ColumnSpec(name, "int", bits=_int_bits(t))
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
    if isinstance(t, sqltypes.Time):
        return ColumnSpec(name, "object" if t.timezone else "time")
    if isinstance(t, sqltypes.Uuid):
        return ColumnSpec(name, "uuid")
    if isinstance(t, sqltypes.Enum):
        return ColumnSpec(name, "str")
    if isinstance(t, sqltypes.String):
        return ColumnSpec(name, "str", max_length=t.length)
    if isinstance(t, sqltypes.JSON):
        return ColumnSpec(name, "json")
    if isinstance(t, sqltypes.LargeBinary | sqltypes.BINARY | sqltypes.VARBINARY):
        return ColumnSpec(name, "bytes")
    return ColumnSpec(name, "object")


_MODEL_SPECS: dict[type[Any], dict[str, ColumnSpec]] = {}


def model_specs(model: type[Any]) -> dict[str, ColumnSpec]:
    """The spec of each mapped column of a table model, by attribute name."""
    if model not in _MODEL_SPECS:
        columns = sa_inspect(model).columns.items()
        _MODEL_SPECS[model] = {key: spec_from_type(c.name, c.type) for key, c in columns}
    return _MODEL_SPECS[model]


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
    "uuid": ("uuid", 0),
    "timestamptz": ("datetime_tz", 0),
    "timestamp": ("datetime", 0),
    "date": ("date", 0),
    "time": ("time", 0),
    "interval": ("interval", 0),
    "json": ("json", 0),
    "jsonb": ("json", 0),
    "bytea": ("bytes", 0),
    "int2[]": ("int_list", 0),
    "int4[]": ("int_list", 0),
    "int8[]": ("int_list", 0),
    "text[]": ("str_list", 0),
    "varchar[]": ("str_list", 0),
    "bpchar[]": ("str_list", 0),
    "_int2": ("int_list", 0),
    "_int4": ("int_list", 0),
    "_int8": ("int_list", 0),
    "_text": ("str_list", 0),
    "_varchar": ("str_list", 0),
    "_bpchar": ("str_list", 0),
}


#: PostgreSQL type names the registry knows (others are looked up: enums, domains).
PG_TYPE_NAMES = frozenset(_PG_KINDS)


def spec_from_pg(
    name: str, type_name: str, type_kind: str = "scalar", typmod: int = -1
) -> ColumnSpec:
    """The spec of a PostgreSQL result column from its type name (``int4``, ``text``...)
    and its type modifier (``typmod``: a NUMERIC's precision and scale; -1 for none)."""
    if type_kind == "enum":
        return ColumnSpec(name, "str")
    kind, bits = _PG_KINDS.get(type_name, ("object", 0))
    if kind == "decimal" and typmod >= 4:
        # NUMERIC's typmod is ((precision << 16) | scale) + VARHDRSZ (4).
        packed = typmod - 4
        return ColumnSpec(name, "decimal", precision=packed >> 16, scale=packed & 0xFFFF)
    return ColumnSpec(name, kind, bits=bits or 64)


def kind_of_types(seen: set[type]) -> Kind:
    """The kind of an untyped column whose values have the Python types ``seen``: int,
    float (int and float mixed), bool, text and bytes; anything else (and a column of
    only NULLs) is ``object``."""
    seen = seen - {type(None)}
    if not seen:
        return "object"
    if seen == {bool}:
        return "bool"
    if seen <= {int}:
        return "int"
    if seen <= {int, float}:
        return "float"
    if seen == {str}:
        return "str"
    return "bytes" if seen == {bytes} else "object"


def infer_specs(
    names: Sequence[str],
    columns: Sequence[Sequence[Any] | set[type]],
    known: Sequence[ColumnSpec] | None = None,
) -> list[ColumnSpec]:
    """Specs for untyped results (raw SQL on SQLite), by :func:`kind_of_types` of each
    column's values (or of the set of their types). Columns of ``known`` whose type is
    declared keep it."""
    specs = []
    for k, (name, values) in enumerate(zip(names, columns, strict=True)):
        if known is not None and known[k].declared:
            specs.append(known[k])
            continue
        seen = values if isinstance(values, set) else set(map(type, values))
        specs.append(ColumnSpec(name, kind_of_types(seen)))
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
            out.append(spec_from_type(spec.name, given))
    return out


_ANNOTATION_KINDS: dict[Any, Kind] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    dt.datetime: "datetime",
    dt.date: "date",
    dt.time: "time",
    dt.timedelta: "interval",
    uuid.UUID: "uuid",
    bytes: "bytes",
    decimal.Decimal: "decimal",
}


def spec_from_annotation(name: str, annotation: Any) -> ColumnSpec:
    """The spec of a pydantic field (a model without a table) from its annotation; a bare
    ``Decimal`` has no declared precision, so it is a bare NUMERIC (``float64``)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0] if len(args) == 1 else annotation
    origin = typing.get_origin(base)
    if origin in (list, tuple) and typing.get_args(base):
        item = typing.get_args(base)[0]
        if item is int:
            return ColumnSpec(name, "int_list")
        if item is str:
            return ColumnSpec(name, "str_list")
    return ColumnSpec(name, _ANNOTATION_KINDS.get(base, "object"))
