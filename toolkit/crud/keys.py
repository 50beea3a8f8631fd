"""Primary keys, lookups and options shared by the CRUD calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, false, inspect, tuple_
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..dtypes import model_specs, value_problem
from ..errors import UnknownFieldError, ValidationError
from ..filters import EXPANDED_MAX, bind_for, build_filters, coerce_value, storable, values_in

M = TypeVar("M", bound=SQLModel)


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
    rows = [v for v in values if all(storable(s, p) for s, p in zip(specs, v, strict=True))]
    if not rows:
        return false()
    if len(rows) > EXPANDED_MAX:
        return values_in(_pk_columns(model), rows)
    kept = [
        tuple_(*(bind_for(spec, part) for spec, part in zip(specs, v, strict=True))) for v in rows
    ]
    clause: ColumnElement[bool] = tuple_(*_pk_columns(model)).in_(kept)
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


def lookups_of(
    model: type[Any],
    call: str,
    where: Mapping[str, Any] | None,
    lookups: Mapping[str, Any],
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The lookups of a call: ``where`` and ``**lookups`` merged.

    Options and fields never share a meaning: when the model has a field named like an
    option the caller passed (``limit=``, ``offset=``, ``order_by=``...), the call is
    ambiguous unless ``where=`` is given (an empty mapping is enough): with ``where=``
    the keyword is the option and the field's lookup goes in ``where``.

    Raises
    ------
    UnknownFieldError
        A key given both in ``where`` and as a keyword; an option keyword that is also a
        field of the model, without ``where=``.
    """
    merged = dict(lookups)
    for key, value in (where or {}).items():
        if key in merged:
            raise UnknownFieldError(
                f"crud.{call}({model.__name__}): lookup {key!r} is given both in where= and "
                "as a keyword argument; give it once."
            )
        merged[key] = value
    if where is None:
        fields = inspect(model).column_attrs
        clashes = [name for name, value in options.items() if value is not None and name in fields]
        if clashes:
            name = clashes[0]
            raise UnknownFieldError(
                f"crud.{call}({model.__name__}, {name}=...) is ambiguous: {name!r} is an option "
                f"of crud.{call} and a field of {model.__name__}. To filter on the field, pass "
                f"where={{{name!r}: ...}}; to use the option, pass where= too (where={{}} if "
                "there is nothing else to filter on)."
            )
    return merged


async def loaded(session: AsyncSession, objs: Sequence[Any]) -> None:
    """Load every column attribute of ``objs`` that a write left expired (server
    defaults, ``onupdate`` values), so that reading one never needs implicit IO."""
    for obj in objs:
        state = inspect(obj)
        columns = state.mapper.column_attrs
        missing = [name for name in state.unloaded if name in columns]
        if missing:
            await session.refresh(obj, missing)
