"""Hypothesis strategies for frame cells, each paired with what the toolkit must make of it.

A :class:`Cell` holds a value to put in a DataFrame and the expected outcome under the
documented rules (``toolkit/validation.py`` and ``toolkit/dtypes.py``): the Python value
that must be read back (``None`` for NULL), or :data:`INVALID` when ``insert_frame`` must
refuse the cell with a ``FrameValidationError``.

Each column kind has several *containers* (the dtype of the frame column: ``object``
holding Python values, or a typed pandas dtype), since the validation takes a different
path for each.

An input that hits a defect not yet fixed is kept out of these strategies and pinned by
an example-based ``xfail(strict=True)`` test instead, so that the properties keep
guarding everything else; each exclusion says which test pins it. None is open now.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

UTC = dt.UTC


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


#: The expected outcome of a cell that insert_frame must refuse.
INVALID: Any = _Invalid()


@dataclass(frozen=True)
class Cell:
    value: Any
    expected: Any


@dataclass(frozen=True)
class ColumnPlan:
    """One frame column: its name, its pandas dtype and its cells."""

    name: str
    dtype: Any
    cells: tuple[Cell, ...]

    def series(self, index: pd.Index) -> pd.Series:
        return pd.Series([c.value for c in self.cells], index=index, dtype=self.dtype)


NULLS = st.sampled_from([None, np.nan, pd.NA]).map(lambda v: Cell(v, None))
#: Booleans are refused by numeric columns ("bool is refused").
BOOLS = st.sampled_from([True, False, np.True_, np.False_])


# -- integers ---------------------------------------------------------------------------


def _int_expected(value: int, bits: int) -> Any:
    limit = 2 ** (bits - 1)
    return value if -limit <= value < limit else INVALID


def _whole_float_expected(value: float, bits: int) -> Any:
    if math.isnan(value):
        return None
    if not math.isfinite(value) or not value.is_integer():
        return INVALID
    return _int_expected(int(value), bits)


def int_cells(bits: int, container: str) -> st.SearchStrategy[Cell]:
    """Cells for an integer column of ``bits`` bits held in ``container``."""
    if container == "Int64":
        return st.one_of(
            st.just(Cell(pd.NA, None)),
            st.integers(-(2**63), 2**63 - 1).map(lambda v: Cell(v, _int_expected(v, bits))),
        )
    if container == "float64":
        return st.floats().map(lambda v: Cell(v, _whole_float_expected(v, bits)))
    # object: Python ints of any size are exact (next to NULLs and floats too).
    ints = st.integers(-(2**80), 2**80)
    return st.one_of(
        NULLS,
        ints.map(lambda v: Cell(v, _int_expected(v, bits))),
        st.floats().map(lambda v: Cell(v, _whole_float_expected(v, bits))),
        ints.map(lambda v: Cell(str(v), _int_expected(v, bits))),
        st.sampled_from(["abc", "", "1,5", "12a", "0x10", "1.5"]).map(lambda v: Cell(v, INVALID)),
        BOOLS.map(lambda v: Cell(v, INVALID)),
    )


# -- floats -----------------------------------------------------------------------------


def _float_expected(value: float) -> Any:
    return None if math.isnan(value) else value


def _int_as_float_expected(value: int) -> Any:
    try:
        return float(value)
    except OverflowError:  # beyond the largest double
        return INVALID


def float_cells(container: str) -> st.SearchStrategy[Cell]:
    """Cells for a DOUBLE column: NaN is NULL, infinities are kept."""
    if container == "float64":
        return st.floats().map(lambda v: Cell(v, _float_expected(v)))
    # object: Python ints round to the nearest double; beyond the largest one, refused.
    finite = st.floats(allow_nan=False, allow_infinity=False)
    return st.one_of(
        NULLS,
        st.floats().map(lambda v: Cell(v, _float_expected(v))),
        st.integers(-(2**53), 2**53).map(lambda v: Cell(v, float(v))),
        st.integers(-(2**1100), 2**1100).map(lambda v: Cell(v, _int_as_float_expected(v))),
        finite.map(lambda v: Cell(repr(v), v)),
        st.sampled_from(["abc", "", "1,5", "1.5.5"]).map(lambda v: Cell(v, INVALID)),
        BOOLS.map(lambda v: Cell(v, INVALID)),
        COMPLEX.map(lambda v: Cell(v, INVALID)),
    )


#: Complex numbers: refused by every number column, never truncated to the real part.
COMPLEX = st.complex_numbers(allow_nan=False, allow_infinity=False)


# -- decimals (NUMERIC(12, 2)) ----------------------------------------------------------

CENT = Decimal("0.01")


def _decimal_expected(value: Decimal) -> Any:
    if not value.is_finite() or abs(value) >= Decimal(10) ** 10:
        return INVALID
    if value != value.quantize(CENT):
        return INVALID
    return value.quantize(CENT)


def decimal_cells(container: str) -> st.SearchStrategy[Cell]:
    """Cells for NUMERIC(12, 2): at most 2 places, at most 10 digits before the point."""
    if container == "float64":
        # Whole cents are exact through repr; floats with a third decimal place are
        # refused at any magnitude (and from 10**10 up for having too many digits).
        cents = st.integers(-(10**12), 10**12).map(lambda k: k / 100)
        thirds = (
            st.integers(-(10**13), 10**13).filter(lambda k: k % 10 != 0).map(lambda k: k / 1000)
        )
        return st.one_of(
            st.just(Cell(np.nan, None)),
            cents.map(lambda v: Cell(v, _decimal_expected(Decimal(repr(v))))),
            thirds.map(lambda v: Cell(v, INVALID)),
            st.sampled_from([math.inf, -math.inf]).map(lambda v: Cell(v, INVALID)),
        )
    # object: Decimals, ints, floats (through repr) and numeric text, of any magnitude.
    bound = Decimal(10) ** 12
    decimals = st.one_of(
        st.decimals(-bound, bound, places=2),
        st.decimals(-bound, bound, places=4),
        st.sampled_from([Decimal("1e30"), Decimal("-1e400"), Decimal("1e-400")]),
        st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")]),
    )
    return st.one_of(
        NULLS,
        decimals.map(lambda d: Cell(d, _decimal_expected(d))),
        decimals.filter(lambda d: d.is_finite()).map(lambda d: Cell(str(d), _decimal_expected(d))),
        st.integers(-(2**1100), 2**1100).map(lambda v: Cell(v, _decimal_expected(Decimal(v)))),
        st.floats(-1e12, 1e12).map(lambda v: Cell(v, _decimal_expected(Decimal(repr(v))))),
        st.sampled_from(["abc", "", "1,5"]).map(lambda v: Cell(v, INVALID)),
        BOOLS.map(lambda v: Cell(v, INVALID)),
    )


# -- text -------------------------------------------------------------------------------

#: Characters that break naive CSV, COPY or LIKE handling, NUL, and emoji sequences.
AWKWARD = [*"\x00\r\n\t\"',;\\%_ N", "\\N", "🎉", "👩\u200d💻", "e\u0301", "\ufeff"]
#: Unicode text without lone surrogates; those, and NUL where it is refused, are added
#: as invalid cells where a strategy needs them (``text_cells``, the CRUD strategies).
TEXT = st.lists(st.one_of(st.characters(codec="utf-8"), st.sampled_from(AWKWARD)), max_size=25).map(
    "".join
)


def _text_expected(value: str, max_length: int | None) -> Any:
    if "\x00" in value:
        return INVALID
    if max_length is not None and len(value) > max_length:
        return INVALID
    return value


def text_cells(max_length: int | None, container: str) -> st.SearchStrategy[Cell]:
    """Cells for VARCHAR(n) / TEXT: text only, within the length, no NUL."""
    texts = TEXT.map(lambda v: Cell(v, _text_expected(v, max_length)))
    if container == "string":
        return st.one_of(st.just(Cell(pd.NA, None)), texts)
    not_text = st.one_of(st.integers(), st.floats(allow_nan=False), st.just(dt.date(2024, 1, 1)))
    # A lone surrogate (e.g. from a surrogateescape decode) is not UTF-8: refused. Only an
    # object column can hold one; a pyarrow string column cannot.
    not_utf8 = st.builds(lambda a, b: f"{a}\udcff{b}", TEXT, TEXT)
    return st.one_of(
        NULLS,
        texts,
        not_text.map(lambda v: Cell(v, INVALID)),
        not_utf8.map(lambda v: Cell(v, INVALID)),
    )


# -- booleans ---------------------------------------------------------------------------

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


def _spelling(words: list[str]) -> st.SearchStrategy[str]:
    def dress(word: str, upper: bool, pad: str) -> str:
        return pad + (word.upper() if upper else word) + pad

    return st.builds(dress, st.sampled_from(words), st.booleans(), st.sampled_from(["", " "]))


def bool_cells(container: str) -> st.SearchStrategy[Cell]:
    """Cells for BOOLEAN: bools, 0/1, and the documented spellings, any case."""
    if container == "boolean":
        return st.sampled_from([True, False, pd.NA]).map(
            lambda v: Cell(v, None if v is pd.NA else v)
        )
    return st.one_of(
        NULLS,
        st.sampled_from([True, False, np.True_, np.False_]).map(lambda v: Cell(v, bool(v))),
        st.sampled_from([0, 1, 0.0, 1.0]).map(lambda v: Cell(v, bool(v))),
        _spelling(_TRUE).map(lambda v: Cell(v, True)),
        _spelling(_FALSE).map(lambda v: Cell(v, False)),
        st.sampled_from([2, -1, 0.5, "maybe", "", "yes please", "tru"]).map(
            lambda v: Cell(v, INVALID)
        ),
    )


# -- date and time ----------------------------------------------------------------------

# Python datetimes from year 1 to 9999; a day of margin so no time zone leaves the range.
_MIN = dt.datetime(1, 1, 2)
_MAX = dt.datetime(9999, 12, 30)
NAIVE = st.datetimes(_MIN, _MAX)
AWARE = st.datetimes(_MIN, _MAX, timezones=st.timezones())
#: A tz-aware pandas dtype away from UTC, with a half-hour offset.
TZ_DTYPE = "datetime64[us, Asia/Kolkata]"
BAD_STAMPS = st.sampled_from(["yesterday-ish", "2024-13-01", "", "12:61"])


def _as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _whole_minute_offset(value: dt.datetime) -> bool:
    """ISO text with an offset in seconds (local mean time before ~1920, e.g. Dublin's
    -00:25:21) is not parsed by pandas and refused as "not a date/time"; a rare,
    conservative refusal, so such text is left out rather than pinned as a defect."""
    offset = value.utcoffset()
    return offset is None or offset.seconds % 60 == 0


def datetime_cells(with_tz: bool, container: str) -> st.SearchStrategy[Cell]:
    """Cells for TIMESTAMP [WITH TIME ZONE]: stored as UTC; naive taken as UTC."""

    def expected(value: dt.datetime) -> dt.datetime:
        utc = _as_utc(value)
        return utc if with_tz else utc.replace(tzinfo=None)

    if container == "datetime64":
        return st.one_of(st.just(Cell(pd.NaT, None)), NAIVE.map(lambda v: Cell(v, expected(v))))
    if container == "datetime64tz":
        return st.one_of(st.just(Cell(pd.NaT, None)), AWARE.map(lambda v: Cell(v, expected(v))))
    stamps = st.one_of(NAIVE, AWARE)
    return st.one_of(
        NULLS,
        stamps.map(lambda v: Cell(v, expected(v))),
        stamps.filter(_whole_minute_offset).map(lambda v: Cell(v.isoformat(), expected(v))),
        BAD_STAMPS.map(lambda v: Cell(v, INVALID)),
    )


def date_cells(container: str) -> st.SearchStrategy[Cell]:
    """Cells for DATE: dates, or timestamps at midnight (naive)."""

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day)

    def from_stamp(value: dt.datetime) -> Any:
        return value if value == midnight(value.date()) else INVALID

    days = st.dates(_MIN.date(), _MAX.date())
    stamps = st.one_of(days.map(midnight), NAIVE)
    if container == "datetime64":
        return st.one_of(st.just(Cell(pd.NaT, None)), stamps.map(lambda v: Cell(v, from_stamp(v))))
    return st.one_of(
        NULLS,
        days.map(lambda d: Cell(d, midnight(d))),
        days.map(lambda d: Cell(d.isoformat(), midnight(d))),
        days.map(_slashed_day),
        stamps.map(lambda v: Cell(v, from_stamp(v))),
        BAD_STAMPS.map(lambda v: Cell(v, INVALID)),
    )


def _slashed_day(day: dt.date) -> Cell:
    """``DD/MM/YYYY`` text: a date when only one order makes sense of it (day > 12, or
    day == month), refused as ambiguous otherwise."""
    text = f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
    unambiguous = day.day > 12 or day.day == day.month
    return Cell(text, dt.datetime(day.year, day.month, day.day) if unambiguous else INVALID)


# -- AllTypes columns -------------------------------------------------------------------

#: column -> {container name: (pandas dtype, cell strategy)}
ALL_TYPES_COLUMNS: dict[str, dict[str, tuple[Any, st.SearchStrategy[Cell]]]] = {
    "small": {
        "object": (object, int_cells(16, "object")),
        "Int64": ("Int64", int_cells(16, "Int64")),
        "float64": ("float64", int_cells(16, "float64")),
    },
    "i": {
        "object": (object, int_cells(32, "object")),
        "Int64": ("Int64", int_cells(32, "Int64")),
        "float64": ("float64", int_cells(32, "float64")),
    },
    "big": {
        "object": (object, int_cells(64, "object")),
        "Int64": ("Int64", int_cells(64, "Int64")),
        "float64": ("float64", int_cells(64, "float64")),
    },
    "f": {
        "object": (object, float_cells("object")),
        "float64": ("float64", float_cells("float64")),
    },
    "n": {
        "object": (object, decimal_cells("object")),
        "float64": ("float64", decimal_cells("float64")),
    },
    "s": {
        "object": (object, text_cells(20, "object")),
        "string": ("string[pyarrow]", text_cells(20, "string")),
    },
    "t": {
        "object": (object, text_cells(None, "object")),
        "string": ("string[pyarrow]", text_cells(None, "string")),
    },
    "b": {
        "object": (object, bool_cells("object")),
        "boolean": ("boolean", bool_cells("boolean")),
    },
    "ts": {
        "object": (object, datetime_cells(True, "object")),
        "datetime64": ("datetime64[us]", datetime_cells(True, "datetime64")),
        "datetime64tz": (TZ_DTYPE, datetime_cells(True, "datetime64tz")),
    },
    "naive": {
        "object": (object, datetime_cells(False, "object")),
        "datetime64": ("datetime64[us]", datetime_cells(False, "datetime64")),
        "datetime64tz": (TZ_DTYPE, datetime_cells(False, "datetime64tz")),
    },
    "d": {
        "object": (object, date_cells("object")),
        "datetime64": ("datetime64[us]", date_cells("datetime64")),
    },
}


@st.composite
def all_types_frames(draw: st.DrawFn, max_rows: int = 12) -> tuple[pd.DataFrame, list[ColumnPlan]]:
    """A random frame for ``AllTypes`` (any subset of its columns, 0 to ``max_rows`` rows,
    any index labels, duplicates included) and the plan with every cell's expectation."""
    rows = draw(st.integers(0, max_rows))
    names = draw(st.lists(st.sampled_from(sorted(ALL_TYPES_COLUMNS)), unique=True, max_size=6))
    plans = []
    for name in names:
        container = draw(st.sampled_from(sorted(ALL_TYPES_COLUMNS[name])))
        dtype, cells = ALL_TYPES_COLUMNS[name][container]
        values = draw(st.lists(cells, min_size=rows, max_size=rows))
        plans.append(ColumnPlan(name, dtype, tuple(values)))
    labels = draw(
        st.one_of(
            st.just(list(range(rows))),
            st.lists(st.integers(-5, 5), min_size=rows, max_size=rows),
            st.lists(st.text(max_size=3), min_size=rows, max_size=rows),
        )
    )
    index = pd.Index(labels, dtype=object if labels and isinstance(labels[0], str) else None)
    frame = pd.DataFrame({p.name: p.series(index) for p in plans}, index=index)
    if not plans:
        frame = pd.DataFrame(index=index)
    return frame, plans


