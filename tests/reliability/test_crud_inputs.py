"""Bad input into CRUD, property-based: create either stores and reads back or refuses;
search binds every value and returns what a Python filter of the rows returns.

``crud.create`` validates with the model's pydantic rules: a random value either comes
back equal from the database (read in a fresh session) or raises ``tk.ValidationError``
with nothing written. ``crud.search`` lookups with random strings (LIKE wildcards,
quotes, backslashes, SQL fragments) and numbers never raise a driver error and return
exactly the rows a Python-side filter returns.

The defects this suite found (SQL column limits unchecked by CRUD, NUL and out-of-range
integers reaching the driver from lookups and keys) are fixed; the example-based tests
below that pinned them now guard the fixes.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import delete

import toolkit as tk
from toolkit import crud

from ..frame_models import AllTypes
from .strategies import INVALID, TEXT, Cell
from .support import row_count

FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: The search properties run once per operator and dialect: fewer examples each.
SEARCH_FUZZ = settings(FUZZ, max_examples=30)
UTC = dt.UTC


async def clear(db: tk.Database) -> None:
    async with db.transaction() as s:
        await s.exec(delete(AllTypes))


# -- crud.create ----------------------------------------------------------------------------

# Values within each column's SQL domain; values of a type pydantic refuses; and values
# of the right Python type that the SQL column cannot hold (range, length, scale, NUL,
# lone surrogates), which must be refused by the toolkit, not by the driver.


#: Naive and aware datetimes, any zone; a day of margin so no zone leaves years 1-9999.
STAMPS = st.datetimes(
    dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30), timezones=st.none() | st.timezones()
)


def as_utc(value: dt.datetime) -> dt.datetime:
    """The rule for timestamps: aware values are converted to UTC, naive ones are UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ints(bits: int) -> st.SearchStrategy[Cell]:
    limit = 2 ** (bits - 1)
    beyond = st.one_of(st.integers(min_value=limit), st.integers(max_value=-limit - 1))
    return st.one_of(
        st.integers(-limit, limit - 1).map(lambda v: Cell(v, v)),
        st.integers(-limit, limit - 1).map(lambda v: Cell(str(v), v)),
        st.sampled_from(["abc", 1.5, "1.5", [1]]).map(lambda v: Cell(v, INVALID)),
        beyond.map(lambda v: Cell(v, INVALID)),
    )


#: Text that no column can hold: NUL, or a lone surrogate (not UTF-8).
UNSTORABLE = st.one_of(
    st.builds(lambda a, b: f"{a}\x00{b}", TEXT, TEXT),
    st.builds(lambda a, b: f"{a}\udcff{b}", TEXT, TEXT),
).map(lambda v: Cell(v, INVALID))


CRUD_FIELDS: dict[str, st.SearchStrategy[Cell]] = {
    "small": _ints(16),
    "i": _ints(32),
    "big": _ints(64),
    "f": st.one_of(
        st.floats().map(lambda v: Cell(v, None if math.isnan(v) else v)),  # NaN is NULL
        st.sampled_from(["abc", "1,5"]).map(lambda v: Cell(v, INVALID)),
    ),
    "n": st.one_of(
        st.decimals(Decimal("-99999999.99"), Decimal("99999999.99"), places=2).map(
            lambda v: Cell(v, v)
        ),
        st.sampled_from(["abc", Decimal("NaN"), Decimal("Infinity")]).map(
            lambda v: Cell(v, INVALID)
        ),
        # NUMERIC(12, 2): a third decimal place, or a tenth digit before the point
        st.decimals(Decimal("-9999.999"), Decimal("9999.999"), places=3)
        .filter(lambda v: v != v.quantize(Decimal("0.01")))
        .map(lambda v: Cell(v, INVALID)),
        st.decimals(min_value=Decimal("1e10"), allow_nan=False, allow_infinity=False, places=0).map(
            lambda v: Cell(v, INVALID)
        ),
    ),
    "s": st.one_of(
        TEXT.filter(lambda t: "\x00" not in t and len(t) <= 20).map(lambda v: Cell(v, v)),
        st.just(Cell(b"bytes", "bytes")),  # pydantic decodes UTF-8 bytes
        st.sampled_from([5, 1.5]).map(lambda v: Cell(v, INVALID)),
        st.text(min_size=21, max_size=40).map(lambda v: Cell(v, INVALID)),  # VARCHAR(20)
        UNSTORABLE,
    ),
    "t": st.one_of(TEXT.filter(lambda t: "\x00" not in t).map(lambda v: Cell(v, v)), UNSTORABLE),
    "b": st.one_of(
        st.booleans().map(lambda v: Cell(v, v)),
        st.sampled_from(["maybe", 2, -1]).map(lambda v: Cell(v, INVALID)),
    ),
    "ts": st.one_of(
        STAMPS.map(lambda v: Cell(v, as_utc(v))),
        st.sampled_from(["yesterday-ish", "2024-13-01"]).map(lambda v: Cell(v, INVALID)),
    ),
    "naive": STAMPS.map(lambda v: Cell(v, as_utc(v).replace(tzinfo=None))),
    "d": st.one_of(
        st.dates().map(lambda v: Cell(v, v)),
        st.sampled_from(["2024-02-30", "soon"]).map(lambda v: Cell(v, INVALID)),
    ),
}


