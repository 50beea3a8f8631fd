"""Progress bars for long work: one style (rows, SI prefixes) for inserts, streams and loads.

A bar shows when a person is watching: in a Jupyter kernel or on a terminal, never
under CI (``CI=true``) and never when ``TOOLKIT_PROGRESS`` is ``0``/``off``/``false``
(the notebook tests set it, so automatic bars stay out of the checked outputs).
``TOOLKIT_PROGRESS=1``/``on`` shows automatic bars even without a terminal.

In a kernel with ``ipywidgets`` installed (the ``notebook`` extra) the bar is a widget;
without it, and on a terminal, it is tqdm's text bar. The choice is made here rather
than by ``tqdm.auto``, which warns (``TqdmWarning: IProgress not found``) whenever it
falls back to text.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Protocol

__all__ = ["NoProgress", "Progress", "progress_bar", "someone_watching"]

_OFF = {"0", "off", "false", "no"}
_ON = {"1", "on", "true", "yes"}


class Progress(Protocol):
    """What the toolkit calls on a bar: tqdm's ``update``, ``reset`` and ``close``."""

    def update(self, n: int) -> Any: ...

    def reset(self, total: int | None = None) -> Any: ...

    def close(self) -> Any: ...


def someone_watching() -> bool:
    """True when an automatic progress bar would be seen by a person.

    Returns
    -------
    bool
        False under CI or with ``TOOLKIT_PROGRESS`` off; True with it on, in a Jupyter
        kernel, or when standard error is a terminal.

    Examples
    --------
    >>> someone_watching()      # in a plain script under CI
    False
    """
    setting = os.environ.get("TOOLKIT_PROGRESS", "").strip().lower()
    if setting in _OFF:
        return False
    if setting in _ON:
        return True
    if os.environ.get("CI", "").strip().lower() in _ON:
        return False
    if _in_kernel():
        return True
    return sys.stderr is not None and sys.stderr.isatty()


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules and _kernel_shell() is not None


def _kernel_shell() -> Any:
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return shell if type(shell).__name__ == "ZMQInteractiveShell" else None


def _widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class NoProgress:
    """A bar that shows nothing."""

    def update(self, n: int) -> None:
        pass

    def reset(self, total: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(
    total: int | None,
    *,
    desc: str,
    show: bool | None = None,
    min_rows: int = 0,
    unit: str = "rows",
) -> Progress:
    """A progress bar counting rows (or ``unit``), or a silent stand-in when nobody
    would see it.

    Parameters
    ----------
    total : int, optional
        Rows expected; None when unknown (the bar then counts without a percentage).
    desc : str
        The label in front of the bar, such as ``"insert User"``.
    show : bool, optional
        True always shows the bar, False never; None (the default) shows it when
        ``total`` is at least ``min_rows`` and :func:`someone_watching`.
    min_rows : int
        The size from which an automatic bar shows.
    unit : str
        What the bar counts: ``"rows"``, or ``"partitions"`` for a Dask load.

    Returns
    -------
    Progress
        A tqdm bar (a widget in a kernel with ipywidgets, text elsewhere) with
        ``unit="rows", unit_scale=True``, or an object whose methods do nothing. Call
        ``close()`` when the work ends. A widget bar writes nothing to the cell's
        standard error, before or after it finishes.

    Examples
    --------
    >>> bar = progress_bar(300_000, desc="stream comments", show=True)
    >>> bar.update(50_000)
    >>> bar.close()
    """
    if show is None:
        show = (total is None or total >= min_rows) and someone_watching()
    if not show:
        return NoProgress()
    bar: Progress = _bar_class()(total=total, desc=desc, unit=unit, unit_scale=True)
    return bar


def _bar_class() -> Any:
    """tqdm's widget bar in a kernel that has ipywidgets, its text bar elsewhere."""
    if _in_kernel() and _widgets_available():
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm
