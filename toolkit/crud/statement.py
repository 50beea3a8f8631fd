"""Statements: ``select`` (the statement a search runs) and the ``columns=`` / ``as_=``
projections shared by every read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select
from sqlmodel import SQLModel
from sqlmodel import select as sql_select

from ..errors import UnknownFieldError, ValidationError
from ..filters import build_filters, column_of, order_clauses
from ..loading import Load, loader_options
from .keys import lookups_of

__all__ = ["select"]

M = TypeVar("M", bound=SQLModel)

Columns = Sequence[str] | None


def _select(
    model: type[M],
    lookups: Mapping[str, Any],
    load: Load,
    order_by: Any = None,
    clauses: Sequence[ColumnElement[bool]] = (),
    columns: Columns = None,
) -> Any:
    """``SELECT model`` (or its ``columns``) filtered by ``clauses`` and ``lookups``."""
    if columns is not None:
        if load is not None:
            raise ValidationError(
                model.__name__,
                "load",
                "load= eager-loads related models; a columns=/as_= projection returns no "
                "models to attach them to: drop one of the two",
                load,
            )
        stmt: Any = sql_select(*(column_of(model, name) for name in columns))
    else:
        stmt = sql_select(model)
    stmt = stmt.where(*clauses, *build_filters(model, lookups))
    options = loader_options(model, load)
    if options:
        stmt = stmt.options(*options)
    ordering = order_clauses(model, order_by)
    if ordering:
        stmt = stmt.order_by(*ordering)
    return stmt


def projection(model: type[Any], columns: Columns, as_: type[Any] | None) -> list[str] | None:
    """The column names a ``columns=`` / ``as_=`` read selects (None: whole models).

    Raises
    ------
    UnknownFieldError
        A name in ``columns``, or a required field of ``as_``, that is no column of
        ``model``.
    """
    if columns is not None:
        names = list(columns)
        if not names:
            raise UnknownFieldError(f"columns= for {model.__name__} needs at least one field.")
        for name in names:
            column_of(model, name)
        return names
    if as_ is None:
        return None
    fields = getattr(as_, "model_fields", None)
    if fields is None:
        raise UnknownFieldError(f"as_= needs a pydantic model class, not {as_!r}.")
    names = []
    for name, info in fields.items():
        try:
            column_of(model, name)
        except UnknownFieldError:
            if info.is_required():
                raise UnknownFieldError(
                    f"as_={as_.__name__}: its required field {name!r} is no field of "
                    f"{model.__name__}; give it a default or select it from a model that has it."
                ) from None
            continue
        names.append(name)
    return names


def shaped(rows: Sequence[Any], names: list[str] | None, as_: type[Any] | None) -> list[Any]:
    """Rows of a projection as dicts, or as ``as_`` models; models unchanged."""
    if names is None:
        return list(rows)
    dicts = [row_dict(row, names) for row in rows]
    if as_ is None:
        return dicts
    return [as_.model_validate(d) for d in dicts]


def row_dict(row: Any, names: Sequence[str]) -> dict[str, Any]:
    """One projected row as a dict (sqlmodel gives a one-column select as scalars)."""
    mapping = getattr(row, "_mapping", None)
    return dict(mapping) if mapping is not None else {names[0]: row}


def select(
    model: type[M],
    *clauses: ColumnElement[bool],
    where: Mapping[str, Any] | None = None,
    load: Load = None,
    order_by: Any = None,
    columns: Columns = None,
    limit: int | None = None,
    offset: int | None = None,
    **lookups: Any,
) -> Select[Any]:
    """Return the SQLAlchemy statement a search would run, for further use.

    For ``tk.read_frame(db, stmt)``, ``tk.count_queries``, ``session.exec`` or more
    chaining (``.join()``, ``.group_by()``).

    Parameters
    ----------
    model : SQLModel table class
    *clauses : SQLAlchemy boolean expressions, ANDed with the lookups
    where : mapping of lookups, optional
        For fields whose names are also options of this call (``limit``, ``offset``...).
    load, order_by, columns, limit, offset
        As in :func:`search`; no default order.
    **lookups
        ``field__op=value`` lookups and groups (see :mod:`toolkit.filters`).

    Returns
    -------
    sqlalchemy.Select

    Raises
    ------
    UnknownFieldError, ValidationError
        Bad lookups; nothing ran.

    Examples
    --------
    >>> stmt = crud.select(User, team__name="red", order_by="username")
    >>> frame = await tk.read_frame(db, stmt)
    """
    options = {"load": load, "order_by": order_by, "columns": columns, "limit": limit}
    merged = lookups_of(model, "select", where, lookups, {**options, "offset": offset})
    stmt = _select(model, merged, load, order_by, clauses, columns)
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset is not None:
        stmt = stmt.offset(offset)
    result: Select[Any] = stmt
    return result