@FUZZ
@given(cells=st.fixed_dictionaries({}, optional=CRUD_FIELDS))
async def test_create_stores_and_reads_back_or_refuses(
    db: tk.Database, cells: dict[str, Cell]
) -> None:
    """crud.create with random field values: ValidationError naming a bad field with
    nothing written, or a row that reads back (fresh session) equal to what was given."""
    await clear(db)
    values = {name: cell.value for name, cell in cells.items()}
    bad = {name for name, cell in cells.items() if cell.expected is INVALID}
    if bad:
        with pytest.raises(tk.ValidationError) as info:
            async with db.session() as s:
                await crud.create(s, AllTypes, **values)
        assert info.value.field.split(".")[0] in bad
        assert await row_count(db, "test_all_types") == 0
        return
    async with db.session() as s:
        created = await crud.create(s, AllTypes, **values)
    async with db.session() as s:
        back = await crud.get(s, AllTypes, created.id)
    assert back is not None
    for name, cell in cells.items():
        assert getattr(back, name) == cell.expected, name
        assert getattr(created, name) == cell.expected, name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("small", 40_000),
        ("i", 2**31),
        ("big", 2**63),
        ("s", "x" * 21),
        ("n", Decimal("1.234")),
        ("n", Decimal("1e10")),
        ("t", "nul\x00byte"),
        ("t", "lone \udcff surrogate"),
    ],
    ids=[
        "int16-overflow",
        "int32-overflow",
        "int64-overflow",
        "varchar-too-long",
        "third-decimal",
        "numeric-overflow",
        "nul",
        "surrogate",
    ],
)
async def test_create_checks_the_sql_column(db: tk.Database, field: str, value: Any) -> None:
    """A value the SQL column cannot hold exactly is a ValidationError naming the field,
    on both dialects, as insert_frame already does for the same value."""
    with pytest.raises(tk.ValidationError) as info:
        async with db.session() as s:
            await crud.create(s, AllTypes, **{field: value})
    assert info.value.field == field
    assert await row_count(db, "test_all_types") == 0


@pytest.mark.parametrize("field", ["ts", "naive"])
async def test_create_stores_aware_datetimes_as_utc(db: tk.Database, field: str) -> None:
    """An aware datetime given to crud.create is stored as its UTC instant (the rule of
    insert_frame), crud.get returns the tz column aware, and read_frame agrees."""
    given = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    instant = dt.datetime(2024, 1, 1, 10, tzinfo=UTC)
    expected = instant if field == "ts" else instant.replace(tzinfo=None)
    async with db.session() as s:
        created = await crud.create(s, AllTypes, **{field: given})
    async with db.session() as s:
        back = await crud.get(s, AllTypes, created.id)
    assert back is not None
    assert getattr(back, field) == expected
    assert (getattr(back, field).tzinfo is None) == (field == "naive")
    frame = await tk.read_frame(db, AllTypes.__table__.select())
    assert frame.loc[0, field].to_pydatetime() == expected


async def test_create_nan_like_insert_frame(db: tk.Database) -> None:
    """NaN given to crud.create for a float column reads back the same on both dialects,
    as insert_frame's rule has it: NULL."""
    async with db.session() as s:
        created = await crud.create(s, AllTypes, f=math.nan)
    async with db.session() as s:
        back = await crud.get(s, AllTypes, created.id)
    assert back is not None
    assert back.f is None


# -- crud.search ----------------------------------------------------------------------------

#: Letters of both cases (ASCII and not), LIKE wildcards and escapes, quotes, SQL.
SEARCH_TEXT = st.lists(
    st.one_of(
        st.sampled_from(list("aAbBzZ09 %_\\/'\"-;ÇçÉéΣσ")),
        st.sampled_from(["'; DROP TABLE test_all_types; --", "%%", "__", "\\%", "OR 1=1"]),
    ),
    max_size=6,
).map("".join)
ROWS = st.lists(st.one_of(st.none(), SEARCH_TEXT), max_size=8)
TEXT_OPS = ["contains", "startswith", "endswith"]
CASELESS_OPS = ["icontains", "istartswith", "iendswith"]


