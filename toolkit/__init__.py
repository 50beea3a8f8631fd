"""toolkit: an async data toolkit for Jupyter on SQLModel / SQLAlchemy asyncio.

>>> import toolkit as tk
>>> db = tk.connect()            # embedded SQLite file ./toolkit.db
>>> from toolkit import crud
"""

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
from .notebook import run as run
from .notebook import unload_ipython_extension as unload_ipython_extension
from .queries import NPlusOneWarning as NPlusOneWarning
from .queries import QueryLog as QueryLog
from .queries import count_queries as count_queries
from .transactions import run_transaction as run_transaction
from .transactions import savepoint as savepoint

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "ConstraintError",
    "Database",
    "DatabaseUnavailableError",
    "DuplicateError",
    "ForeignKeyError",
    "FrameValidationError",
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
