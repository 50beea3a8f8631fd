"""OR / AND / NOT groups, positional expressions and lookups across relationships."""

from __future__ import annotations

from typing import Any

import pytest

import toolkit as tk
from toolkit import crud
from toolkit.demo import Post, Team, User
from toolkit.filters import build_filters

#: (username, credits, full_name, team, post titles)
PEOPLE = [
    ("ann", 1, "Ann A", "red", ["Hello", "Cats"]),
    ("bob", 3, None, "red", []),
    ("cyd", 6, "Cyd C", "blue", ["cats and dogs"]),
    ("dee", 9, None, None, ["Dogs"]),
    ("fay", 4, "Fay F", "blue", []),
]


async def seed(db: tk.Database) -> None:
    async with db.session() as s:
        teams = {
            t.name: t for t in await crud.create_many(s, Team, [{"name": "red"}, {"name": "blue"}])
        }
        users = await crud.create_many(
            s,
            User,
            [
                {
                    "username": name,
                    "email": f"{name}@x.org",
                    "credits": credits,
                    "full_name": full,
                    "team_id": teams[team].id if team else None,
                }
                for name, credits, full, team, _ in PEOPLE
            ],
        )
        posts = [
            {"title": title, "author_id": user.id}
            for user, person in zip(users, PEOPLE, strict=True)
            for title in person[4]
        ]
        await crud.create_many(s, Post, posts)


CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"credits__or": {"lt": 2, "gt": 5}}, ["ann", "cyd", "dee"]),
    ({"username__or": {"like": ["a%", "f%"]}}, ["ann", "fay"]),
    ({"username__or": {"startswith": ["a", "b"], "eq": "dee"}}, ["ann", "bob", "dee"]),
    ({"credits__or": {"between": [[0, 1], [8, 10]]}}, ["ann", "dee"]),
    ({"credits__or": {"in": [1, 3]}}, ["ann", "bob"]),
    ({"credits__not": {"eq": 1}}, ["bob", "cyd", "dee", "fay"]),
    ({"credits__not": {"eq": 1, "between": (5, 10)}}, ["bob", "fay"]),
    ({"username__not": {"like": ["a%", "b%"]}}, ["cyd", "dee", "fay"]),
    ({"full_name__not": {"eq": "Ann A"}}, ["cyd", "fay"]),  # NULL rows: NOT NULL is not true
    ({"credits__and": {"gt": 2, "lt": 5}}, ["bob", "fay"]),
    ({"credits__or": {"lt": 2, "and": {"gt": 5, "lt": 7}}}, ["ann", "cyd"]),
    ({"_or": {"username__startswith": "a", "credits": 9}}, ["ann", "dee"]),
    ({"_or": [{"credits__gt": 5, "full_name": None}, {"username": "ann"}]}, ["ann", "dee"]),
    ({"_and": {"credits__gt": 2, "full_name__isnull": False}}, ["cyd", "fay"]),
    ({"_not": {"credits__gt": 2, "full_name__isnull": False}}, ["ann", "bob", "dee"]),
    ({"_or": {"_and": {"credits__gt": 5, "username": "cyd"}, "username": "bob"}}, ["bob", "cyd"]),
    ({"_or": {"credits__lt": 2, "_not": {"credits__lt": 9}}}, ["ann", "dee"]),
    ({"team__name": "red"}, ["ann", "bob"]),
    ({"team__name__or": {"eq": "red", "startswith": "bl"}}, ["ann", "bob", "cyd", "fay"]),
    ({"team__isnull": True}, ["dee"]),
    ({"team__isnull": False}, ["ann", "bob", "cyd", "fay"]),
    ({"posts__title__icontains": "cats"}, ["ann", "cyd"]),
    ({"posts__isnull": True}, ["bob", "fay"]),
    ({"posts__title": "Dogs", "credits__gt": 5}, ["dee"]),
    ({"_or": {"team__name": "blue", "posts__title__istartswith": "hello"}}, ["ann", "cyd", "fay"]),
    ({"posts__comments__isnull": False}, []),
]


@pytest.mark.parametrize(("lookups", "expected"), CASES, ids=[repr(c[0])[:60] for c in CASES])
async def test_group(db: tk.Database, lookups: dict[str, Any], expected: list[str]) -> None:
    await seed(db)
    async with db.session() as s:
        found = await crud.search(s, User, **lookups)
        assert [u.username for u in found] == expected
        assert await crud.count(s, User, **lookups) == len(expected)


async def test_relationship_lookups_never_repeat_rows(db: tk.Database) -> None:
    """A user with two matching posts is found once (EXISTS, not a join)."""
    await seed(db)
    async with db.session() as s:
        found = await crud.search(s, User, posts__title__or={"icontains": ["hello", "cats"]})
        assert [u.username for u in found] == ["ann", "cyd"]
        teams = await crud.search(s, Team, members__credits__gt=0)
        assert sorted(t.name for t in teams) == ["blue", "red"]


async def test_expressions_beside_lookups(db: tk.Database) -> None:
    await seed(db)
    async with db.session() as s:
        found = await crud.search(s, User, User.credits > 3, full_name__isnull=False)
        assert [u.username for u in found] == ["cyd", "fay"]
        found = await crud.search(
            s,
            User,
            User.credits > 1,
            username__or={"like": ["b%", "c%"]},
            _or={"team__name": "red", "credits": 6},
        )
        assert [u.username for u in found] == ["bob", "cyd"]


@pytest.mark.parametrize(
    ("lookups", "error", "match"),
    [
        ({"credits__or": 3}, tk.ValidationError, "mapping of operator"),
        ({"credits__or": {}}, tk.ValidationError, "non-empty"),
        ({"credits__not": {"bigger": 3}}, tk.UnknownFieldError, "bigger"),
        ({"_or": {"nickname": "x"}}, tk.UnknownFieldError, "nickname"),
        ({"_or": {"team__nickname": "x"}}, tk.UnknownFieldError, "nickname"),
        ({"_or": "x"}, tk.ValidationError, "_or needs"),
        ({"_and": []}, tk.ValidationError, "_and needs"),
        ({"team": "red"}, tk.UnknownFieldError, "relationship"),
        ({"teams__name": "red"}, tk.UnknownFieldError, "relationships: team"),
        ({"credits__between": 3}, tk.ValidationError, "pair"),
        ({"credits__between": [1, 2, 3]}, tk.ValidationError, "pair"),
        ({"username__like": 3}, tk.ValidationError, "string"),
        ({"username__like": "a\\"}, tk.ValidationError, "escape"),
        ({"credits__or": {"lt": "lots"}}, tk.ValidationError, "credits"),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_malformed_groups_name_the_problem(
    lookups: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        build_filters(User, lookups)