def python_filter(op: str, value: str | None, needle: Any) -> bool:
    """What the lookup ``t__op=needle`` means, on one row's value (SQL NULL semantics)."""
    if op == "isnull":
        return (value is None) == bool(needle)
    if op == "notin" and not needle:
        return True  # NOT IN () holds for every row, NULL included
    if value is None:
        return False
    match op:
        case "eq":
            return value == needle
        case "ne":
            return value != needle
        case "in":
            return value in needle
        case "notin":
            return value not in needle
        case "contains":
            return needle in value
        case "startswith":
            return value.startswith(needle)
        case "endswith":
            return value.endswith(needle)
        case "icontains":
            return needle.lower() in value.lower()
        case "istartswith":
            return value.lower().startswith(needle.lower())
        case "iendswith":
            return value.lower().endswith(needle.lower())
    raise AssertionError(op)


def pick_needle(op: str, text: str, texts: list[str], flag: bool) -> Any:
    """The lookup value for ``op``: a list for in/notin, a flag for isnull, else text."""
    if op in ("in", "notin"):
        return texts
    if op == "isnull":
        return flag
    return text


async def search_case(db: tk.Database, rows: list[Any], lookup: str, needle: Any) -> None:
    """Store ``rows`` (as ``t`` or ``i``), search, compare with the Python filter."""
    field, _, op = lookup.partition("__")
    await clear(db)
    async with db.session() as s:
        created = await crud.create_many(s, AllTypes, [{field: r} for r in rows])
    async with db.session() as s:
        found = await crud.search(s, AllTypes, **{lookup: needle})
    expected = [o.id for o, r in zip(created, rows, strict=True) if python_filter(op, r, needle)]
    assert [o.id for o in found] == expected
    assert await row_count(db, "test_all_types") == len(rows)  # nothing was injected


@pytest.mark.parametrize("op", ["eq", "ne", "in", "notin", "isnull", *CASELESS_OPS, *TEXT_OPS])
@SEARCH_FUZZ
@given(
    rows=ROWS,
    text=SEARCH_TEXT,
    texts=st.lists(SEARCH_TEXT, max_size=3),
    flag=st.booleans(),
)
@example(rows=["Apple", "apple", "APPLE", "100%", "a_b", None], text="A", texts=[], flag=True)
@example(rows=["Apple", "apple", "APPLE", "x'y"], text="E", texts=["APPLE", "x'y"], flag=False)
async def test_search_text_matches_python_filter(
    db: tk.Database, op: str, rows: list[str | None], text: str, texts: list[str], flag: bool
) -> None:
    """``t__op=value`` with random text (wildcards, quotes, SQL) returns exactly the rows
    a Python filter returns, never raises, and never changes the table."""
    await search_case(db, rows, f"t__{op}", pick_needle(op, text, texts, flag))


NUMERIC_OPS = ["eq", "ne", "lt", "le", "gt", "ge", "in", "notin", "isnull"]
INT32 = st.integers(-(2**31), 2**31 - 1)


def python_compare(op: str, value: int | None, needle: Any) -> bool:
    if op == "isnull":
        return (value is None) == bool(needle)
    if op == "notin" and not needle:
        return True
    if value is None:
        return False
    match op:
        case "eq":
            return value == needle
        case "ne":
            return value != needle
        case "lt":
            return value < needle
        case "le":
            return value <= needle
        case "gt":
            return value > needle
        case "ge":
            return value >= needle
        case "in":
            return value in needle
        case "notin":
            return value not in needle
    raise AssertionError(op)


@pytest.mark.parametrize("op", NUMERIC_OPS)
@SEARCH_FUZZ
@given(
    rows=st.lists(st.one_of(st.none(), INT32), max_size=8),
    number=st.one_of(INT32, INT32.map(str)),
    numbers=st.lists(INT32, max_size=3),
    flag=st.booleans(),
)
async def test_search_numbers_matches_python_filter(
    db: tk.Database, op: str, rows: list[int | None], number: Any, numbers: list[int], flag: bool
) -> None:
    """``i__op=value`` with random 32-bit values (numeric text included, coerced to int)
    returns exactly the rows a Python comparison returns."""
    needle = numbers if op in ("in", "notin") else flag if op == "isnull" else number
    await clear(db)
    async with db.session() as s:
        created = await crud.create_many(s, AllTypes, [{"i": r} for r in rows])
    async with db.session() as s:
        found = await crud.search(s, AllTypes, **{f"i__{op}": needle})
    python_needle = needle if op in ("in", "notin", "isnull") else int(needle)
    expected = [
        o.id for o, r in zip(created, rows, strict=True) if python_compare(op, r, python_needle)
    ]
    assert [o.id for o in found] == expected


