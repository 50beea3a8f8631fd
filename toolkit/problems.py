"""A DataFrame of problems that a notebook shows whole.

pandas cuts every cell at ``display.max_colwidth`` (50 characters) when it renders a
frame; a problem's message is the part a reader needs, so a :class:`ProblemFrame`
renders with no cut. Anything derived from it (a slice, a filter) is a plain DataFrame.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["ProblemFrame"]


class ProblemFrame(pd.DataFrame):
    """A ``pandas.DataFrame`` whose text and HTML renderings show every cell whole.

    Examples
    --------
    >>> exc.errors          # FrameValidationError.errors in a notebook: messages uncut
    """

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", None):
            return super().__repr__()

    def _repr_html_(self) -> str | None:
        with pd.option_context("display.max_colwidth", None):
            html: str | None = pd.DataFrame._repr_html_(self)  # type: ignore[attr-defined]
            return html

    def to_string(self, *args: Any, **kwargs: Any) -> Any:
        with pd.option_context("display.max_colwidth", None):
            return super().to_string(*args, **kwargs)