# -- MoreTypes columns: TIME, INTERVAL, UUID, JSON, BYTEA, NUMERIC without precision ------

TIMES = st.times()
DELTAS = st.timedeltas(dt.timedelta(days=-100_000), dt.timedelta(days=100_000))
UUIDS = st.uuids()
_JSON_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _JSON_TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=4),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)


def time_cells() -> st.SearchStrategy[Cell]:
    """TIME: ``datetime.time`` or its ISO text; other text refused."""
    return st.one_of(
        NULLS,
        TIMES.map(lambda v: Cell(v, v)),
        TIMES.map(lambda v: Cell(v.isoformat(), v)),
        st.sampled_from(["25:00", "noon", "", "12:61"]).map(lambda v: Cell(v, INVALID)),
        st.integers(0, 10).map(lambda v: Cell(v, INVALID)),
    )


def interval_cells(container: str) -> st.SearchStrategy[Cell]:
    """INTERVAL: timedeltas (Python or timedelta64); numbers refused (no unit)."""
    if container == "timedelta64":
        return st.one_of(st.just(Cell(pd.NaT, None)), DELTAS.map(lambda v: Cell(v, v)))
    return st.one_of(
        NULLS,
        DELTAS.map(lambda v: Cell(v, v)),
        st.integers(-10, 10).map(lambda v: Cell(v, INVALID)),
        st.sampled_from(["soon", "1 fortnight"]).map(lambda v: Cell(v, INVALID)),
    )


