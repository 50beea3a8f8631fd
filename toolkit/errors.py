"""The toolkit's exceptions (classes only; :mod:`toolkit.translation` turns driver errors
into them).

Every exception the toolkit raises on purpose is a :class:`ToolkitError`; where one
resembles a builtin it inherits that too, so ``except ValueError`` keeps working::

    ToolkitError
    ├── ConfigurationError (ValueError)         bad URL, bad option
    ├── DatabaseUnavailableError (ConnectionError)   server unreachable, connection lost
    ├── NotFoundError (LookupError)              a row the call needs does not exist
    ├── MultipleResultsFound (sqlalchemy MultipleResultsFound)   get_by matched several rows
    ├── ValidationError (ValueError)             one field failed the model's rules
    │   └── FrameValidationError                 many cells of a DataFrame failed; .errors
    ├── UnknownFieldError (ValueError)           a field or lookup the model lacks
    ├── LazyLoadError (sqlalchemy InvalidRequestError)   a relationship was not loaded
    ├── QueryError                               the database refused a query
    │   └── MissingTableError                    the query names a table that does not exist
    ├── ConstraintError                          the database refused a write
    │   ├── DuplicateError                       unique / primary key
    │   ├── ForeignKeyError                      missing parent, or row still referenced
    │   └── NotNullError                         NULL in a NOT NULL column
    ├── TransactionConflictError                 serialization failure / deadlock, retries spent
    └── NPlusOneError (AssertionError)           count_queries(n_plus_one="raise") saw an N+1

The demo domain adds ``toolkit.demo.InsufficientFunds`` (a ``ToolkitError``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ConfigurationError",
    "ConstraintError",
    "DatabaseUnavailableError",
    "DuplicateError",
    "ForeignKeyError",
    "FrameValidationError",
    "LazyLoadError",
    "MissingTableError",
    "MultipleResultsFound",
    "NPlusOneError",
    "NotFoundError",
    "NotNullError",
    "QueryError",
    "ToolkitError",
    "TransactionConflictError",
    "UnknownFieldError",
    "ValidationError",
    "plain_reason",
]


class ToolkitError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class ConfigurationError(ToolkitError, ValueError):
    """A URL or an option the toolkit cannot use."""


class DatabaseUnavailableError(ToolkitError, ConnectionError):
    """The database could not be reached, or the connection was lost mid-call."""


class NotFoundError(ToolkitError, LookupError):
    """A row the call needs does not exist."""


class MultipleResultsFound(ToolkitError, sa_exc.MultipleResultsFound):
    """A lookup that expects at most one row matched several."""


class ValidationError(ToolkitError, ValueError):
    """A value failed the model's own rules; for a write, nothing was written.

    Attributes
    ----------
    model : str
        Name of the model.
    field : str
        The field that failed (``"__root__"`` for a model-level rule).
    reason : str
        Why it failed, from the model's pydantic rules.
    value : object
        The value that was given.

    ``write=False`` (a lookup's value) leaves "nothing was written" out of the message.
    """

    def __init__(
        self, model: str, field: str, reason: str, value: Any = None, *, write: bool = True
    ) -> None:
        reason = plain_reason(reason)
        self.model = model
        self.field = field
        self.reason = reason
        self.value = value
        # A lookup (a read) fails the same rules, but there was nothing to write.
        outcome = "Nothing was written; correct" if write else "Correct"
        super().__init__(
            f"{model}.{field}: {reason} (got {value!r}). {outcome} the value of {field!r} "
            "and call again."
        )


_PYDANTIC_PREFIX = re.compile(r"^(?:Value error|Assertion failed), ")


def plain_reason(message: str) -> str:
    """A validator's message without the prefix pydantic adds ("Value error, ...")."""
    return _PYDANTIC_PREFIX.sub("", message)


class FrameValidationError(ValidationError):
    """Cells of a DataFrame failed validation; nothing was written.

    Attributes
    ----------
    errors : pandas.DataFrame
        One row per bad cell, in the frame's row order (problems of a whole column
        first), columns ``row`` (the frame's index label), ``column``, ``value`` and
        ``message``. A notebook shows every message whole.
    """

    def __init__(self, model: str, errors: pd.DataFrame) -> None:
        self.errors = errors
        n_rows = errors["row"].dropna().nunique() if len(errors) else 0
        where = f"{n_rows} row(s)" if n_rows else "the frame's columns"
        first = errors.iloc[0] if len(errors) else None
        self.model = model
        self.field = str(first["column"]) if first is not None else ""
        self.reason = str(first["message"]) if first is not None else ""
        self.value = first["value"] if first is not None else None
        preview = errors.head(5).to_string(index=False)
        ToolkitError.__init__(
            self,
            f"{len(errors)} problem(s) in {where} of the frame for {model}; nothing was "
            f"written. Inspect `.errors` for the full list, fix those values and call "
            f"again.\n{preview}",
        )


class QueryError(ToolkitError):
    """The database refused a query (bad SQL, unknown table or column).

    The driver's own error is chained as ``__cause__``.
    """


class MissingTableError(QueryError):
    """The query names a table that the database does not have.

    Attributes
    ----------
    table : str
        The table's name as the database reported it.
    """

    def __init__(self, message: str, *, table: str) -> None:
        self.table = table
        super().__init__(message)


class LazyLoadError(ToolkitError, sa_exc.InvalidRequestError):
    """A relationship that the query did not load was read, and asyncio cannot load it
    implicitly (or strict loading refused it). Nothing was queried; the message names the
    relationship and the loader option to add."""


class UnknownFieldError(ToolkitError, ValueError):
    """A field name, lookup operator or relationship that the model does not have."""


class ConstraintError(ToolkitError):
    """The database refused a write because of a constraint.

    Attributes
    ----------
    model : str | None
        Name of the model the write was for.
    columns : tuple[str, ...]
        The columns the constraint covers, where the driver or the model tells them.
    constraint : str | None
        The constraint's name, where the driver tells it.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        columns: Sequence[str] = (),
        constraint: str | None = None,
    ) -> None:
        self.model = model
        self.columns = tuple(columns)
        self.constraint = constraint
        super().__init__(message)


class DuplicateError(ConstraintError):
    """A row with the same unique key already exists."""


class ForeignKeyError(ConstraintError):
    """A referenced row is missing, or a row to delete is still referenced."""


class NotNullError(ConstraintError):
    """A NULL was written to a NOT NULL column."""


class TransactionConflictError(ToolkitError):
    """A serialization failure or deadlock persisted through every retry."""


class NPlusOneError(ToolkitError, AssertionError):
    """Statements of one shape repeated once per row (an N+1 pattern) in a
    ``count_queries(..., n_plus_one="raise")`` block; the message lists them and the fix.
    """
