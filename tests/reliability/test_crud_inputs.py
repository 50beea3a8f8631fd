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
#: Text no column holds (NUL, a lone surrogate): such a lookup is never sent to a driver
#: (none can bind it) and must still mean what Python says it means.
UNSTORABLE_TEXT = st.builds(
    lambda a, bad, b: f"{a}{bad}{b}", SEARCH_TEXT, st.sampled_from(["\x00", "\udcff"]), SEARCH_TEXT
)
NEEDLE_TEXT = st.one_of(SEARCH_TEXT, SEARCH_TEXT, SEARCH_TEXT, UNSTORABLE_TEXT)
TEXT_OPS = ["contains", "startswith", "endswith"]
CASELESS_OPS = ["icontains", "istartswith", "iendswith"]


def python_filter(op: str, value: Any, needle: Any) -> bool:
    """What the lookup ``field__op=needle`` means, on one row's value (SQL NULL
    semantics): the oracle for text and number lookups alike."""
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
        case "lt":
            return bool(value < needle)
        case "le":
            return bool(value <= needle)
        case "gt":
            return bool(value > needle)
        case "ge":
            return bool(value >= needle)
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
            return fold(needle) in fold(value)
        case "istartswith":
            return fold(value).startswith(fold(needle))
        case "iendswith":
            return fold(value).endswith(fold(needle))
    raise AssertionError(op)


def fold(text: str) -> str:
    """Lower case one character at a time, as SQL ``lower()`` does on both dialects
    (Python's ``str.lower`` turns a final Σ into ς, and İ into two characters)."""
    return "".join(c.lower()[0] for c in text)


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
    text=NEEDLE_TEXT,
    texts=st.lists(NEEDLE_TEXT, max_size=3),
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
#: Lookup numbers of any size: beyond the 32-bit column they are bound as BIGINT, beyond
#: 64 bits (no driver binds them) the lookup is rewritten to what it means.
EDGES = [2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1]
NUMBERS = st.one_of(INT32, INT32, st.integers(), st.sampled_from([*EDGES, 10**30, -(10**30)]))


@pytest.mark.parametrize("op", NUMERIC_OPS)
@SEARCH_FUZZ
@given(
    rows=st.lists(st.one_of(st.none(), INT32, st.sampled_from([2**31 - 1, -(2**31)])), max_size=8),
    number=st.one_of(NUMBERS, NUMBERS.map(str)),
    numbers=st.lists(NUMBERS, max_size=3),
    flag=st.booleans(),
)
async def test_search_numbers_matches_python_filter(
    db: tk.Database, op: str, rows: list[int | None], number: Any, numbers: list[int], flag: bool
) -> None:
    """``i__op=value`` with random integers of any size (numeric text included, coerced
    to int) returns exactly the rows a Python comparison returns, never a driver error
    (before: asyncpg's 'value out of int32 range', sqlite3's OverflowError)."""
    needle = numbers if op in ("in", "notin") else flag if op == "isnull" else number
    await clear(db)
    async with db.session() as s:
        created = await crud.create_many(s, AllTypes, [{"i": r} for r in rows])
    async with db.session() as s:
        found = await crud.search(s, AllTypes, **{f"i__{op}": needle})
    python_needle = needle if op in ("in", "notin", "isnull") else int(needle)
    expected = [
        o.id for o, r in zip(created, rows, strict=True) if python_filter(op, r, python_needle)
    ]
    assert [o.id for o in found] == expected


async def test_search_unicode_case_insensitive(db: tk.Database) -> None:
    """icontains folds the case of non-ASCII letters too, on both dialects (as
    Python's str.lower and PostgreSQL's lower() do)."""
    await search_case(db, ["Ça", "ça", "ÇA", "ca"], "t__icontains", "ç")
    await search_case(db, ["ÉCOLE", "école", "ecole"], "t__istartswith", "éc")
    await search_case(db, ["ΣΊΣΥΦΟΣ", "σίσυφος", "ΟΣ"], "t__iendswith", "ς")
    await search_case(db, ["ΣΊΣΥΦΟΣ", "σίσυφοσ"], "t__iendswith", "ΟΣ")
    await search_case(db, ["İstanbul", "istanbul", "i\u0307x"], "t__icontains", "i\u0307")


