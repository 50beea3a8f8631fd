"""field__op lookups: every operator, unknown names, bound parameters."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

import toolkit as tk
from toolkit import crud
from toolkit.demo import Team, User
from toolkit.filters import ALIASES, OPERATORS, build_filters

from ..frame_models import Pair

NAMES = ["alice", "bob", "carol", "dave", "100%_real"]


async def seed(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create_many(
            s,
            User,
            [
                {
                    "username": n,
                    "email": f"{i}@example.org",
                    "full_name": None if i % 2 else n.upper(),
                    "credits": i * 10,
                }
                for i, n in enumerate(NAMES)
            ],
        )


CASES = [
    ({"username": "bob"}, ["bob"]),
    ({"username__eq": "bob"}, ["bob"]),
    ({"username__ne": "bob"}, ["alice", "carol", "dave", "100%_real"]),
    ({"credits__lt": 20}, ["alice", "bob"]),
    ({"credits__le": "20"}, ["alice", "bob", "carol"]),
    ({"credits__gt": 20}, ["dave", "100%_real"]),
    ({"credits__ge": 30.0}, ["dave", "100%_real"]),
    ({"id__in": [1, "3"]}, ["alice", "carol"]),
    ({"id__notin": [1, 2, 3]}, ["dave", "100%_real"]),
    ({"username__contains": "a"}, ["alice", "carol", "dave", "100%_real"]),
    ({"username__contains": "%"}, ["100%_real"]),
    ({"username__contains": "_"}, ["100%_real"]),
    ({"full_name__icontains": "aro"}, ["carol"]),
    ({"username__startswith": "ca"}, ["carol"]),
    ({"full_name__istartswith": "al"}, ["alice"]),
    ({"username__endswith": "e"}, ["alice", "dave"]),
    ({"full_name__iendswith": "OL"}, ["carol"]),
    ({"full_name__isnull": True}, ["bob", "dave"]),
    ({"full_name__isnull": False}, ["alice", "carol", "100%_real"]),
    ({"full_name": None}, ["bob", "dave"]),
    ({"is_active": True, "credits__gt": 10, "username__ne": "dave"}, ["carol", "100%_real"]),
    # FastCRUD's spellings and the operators it has beyond the ones above
    ({"credits__gte": 30}, ["dave", "100%_real"]),
    ({"credits__lte": 10}, ["alice", "bob"]),
    ({"id__not_in": [1, 2, 3]}, ["dave", "100%_real"]),
    ({"credits__between": (10, 30)}, ["bob", "carol", "dave"]),
    ({"credits__between": [30, 10]}, []),
    ({"full_name__is": None}, ["bob", "dave"]),
    ({"full_name__is_not": None}, ["alice", "carol", "100%_real"]),
    ({"full_name__is": "ALICE"}, ["alice"]),
    ({"full_name__is_not": "ALICE"}, ["bob", "carol", "dave", "100%_real"]),
    ({"username__like": "%a%e"}, ["alice", "dave"]),
    ({"username__like": "_o_"}, ["bob"]),
    ({"username__like": "100\\%\\_%"}, ["100%_real"]),
    ({"username__like": "A%"}, []),
    ({"username__notlike": "%a%"}, ["bob"]),
    ({"full_name__ilike": "%r%"}, ["carol", "100%_real"]),
    ({"full_name__notilike": "a%"}, ["carol", "100%_real"]),
]


@pytest.mark.parametrize(("lookups", "expected"), CASES, ids=[",".join(c[0]) for c in CASES])
async def test_lookup(db: tk.Database, lookups: dict[str, object], expected: list[str]) -> None:
    await seed(db)
    async with db.session() as s:
        found = await crud.search(s, User, **lookups)
    assert [u.username for u in found] == expected


def test_every_operator_is_covered() -> None:
    """Every operator and every other spelling has a case (``match`` has its own test)."""
    used = {key.partition("__")[2] or "eq" for lookups, _ in CASES for key in lookups}
    assert used | {"match"} == set(OPERATORS) | set(ALIASES) - {"isnot", "not_like", "not_ilike"}


async def test_match_is_full_text_search_on_postgresql(db: tk.Database, dialect: str) -> None:
    """``match`` is PostgreSQL full-text search (stemmed words); on SQLite, a
    ValidationError that says what to use instead."""
    async with db.session() as s:
        await crud.create(s, Team, name="The cats are running")
        await crud.create(s, Team, name="dog")
        if dialect == "postgresql":
            found = await crud.search(s, Team, name__match="cat run")
            assert [t.name for t in found] == ["The cats are running"]
        else:
            with pytest.raises(tk.ValidationError, match=r"full-text.*icontains") as info:
                await crud.search(s, Team, name__match="cat")
            assert info.value.field == "name"


def test_unknown_operator_lists_both_spellings() -> None:
    with pytest.raises(tk.UnknownFieldError) as info:
        build_filters(User, {"credits__greater": 1})
    message = str(info.value)
    for name in ["ge (gte)", "le (lte)", "notin (not_in)", "like", "between", "is_not"]:
        assert name in message


@pytest.mark.parametrize(
    ("lookups", "match"),
    [
        ({"nickname": "x"}, "nickname"),
        ({"username__likes": "x"}, "likes"),
        ({"username__icontains__x": "y"}, "icontains__x"),
    ],
    ids=["unknown-field", "unknown-op", "too-deep"],
)
def test_unknown_names_are_errors(lookups: dict[str, object], match: str) -> None:
    with pytest.raises(tk.UnknownFieldError, match=match) as info:
        build_filters(User, lookups)
    assert isinstance(info.value, tk.ToolkitError)


@pytest.mark.parametrize(
    "lookups",
    [{"id": "seven"}, {"id__in": "1,2"}, {"username__contains": 5}, {"credits__gt": "lots"}],
    ids=["int-from-text", "in-needs-list", "contains-needs-text", "decimal-from-text"],
)
def test_bad_values_are_validation_errors(lookups: dict[str, object]) -> None:
    with pytest.raises(tk.ValidationError):
        build_filters(User, lookups)


@pytest.mark.parametrize(
    "dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"]
)
def test_values_are_bound_never_inlined(dialect: object) -> None:
    evil = "x'; DROP TABLE users; --"
    stmt = select(User).where(
        *build_filters(User, {"username": evil, "email__icontains": evil, "id__in": [1, 2]})
    )
    sql = str(stmt.compile(dialect=dialect))  # type: ignore[arg-type]
    assert "DROP TABLE" not in sql
    params = stmt.compile(dialect=dialect).params  # type: ignore[arg-type]
    assert evil in params.values()


async def test_injection_attempt_is_just_a_value(db: tk.Database) -> None:
    await seed(db)
    async with db.session() as s:
        assert await crud.search(s, User, username="x' OR '1'='1") == []
        assert len(await crud.search(s, User)) == len(NAMES)


def test_only_integer_columns_have_the_64_bit_limit() -> None:
    """An int field on a wide NUMERIC column can hold 10**25: the lookup is bound as a
    value, not rewritten as if no row could hold it."""
    clause = build_filters(Pair, {"wide": 10**25})[0]
    compiled = clause.compile(dialect=postgresql.asyncpg.dialect())
    assert "wide = $1" in str(compiled).replace("test_pair.", "")
    assert list(compiled.params.values()) == [10**25]


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        ({"ratio": float("nan")}, [3]),  # NaN is stored as NULL: NaN means NULL
        ({"ratio__ne": float("nan")}, [1, 2]),
        ({"ratio__lt": float("nan")}, []),
        ({"ratio__in": [None, 0.5]}, [1, 3]),
        ({"ratio__notin": [None, 0.5]}, [2]),
        ({"ratio__in": [float("nan")]}, [3]),
        ({"ratio__notin": [0.5]}, [2]),
    ],
    ids=lambda v: str(v),
)
async def test_nulls_and_nan_in_lookups(
    db: tk.Database, lookups: dict[str, object], expected: list[int]
) -> None:
    """None (and NaN, which the toolkit stores as NULL) in a lookup mean NULL on both
    dialects: ``in`` includes NULL rows, ``notin`` excludes them."""
    async with db.session() as s:
        await crud.create_many(
            s,
            Pair,
            [{"a": 1, "b": 1, "ratio": 0.5}, {"a": 2, "b": 1, "ratio": 2.0}, {"a": 3, "b": 1}],
        )
        found = await crud.search(s, Pair, **lookups)
    assert [p.a for p in found] == expected
