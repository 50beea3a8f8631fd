"""What every ``toolkit`` command shares: exit codes, one-line errors, reaching the
database and importing the user's models."""

from __future__ import annotations

import importlib
import os
import sys

from sqlalchemy import exc as sa_exc
from sqlmodel import SQLModel

from ..database import Database
from ..errors import DatabaseUnavailableError, QueryError

__all__ = [
    "FAILURE",
    "INTERRUPTED",
    "USAGE",
    "CommandError",
    "check_model_spec",
    "import_model",
    "progress_enabled",
    "reach",
    "reason",
    "show_url",
]

USAGE = 2
FAILURE = 1
INTERRUPTED = 130


class CommandError(Exception):
    """A user mistake: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code


def reason(exc: BaseException) -> str:
    """One line saying why ``exc`` happened, without a final full stop.

    For a database error that is the driver's own message, not SQLAlchemy's wrapper
    with the statement and a link.
    """
    cause: BaseException = exc
    if isinstance(exc, QueryError) and exc.__cause__ is not None:
        cause = exc.__cause__
    if isinstance(cause, sa_exc.DBAPIError) and cause.orig is not None:
        # asyncpg's error hides behind SQLAlchemy's adapter class; its text is plainer.
        cause = cause.orig.__cause__ or cause.orig
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = lines[0] if lines else type(cause).__name__
    return text.rstrip(".")


def show_url(db: Database) -> str:
    """The database URL without its password."""
    return db.url.render_as_string(hide_password=True)


def progress_enabled() -> bool:
    """Progress bars only for a person at a terminal, never in CI logs."""
    ci = os.environ.get("CI", "").strip().lower()
    return sys.stdout.isatty() and ci in ("", "0", "false", "no")


async def reach(db: Database) -> None:
    """Open a connection first, so that "cannot connect" is not mistaken for bad SQL."""
    try:
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    except (OSError, sa_exc.DBAPIError) as exc:
        fix = (
            "Check that the SQLite file's folder exists and is writable."
            if db.dialect == "sqlite"
            else "Check that the server is running and that the URL's host, port, "
            "database name and user are right."
        )
        raise DatabaseUnavailableError(
            f"Cannot reach the database at {show_url(db)}: {reason(exc)}. {fix}"
        ) from exc


def check_model_spec(spec: str) -> None:
    """Refuse a ``--model`` that is not ``module:Class`` (a usage error)."""
    module_name, colon, class_name = spec.partition(":")
    if not (colon and module_name and class_name.isidentifier()):
        raise CommandError(
            f"--model {spec!r} is not in the form module:Class "
            "(e.g. --model toolkit.demo.models:User).",
            USAGE,
        )


def import_model(spec: str) -> type[SQLModel]:
    """The SQLModel table class named by ``module:Class``."""
    module_name, _, class_name = spec.partition(":")
    # The console script's sys.path starts at its own bin/ folder; models usually live
    # in the project the user runs the command from.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CommandError(
            f"Cannot import module {module_name!r} from --model {spec!r}: {exc}. Give an "
            "importable module (run from the project folder, or install it)."
        ) from exc
    model = getattr(module, class_name, None)
    if model is None:
        raise CommandError(
            f"Module {module_name!r} has no class {class_name!r} (from --model {spec!r}); "
            "check the spelling, it is case-sensitive."
        )
    if not (
        isinstance(model, type) and issubclass(model, SQLModel) and hasattr(model, "__table__")
    ):
        raise CommandError(
            f"{spec} is not a SQLModel table model; give a class declared with "
            "`class Name(SQLModel, table=True)`."
        )
    return model
