"""Random lookup trees (AND / OR / NOT over every operator, NULLs included) against a
Python oracle that applies SQL's three-valued logic, on both dialects."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import delete

import toolkit as tk
from toolkit import crud

from ..frame_models import AllTypes

TREES = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Truth = bool | None  # None: SQL's unknown


def kleene_and(values: list[Truth]) -> Truth:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def kleene_or(values: list[Truth]) -> Truth:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def kleene_not(value: Truth) -> Truth:
    return None if value is None else not value


def like(pattern: str, text: str, *, fold: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    if fold:
        return re.fullmatch(regex, text.lower(), re.DOTALL | re.IGNORECASE) is not None
    return re.fullmatch(regex, text, re.DOTALL) is not None


CANONICAL = {"gte": "ge", "lte": "le", "not_in": "notin"}


def leaf(op: str, value: Any, needle: Any) -> Truth:
    """What ``field__op=needle`` is on a row holding ``value``, as documented in
    :mod:`toolkit.filters.operators`."""
    op = CANONICAL.get(op, op)
    if op == "isnull":
        return (value is None) == bool(needle)
    if op in ("eq", "is") and needle is None:
        return value is None
    if op in ("ne", "is_not") and needle is None:
        return value is not None
    if op == "is":
        return value is not None and value == needle
    if op == "is_not":
        return value is None or value != needle
    if op in ("lt", "le", "gt", "ge") and needle is None:
        return False
    if op == "between":
        return kleene_and([leaf("ge", value, needle[0]), leaf("le", value, needle[1])])
    if op == "in":
        if not needle:
            return False
        kept = [n for n in needle if n is not None]
        found: Truth = False if not kept else None if value is None else value in kept
        return kleene_or([found, value is None]) if None in needle else found
    if op == "notin":
        if not needle:
            return True
        kept = [n for n in needle if n is not None]
        excluded: Truth = True if not kept else None if value is None else value not in kept
        return kleene_and([excluded, value is not None])
    if value is None:
        return None
    match op:
        case "eq":
            return bool(value == needle)
        case "ne":
            return bool(value != needle)
        case "lt":
            return bool(value < needle)
        case "le":
            return bool(value <= needle)
        case "gt":
            return bool(value > needle)
        case "ge":
            return bool(value >= needle)
        case "contains":
            return needle in value
        case "icontains":
            return needle.lower() in value.lower()
        case "startswith":
            return bool(value.startswith(needle))
        case "istartswith":
            return bool(value.lower().startswith(needle.lower()))
        case "endswith":
            return bool(value.endswith(needle))
        case "iendswith":
            return bool(value.lower().endswith(needle.lower()))
        case "like":
            return like(needle, value, fold=False)
        case "ilike":
            return like(needle, value, fold=True)
        case "notlike":
            return not like(needle, value, fold=False)
        case "notilike":
            return not like(needle, value, fold=True)
    raise AssertionError(op)


# -- strategies ----------------------------------------------------------------------------

INTS = st.one_of(st.none(), st.integers(-3, 3))
TEXTS = st.one_of(st.none(), st.text("aAbBéÉ", max_size=3))
PATTERNS = st.text("aAbBéÉ%_", max_size=4)


def lists_of(members: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """Short lists, and long ones (past EXPANDED_MAX: one array / JSON parameter)."""
    short = st.lists(members, max_size=3)
    return st.one_of(short, st.lists(members, min_size=1, max_size=3).map(lambda m: m * 1001))


INT_NEEDLES: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(("eq", "ne", "lt", "le", "gt", "ge", "gte", "lte", "is", "is_not"), INTS),
    **{op: lists_of(INTS) for op in ("in", "notin", "not_in")},
    "between": st.tuples(INTS, INTS),
    "isnull": st.booleans(),
}
TEXT_NEEDLES: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(("eq", "ne", "is", "is_not"), TEXTS),
    **{op: st.text("aAbBéÉ", max_size=2) for op in ("lt", "gt")},
    **{op: lists_of(TEXTS) for op in ("in", "notin")},
    **{
        op: st.text("aAbBéÉ%_", max_size=2)
        for op in ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith")
    },
    **dict.fromkeys(("like", "notlike", "ilike", "notilike"), PATTERNS),
    "isnull": st.booleans(),
}
FIELDS = {"i": INT_NEEDLES, "t": TEXT_NEEDLES}


@st.composite
def leaves(draw: st.DrawFn) -> tuple[str, str, Any]:
    field = draw(st.sampled_from(sorted(FIELDS)))
    op = draw(st.sampled_from(sorted(FIELDS[field])))
    return ("leaf", f"{field}__{op}", draw(FIELDS[field][op]))


@st.composite
def field_groups(draw: st.DrawFn) -> tuple[str, str, Any]:
    field = draw(st.sampled_from(sorted(FIELDS)))
    group = draw(st.sampled_from(["or", "not", "and"]))
    ops = draw(
        st.lists(st.sampled_from(sorted(FIELDS[field])), min_size=1, max_size=3, unique=True)
    )
    return ("field", f"{field}__{group}", {op: draw(FIELDS[field][op]) for op in ops})


TREE = st.recursive(
    st.one_of(leaves(), field_groups()),
    lambda children: st.tuples(
        st.sampled_from(["_or", "_and", "_not"]), st.lists(children, min_size=1, max_size=3)
    ),
    max_leaves=8,
)


def as_lookups(node: Any) -> dict[str, Any]:
    """The lookup mapping a node is written as."""
    kind = node[0]
    if kind in ("leaf", "field"):
        return {node[1]: node[2]}
    if kind == "_not":
        return {"_not": {"_and": [as_lookups(child) for child in node[1]]}}
    return {kind: [as_lookups(child) for child in node[1]]}


def evaluate(node: Any, row: dict[str, Any]) -> Truth:
    kind = node[0]
    if kind == "leaf":
        field, _, op = node[1].partition("__")
        return leaf(op, row[field], node[2])
    if kind == "field":
        field, _, group = node[1].partition("__")
        results = [leaf(op, row[field], needle) for op, needle in node[2].items()]
        if group == "or":
            return kleene_or(results)
        if group == "not":
            return kleene_and([kleene_not(r) for r in results])
        return kleene_and(results)
    results = [evaluate(child, row) for child in node[1]]
    if kind == "_or":
        return kleene_or(results)
    if kind == "_and":
        return kleene_and(results)
    return kleene_not(kleene_and(results))


@TREES
@given(
    rows=st.lists(st.fixed_dictionaries({"i": INTS, "t": TEXTS}), max_size=8),
    tree=TREE,
)
async def test_random_lookup_trees_match_the_oracle(
    db: tk.Database, rows: list[dict[str, Any]], tree: Any
) -> None:
    async with db.transaction() as s:
        await s.exec(delete(AllTypes))
    async with db.session() as s:
        created = await crud.create_many(s, AllTypes, rows)
        lookups = as_lookups(tree)
        found = await crud.search(s, AllTypes, **lookups)
        assert await crud.count(s, AllTypes, **lookups) == len(found)
    expected = [o.id for o, row in zip(created, rows, strict=True) if evaluate(tree, row) is True]
    assert [o.id for o in found] == expected, lookups
