"""Private APIs of other libraries that the toolkit touches, each in one place with a test.

Each entry names the library, what it reaches for and why no public API does the job.
"""

from __future__ import annotations

from typing import Any

__all__ = ["show_ipython_traceback"]


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
