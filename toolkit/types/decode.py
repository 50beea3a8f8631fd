"""Driver values -> Arrow arrays, per kind: the decoding of each driver's read path.

asyncpg returns Python values of the column's type (``Decimal``, ``datetime``,
``time``, ``timedelta``, ``UUID``, parsed JSON through SQLAlchemy's codec, lists).
sqlite3 returns what SQLite stores (see :data:`~toolkit.types.registry.FAMILIES`): REAL
for NUMERIC, ISO text for dates and times, the instant ``1970-01-01 + interval`` for
INTERVAL, 32 hex digits for UUID, JSON text. Each decoder takes either and returns the
family's Arrow type; JSON (and other object kinds) stay Python lists.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigurationError
from .registry import arrow_type
from .spec import ColumnSpec

__all__ = ["Source", "column_arrays", "decode"]

#: Where values come from: a driver's results, or Python objects (``to_frame``).
Source = Literal["sqlite", "postgresql", "python"]
_EPOCH = pa.scalar(0, pa.timestamp("us"))
_ARROW_ERRORS = (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError)


def _text_array(values: Sequence[Any]) -> pa.Array:
    """Values as Arrow text; anything but text or None is turned into its ``str``."""
    try:
        return pa.array(values, pa.string())
    except _ARROW_ERRORS:
        return pa.array([v if v is None or isinstance(v, str) else str(v) for v in values])


def _bool(spec: ColumnSpec, values: Sequence[Any], source: Source) -> pa.Array:
    """By truth: asyncpg returns bool, sqlite3 0/1."""
    for given in (pa.bool_(), pa.int64()):
        try:
            return pa.array(values, given).cast(pa.bool_())  # an integer is true if not 0
        except _ARROW_ERRORS:
            continue
    return pa.array([None if v is None else bool(v) for v in values], pa.bool_())


def _str(spec: ColumnSpec, values: Sequence[Any], source: Source) -> pa.Array:
    return _text_array(values)


def _uuid_text(value: Any) -> Any:
    if value is None:
        return None
    text = str(value).lower()
    if len(text) == 32:  # SQLite's storage: hex digits without dashes
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


def _uuid(spec: ColumnSpec, values: Sequence[Any], source: Source) -> pa.Array:
    return pa.array([_uuid_text(v) for v in values], pa.string())


def _decimal(spec: ColumnSpec, values: Sequence[Any], source: Source) -> pa.Array:
    target = arrow_type(spec)
    assert target is not None
    if spec.scale is None:  # float64
        try:
            return pa.array(values, target)
        except _ARROW_ERRORS:
            return pa.array([None if v is None else float(v) for v in values], target)
    try:
        return pa.array(values, target)
    except _ARROW_ERRORS:
        # SQLite stores NUMERIC as REAL: round to the scale, then it is exact.
        floats = pa.array([None if v is None else float(v) for v in values], pa.float64())
        return pc.round(floats, spec.scale).cast(target)


def _moment(spec: ColumnSpec, values: Sequence[Any], source: Source) -> pa.Array:
    target = arrow_type(spec)
    assert target is not None
    try:
        return pa.array(values, target)
    except _ARROW_ERRORS:
        # SQLite stores these as ISO text; the stored wall time of a timezone-aware
        # column is UTC.
        parsed = _text_array(values).cast(
            pa.timestamp("us") if spec.kind != "date" else pa.date32()
        )
        return parsed.cast(target) if spec.kind == "datetime_tz" else parsed


def _time(spec: ColumnSpec, values: Sequence[Any], source: Source) -> pa.Array:
    try:
        return pa.array(values, pa.time64("us"))
    except _ARROW_ERRORS:
        # SQLite's TEXT "HH:MM:SS.ffffff": parsed as the time of day of 1970-01-01.
        stamps = pc.binary_join_element_wise("1970-01-01 ", _text_array(values), "")
        micros = stamps.cast(pa.timestamp("us")).cast(pa.int64())
        return micros.cast(pa.time64("us"))


def _interval(spec: ColumnSpec, values: Sequence[Any], source: Source) -> pa.Array:
    try:
        return pa.array(values, pa.duration("us"))
    except _ARROW_ERRORS:
        # SQLite (SQLAlchemy's Interval): the instant 1970-01-01 + interval, as text.
        stamps = _text_array(values).cast(pa.timestamp("us"))
        return pc.subtract(stamps, _EPOCH)


def _plain(spec: ColumnSpec, values: Sequence[Any], source: Source) -> pa.Array:
    return pa.array(values, arrow_type(spec), from_pandas=True)


_DECODERS: dict[str, Callable[[ColumnSpec, Sequence[Any], Source], pa.Array]] = {
    "bool": _bool,
    "str": _str,
    "uuid": _uuid,
    "decimal": _decimal,
    "datetime_tz": _moment,
    "datetime": _moment,
    "date": _moment,
    "time": _time,
    "interval": _interval,
}


def _wide_decimals(spec: ColumnSpec, values: Sequence[Any]) -> list[Any]:
    """NUMERIC beyond 38 digits: ``Decimal`` objects (SQLite's REAL, rounded to the
    scale, as for NUMERIC(p, s))."""
    step = decimal.Decimal(1).scaleb(-(spec.scale or 0))
    context = decimal.Context(prec=(spec.precision or 38) + 2)
    return [
        v
        if v is None or isinstance(v, decimal.Decimal)
        else decimal.Decimal(repr(float(v))).quantize(step, context=context)
        for v in values
    ]


def _json_values(values: Sequence[Any], source: Source) -> list[Any]:
    if source != "sqlite":
        return list(values)
    return [json.loads(v) if isinstance(v, str | bytes) else v for v in values]


def decode(spec: ColumnSpec, values: Sequence[Any], source: Source) -> pa.Array | list[Any]:
    """One column of ``source``'s values as the kind's Arrow array (a list of Python
    values for kinds without one: JSON, wide NUMERIC, unknown types)."""
    if spec.kind == "json":
        return _json_values(values, source)
    if spec.kind == "decimal" and arrow_type(spec) is None:
        return _wide_decimals(spec, values)
    if arrow_type(spec) is None:
        return list(values)
    return _DECODERS.get(spec.kind, _plain)(spec, values, source)


def column_arrays(
    specs: Sequence[ColumnSpec],
    columns: Sequence[Sequence[Any]],
    source: Source = "python",
) -> list[pa.Array | list[Any]]:
    """Decode one chunk of driver values column by column (see :func:`decode`);
    :func:`toolkit.types.arrow.chunks_to_frame` joins chunks.

    Raises
    ------
    ConfigurationError
        A value does not fit its column's kind: on SQLite, a SQL string's column typed
        from its first chunk holds another type further on.
    """
    out = []
    for spec, values in zip(specs, columns, strict=True):
        try:
            out.append(decode(spec, values, source))
        except _ARROW_ERRORS as exc:
            raise ConfigurationError(
                f"Column {spec.name!r} was read as {spec.kind}, but holds a value that is "
                f"not ({exc}). SQLite stores any type in any column, and a SQL string's "
                f"columns are typed by their first rows: pass dtypes={{{spec.name!r}: "
                "<SQLAlchemy type>}, or select it with a SQLAlchemy select, to read it."
            ) from exc
    return out