@pytest.mark.parametrize(
    "op", ["eq", "ne", "in", "notin", "contains", "icontains", "startswith", "iendswith"]
)
@pytest.mark.parametrize("needle", ["\x00", "a\x00b", "lone \udcff surrogate"], ids=repr)
async def test_search_with_unstorable_text(db: tk.Database, op: str, needle: str) -> None:
    """Text no column can hold (NUL, a lone surrogate) in a lookup means what it means in
    Python (eq finds nothing, ne every non-NULL row), on both dialects. Found by this
    suite: PostgreSQL raised a raw DBAPIError, and SQLite's LIKE pattern ended at the
    NUL, so contains('\\x00') matched every row."""
    value: Any = [needle] if op in ("in", "notin") else needle
    await search_case(db, ["plain", "a b", None], f"t__{op}", value)


async def test_text_ordering_with_unstorable_text_is_refused(db: tk.Database) -> None:
    """``lt`` / ``gt`` against text with NUL has no SQL meaning both dialects share: a
    ValidationError naming the field, never a driver error."""
    with pytest.raises(tk.ValidationError, match="NUL") as info:
        async with db.session() as s:
            await crud.search(s, AllTypes, t__lt="a\x00")
    assert info.value.field == "t"


@pytest.mark.parametrize(
    ("lookup", "value"),
    [
        ("i", 2**40),
        ("i__ne", 2**31),
        ("i__lt", 2**31),
        ("i__gt", -(2**31) - 1),
        ("small__in", [1, 2**20]),
        ("small__notin", [2**20]),
        ("big__gt", 2**64),
        ("big__lt", 10**30),
        ("big__ge", -(10**30)),
        ("id", 2**63),
    ],
    ids=lambda v: str(v)[:12],
)
async def test_search_with_out_of_range_int(db: tk.Database, lookup: str, value: Any) -> None:
    """An integer lookup beyond the column's range finds what Python finds, on both
    dialects (found by this suite: asyncpg's raw 'value out of int32 range', sqlite3's
    OverflowError beyond 64 bits)."""
    rows = [{"small": 1, "i": 1, "big": 1}, {"small": None, "i": None, "big": None}]
    async with db.session() as s:
        created = await crud.create_many(s, AllTypes, rows)
        found = await crud.search(s, AllTypes, **{lookup: value})
    field, _, op = lookup.partition("__")
    expected = [o.id for o in created if python_filter(op or "eq", getattr(o, field), value)]
    assert [o.id for o in found] == expected


@pytest.mark.parametrize("pk", [2**31, 2**63, 2**70], ids=["int32+1", "int64+1", "huge"])
async def test_primary_key_no_row_can_have(db: tk.Database, pk: int) -> None:
    """A primary key beyond the column's range is a key no row has: get and update give
    None, delete False, and the many-row calls act on the other keys only."""
    async with db.session() as s:
        row = await crud.create(s, AllTypes, i=1)
        assert await crud.get(s, AllTypes, pk) is None
        assert await crud.get(s, AllTypes, pk, load=[]) is None
        assert await crud.update(s, AllTypes, pk, i=2) is None
        assert await crud.delete(s, AllTypes, pk) is False
        assert await crud.update_many(s, AllTypes, [row.id, pk], i=3) == 1
    async with db.session() as s:
        assert [o.i for o in await crud.search(s, AllTypes)] == [3]
        assert await crud.delete_many(s, AllTypes, [pk, row.id]) == 1
        assert await crud.search(s, AllTypes) == []


@pytest.mark.parametrize("call", ["get", "update", "delete", "update_many", "delete_many"])
async def test_primary_key_of_the_wrong_type(db: tk.Database, call: str) -> None:
    """A key that is not of the key's type is a ValidationError naming the key, and
    nothing changes."""
    async with db.session() as s:
        await crud.create(s, AllTypes, i=1)
    pk = "not a number"
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
