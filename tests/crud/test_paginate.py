"""paginate: by offset and by cursor (keyset), any mix of directions, NULLs, stability."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import toolkit as tk
from toolkit import crud

from ..frame_models import AllTypes, sample_rows

ORDERS = [
    ["i"],
    ["-i"],
    ["b", "-d"],
    ["-b", "n", "-id"],
    ["-ts", "small"],
    ["naive", "-f"],
]


def python_order(rows: list[Any], order_by: list[str]) -> list[int]:
    """The order paginate promises: NULL before every value, the key as tie-breaker."""
    ordered = sorted(rows, key=lambda r: r.id)
    for item in reversed(order_by):
        name = item.lstrip("-")

        def key(r: Any, name: str = name) -> tuple[Any, ...]:
            value = getattr(r, name)
            return (0,) if value is None else (1, value)

        ordered.sort(key=key, reverse=item.startswith("-"))
    return [r.id for r in ordered]


async def walk(s: Any, order_by: list[str], limit: int, **lookups: Any) -> list[int]:
    seen: list[int] = []
    page = await crud.paginate(s, AllTypes, limit=limit, order_by=order_by, **lookups)
    while True:
        seen += [r.id for r in page.items]
        assert len(page.items) <= limit
        if page.next_cursor is None:
            return seen
        page = await crud.paginate(
            s, AllTypes, limit=limit, order_by=order_by, cursor=page.next_cursor, **lookups
        )


@pytest.mark.parametrize("order_by", ORDERS, ids=lambda o: ",".join(o))
@pytest.mark.parametrize("limit", [1, 3, 7, 50])
async def test_cursor_pages_cover_every_row_once_in_order(
    db: tk.Database, order_by: list[str], limit: int
) -> None:
    async with db.session() as s:
        rows = await crud.create_many(s, AllTypes, sample_rows(23))
    async with db.session() as s:
        assert await walk(s, order_by, limit) == python_order(rows, order_by)
        by_offset = await crud.paginate(s, AllTypes, limit=100, order_by=order_by)
        assert [r.id for r in by_offset.items] == python_order(rows, order_by)
        filtered = [r for r in rows if r.i is not None and r.i > 3000]
        assert await walk(s, order_by, limit, i__gt=3000) == python_order(filtered, order_by)


async def test_cursor_is_stable_when_rows_arrive_between_pages(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create_many(s, AllTypes, [{"i": k * 10} for k in range(10)])
        first = await crud.paginate(s, AllTypes, limit=4, order_by="i")
        assert [r.i for r in first.items] == [0, 10, 20, 30]
        await crud.create_many(s, AllTypes, [{"i": 5}, {"i": 35}, {"i": 95}])  # before, after
        second = await crud.paginate(s, AllTypes, limit=4, order_by="i", cursor=first.next_cursor)
        assert [r.i for r in second.items] == [35, 40, 50, 60]
        assert second.total is None and second.has_previous and second.has_next
        counted = await crud.paginate(
            s, AllTypes, limit=4, order_by="i", cursor=first.next_cursor, count_total=True
        )
        assert counted.total == 13
        last = await crud.paginate(s, AllTypes, limit=4, order_by="i", cursor=second.next_cursor)
        assert [r.i for r in last.items] == [70, 80, 90, 95] and last.next_cursor is None


async def test_offset_pages_carry_a_cursor_too(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create_many(s, AllTypes, [{"i": k} for k in range(5)])
        page = await crud.paginate(s, AllTypes, offset=2, limit=2, order_by="-i")
        assert [r.i for r in page.items] == [2, 1] and page.total == 5 and page.page == 2
        rest = await crud.paginate(s, AllTypes, limit=2, order_by="-i", cursor=page.next_cursor)
        assert [r.i for r in rest.items] == [0]
        end = await crud.paginate(s, AllTypes, offset=4, limit=2, order_by="-i")
        assert end.next_cursor is None and not end.has_next


def forge(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "e30",
        "!!!",
        forge([1, 2]),
        forge({"o": [["i", 0], ["id", 0]], "v": [1]}),
        forge({"o": [["i", 0], ["id", 0]], "v": ["x", 1]}),
        forge({"o": [["d", 0], ["id", 0]], "v": [1, 1]}),
    ],
    ids=["text", "empty-object", "not-base64", "list", "short", "bad-value", "other-order"],
)
async def test_malformed_cursor_is_a_validation_error(db: tk.Database, cursor: str) -> None:
    async with db.session() as s:
        with pytest.raises(tk.ValidationError) as info:
            await crud.paginate(s, AllTypes, limit=2, order_by="i", cursor=cursor)
    assert info.value.field == "cursor"


async def test_cursor_is_url_safe_and_checks_its_order(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create_many(s, AllTypes, sample_rows(6))
        page = await crud.paginate(s, AllTypes, limit=2, order_by=["-ts", "s"])
        assert page.next_cursor is not None
        assert set(page.next_cursor) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
        with pytest.raises(tk.ValidationError, match="another order_by"):
            await crud.paginate(s, AllTypes, limit=2, order_by="s", cursor=page.next_cursor)
        with pytest.raises(tk.ValidationError, match="offset"):
            await crud.paginate(s, AllTypes, limit=2, offset=2, cursor=page.next_cursor)
        with pytest.raises(tk.ValidationError, match="order_by"):
            await crud.paginate(
                s, AllTypes, limit=2, order_by=AllTypes.i + 1, cursor=page.next_cursor
            )


async def test_order_by_columns_and_desc_expressions(db: tk.Database) -> None:
    async with db.session() as s:
        rows = await crud.create_many(s, AllTypes, sample_rows(9))
        for order_by in ([AllTypes.d, AllTypes.i.desc()], AllTypes.f.desc()):
            seen: list[int] = []
            page = await crud.paginate(s, AllTypes, limit=2, order_by=order_by)
            while True:
                seen += [r.id for r in page.items]
                if page.next_cursor is None:
                    break
                page = await crud.paginate(
                    s, AllTypes, limit=2, order_by=order_by, cursor=page.next_cursor
                )
            names = ["d", "-i"] if isinstance(order_by, list) else ["-f"]
            assert seen == python_order(rows, names)


async def test_has_next_by_total_when_the_order_is_an_expression(db: tk.Database) -> None:
    """An order_by expression gives no cursor; has_next still says whether rows follow."""
    async with db.session() as s:
        await crud.create_many(s, AllTypes, [{"i": k} for k in range(5)])
        page = await crud.paginate(s, AllTypes, limit=2, order_by=AllTypes.i * -1)
        assert [r.i for r in page.items] == [4, 3]
        assert page.next_cursor is None and page.has_next and page.pages == 3
        end = await crud.paginate(s, AllTypes, offset=4, limit=2, order_by=AllTypes.i * -1)
        assert not end.has_next and end.has_previous
