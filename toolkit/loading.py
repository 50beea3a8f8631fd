"""Eager loading by relationship name: ``load=["members.posts"]`` -> loader options.

asyncio cannot lazy-load (an implicit load raises ``MissingGreenlet``), so every read
in :mod:`toolkit.crud` takes ``load=``. Names are resolved against the model's
relationships; the strategy follows SQLAlchemy's own advice: ``joinedload`` for a
many-to-one (one row joined in, no extra query) and ``selectinload`` for a collection
(one extra ``SELECT ... WHERE fk IN (...)`` per level, no row explosion).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self, TypeAlias

from sqlalchemy import event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, joinedload, raiseload, selectinload
from sqlalchemy.orm.interfaces import ORMOption
from sqlalchemy.orm.strategy_options import _AbstractLoad

from .drivers.compat import top_level_orm_context
from .errors import UnknownFieldError

__all__ = ["Load", "StrictLoading", "loader_options", "strict_loading"]

_RAISELOAD = re.compile(r"'(\w+)\.(\w+)' is not available due to lazy='raise")

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


# -- strict loading ------------------------------------------------------------------------


def _eager_advice(owner: str, key: str, uselist: bool | None) -> str:
    if uselist is None:
        loader = f"selectinload({owner}.{key}) for a collection, joinedload for a single row"
    else:
        loader = f"{'selectinload' if uselist else 'joinedload'}({owner}.{key})"
    return (
        f"Load it with the query instead: .options({loader}), or load=[{key!r}] with "
        f"toolkit.crud; for one object, await session.refresh(obj, [{key!r}])."
    )


def _is_implicit_lazy_load(state: ORMExecuteState) -> bool:
    if state.lazy_loaded_from is None:
        return False
    # Post-loaders (selectinload, immediateload, and session.refresh(obj, ["rel"]))
    # run inside a top-level ORM load and say so; an attribute access does not.
    nested = state.execution_options.get("sa_top_level_orm_context") or top_level_orm_context(
        state.load_options
    )
    return nested is None


class StrictLoading:
    """A strict-loading switch on one session; see :func:`strict_loading`.

    Attributes
    ----------
    session : AsyncSession or Session
    active : bool
        False once :meth:`remove` ran.
    """

    def __init__(self, session: AsyncSession | Session, *, sql_only: bool = False) -> None:
        self.session = session
        self._sync = session.sync_session if isinstance(session, AsyncSession) else session
        self._option = raiseload("*", sql_only=sql_only)
        event.listen(self._sync, "do_orm_execute", self._on_execute)
        self.active = True

    def _on_execute(self, state: ORMExecuteState) -> None:
        if not state.is_select:
            return
        if _is_implicit_lazy_load(state):
            # An object loaded before the switch, or reloaded by session.refresh(obj):
            # refuse before the session checks out a connection.
            path = state.loader_strategy_path
            prop = getattr(path, "prop", None)
            owner = prop.parent.class_.__name__ if prop is not None else "the object"
            key = prop.key if prop is not None else "relationship"
            raise sa_exc.InvalidRequestError(
                f"Strict loading refused the lazy load of {owner}.{key}: it would run one "
                f"more SELECT per {owner} (the N+1 pattern), and asyncio cannot run it "
                f"implicitly. {_eager_advice(owner, key, getattr(prop, 'uselist', None))}"
            )
        if not state.is_column_load and not state.is_relationship_load:
            # Relationship loads inherit the wildcard from the statement that started them.
            state.statement = state.statement.options(self._option)

    def _uselist(self, owner: str, key: str) -> bool | None:
        """Whether ``owner.key`` is a collection, from a mapped class in the session."""
        for obj in self._sync.identity_map.values():
            if type(obj).__name__ == owner:
                relationship = inspect(type(obj)).relationships.get(key)
                return None if relationship is None else bool(relationship.uselist)
        return None

    def remove(self) -> None:
        """Switch strict loading off for statements run from now on."""
        if self.active:
            event.remove(self._sync, "do_orm_execute", self._on_execute)
            self.active = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()
        if isinstance(exc, sa_exc.InvalidRequestError):
            match = _RAISELOAD.search(str(exc))
            if match:
                owner, key = match.groups()
                exc.add_note(
                    f"strict_loading: {_eager_advice(owner, key, self._uselist(owner, key))}"
                )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def strict_loading(session: AsyncSession | Session, *, sql_only: bool = False) -> StrictLoading:
    """Make every lazy load on ``session`` raise instead of running SQL.

    A ``do_orm_execute`` listener adds ``raiseload("*")`` to each ORM ``SELECT`` the
    session runs, so relationships not named in a loader option raise on access.
    Objects that were loaded before the switch, or reloaded by
    ``session.refresh(obj)``, still have lazy loaders: the listener refuses those
    loads before any connection is checked out, with the relationship and the loader
    option to add in the message. Explicit loads (``selectinload``, ``joinedload``,
    ``session.refresh(obj, ["members"])``) work as usual.

    Why: in asyncio a lazy load cannot run implicitly. ``team.members`` on an unloaded
    relationship fails part-way with ``MissingGreenlet``: the session has already begun
    a transaction for the load (with aiosqlite the connection it took cannot even be
    reset and is dropped unclosed). Strict loading fails first and leaves nothing open.

    Parameters
    ----------
    session : AsyncSession or Session
    sql_only : bool
        Allow many-to-one loads that the identity map answers without SQL
        (``raiseload("*", sql_only=True)``).

    Returns
    -------
    StrictLoading
        Call ``.remove()`` to switch it off, or use it as a (``async``) context
        manager that switches it off at exit and, when a relationship raised inside
        the block, adds the fix as a note to the exception.

    Raises
    ------
    sqlalchemy.exc.InvalidRequestError
        Later, on access to a relationship that was not eagerly loaded:
        ``'Team.members' is not available due to lazy='raise'`` (objects loaded while
        strict), or ``Strict loading refused the lazy load of Team.members: ...``.
        Fix it by loading the relationship with the query: ``.options(
        selectinload(Team.members))``, or ``crud.get(s, Team, 1, load=["members"])``.

    Examples
    --------
    >>> strict = tk.strict_loading(s)
    >>> team = await crud.get(s, Team, 1)
    >>> team.members
    Traceback (most recent call last):
    sqlalchemy.exc.InvalidRequestError: 'Team.members' is not available due to lazy='raise'
    >>> team = await crud.get(s, Team, 1, load=["members"])   # fine
    >>> strict.remove()
    """
    return StrictLoading(session, sql_only=sql_only)
