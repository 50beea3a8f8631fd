"""Pages of rows: ``paginate`` by offset or by cursor (keyset), and ``Page``.

A cursor is opaque and URL-safe: base64 of the order it was made for and the last
row's values of the order columns, the primary key appended as tie-breaker. The next
page is the rows *after* those values in that order (``WHERE (a, id) > (:a, :id)``), so
it costs O(limit) at any depth and stays right when rows are inserted or deleted between
calls. NULL sorts before every value on both dialects (``NULLS FIRST`` ascending,
``NULLS LAST`` descending), so pages are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, overload

import pydantic
from sqlalchemy import ColumnElement, and_, false, func, inspect, literal, or_, tuple_
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlmodel import SQLModel
from sqlmodel import select as sql_select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import ValidationError
from ..filters import build_filters, coerce_value, column_of, field_adapter
from ..loading import Load
from ..transactions import reading as _reading
from .keys import _pk_keys, lookups_of
from .page import Page
from .statement import _select, projection, row_dict, shaped

__all__ = ["Page", "paginate"]

M = TypeVar("M", bound=SQLModel)
S = TypeVar("S", bound=pydantic.BaseModel)
T = TypeVar("T")


_Key = tuple[str, bool]  # (field, descending)


def _order_keys(model: type[Any], order_by: Any) -> list[_Key] | None:
    """``order_by`` as (field, descending) pairs with the primary key appended; None
    when it holds an expression that is not a plain column of ``model``."""
    mapper = inspect(model)
    items = (
        [] if order_by is None else order_by if isinstance(order_by, list | tuple) else [order_by]
    )
    keys: list[_Key] = []
    for item in items:
        if isinstance(item, str):
            name = item.lstrip("-+")
            column_of(model, name)
            keys.append((name, item.startswith("-")))
        elif isinstance(item, InstrumentedAttribute) and item.key in mapper.column_attrs:
            keys.append((item.key, False))
        elif isinstance(item, UnaryExpression) and item.modifier in (
            operators.desc_op,
            operators.asc_op,
        ):
            try:
                prop = mapper.get_property_by_column(item.element)
            except Exception:
                return None
            keys.append((prop.key, item.modifier is operators.desc_op))
        else:
            return None
    names = {name for name, _ in keys}
    keys += [(pk, False) for pk in _pk_keys(model) if pk not in names]
    return keys


def _nullable(model: type[Any], name: str) -> bool:
    return bool(inspect(model).columns[name].nullable)


def _ordering(model: type[Any], keys: list[_Key]) -> list[Any]:
    clauses = []
    for name, descending in keys:
        column = getattr(model, name)
        clause = column.desc() if descending else column.asc()
        if _nullable(model, name):
            clause = clause.nulls_last() if descending else clause.nulls_first()
        clauses.append(clause)
    return clauses


def _encode(model: type[Any], keys: list[_Key], row: Any) -> str:
    values = [
        field_adapter(model, name, lookup=True).dump_python(_value(row, name), mode="json")
        for name, _ in keys
    ]
    payload = {"o": [[name, int(desc)] for name, desc in keys], "v": values}
    text = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


def _value(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def _decode(model: type[Any], keys: list[_Key], cursor: str) -> list[Any]:
    def bad(reason: str) -> ValidationError:
        return ValidationError(
            model.__name__,
            "cursor",
            f"{reason}; pass the next_cursor of a page of the same query, unchanged",
            cursor,
        )

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, TypeError) as exc:
        raise bad("not a cursor made by crud.paginate") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("v"), list):
        raise bad("not a cursor made by crud.paginate")
    if payload.get("o") != [[name, int(desc)] for name, desc in keys]:
        raise bad("the cursor was made for another order_by")
    if len(payload["v"]) != len(keys):
        raise bad("not a cursor made by crud.paginate")
    try:
        return [
            coerce_value(model, name, v) for (name, _), v in zip(keys, payload["v"], strict=True)
        ]
    except ValidationError as exc:
        raise bad(f"a value in the cursor is not of its field's type ({exc.reason})") from exc


def _after(model: type[Any], keys: list[_Key], values: list[Any]) -> ColumnElement[bool]:
    """Rows after ``values`` in the order ``keys`` (NULL before every value).

    One row-value comparison ``(a, b) > (:a, :b)`` when every key runs the same way and
    none can be NULL (an index range scan); else the expansion ``a > :a OR (a = :a AND
    b > :b) ...`` with NULL placed first.
    """
    columns = [getattr(model, name) for name, _ in keys]
    # Bound with the column's type: SQLAlchemy refuses ``column > True`` written plainly.
    bound = [
        None if v is None else literal(v, c.type) for c, v in zip(columns, values, strict=True)
    ]
    directions = {desc for _, desc in keys}
    nullable = [_nullable(model, name) for name, _ in keys]
    if len(directions) == 1 and not any(nullable) and all(v is not None for v in values):
        left = tuple_(*columns) if len(columns) > 1 else columns[0]
        right = tuple_(*bound) if len(columns) > 1 else bound[0]
        clause: ColumnElement[bool] = left < right if directions.pop() else left > right
        return clause
    alternatives = []
    for i, ((_, descending), column, value) in enumerate(zip(keys, columns, bound, strict=True)):
        same = [
            c.is_(None) if v is None else c == v
            for c, v in zip(columns[:i], bound[:i], strict=True)
        ]
        if descending:
            if value is None:
                continue  # nothing sorts after NULL in a descending order
            beyond = or_(column < value, column.is_(None)) if nullable[i] else column < value
        else:
            beyond = column.is_not(None) if value is None else column > value
        alternatives.append(and_(*same, beyond))
    return or_(*alternatives) if alternatives else false()


@overload
async def paginate(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = ...,
    offset: int | None = ...,
    limit: int = ...,
    order_by: Any = ...,
    cursor: str | None = ...,
    count_total: bool | None = ...,
    load: Load = ...,
    columns: None = ...,
    as_: None = ...,
    skip: int | None = ...,
    **lookups: Any,
) -> Page[M]: ...


@overload
async def paginate(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = ...,
    offset: int | None = ...,
    limit: int = ...,
    order_by: Any = ...,
    cursor: str | None = ...,
    count_total: bool | None = ...,
    load: Load = ...,
    columns: Sequence[str] | None = ...,
    as_: type[S],
    skip: int | None = ...,
    **lookups: Any,
) -> Page[S]: ...


@overload
async def paginate(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = ...,
    offset: int | None = ...,
    limit: int = ...,
    order_by: Any = ...,
    cursor: str | None = ...,
    count_total: bool | None = ...,
    load: Load = ...,
    columns: Sequence[str],
    as_: None = ...,
    skip: int | None = ...,
    **lookups: Any,
) -> Page[dict[str, Any]]: ...


async def paginate(
    session: AsyncSession,
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = None,
    offset: int | None = None,
    limit: int = 50,
    order_by: Any = None,
    cursor: str | None = None,
    count_total: bool | None = None,
    load: Load = None,
    columns: Sequence[str] | None = None,
    as_: type[Any] | None = None,
    skip: int | None = None,
    **lookups: Any,
) -> Page[Any]:
    """Return one page of matching rows, by offset or after a cursor.

    Parameters
    ----------
    *clauses, where, load, columns, as_, **lookups
        As in :func:`toolkit.crud.search`.
    offset : int, optional
        Rows to skip (default 0); not with ``cursor``.
    limit : int
        Page size, positive.
    order_by
        Names (``"-created_at"``), columns or ``.desc()`` of columns; the primary key
        is appended as tie-breaker. Default: the primary key.
    cursor : str, optional
        A page's ``next_cursor``: the page after it, found by key (O(limit) at any
        depth) instead of by offset.
    count_total : bool, optional
        Count the matching rows (one more query over all of them). Default: by
        offset yes, by cursor no.
    skip : int, optional
        Deprecated spelling of ``offset``.

    Returns
    -------
    Page
        ``items``, ``total``, ``next_cursor`` (None on the last page), ...

    Raises
    ------
    ValidationError
        A negative offset, a limit below 1, an offset with a cursor, or a malformed
        cursor (or one made for another ``order_by``).

    Examples
    --------
    >>> page = await crud.paginate(s, User, limit=10, order_by=["username", "-id"])
    >>> page = await crud.paginate(s, User, limit=10, order_by=["username", "-id"],
    ...                            cursor=page.next_cursor)
    """
    if skip is not None:
        warnings.warn(
            "crud.paginate(skip=) is deprecated; use offset= (or cursor= for deep pages)",
            DeprecationWarning,
            stacklevel=2,
        )
        if offset is not None:
            raise ValidationError(model.__name__, "skip", "give offset= or skip=, not both", skip)
        offset = skip
    options = {"load": load, "order_by": order_by, "offset": offset, "cursor": cursor}
    merged = lookups_of(model, "paginate", where, lookups, {**options, "columns": columns})
    if (offset or 0) < 0 or limit <= 0:
        raise ValidationError(
            model.__name__, "offset/limit", "offset must be >= 0, limit > 0", (offset, limit)
        )
    if cursor is not None and offset:
        raise ValidationError(
            model.__name__, "offset", "a page by cursor has no offset: give one of them", offset
        )
    keys = _order_keys(model, order_by)
    if cursor is not None and keys is None:
        raise ValidationError(
            model.__name__,
            "order_by",
            "paging by cursor needs order_by of field names or columns of the model",
            order_by,
        )
    names = projection(model, columns, as_)
    selected = names
    if names is not None and keys is not None:
        selected = names + [name for name, _ in keys if name not in names]
    ordering = _ordering(model, keys) if keys is not None else order_by
    stmt = _select(model, merged, load, ordering, clauses, selected)
    if cursor is not None and keys is not None:
        stmt = stmt.where(_after(model, keys, _decode(model, keys, cursor)))
    elif offset:
        stmt = stmt.offset(offset)
    counting = count_total if count_total is not None else cursor is None
    async with _reading(session):
        total = None
        if counting:
            count = sql_select(func.count()).select_from(model)
            count = count.where(*clauses, *build_filters(model, merged))
            total = int((await session.exec(count)).one())
        result = await session.exec(stmt.limit(limit + 1))
        rows = list(result.all() if selected is not None else result.unique().all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and keys is not None:
        last = rows[-1]
        values = row_dict(last, selected) if selected is not None else last
        next_cursor = _encode(model, keys, values)
    items = shaped(rows, selected, None)
    if selected is not None and names is not None:
        items = [{k: d[k] for k in names} for d in items]
        if as_ is not None:
            items = [as_.model_validate(d) for d in items]
    return Page(
        items=items,
        total=total,
        offset=0 if cursor is not None else offset or 0,
        limit=limit,
        next_cursor=next_cursor,
        cursor=cursor,
    )
