"""Short tracebacks for the toolkit's errors in IPython and Jupyter.

An uncaught :class:`~toolkit.errors.ToolkitError` in a cell is shown in a few lines:
the line of the user's own code that raised it, the error's class and message (what
failed, why, what to do) and a last line saying how to see the rest. The exception
itself is untouched: ``err.__cause__`` still holds the driver's error, ``%tb`` prints
the full chained traceback, and pytest and logging see everything as before.

The handler is IPython's custom exception handler (``set_custom_exc``) of one shell.
:func:`install` registers it; the IPython extension (``%load_ext toolkit``) and the
first :func:`toolkit.connect` inside a running IPython both call it. It is not
installed over another library's custom handler, and ``%xmode`` other than the
default (``Context``) shows IPython's own traceback.
"""

from __future__ import annotations

import functools
import os
import site
import sys
import sysconfig
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import ToolkitError

__all__ = [
    "MAX_MESSAGE_LINES",
    "install",
    "install_in_running_shell",
    "short_traceback",
    "uninstall",
]

#: Lines of the message shown before "..." (the whole message is in ``str(err)``).
MAX_MESSAGE_LINES = 12
#: The user's frames shown, innermost last.
_MAX_USER_FRAMES = 2

_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.update(site.getsitepackages())
    dirs.add(site.getusersitepackages())
    return tuple(str(Path(d).resolve()) + os.sep for d in dirs if d)


def _is_user_frame(filename: str, shell: Any) -> bool:
    if _cell_label(filename, shell) is not None:
        return True
    if filename.startswith("<"):
        return False
    resolved = str(Path(filename).resolve())
    if resolved.startswith(_PACKAGE_DIR):
        return False
    return not resolved.startswith(_library_dirs())


def _cell_label(filename: str, shell: Any) -> str | None:
    compiler = getattr(shell, "compile", None)
    name = getattr(compiler, "format_code_name", None)
    label = name(filename) if callable(name) else None
    return f"{label[0]} {label[1]}" if label else None


def short_traceback(value: BaseException, tb: TracebackType | None, shell: Any = None) -> list[str]:
    """The lines shown for an uncaught toolkit error: user's line, message, how to see more.

    Parameters
    ----------
    value : BaseException
        The error.
    tb : traceback, optional
        Its traceback.
    shell : IPython InteractiveShell, optional
        Names cells ``Cell In[3]`` as IPython does.

    Returns
    -------
    list of str
        At most about 20 lines.

    Examples
    --------
    >>> print("\\n".join(short_traceback(err, err.__traceback__)))
    Cell In[4], line 2
    ----> 2     await crud.create(s, Team, name="Red")
    DuplicateError: Team: a row with the same name already exists. ...
    (The driver's error, IntegrityError, is chained as err.__cause__; %tb shows the full traceback.)
    """
    frames = traceback.extract_tb(tb) if tb is not None else []
    # A magic's cell line reads get_ipython().run_cell_magic(...): not the user's code.
    mine = [
        f
        for f in frames
        if _is_user_frame(f.filename, shell) and not (f.line or "").startswith("get_ipython().")
    ]
    lines: list[str] = []
    for frame in mine[-_MAX_USER_FRAMES:]:
        where = _cell_label(frame.filename, shell) or f"File {frame.filename}"
        lines.append(f"{where}, line {frame.lineno}")
        if frame.line:
            lines.append(f"----> {frame.lineno} {frame.line.strip()}")
    message = f"{type(value).__name__}: {value}".splitlines()
    notes = [str(n) for n in getattr(value, "__notes__", ()) or ()]
    shown = message + notes
    if len(shown) > MAX_MESSAGE_LINES:
        shown = [*shown[:MAX_MESSAGE_LINES], "... (the whole message: print(err))"]
    lines.extend(shown)
    cause = value.__cause__
    if cause is not None:
        lines.append(
            f"(The driver's error, {type(cause).__name__}, is chained as err.__cause__ "
            "(err = sys.last_value); %tb shows the full traceback.)"
        )
    else:
        lines.append("(%tb shows the full traceback.)")
    return lines


def _handler(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: TracebackType | None,
    tb_offset: int | None = None,
) -> list[str]:
    from .drivers.compat import show_ipython_traceback

    # What IPython's own showtraceback records, so that %tb and %debug find this error.
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = value
    interactive_tb = getattr(shell, "InteractiveTB", None)
    mode = getattr(interactive_tb, "mode", "Context")
    if mode != "Context" and interactive_tb is not None:
        stb = interactive_tb.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    else:
        stb = ["\n".join(short_traceback(value, tb, shell))]
    show_ipython_traceback(shell, etype, value, stb)
    return []


def install(shell: Any) -> bool:
    """Show uncaught toolkit errors of ``shell``'s cells as short tracebacks.

    Parameters
    ----------
    shell : IPython InteractiveShell

    Returns
    -------
    bool
        True when the handler is in place; False when another custom exception handler
        was already registered (it is left alone).

    Examples
    --------
    >>> install(get_ipython())
    True
    """
    current = tuple(getattr(shell, "custom_exceptions", ()))
    if current == (ToolkitError,):
        return True
    if current:
        return False
    shell.set_custom_exc((ToolkitError,), _handler)
    return True


def uninstall(shell: Any) -> None:
    """Remove the short tracebacks from ``shell`` (if :func:`install` put them there)."""
    if tuple(getattr(shell, "custom_exceptions", ())) == (ToolkitError,):
        shell.set_custom_exc((), None)


def install_in_running_shell() -> None:
    """Call :func:`install` on the running IPython shell, if there is one.

    Nothing happens outside IPython, and IPython is never imported here.
    """
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    if shell is not None:
        install(shell)
