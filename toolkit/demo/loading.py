"""N+1 versus eager loading, measured: the same object graph fetched five ways.

The graph is "every team with its members' posts", two relationship levels deep.
In asyncio an attribute cannot load itself on access (that raises ``MissingGreenlet``);
the lazy way has to ``await obj.awaitable_attrs.name`` and pays one query per object,
while the eager loader options fetch each level in one or a few queries:

* ``selectinload``: one ``SELECT ... WHERE fk IN (...)`` per level, per 500 parent keys;
* ``joinedload``: LEFT OUTER JOINs, one query, rows repeated (hence ``.unique()``);
* ``subqueryload``: one query per level that repeats the parent query as a subquery;
* ``joinedload`` for the first level, ``selectinload`` for the second.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func
from sqlalchemy.orm import QueryableAttribute, joinedload, selectinload, subqueryload
from sqlalchemy.orm.interfaces import ORMOption
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..database import READ_ONLY_OPTION
from ..queries import count_queries
from .models import Team, User

if TYPE_CHECKING:
    import pandas as pd

    from ..database import Database

__all__ = ["STRATEGIES", "compare_loading", "loading_summary"]

_MEMBERS = cast("QueryableAttribute[Any]", Team.members)
_POSTS = cast("QueryableAttribute[Any]", User.posts)


async def _lazy(session: AsyncSession) -> int:
    """The N+1 way: one query for the teams, then one per team and one per member."""
    teams = (await session.exec(select(Team).order_by(col(Team.id)))).all()
    reached = 0
    for team in teams:
        members: list[User] = await team.awaitable_attrs.members
        for member in members:
            posts: list[Any] = await member.awaitable_attrs.posts
            reached += len(posts)
    return reached


def _eager(*options: ORMOption) -> Callable[[AsyncSession], Awaitable[int]]:
    async def run(session: AsyncSession) -> int:
        stmt = select(Team).options(*options).order_by(col(Team.id))
        teams = (await session.exec(stmt)).unique().all()
        return sum(len(member.posts) for team in teams for member in team.members)

    return run


#: Strategy name -> coroutine function that walks teams -> members -> posts and returns
#: the number of posts reached.
STRATEGIES: dict[str, Callable[[AsyncSession], Awaitable[int]]] = {
    "lazy (awaitable_attrs)": _lazy,
    "selectinload": _eager(selectinload(_MEMBERS).selectinload(_POSTS)),
    "joinedload": _eager(joinedload(_MEMBERS).joinedload(_POSTS)),
    "subqueryload": _eager(subqueryload(_MEMBERS).subqueryload(_POSTS)),
    "joinedload+selectinload": _eager(joinedload(_MEMBERS).selectinload(_POSTS)),
}


async def compare_loading(db: Database) -> pd.DataFrame:
    """Load every team with its members' posts once per loading strategy, and measure.

    Each strategy runs in a fresh session (so the identity map of one cannot help the
    next) and is timed and counted: ``queries`` is the number of data statements that
    :func:`toolkit.count_queries` saw (BEGIN, COMMIT, SAVEPOINT and PRAGMA are
    not counted). The counts are exact and the same on SQLite and PostgreSQL; for ``t``
    teams and ``m`` users in a team they are ``1 + t + m`` lazily, 1 joined, 3 with
    subqueries, and ``1 + ceil(t/500) + ceil(m/500)`` with selectinload (its IN lists
    hold at most 500 keys).

    Parameters
    ----------
    db : Database
        A database holding the demo tables, e.g. after :func:`toolkit.demo.load_sample`.

    Returns
    -------
    pandas.DataFrame
        One row per strategy, columns ``strategy`` (str), ``queries`` (int), ``rows``
        (int, the posts reached: the same for every strategy) and ``seconds`` (float).

    Examples
    --------
    >>> from toolkit import demo
    >>> await demo.load_sample(db)
    >>> frame = await demo.compare_loading(db)
    >>> frame[["strategy", "queries"]]
    """
    import pandas as pd

    # Open and initialise a pooled connection first, so that no strategy pays for it.
    async with db.session() as session:
        await session.exec(select(func.count()).select_from(Team))
    records: list[dict[str, Any]] = []
    for name, walk in STRATEGIES.items():
        async with db.session() as session:
            # A read-only transaction: on SQLite a deferred BEGIN, no write lock.
            await session.connection(execution_options={READ_ONLY_OPTION: True})
            with count_queries(db) as log:
                started = time.perf_counter()
                reached = await walk(session)
                seconds = time.perf_counter() - started
            await session.rollback()
        records.append(
            {"strategy": name, "queries": log.count, "rows": reached, "seconds": seconds}
        )
    return pd.DataFrame.from_records(records, columns=["strategy", "queries", "rows", "seconds"])


def loading_summary(frame: pd.DataFrame) -> str:
    """Say in a few sentences what a :func:`compare_loading` table shows.

    Parameters
    ----------
    frame : pandas.DataFrame
        The result of :func:`compare_loading`.

    Returns
    -------
    str
        Which strategy sent the most queries and how many more than the eager ones,
        whether every strategy reached the same rows, and the fastest strategy.

    Examples
    --------
    >>> print(demo.loading_summary(await demo.compare_loading(db)))
    """
    runs = [
        (str(strategy), int(queries), int(rows), float(seconds))
        for strategy, queries, rows, seconds in zip(
            frame["strategy"], frame["queries"], frame["rows"], frame["seconds"], strict=True
        )
    ]
    if not runs:
        return "No strategies were measured."
    lines: list[str] = []
    reached = sorted({rows for _, _, rows, _ in runs})
    if len(reached) == 1:
        lines.append(f"Every strategy reached the same {reached[0]:,} posts.")
    else:
        lines.append(f"The strategies disagree on the posts reached ({reached}): that is a bug.")
    most = max(runs, key=lambda run: run[1])
    why = (
        ": one for the teams, then one per team and one per member (the N+1 pattern)"
        if most[0].startswith("lazy")
        else ""
    )
    lines.append(f"{most[0]} sent {most[1]:,} queries{why}.")
    others = sorted((run for run in runs if run is not most), key=lambda run: run[1])
    if others:
        listed = ", ".join(f"{name} {queries:,}" for name, queries, _, _ in others)
        lines.append(
            f"The other strategies needed {others[0][1]:,} to {others[-1][1]:,}: {listed}."
        )
    fastest = min(runs, key=lambda run: run[3])
    slowest = max(runs, key=lambda run: run[3])
    if slowest is not fastest and fastest[3] > 0:
        lines.append(
            f"Fastest: {fastest[0]} ({fastest[3]:.3f} s), {slowest[3] / fastest[3]:.1f}x "
            f"faster than {slowest[0]} ({slowest[3]:.3f} s)."
        )
    return "\n".join(lines)