def uuid_cells() -> st.SearchStrategy[Cell]:
    """UUID: ``uuid.UUID`` or its text with or without dashes, read back canonical."""
    return st.one_of(
        NULLS,
        UUIDS.map(lambda v: Cell(v, str(v))),
        UUIDS.map(lambda v: Cell(v.hex.upper(), str(v))),
        st.sampled_from(["not-a-uuid", "1234"]).map(lambda v: Cell(v, INVALID)),
    )


def json_cells() -> st.SearchStrategy[Cell]:
    """JSON: any JSON value (a JSON null inside a list or dict; a top-level None is SQL
    NULL); NaN and infinities refused."""
    return st.one_of(
        NULLS,
        JSON_VALUES.filter(lambda v: v is not None).map(lambda v: Cell(v, v)),
        st.sampled_from([[math.inf], {"x": math.nan}]).map(lambda v: Cell(v, INVALID)),
    )


def bytes_cells() -> st.SearchStrategy[Cell]:
    """BYTEA / BLOB: bytes (any, empty and NUL included); text refused."""
    return st.one_of(
        NULLS,
        st.binary(max_size=20).map(lambda v: Cell(v, v)),
        st.binary(max_size=5).map(lambda v: Cell(bytearray(v), v)),
        st.text(max_size=3).map(lambda v: Cell(v, INVALID)),
    )


