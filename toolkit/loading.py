"""Eager loading by relationship name: ``load=["members.posts"]`` -> loader options.

asyncio cannot lazy-load (an implicit load raises ``MissingGreenlet``), so every read
in :mod:`toolkit.crud` takes ``load=``. Names are resolved against the model's
relationships; the strategy follows SQLAlchemy's own advice: ``joinedload`` for a
many-to-one (one row joined in, no extra query) and ``selectinload`` for a collection
(one extra ``SELECT ... WHERE fk IN (...)`` per level, no row explosion).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from sqlalchemy import inspect
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.interfaces import ORMOption
from sqlalchemy.orm.strategy_options import _AbstractLoad

from .errors import UnknownFieldError

__all__ = ["Load", "loader_options"]

#: What ``load=`` accepts: a dotted relationship path, a loader option, or a list of them.
Load: TypeAlias = str | ORMOption | Sequence[str | ORMOption] | None


def _path_option(model: type[Any], path: str) -> ORMOption:
    current = model
    option: _AbstractLoad | None = None
    for name in path.split("."):
        relationships = inspect(current).relationships
        if name not in relationships:
            known = ", ".join(relationships.keys()) or "none"
            raise UnknownFieldError(
                f"Cannot load {path!r}: {current.__name__} has no relationship {name!r} "
                f"(its relationships: {known})."
            )
        rel = relationships[name]
        attr = getattr(current, name)
        if option is None:
            option = selectinload(attr) if rel.uselist else joinedload(attr)
        else:
            option = option.selectinload(attr) if rel.uselist else option.joinedload(attr)
        current = rel.mapper.class_
    if option is None:
        raise UnknownFieldError(f"Cannot load {path!r}: empty relationship path.")
    return option


def loader_options(model: type[Any], load: Load) -> list[ORMOption]:
    """Turn ``load=`` into loader options for ``select(model).options(...)``.

    Parameters
    ----------
    model : SQLModel table class
        The entity the paths start from.
    load : str, loader option, or a sequence of them
        ``"team"``, ``"members.posts"``, ``selectinload(Team.members)``, ...

    Returns
    -------
    list of loader options

    Raises
    ------
    UnknownFieldError
        A name on the path is not a relationship.

    Examples
    --------
    >>> loader_options(Team, "members.posts")   # selectinload(members).selectinload(posts)
    """
    if load is None:
        return []
    items = [load] if isinstance(load, str | ORMOption) else list(load)
    return [_path_option(model, item) if isinstance(item, str) else item for item in items]
