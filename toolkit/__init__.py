"""toolkit: an async data toolkit for Jupyter on SQLModel / SQLAlchemy asyncio.

>>> import toolkit as tk
>>> db = tk.connect()            # embedded SQLite file ./toolkit.db
>>> from toolkit import crud
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from . import crud as crud
    from .crud import Page as Page
    from .dask_io import read_dask as read_dask
    from .dask_load import insert_dask as insert_dask
    from .database import Database as Database
    from .database import connect as connect
    from .errors import ConfigurationError as ConfigurationError
    from .errors import ConstraintError as ConstraintError
    from .errors import DatabaseUnavailableError as DatabaseUnavailableError
    from .errors import DuplicateError as DuplicateError
    from .errors import ForeignKeyError as ForeignKeyError
    from .errors import FrameValidationError as FrameValidationError
    from .errors import LazyLoadError as LazyLoadError
    from .errors import MissingTableError as MissingTableError
    from .errors import MultipleResultsFound as MultipleResultsFound
    from .errors import NotFoundError as NotFoundError
    from .errors import NotNullError as NotNullError
    from .errors import NPlusOneError as NPlusOneError
    from .errors import QueryError as QueryError
    from .errors import ToolkitError as ToolkitError
    from .errors import TransactionConflictError as TransactionConflictError
    from .errors import UnknownFieldError as UnknownFieldError
    from .errors import ValidationError as ValidationError
    from .frames import insert_frame as insert_frame
    from .frames import read_frame as read_frame
    from .frames import stream_frames as stream_frames
    from .frames import to_frame as to_frame
    from .loading import strict_loading as strict_loading
    from .notebook import load_ipython_extension as load_ipython_extension
    from .notebook import unload_ipython_extension as unload_ipython_extension
    from .queries import NPlusOneWarning as NPlusOneWarning
    from .queries import QueryLog as QueryLog
    from .queries import count_queries as count_queries
    from .running import run as run
    from .transactions import run_transaction as run_transaction
    from .transactions import savepoint as savepoint

#: Public name -> (module, attribute in it; None for the module itself). Importing the
#: package imports none of them: each is imported on first use (PEP 562), so that
#: loading the pytest plugin ``toolkit.testing`` in every session costs nothing. A new
#: public name goes in three places: the TYPE_CHECKING imports, here, and __all__.
_LAZY: dict[str, tuple[str, str | None]] = {
    "crud": (".crud", None),
    "Page": (".crud", "Page"),
    "read_dask": (".dask_io", "read_dask"),
    "insert_dask": (".dask_load", "insert_dask"),
    "Database": (".database", "Database"),
    "connect": (".database", "connect"),
    "ConfigurationError": (".errors", "ConfigurationError"),
    "ConstraintError": (".errors", "ConstraintError"),
    "DatabaseUnavailableError": (".errors", "DatabaseUnavailableError"),
    "DuplicateError": (".errors", "DuplicateError"),
    "ForeignKeyError": (".errors", "ForeignKeyError"),
    "FrameValidationError": (".errors", "FrameValidationError"),
    "LazyLoadError": (".errors", "LazyLoadError"),
    "MissingTableError": (".errors", "MissingTableError"),
    "MultipleResultsFound": (".errors", "MultipleResultsFound"),
    "NotFoundError": (".errors", "NotFoundError"),
    "NotNullError": (".errors", "NotNullError"),
    "NPlusOneError": (".errors", "NPlusOneError"),
    "QueryError": (".errors", "QueryError"),
    "ToolkitError": (".errors", "ToolkitError"),
    "TransactionConflictError": (".errors", "TransactionConflictError"),
    "UnknownFieldError": (".errors", "UnknownFieldError"),
    "ValidationError": (".errors", "ValidationError"),
    "insert_frame": (".frames", "insert_frame"),
    "read_frame": (".frames", "read_frame"),
    "stream_frames": (".frames", "stream_frames"),
    "to_frame": (".frames", "to_frame"),
    "strict_loading": (".loading", "strict_loading"),
    "load_ipython_extension": (".notebook", "load_ipython_extension"),
    "run": (".running", "run"),
    "unload_ipython_extension": (".notebook", "unload_ipython_extension"),
    "NPlusOneWarning": (".queries", "NPlusOneWarning"),
    "QueryLog": (".queries", "QueryLog"),
    "count_queries": (".queries", "count_queries"),
    "run_transaction": (".transactions", "run_transaction"),
    "savepoint": (".transactions", "savepoint"),
}

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "ConstraintError",
    "Database",
    "DatabaseUnavailableError",
    "DuplicateError",
    "ForeignKeyError",
    "FrameValidationError",
    "LazyLoadError",
    "MissingTableError",
    "MultipleResultsFound",
    "NPlusOneError",
    "NPlusOneWarning",
    "NotFoundError",
    "NotNullError",
    "Page",
    "QueryError",
    "QueryLog",
    "ToolkitError",
    "TransactionConflictError",
    "UnknownFieldError",
    "ValidationError",
    "connect",
    "count_queries",
    "crud",
    "insert_dask",
    "insert_frame",
    "load_ipython_extension",
    "read_dask",
    "read_frame",
    "run",
    "run_transaction",
    "savepoint",
    "stream_frames",
    "strict_loading",
    "to_frame",
    "unload_ipython_extension",
]


def __getattr__(name: str) -> _typing.Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}") from None
    module = _importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