async def test_search_unicode_case_insensitive(db: tk.Database) -> None:
    """icontains folds the case of non-ASCII letters too, on both dialects (as
    Python's str.lower and PostgreSQL's lower() do)."""
    await search_case(db, ["Ça", "ça", "ÇA", "ca"], "t__icontains", "ç")
    await search_case(db, ["ÉCOLE", "école", "ecole"], "t__istartswith", "éc")


@pytest.mark.parametrize("op", ["eq", "ne", "in", "contains", "icontains", "startswith"])
@pytest.mark.parametrize("needle", ["\x00", "a\x00b", "lone \udcff surrogate"], ids=repr)
async def test_search_with_unbindable_text(db: tk.Database, op: str, needle: str) -> None:
    """Text no column can hold (NUL, a lone surrogate) in a lookup is a ValidationError
    naming the field, on both dialects: before, PostgreSQL raised a raw DBAPIError and
    SQLite's LIKE pattern ended at the NUL, so contains('\\x00') matched every row."""
    value: Any = [needle] if op == "in" else needle
    async with db.session() as s:
        await crud.create_many(s, AllTypes, [{"t": "plain"}, {"t": "a b"}, {"t": None}])
    with pytest.raises(tk.ValidationError, match="no stored value can match") as info:
        async with db.session() as s:
            await crud.search(s, AllTypes, **{f"t__{op}": value})
    assert info.value.field == "t"


@pytest.mark.parametrize(
    ("lookup", "value"),
    [
        ("i", 2**40),
        ("i__lt", -(2**31) - 1),
        ("small__in", [1, 2**20]),
        ("big__gt", 2**64),
        ("id", 2**63),
    ],
    ids=["int32-eq", "int32-lt", "int16-in", "beyond-int64-gt", "beyond-int64-pk"],
)
async def test_search_with_out_of_range_int(db: tk.Database, lookup: str, value: Any) -> None:
    """An integer lookup beyond the column's range is a ValidationError naming the field
    and the range, on both dialects (before: asyncpg's raw 'value out of int32 range',
    sqlite3's OverflowError beyond 64 bits)."""
    async with db.session() as s:
        await crud.create_many(s, AllTypes, [{"small": 1, "i": 1, "big": 1}])
    with pytest.raises(tk.ValidationError, match="-bit integer") as info:
        async with db.session() as s:
            await crud.search(s, AllTypes, **{lookup: value})
    assert info.value.field == lookup.partition("__")[0]


@pytest.mark.parametrize("call", ["get", "update", "delete", "update_many", "delete_many"])
@pytest.mark.parametrize("pk", [2**63, 2**70, "not a number"], ids=["int64+1", "huge", "text"])
async def test_primary_key_out_of_domain(db: tk.Database, call: str, pk: Any) -> None:
    """A primary key no row can have is a ValidationError on every by-key call, and
    nothing changes; never a driver error."""
    async with db.session() as s:
        await crud.create(s, AllTypes, i=1)
    calls = {
        "get": lambda s: crud.get(s, AllTypes, pk),
        "update": lambda s: crud.update(s, AllTypes, pk, i=2),
        "delete": lambda s: crud.delete(s, AllTypes, pk),
        "update_many": lambda s: crud.update_many(s, AllTypes, [1, pk], i=2),
        "delete_many": lambda s: crud.delete_many(s, AllTypes, [1, pk]),
    }
    with pytest.raises(tk.ValidationError) as info:
        async with db.session() as s:
            await calls[call](s)
    assert info.value.field == "id"
    async with db.session() as s:
        assert [o.i for o in await crud.search(s, AllTypes)] == [1]


async def test_primary_key_as_numeric_text(db: tk.Database) -> None:
    """A key given as numeric text is coerced to the column's type on both dialects
    (asyncpg would refuse to bind text for an integer column)."""
    async with db.session() as s:
        created = await crud.create(s, AllTypes, i=7)
    async with db.session() as s:
        found = await crud.get(s, AllTypes, str(created.id))
        assert found is not None and found.i == 7
    async with db.session() as s:
        assert await crud.delete(s, AllTypes, str(created.id))
        assert await crud.search(s, AllTypes) == []
