"""The names this module held, kept importable; the type system is :mod:`toolkit.types`.

New code imports from :mod:`toolkit.types` (and its modules) directly.
"""

from __future__ import annotations

from .types.arrow import arrow_to_frame as arrow_to_frame
from .types.arrow import chunks_to_frame as chunks_to_frame
from .types.arrow import empty_frame as empty_frame
from .types.arrow import values_to_frame as values_to_frame
from .types.checks import NOT_FINITE_DECIMAL as NOT_FINITE_DECIMAL
from .types.checks import NUL_MESSAGE as NUL_MESSAGE
from .types.checks import SURROGATE_MESSAGE as SURROGATE_MESSAGE
from .types.checks import decimal_digits_message as decimal_digits_message
from .types.checks import decimal_places_message as decimal_places_message
from .types.checks import decimal_problem as decimal_problem
from .types.checks import int_in_range as int_in_range
from .types.checks import int_range_message as int_range_message
from .types.checks import is_utf8 as is_utf8
from .types.checks import too_long_message as too_long_message
from .types.checks import value_problem as value_problem
from .types.decode import column_arrays as column_arrays
from .types.registry import DECIMAL128_DIGITS as DECIMAL128_DIGITS
from .types.registry import STRING_DTYPE as STRING_DTYPE
from .types.registry import arrow_type as arrow_type
from .types.registry import pandas_dtype as pandas_dtype
from .types.spec import ColumnSpec as ColumnSpec
from .types.spec import Kind as Kind
from .types.spec import infer_specs as infer_specs
from .types.spec import model_specs as model_specs
from .types.spec import override_specs as override_specs
from .types.spec import spec_from_pg as spec_from_pg
from .types.spec import spec_from_type as spec_from_type

__all__ = [
    "ColumnSpec",
    "arrow_to_frame",
    "arrow_type",
    "chunks_to_frame",
    "column_arrays",
    "empty_frame",
    "infer_specs",
    "model_specs",
    "pandas_dtype",
    "spec_from_pg",
    "spec_from_type",
    "value_problem",
    "values_to_frame",
]
