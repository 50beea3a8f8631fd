"""Driver errors to the toolkit's (:mod:`toolkit.errors`), in one place.

Integrity errors become ``DuplicateError`` / ``ForeignKeyError`` / ``NotNullError``
naming the model and columns; lost or refused connections become
``DatabaseUnavailableError``; a query on a missing table a ``MissingTableError``. The
original error stays chained.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import exc as sa_exc

from .errors import (
    ConstraintError,
    DatabaseUnavailableError,
    DuplicateError,
    ForeignKeyError,
    MissingTableError,
    NotNullError,
    ToolkitError,
)

__all__ = [
    "connection_errors",
    "is_disconnect",
    "is_retryable",
    "missing_table",
    "translate_integrity_error",
    "unavailable",
]


_PG_KEY_DETAIL = re.compile(r"Key \((?P<cols>[^)]*)\)=")
_SQLITE_COLUMNS = re.compile(r"constraint failed: (?P<cols>.+)$", re.MULTILINE)


def _chain(exc: BaseException) -> list[BaseException]:
    """The error, the driver error SQLAlchemy wraps, and what that one wraps."""
    out: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in out:
        out.append(seen)
        nxt = getattr(seen, "orig", None) or getattr(seen, "driver_exception", None)
        seen = nxt if isinstance(nxt, BaseException) else seen.__cause__
    return out


def _sqlstate(exc: BaseException) -> str | None:
    """Return the SQLSTATE of a driver error, looking through the adapter's chain."""
    for err in _chain(exc):
        for attr in ("sqlstate", "pgcode"):
            code = getattr(err, attr, None)
            if isinstance(code, str):
                return code
    return None


def _pg_detail(exc: BaseException) -> tuple[str | None, str | None, str | None]:
    """Return (detail, column_name, constraint_name) from the asyncpg errors in the chain."""
    found: dict[str, str] = {}
    for err in _chain(exc):
        for attr in ("detail", "column_name", "constraint_name"):
            value = getattr(err, attr, None)
            if isinstance(value, str) and attr not in found:
                found[attr] = value
    return found.get("detail"), found.get("column_name"), found.get("constraint_name")


def _fk_columns(model: Any) -> tuple[str, ...]:
    table = getattr(model, "__table__", None)
    if table is None:
        return ()
    return tuple(col.name for col in table.columns if col.foreign_keys)


def translate_integrity_error(
    exc: BaseException, model: Any = None, *, action: str = "write", frame: bool = False
) -> ConstraintError:
    """Turn a driver's integrity error into the toolkit's typed error.

    Parameters
    ----------
    exc : Exception
        The error SQLAlchemy raised (``IntegrityError``), or the driver's own
        (``asyncpg`` integrity errors, ``sqlite3.IntegrityError``).
    model : type or str, optional
        The model the write was for (or a table's name); named in the message.
    action : str
        ``"write"`` or ``"delete"``; a delete that breaks a foreign key means the row is
        still referenced, which needs a different fix.
    frame : bool
        The write was ``insert_frame``: a duplicate's message then also points to its
        ``on_conflict`` option.

    Returns
    -------
    ConstraintError
        A ``DuplicateError``, ``ForeignKeyError``, ``NotNullError`` or, for other
        constraints (CHECK), a plain ``ConstraintError``. The caller raises it
        ``from exc`` so the driver's error stays chained.
    """
    name = model if isinstance(model, str) else getattr(model, "__name__", None) or "the table"
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    state = _sqlstate(exc)
    detail, column, constraint = _pg_detail(exc)
    lowered = text.lower()

    if state == "23505" or "unique constraint failed" in lowered:
        cols = _columns_from(detail, text)
        shown = ", ".join(cols) or constraint or "a unique key"
        return DuplicateError(
            f"{name}: a row with the same {shown} already exists"
            + (f" ({detail})" if detail else "")
            + (
                ". Drop or change those rows, or pass on_conflict='ignore' (skip them) or "
                "on_conflict='update' (overwrite them)."
                if frame
                else ". Use a different value, or look the row up with crud.get_by / "
                "crud.get_or_create."
            ),
            model=name,
            columns=cols,
            constraint=constraint,
        )
    if state == "23503" or "foreign key constraint failed" in lowered:
        cols = _columns_from(detail, "") or _fk_columns(model)
        if action == "delete" or (detail and "is still referenced" in detail):
            message = (
                f"{name}: the row is still referenced by rows of another table"
                + (f" ({detail})" if detail else "")
                + ". Delete or re-point those rows first, or declare ondelete='CASCADE'."
            )
        else:
            message = (
                f"{name}: {', '.join(cols) or 'a foreign key'} points to a row that does "
                f"not exist" + (f" ({detail})" if detail else "") + ". Create the parent "
                "row first or correct the id."
            )
        return ForeignKeyError(message, model=name, columns=cols, constraint=constraint)
    if state == "23502" or "not null constraint failed" in lowered:
        cols = (column,) if column else _columns_from(None, text)
        return NotNullError(
            f"{name}: {', '.join(cols) or 'a column'} may not be NULL. Give it a value "
            "or declare a default on the model.",
            model=name,
            columns=cols,
            constraint=constraint,
        )
    return ConstraintError(
        f"{name}: the database refused the write ({text.strip()}). Check the values "
        "against the table's constraints.",
        model=name,
        constraint=constraint,
    )


