"""The type system: one registry of SQL type families and everything done with them.

- :mod:`~toolkit.types.spec`: :class:`ColumnSpec`, what is known of a column, from a
  SQLAlchemy type, a PostgreSQL result column, an annotation or (untyped SQL) values;
- :mod:`~toolkit.types.registry`: the families, their pandas dtypes and Arrow types;
- :mod:`~toolkit.types.checks`: scalar checks (CRUD writes, search lookups);
- :mod:`~toolkit.types.convert`: vectorised checks and conversion (``insert_frame``);
- :mod:`~toolkit.types.encode` / :mod:`~toolkit.types.decode`: each driver's write and
  read paths;
- :mod:`~toolkit.types.arrow`: assembling typed frames.
"""

from .arrow import arrow_to_frame as arrow_to_frame
from .arrow import chunks_to_frame as chunks_to_frame
from .arrow import empty_frame as empty_frame
from .arrow import values_to_frame as values_to_frame
from .checks import value_problem as value_problem
from .decode import column_arrays as column_arrays
from .registry import FAMILIES as FAMILIES
from .registry import TypeFamily as TypeFamily
from .registry import arrow_type as arrow_type
from .registry import copyable as copyable
from .registry import dtype_table as dtype_table
from .registry import pandas_dtype as pandas_dtype
from .spec import ColumnSpec as ColumnSpec
from .spec import infer_specs as infer_specs
from .spec import model_specs as model_specs
from .spec import override_specs as override_specs
from .spec import spec_from_annotation as spec_from_annotation
from .spec import spec_from_pg as spec_from_pg
from .spec import spec_from_type as spec_from_type

__all__ = [
    "FAMILIES",
    "ColumnSpec",
    "TypeFamily",
    "arrow_to_frame",
    "arrow_type",
    "chunks_to_frame",
    "column_arrays",
    "copyable",
    "dtype_table",
    "empty_frame",
    "infer_specs",
    "model_specs",
    "override_specs",
    "pandas_dtype",
    "spec_from_annotation",
    "spec_from_pg",
    "spec_from_type",
    "value_problem",
    "values_to_frame",
]
