"""CRUD at depth and in bulk, on the loaded benchmark table.

- The last page (page N/100 of 100 rows: page 10,000 of 1,000,000) by cursor, which
  finds the page by key (``WHERE id > :last``), versus by offset, which walks past every
  row before it. Neither counts the total: the difference is the paging alone.
- ``update_by`` of N/10 rows (100,000 of 1,000,000) in one ``UPDATE ... WHERE``, versus
  what it replaces: ``crud.search`` for the rows, then ``crud.update_many`` of their ids.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from toolkit import crud

from .data import BenchRow
from .harness import Bench, Method

__all__ = ["PAGE_SIZE", "crud_methods"]

PAGE_SIZE = 100
#: Pages read per timed run (each in a session of its own, as a web request would).
PAGE_READS = 10


def _last_page(rows: int) -> int:
    return max(1, rows // PAGE_SIZE)


def crud_methods(bench: Bench, rows: int) -> list[Method]:
    """Paging and update-by-filter contenders on the table ``bench`` loaded with ``rows``."""
    page = _last_page(rows)
    offset = (page - 1) * PAGE_SIZE
    changed = max(1, rows // 10)
    cursor: dict[str, str | None] = {}

    async def session_call(fn: Any) -> Any:
        async with bench.db.session() as s:
            return await fn(s)

    async def find_cursor(s: AsyncSession) -> None:
        # The cursor a reader holds after page - 1: the page before, read by offset once.
        before = await crud.paginate(
            s, BenchRow, offset=max(0, offset - PAGE_SIZE), limit=PAGE_SIZE, count_total=False
        )
        cursor["value"] = before.next_cursor if offset else None

    def by_cursor() -> int:
        if "value" not in cursor:
            bench.run(session_call(find_cursor))

        async def read(s: AsyncSession) -> int:
            found = await crud.paginate(s, BenchRow, limit=PAGE_SIZE, cursor=cursor["value"])
            return len(found.items)

        return sum(int(bench.run(session_call(read))) for _ in range(PAGE_READS))

    def by_offset() -> int:
        async def read(s: AsyncSession) -> int:
            found = await crud.paginate(
                s, BenchRow, offset=offset, limit=PAGE_SIZE, count_total=False
            )
            return len(found.items)

        return sum(int(bench.run(session_call(read))) for _ in range(PAGE_READS))

    def update_by() -> int:
        async def write(s: AsyncSession) -> int:
            return await crud.update_by(
                s, BenchRow, {"int_val": 7}, allow_multiple=True, id__le=changed
            )

        return int(bench.run(session_call(write)))

    def search_then_update_many() -> int:
        async def write(s: AsyncSession) -> int:
            found = await crud.search(s, BenchRow, id__le=changed)
            return await crud.update_many(s, BenchRow, [r.id for r in found], int_val=8)

        return int(bench.run(session_call(write)))

    last = min(PAGE_SIZE, rows - offset) * PAGE_READS
    return [
        Method(
            "paginate_cursor",
            f"crud.paginate(cursor=...): page {page:,} of {PAGE_SIZE}, {PAGE_READS} times",
            by_cursor,
            last,
            last,
            warmup=by_cursor,
            core=True,
        ),
        Method(
            "paginate_offset",
            f"crud.paginate(offset={offset:,}): page {page:,} of {PAGE_SIZE}, {PAGE_READS} times",
            by_offset,
            last,
            last,
            warmup=by_offset,
            core=True,
        ),
        Method(
            "update_by",
            f"crud.update_by(..., id__le={changed:,}): one UPDATE",
            update_by,
            changed,
            changed,
            core=True,
        ),
        Method(
            "search_update_many",
            f"crud.search(id__le={changed:,}) + crud.update_many(ids)",
            search_then_update_many,
            changed,
            changed,
            core=True,
        ),
    ]