def bare_numeric_cells(container: str) -> st.SearchStrategy[Cell]:
    """NUMERIC without precision: a float column (float64 when read)."""
    finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
    if container == "float64":
        return finite.map(lambda v: Cell(v, v))
    return st.one_of(
        NULLS,
        finite.map(lambda v: Cell(Decimal(repr(v)), v)),
        COMPLEX.map(lambda v: Cell(v, INVALID)),
        BOOLS.map(lambda v: Cell(v, INVALID)),
    )


MORE_TYPES_COLUMNS: dict[str, dict[str, tuple[Any, st.SearchStrategy[Cell]]]] = {
    "at": {"object": (object, time_cells())},
    "took": {
        "object": (object, interval_cells("object")),
        "timedelta64": ("timedelta64[us]", interval_cells("timedelta64")),
    },
    "u": {"object": (object, uuid_cells())},
    "j": {"object": (object, json_cells())},
    "raw": {"object": (object, bytes_cells())},
    "bare": {
        "object": (object, bare_numeric_cells("object")),
        "float64": ("float64", bare_numeric_cells("float64")),
    },
}


@st.composite
def more_types_frames(draw: st.DrawFn, max_rows: int = 8) -> tuple[pd.DataFrame, list[ColumnPlan]]:
    """A random frame for ``MoreTypes`` (any subset of its columns) and its plan."""
    rows = draw(st.integers(0, max_rows))
    names = draw(st.lists(st.sampled_from(sorted(MORE_TYPES_COLUMNS)), unique=True, max_size=4))
    plans = []
    for name in names:
        container = draw(st.sampled_from(sorted(MORE_TYPES_COLUMNS[name])))
        dtype, cells = MORE_TYPES_COLUMNS[name][container]
        values = draw(st.lists(cells, min_size=rows, max_size=rows))
        plans.append(ColumnPlan(name, dtype, tuple(values)))
    index = pd.RangeIndex(rows)
    frame = pd.DataFrame({p.name: p.series(index) for p in plans}, index=index)
    if not plans:
        frame = pd.DataFrame(index=index)
    return frame, plans
