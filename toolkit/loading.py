"""Eager loading by relationship name: ``load=["members.posts"]`` -> loader options.

asyncio cannot lazy-load (an implicit load raises ``MissingGreenlet``), so every read
in :mod:`toolkit.crud` takes ``load=``. Names are resolved against the model's
relationships; the strategy follows SQLAlchemy's own advice: ``joinedload`` for a
many-to-one (one row joined in, no extra query) and ``selectinload`` for a collection
(one extra ``SELECT ... WHERE fk IN (...)`` per level, no row explosion).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self, TypeAlias

from sqlalchemy import event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, joinedload, selectinload
from sqlalchemy.orm.interfaces import ORMOption
from sqlalchemy.orm.strategy_options import _AbstractLoad
from sqlmodel import Session as SQLModelSession

from .drivers.compat import in_sqlalchemy_greenlet, top_level_orm_context
from .errors import LazyLoadError, UnknownFieldError

__all__ = [
    "GuardedSession",
    "Load",
    "StrictLoading",
    "guard_lazy_loads",
    "guarded_session_class",
    "loader_options",
    "strict_loading",
]

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


def _lazy_load_error(state: ORMExecuteState, why: str) -> LazyLoadError:
    """The error for refusing the implicit lazy load ``state`` is about to run."""
    prop = getattr(state.loader_strategy_path, "prop", None)
    owner = prop.parent.class_.__name__ if prop is not None else "the object"
    key = prop.key if prop is not None else "relationship"
    advice = _eager_advice(owner, key, getattr(prop, "uselist", None))
    return LazyLoadError(
        f"'{owner}.{key}' is not available: {why} {advice} To load it now, "
        f"await obj.awaitable_attrs.{key}."
    )


def guard_lazy_loads(state: ORMExecuteState) -> None:
    """Refuse an implicit lazy load that asyncio cannot run, before it touches the pool.

    A ``do_orm_execute`` listener (see :class:`GuardedSession`). Reading an unloaded
    relationship in async code makes SQLAlchemy run a query synchronously, which only
    works inside its greenlet bridge (``run_sync``, ``awaitable_attrs``). Elsewhere the
    load would fail half-way with ``MissingGreenlet``, after checking out a connection
    that aiosqlite then cannot reset. This raises :class:`~toolkit.LazyLoadError` first.
    """
    if state.is_select and _is_implicit_lazy_load(state) and not in_sqlalchemy_greenlet():
        raise _lazy_load_error(
            state,
            "it was not loaded with the query, and in asyncio an attribute access cannot "
            "run the query a lazy load needs.",
        )


class GuardedSession(SQLModelSession):
    """The sync session beneath every ``Database.session()``: lazy loads that asyncio
    cannot run are refused with :class:`~toolkit.LazyLoadError` (see
    :func:`guard_lazy_loads`)."""


@functools.cache
def guarded_session_class() -> type[GuardedSession]:
    """:class:`GuardedSession` with its lazy-load guard registered.

    Registered on first use, not at import: importing the toolkit changes nothing, and
    the listener is scoped to this one session class.
    """
    event.listen(GuardedSession, "do_orm_execute", guard_lazy_loads)
    return GuardedSession


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
        self.sql_only = sql_only
        event.listen(self._sync, "do_orm_execute", self._on_execute)
        self.active = True

    def _on_execute(self, state: ORMExecuteState) -> None:
        if state.is_select and _is_implicit_lazy_load(state):
            # Refused here, before the session checks out a connection.
            prop = getattr(state.loader_strategy_path, "prop", None)
            owner = prop.parent.class_.__name__ if prop is not None else "the object"
            key = prop.key if prop is not None else "relationship"
            raise _lazy_load_error(
                state,
                f"strict loading refused the lazy load of {owner}.{key}, which would run one "
                f"more SELECT per {owner} (the N+1 pattern).",
            )

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
    """Make every lazy load on ``session`` that would run SQL raise instead.

    A ``do_orm_execute`` listener refuses each implicit lazy load (an attribute access
    on a relationship the query did not load, on objects loaded before or after the
    switch, or reloaded by ``session.refresh(obj)``) before any connection is checked
    out, with the relationship and the loader option to add in the message, whether
    the switch is used plainly or as a context manager. Explicit loads
    (``selectinload``, ``joinedload``, ``session.refresh(obj, ["members"])``) work as
    usual; a many-to-one that the identity map answers runs no SQL and is allowed.

    Why: in asyncio a lazy load cannot run implicitly, and each one is a query per
    object (the N+1 pattern). Strict loading also refuses the explicit
    ``awaitable_attrs`` form, so a test shows every load the query forgot.

    Parameters
    ----------
    session : AsyncSession or Session
    sql_only : bool
        Accepted for compatibility with ``raiseload(sql_only=...)``: loads answered
        without SQL are always allowed.

    Returns
    -------
    StrictLoading
        Call ``.remove()`` to switch it off, or use it as a (``async``) context
        manager that switches it off at exit.

    Raises
    ------
    LazyLoadError
        Later, on access to a relationship that was not eagerly loaded:
        ``'Team.members' is not available: strict loading refused the lazy load of
        Team.members ... Load it with the query instead: .options(selectinload(
        Team.members)), or load=['members'] with toolkit.crud ...``.
        A ``sqlalchemy.exc.InvalidRequestError`` subclass.

    Examples
    --------
    >>> strict = tk.strict_loading(s)
    >>> team = await crud.get(s, Team, 1)
    >>> team.members
    Traceback (most recent call last):
    toolkit.errors.LazyLoadError: 'Team.members' is not available: strict loading ...
    >>> team = await crud.get(s, Team, 1, load=["members"])   # fine
    >>> strict.remove()
    """
    return StrictLoading(session, sql_only=sql_only)
