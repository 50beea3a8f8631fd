"""Generic async CRUD over any SQLModel table model, validated and typed by the model.

Transactions: a call made outside an explicit transaction (``db.transaction()``,
``session.begin()`` or a savepoint) is its own transaction: when it returns, its write
is durable and its read has released the connection. Inside an explicit transaction a
call joins it: nothing is durable until the block exits. Every write runs in a
SAVEPOINT, so a call that fails (duplicate, foreign key, validation) undoes only its own
work and leaves the surrounding block usable with its earlier work intact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pydantic
from sqlalchemy import ColumnElement, DateTime, false, func, inspect, tuple_
from sqlalchemy import delete as sa_delete
from sqlalchemy import exc as sa_exc
from sqlalchemy import update as sa_update
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .drivers import driver_for
from .dtypes import model_specs, value_problem
from .errors import MultipleResultsFound, ValidationError
from .filters import (
    bind_for,
    build_filters,
    coerce_value,
    column_of,
    field_adapter,
    order_clauses,
    storable,
)
from .loading import Load, loader_options
from .transactions import reading as _reading
from .transactions import writing as _writing

__all__ = [
    "Page",
    "create",
    "create_many",
    "delete",
    "delete_many",
    "get",
    "get_by",
    "get_or_create",
    "paginate",
    "search",
    "stream",
    "update",
    "update_many",
    "validate",
]

M = TypeVar("M", bound=SQLModel)
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results and the total count of matching rows.

    Attributes
    ----------
    items : list
        The models on this page.
    total : int
        How many rows match the filters, over all pages.
    skip, limit : int
        The offset and page size that produced this page.
    """

    items: list[T]
    total: int
    skip: int
    limit: int

    @property
    def page(self) -> int:
        """1-based number of this page."""
        return self.skip // self.limit + 1 if self.limit else 1

    @property
    def pages(self) -> int:
        """Number of pages at this page size."""
        return -(-self.total // self.limit) if self.limit else 1

    @property
    def has_next(self) -> bool:
        return self.skip + len(self.items) < self.total

    @property
    def has_previous(self) -> bool:
        return self.skip > 0

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Any:
        return iter(self.items)

    def __repr__(self) -> str:
        return (
            f"Page({self.page} of {self.pages}: {len(self.items)} items, "
            f"total={self.total}, skip={self.skip}, limit={self.limit})"
        )


# -- validation -------------------------------------------------------------------------


def _as_dict(model: type[Any], data: Mapping[str, Any] | SQLModel | None) -> dict[str, Any]:
    if data is None:
        return {}
    if isinstance(data, pydantic.BaseModel):
        return data.model_dump(exclude_unset=not isinstance(data, model))
    return dict(data)


def _check_fields(model: type[Any], values: Iterable[str]) -> None:
    for name in values:
        column_of(model, name)


def _raise_validation(model: type[Any], exc: pydantic.ValidationError) -> ValidationError:
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"]) or "__root__"
    reason = first["msg"]
    if len(errors) > 1:
        others = ", ".join(".".join(str(p) for p in e["loc"]) or "__root__" for e in errors[1:])
        reason += f" (and {len(errors) - 1} more: {others})"
    error = ValidationError(model.__name__, field, reason, first.get("input"))
    error.__cause__ = exc
    return error


def validate(
    model: type[M], data: Mapping[str, Any] | SQLModel | None = None, /, **values: Any
) -> M:
    """Build a ``model`` instance with the model's pydantic rules applied.

    SQLModel table models do not validate in ``__init__``; this does.

    Parameters
    ----------
    model : SQLModel table class
    data : mapping or model instance, optional
        Field values; ``values`` are merged over it.

    Returns
    -------
    model instance (not added to any session)

    Raises
    ------
    UnknownFieldError
        A key that is not a field of the model.
    ValidationError
        A value that breaks the model's rules; names the field.

    Examples
    --------
    >>> crud.validate(User, username="ann", email="a@x.org")
    """
    return _validated(model, {**_as_dict(model, data), **values}, model_specs(model))


def _validated(model: type[M], merged: dict[str, Any], columns: Iterable[str]) -> M:
    """``validate``, with the SQL column limits checked for ``columns`` only."""
    _check_fields(model, merged)
    try:
        obj = model.model_validate(merged)
    except pydantic.ValidationError as exc:
        raise _raise_validation(model, exc) from exc
    obj = _normalise(model, obj)
    for name in columns:
        _check_column(model, name, getattr(obj, name, None))
    return obj


def _check_column(model: type[Any], name: str, value: Any) -> None:
    """Refuse a value the SQL column cannot hold exactly (range, length, NUL, scale).

    pydantic knows the Python type (``int``, ``str``, ``Decimal``), not the column's
    limits; without this, PostgreSQL raises a raw driver error and SQLite stores, rounds
    or overflows. ``insert_frame`` applies the same rules to whole columns.
    """
    problem = value_problem(model_specs(model)[name], value)
    if problem is not None:
        raise ValidationError(model.__name__, name, problem, value)


def _normalise(model: type[M], obj: M) -> M:
    """Store values the same way on both dialects, as ``insert_frame`` does."""
    for name, column in inspect(model).columns.items():
        value = getattr(obj, name, None)
        stored = _stored_value(column.type, value)
        if stored is not value:
            setattr(obj, name, stored)
    return obj


def _stored_value(column_type: Any, value: Any) -> Any:
    """``value`` as the column stores it on both dialects.

    Timestamps: a timezone-aware column gets the UTC instant (naive values are taken as
    UTC); a naive column gets the UTC wall time of an aware value. SQLite's DATETIME
    would otherwise keep the local wall time and drop the offset. Floats: NaN is NULL
    (SQLite cannot store NaN; PostgreSQL would keep it).
    """
    if isinstance(value, dt.datetime) and isinstance(column_type, DateTime):
        if column_type.timezone:
            return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _validate_fields(model: type[Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a partial set of fields on their own (for bulk updates)."""
    _check_fields(model, values)
    columns = inspect(model).columns
    out: dict[str, Any] = {}
    for name, value in values.items():
        try:
            checked = field_adapter(model, name, lookup=False).validate_python(value)
        except pydantic.ValidationError as exc:
            raise ValidationError(model.__name__, name, exc.errors()[0]["msg"], value) from exc
        out[name] = _stored_value(columns[name].type, checked)
        _check_column(model, name, out[name])
    return out


# -- primary keys -----------------------------------------------------------------------


def _pk_keys(model: type[Any]) -> list[str]:
    """Attribute names of the primary key's columns (a field may differ from its column)."""
    mapper = inspect(model)
    return [mapper.get_property_by_column(col).key for col in mapper.primary_key]


def _pk_columns(model: type[Any]) -> list[Any]:
    return [getattr(model, key) for key in _pk_keys(model)]


def _pk_value(model: type[Any], pk: Any) -> tuple[Any, ...]:
    """``pk`` as a tuple of one value per key column, each coerced to its field's type.

    A key is a value; for a key of several columns, a tuple or list in column order, or
    a mapping by field name (as ``session.get`` takes them); a 1-tuple also works.

    Raises
    ------
    ValidationError
        A key of the wrong shape, or a part that is not of its field's type (``"x"`` for
        an integer id).
    """
    keys = _pk_keys(model)
    if isinstance(pk, Mapping):
        parts: tuple[Any, ...] = tuple(pk.get(k, _MISSING) for k in keys)
    elif len(keys) > 1 and isinstance(pk, Sequence) and not isinstance(pk, str | bytes):
        parts = tuple(pk)
    elif isinstance(pk, tuple) and len(pk) == 1:
        parts = pk
    else:
        parts = (pk,)
    if len(parts) != len(keys) or any(p is _MISSING for p in parts):
        raise ValidationError(
            model.__name__,
            ", ".join(keys),
            f"the primary key has {len(keys)} part(s) ({', '.join(keys)})",
            pk,
        )
    return tuple(coerce_value(model, k, v) for k, v in zip(keys, parts, strict=True))


_MISSING = object()


def _pk_in(model: type[Any], ids: Sequence[Any]) -> ColumnElement[bool]:
    """``primary key IN ids``; a key no row can hold (out of the column's domain) is left
    out, and one beyond the column's own width is bound as the lookups bind it."""
    keys = _pk_keys(model)
    values = [_pk_value(model, pk) for pk in ids]
    if len(keys) == 1:
        return build_filters(model, {f"{keys[0]}__in": [v[0] for v in values]})[0]
    specs = [model_specs(model)[k] for k in keys]
    kept = [
        tuple_(*(bind_for(spec, part) for spec, part in zip(specs, v, strict=True)))
        for v in values
        if all(storable(spec, part) for spec, part in zip(specs, v, strict=True))
    ]
    clause: ColumnElement[bool] = tuple_(*_pk_columns(model)).in_(kept) if kept else false()
    return clause


async def _by_key(
    session: AsyncSession, model: type[M], key: tuple[Any, ...], options: Sequence[Any] = ()
) -> M | None:
    """The row with primary key ``key`` (from :func:`_pk_value`), or None."""
    specs = model_specs(model)
    plain = all(
        value_problem(specs[k], v) is None for k, v in zip(_pk_keys(model), key, strict=True)
    )
    if plain and not options:
        # The identity map first; SQLAlchemy binds the key with the column's own type.
        return await session.get(model, key if len(key) > 1 else key[0])
    result = await session.exec(select(model).where(_pk_in(model, [key])).options(*options))
    return result.unique().one_or_none()


# -- create -----------------------------------------------------------------------------


async def create(
    session: AsyncSession,
    model: type[M],
    data: Mapping[str, Any] | SQLModel | None = None,
    /,
    **values: Any,
) -> M:
    """Insert one validated row and return it with its id.

    Parameters
    ----------
    session : AsyncSession
    model : SQLModel table class
    data : mapping or model instance (e.g. a ``UserCreate``), optional
    **values
        Field values, merged over ``data``.

    Returns
    -------
    The new model instance.

    Raises
    ------
    ValidationError, UnknownFieldError
        Bad input; nothing was written.
    DuplicateError, ForeignKeyError, NotNullError
        The database refused the row; nothing was written.

    Examples
    --------
    >>> user = await crud.create(s, User, username="ann", email="ann@example.org")
    """
    obj = validate(model, data, **values)
    async with _writing(session, model):
        session.add(obj)
        await session.flush()
    return obj


async def create_many(
    session: AsyncSession,
    model: type[M],
    rows: Iterable[Mapping[str, Any] | SQLModel],
) -> list[M]:
    """Insert many validated rows, all or nothing; ids are filled in.

    Rows go to the database in batches through SQLAlchemy's "insertmanyvalues": one
    ``INSERT ... VALUES (...), (...) RETURNING ...`` round trip per batch of 1,000.
    Only columns are written: related objects set on a model instance are not.

    Parameters
    ----------
    rows : iterable of dicts or model instances

    Returns
    -------
    list of model instances, in input order, with ids.

    Raises
    ------
    ValidationError
        Names the first bad row's field (and its position); nothing was written.
    DuplicateError, ForeignKeyError, NotNullError
        Nothing was written.

    Examples
    --------
    >>> users = await crud.create_many(s, User, [{"username": "a", "email": "a@x"}])
    """
    objs: list[M] = []
    for position, row in enumerate(rows):
        try:
            objs.append(validate(model, row))
        except ValidationError as exc:
            exc.args = (f"row {position}: {exc.args[0]}",)
            raise
    if not objs:
        return objs
    async with _writing(session, model):
        return await _insert_returning(session, model, objs)


async def _insert_returning(session: AsyncSession, model: type[M], objs: list[M]) -> list[M]:
    """Bulk INSERT ... RETURNING in batches, results in input order."""
    rows = [obj.model_dump() for obj in objs]
    pks = _pk_keys(model)
    pk = pks[0] if len(pks) == 1 else None
    given = [pk is not None and row.get(pk) is not None for row in rows]
    if pk is not None and not any(given):
        for row in rows:
            row.pop(pk, None)
    driver = driver_for(session.sync_session.get_bind().dialect.name)
    return await driver.insert_returning(session, model, rows, key=pk)


# -- read -------------------------------------------------------------------------------


def _select(
    model: type[M],
    lookups: Mapping[str, Any],
    load: Load,
    order_by: Any = None,
) -> Any:
    stmt = select(model).where(*build_filters(model, lookups))
    options = loader_options(model, load)
    if options:
        stmt = stmt.options(*options)
    clauses = order_clauses(model, order_by)
    if clauses:
        stmt = stmt.order_by(*clauses)
    return stmt


async def get(session: AsyncSession, model: type[M], pk: Any, *, load: Load = None) -> M | None:
    """Return the row with primary key ``pk``, or ``None``.

    Parameters
    ----------
    pk : the primary key value (a tuple for a composite key)
    load : relationship names (``"members.posts"``) or loader options to eager-load

    Examples
    --------
    >>> team = await crud.get(s, Team, 1, load=["members.posts"])
    """
    key = _pk_value(model, pk)
    options = loader_options(model, load)
    async with _reading(session):
        return await _by_key(session, model, key, options)


async def get_by(
    session: AsyncSession, model: type[M], *, load: Load = None, **lookups: Any
) -> M | None:
    """Return the one row matching ``lookups``, or ``None``.

    Raises
    ------
    MultipleResultsFound
        More than one row matched: add lookups, or use :func:`search`.

    Examples
    --------
    >>> ann = await crud.get_by(s, User, username="ann")
    """
    stmt = _select(model, lookups, load).limit(2)
    async with _reading(session):
        rows = (await session.exec(stmt)).unique().all()
    if len(rows) > 1:
        raise MultipleResultsFound(
            f"{model.__name__}: more than one row matches {lookups!r}; add lookups that "
            "identify one row, or use crud.search for all of them."
        )
    return rows[0] if rows else None


async def search(
    session: AsyncSession,
    model: type[M],
    *,
    load: Load = None,
    order_by: Any = None,
    limit: int | None = None,
    **lookups: Any,
) -> list[M]:
    """Return every row matching ``field__op=value`` lookups (see :mod:`toolkit.filters`).

    Parameters
    ----------
    order_by : column, ``"name"``/``"-name"``, or a list of them; default primary key
    limit : int, optional
    **lookups
        ``username__icontains="an"``, ``id__in=[1, 2]``, ``team_id__isnull=True``, ...

    Raises
    ------
    UnknownFieldError
        Names the unknown field or operator.

    Examples
    --------
    >>> await crud.search(s, User, username__icontains="an", is_active=True)
    """
    stmt = _select(model, lookups, load, order_by if order_by is not None else _pk_columns(model))
    if limit is not None:
        stmt = stmt.limit(limit)
    async with _reading(session):
        return list((await session.exec(stmt)).unique().all())


async def paginate(
    session: AsyncSession,
    model: type[M],
    *,
    skip: int = 0,
    limit: int = 50,
    order_by: Any = None,
    load: Load = None,
    **lookups: Any,
) -> Page[M]:
    """Return one page of matching rows and the total count (two queries).

    Parameters
    ----------
    skip, limit : int
        Offset and page size; ``limit`` must be positive.
    order_by
        Default: the primary key, so that pages are stable.

    Examples
    --------
    >>> page = await crud.paginate(s, User, skip=20, limit=10, order_by="-created_at")
    >>> page.total, page.has_next
    """
    if skip < 0 or limit <= 0:
        raise ValidationError(
            model.__name__, "skip/limit", "skip must be >= 0, limit > 0", (skip, limit)
        )
    filters = build_filters(model, lookups)
    stmt = _select(model, lookups, load, order_by if order_by is not None else _pk_columns(model))
    count = select(func.count()).select_from(model).where(*filters)
    async with _reading(session):
        total = (await session.exec(count)).one()
        items = list((await session.exec(stmt.offset(skip).limit(limit))).unique().all())
    return Page(items=items, total=int(total), skip=skip, limit=limit)


async def stream(
    session: AsyncSession,
    model: type[M],
    *,
    chunk_size: int = 1000,
    load: Load = None,
    order_by: Any = None,
    **lookups: Any,
) -> AsyncIterator[M]:
    """Yield matching models one by one from a server-side cursor, ``chunk_size`` at a time.

    Memory is bounded by the chunk: rows are fetched as the loop asks for them, and
    the session's identity map holds only the models the caller still references.
    Use ``selectinload`` paths in ``load`` (collections); a joined collection cannot
    be streamed.

    Examples
    --------
    >>> async for user in crud.stream(s, User, is_active=True, chunk_size=1000):
    ...     ...
    """
    stmt = _select(model, lookups, load, order_by).execution_options(yield_per=chunk_size)
    async with _reading(session):
        result = await session.stream_scalars(stmt)
        try:
            async for obj in result:
                yield obj
        finally:
            await result.close()


# -- update -----------------------------------------------------------------------------


async def update(
    session: AsyncSession,
    model: type[M],
    pk: Any,
    data: Mapping[str, Any] | SQLModel | None = None,
    /,
    **values: Any,
) -> M | None:
    """Change some fields of one row, validated against the whole model.

    Returns
    -------
    The updated model, or ``None`` when no row has that key.

    Raises
    ------
    ValidationError, UnknownFieldError, DuplicateError, ForeignKeyError, NotNullError

    Examples
    --------
    >>> await crud.update(s, User, 1, email="new@x.org")
    """
    changes = {**_as_dict(model, data), **values}
    _check_fields(model, changes)
    key = _pk_value(model, pk)
    async with _writing(session, model):
        obj = await _by_key(session, model, key)
        if obj is None:
            return None
        # The whole row against the model's rules; the SQL limits for what changes only
        # (a stored value is what it is, even if written by something less strict).
        checked = _validated(model, {**obj.model_dump(), **changes}, changes)
        for name in changes:
            setattr(obj, name, getattr(checked, name))
        await session.flush()
    return obj


async def update_many(
    session: AsyncSession, model: type[M], ids: Sequence[Any], /, **values: Any
) -> int:
    """Set the same fields on every row whose primary key is in ``ids``.

    Returns
    -------
    int : the number of rows changed.

    Examples
    --------
    >>> await crud.update_many(s, User, [1, 2], is_active=False)
    2
    """
    checked = _validate_fields(model, values)
    if not ids or not checked:
        return 0
    stmt = sa_update(model).where(_pk_in(model, ids)).values(**checked)
    async with _writing(session, model):
        result = await session.exec(stmt.execution_options(synchronize_session="fetch"))
    return int(result.rowcount)


# -- delete -----------------------------------------------------------------------------


async def delete(session: AsyncSession, model: type[Any], pk: Any) -> bool:
    """Delete the row with primary key ``pk``; ``False`` when there was none.

    Raises
    ------
    ForeignKeyError
        The row is still referenced by other rows; nothing was deleted.
    """
    return await delete_many(session, model, [pk]) > 0


async def delete_many(session: AsyncSession, model: type[Any], ids: Sequence[Any]) -> int:
    """Delete every row whose primary key is in ``ids``, all or nothing.

    Returns
    -------
    int : the number of rows deleted.
    """
    if not ids:
        return 0
    stmt = sa_delete(model).where(_pk_in(model, ids))
    async with _writing(session, model, action="delete"):
        result = await session.exec(stmt.execution_options(synchronize_session="fetch"))
    return int(result.rowcount)


# -- get or create ----------------------------------------------------------------------


def _lock_key(model: type[Any], lookups: Mapping[str, Any]) -> int:
    text_key = repr((model.__tablename__, sorted((k, repr(v)) for k, v in lookups.items())))
    digest = hashlib.blake2b(text_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def get_or_create(
    session: AsyncSession,
    model: type[M],
    defaults: Mapping[str, Any] | None = None,
    *,
    load: Load = None,
    **lookups: Any,
) -> tuple[M, bool]:
    """Return the row matching ``lookups``, creating it (with ``defaults``) if missing.

    Race-safe on both dialects: on PostgreSQL concurrent callers for the same lookups
    are serialised by a transaction-scoped advisory lock, on SQLite by the write lock;
    and if a unique constraint still fires (another process without the toolkit), the
    row it lost to is returned.

    Returns
    -------
    (model, created)

    Examples
    --------
    >>> team, created = await crud.get_or_create(s, Team, name="red", defaults={})
    """
    _check_fields(model, lookups)
    new_values = {**lookups, **(defaults or {})}
    obj = validate(model, new_values)  # fail on bad input before touching the database
    stmt = _select(model, lookups, load)
    driver = driver_for(session.sync_session.get_bind().dialect.name)
    try:
        async with _writing(session, model):
            await driver.lock_key(session, _lock_key(model, lookups))
            found = (await session.exec(stmt)).unique().first()
            if found is not None:
                return found, False
            session.add(obj)
            await session.flush()
    except Exception as exc:
        if not isinstance(exc.__cause__, sa_exc.IntegrityError):
            raise
        async with _reading(session):
            found = (await session.exec(stmt)).unique().first()
        if found is None:
            raise
        return found, False
    if load is not None:
        # Load the requested relationships on the new object too.
        async with _reading(session):
            reloaded = (
                (await session.exec(stmt.execution_options(populate_existing=True)))
                .unique()
                .first()
            )
        if reloaded is not None:
            return reloaded, True
    return obj, True