def _columns_from(detail: str | None, text: str) -> tuple[str, ...]:
    """Column names from a PostgreSQL detail or a SQLite message (``table.col, ...``)."""
    if detail:
        match = _PG_KEY_DETAIL.search(detail)
        if match:
            return tuple(c.strip().strip('"') for c in match.group("cols").split(","))
    match = _SQLITE_COLUMNS.search(text)
    if match:
        return tuple(part.strip().rsplit(".", 1)[-1] for part in match.group("cols").split(","))
    return ()


def is_retryable(exc: BaseException, *, busy: bool = True) -> bool:
    """True for serialization failures, deadlocks and (with ``busy``) SQLite busy errors."""
    state = _sqlstate(exc)
    if state in {"40001", "40P01"}:
        return True
    if not busy:
        return False
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def is_disconnect(exc: BaseException) -> bool:
    """True when the error means the connection to the server was lost."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    state = _sqlstate(exc) or ""
    return state.startswith("08") or state in {"57P01", "57P02", "57P03"}


_SQLITE_NO_TABLE = re.compile(r"no such table: (?P<table>[\w.\"]+)")
_PG_NO_RELATION = re.compile(r'relation "(?P<table>[^"]+)" does not exist')


def missing_table(exc: BaseException) -> MissingTableError | None:
    """The toolkit's error for a query on a table that does not exist, else None.

    Recognises SQLite's ``no such table: t`` and PostgreSQL's SQLSTATE 42P01
    (``relation "t" does not exist``), wrapped by SQLAlchemy or not.
    """
    text = "\n".join(str(err) for err in _chain(exc))
    match = _SQLITE_NO_TABLE.search(text) or _PG_NO_RELATION.search(text)
    if match is None and _sqlstate(exc) != "42P01":
        return None
    table = match.group("table").strip('"') if match else "a table the query names"
    return MissingTableError(
        f"The table {table!r} does not exist in this database. "
        "Create the tables first: import the modules that define your models, "
        "then run `await db.create_all()`; or check the table's name (and, on "
        "PostgreSQL, the schema on the search_path).",
        table=table,
    )


def _refused_login(exc: BaseException) -> DatabaseUnavailableError | None:
    """The error for a login the server refused: unknown role or database, bad password."""
    state = _sqlstate(exc) or ""
    text = "\n".join(str(err) for err in _chain(exc)).lower()
    if not (
        state.startswith("28")
        or state in {"3D000", "53300"}
        or "unable to open database file" in text
    ):
        return None
    reason = next((str(err) for err in reversed(_chain(exc)) if str(err)), type(exc).__name__)
    reason = reason.strip().splitlines()[0]
    return DatabaseUnavailableError(
        f"Cannot connect to the database: {reason}. Check "
        "the URL's user name, password and database name (or the file's path and "
        "permissions), and that the server accepts this login."
    )


def unavailable(exc: BaseException, *, refused: bool = True) -> DatabaseUnavailableError | None:
    """The toolkit's error for a lost (or, with ``refused``, refused) connection, else None.

    A login the server refused (unknown role or database, bad password) is always one.
    """
    login = _refused_login(exc)
    if login is not None:
        return login
    lost = is_disconnect(exc) or (
        type(exc).__name__ in {"InterfaceError", "ConnectionDoesNotExistError"}
        and "closed" in str(exc).lower()
    )
    if lost:
        return DatabaseUnavailableError(
            f"The connection to the database was lost during the call ({exc}); nothing of "
            "it was committed. Call again: the pool opens a new connection."
        )
    if refused and isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        # refused, unreachable, unknown host: before any SQL ran
        return DatabaseUnavailableError(
            f"Cannot reach the database ({exc}). Check that the server runs and that the "
            "URL's host and port are right."
        )
    return None


@contextmanager
def connection_errors(*, refused: bool = True) -> Iterator[None]:
    """Re-raise a lost (or refused) connection as :class:`DatabaseUnavailableError`, and
    a query on a table that does not exist as :class:`MissingTableError`.

    ``refused=False`` where the caller's own code runs inside the block, so that its own
    network errors are not taken for the database's.
    """
    try:
        yield
    except ToolkitError:
        raise
    except Exception as exc:
        error: ToolkitError | None = unavailable(exc, refused=refused) or missing_table(exc)
        if error is None:
            raise
        raise error from exc
