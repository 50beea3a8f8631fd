"""Private APIs of other libraries that the toolkit touches, each in one place with a test.

Each entry names the library, what it reaches for and why no public API does the job.
"""

from __future__ import annotations

from typing import Any

__all__ = ["in_sqlalchemy_greenlet", "show_ipython_traceback"]


def show_ipython_traceback(
    shell: Any, etype: type[BaseException], value: BaseException, stb: list[str]
) -> None:
    """Display a structured traceback the way IPython displays its own.

    IPython: ``InteractiveShell._showtraceback(etype, value, stb)``. A custom exception
    handler (``set_custom_exc``) must display what it builds itself, and this is the
    method every front end overrides (ipykernel sends it as the cell's error output,
    with ``ename`` and ``evalue``; the terminal prints it). There is no public
    equivalent that takes a ready traceback.
    """
    shell._showtraceback(etype, value, stb)


def in_sqlalchemy_greenlet() -> bool:
    """True inside SQLAlchemy's asyncio bridge, where a sync ORM call may run SQL.

    SQLAlchemy: ``sqlalchemy.util.concurrency.in_greenlet()``. An implicit lazy load
    (an attribute access) can only run SQL inside ``greenlet_spawn`` (``run_sync``,
    ``awaitable_attrs``); outside it, the load fails half-way with ``MissingGreenlet``
    after checking out a connection. Knowing first lets the toolkit refuse the load
    cleanly. SQLAlchemy has no public way to ask.
    """
    from sqlalchemy.util.concurrency import in_greenlet

    return bool(in_greenlet())
