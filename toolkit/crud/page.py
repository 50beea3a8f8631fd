"""``Page``: one page of a paginated read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Page"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results.

    Attributes
    ----------
    items : list
        The models (or dicts, or ``as_`` instances) on this page.
    total : int or None
        How many rows match the filters, over all pages; None when not counted (a
        page by cursor, unless ``count_total=True``).
    offset : int
        The offset of this page (0 for a page by cursor).
    limit : int
        The page size.
    next_cursor : str or None
        Pass it as ``cursor=`` for the next page; None on the last page.
    cursor : str or None
        The cursor this page was read after.
    """

    items: list[T]
    total: int | None
    offset: int
    limit: int
    next_cursor: str | None = None
    cursor: str | None = None

    @property
    def skip(self) -> int:
        """The offset (the older name)."""
        return self.offset

    @property
    def page(self) -> int:
        """1-based number of this page (by offset)."""
        return self.offset // self.limit + 1 if self.limit else 1

    @property
    def pages(self) -> int | None:
        """Number of pages at this page size; None when the total was not counted."""
        if self.total is None:
            return None
        return -(-self.total // self.limit) if self.limit else 1

    @property
    def has_next(self) -> bool:
        """Whether rows follow this page (known from the total when there is no cursor,
        as with an ``order_by`` expression that is not a column)."""
        if self.next_cursor is not None:
            return True
        if self.cursor is not None or self.total is None:
            return False
        return self.offset + len(self.items) < self.total

    @property
    def has_previous(self) -> bool:
        """Whether rows come before this page."""
        return self.offset > 0 or self.cursor is not None

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Any:
        return iter(self.items)

    def __repr__(self) -> str:
        if self.cursor is not None:
            return (
                f"Page({len(self.items)} items after a cursor, limit={self.limit}, "
                f"has_next={self.has_next})"
            )
        return (
            f"Page({self.page} of {self.pages}: {len(self.items)} items, "
            f"total={self.total}, offset={self.offset}, limit={self.limit})"
        )
