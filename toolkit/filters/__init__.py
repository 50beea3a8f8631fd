"""The lookup language: ``field__op=value``, OR/AND/NOT groups, relationship paths.

Every value becomes a bound parameter; field names are checked against the model and
values are coerced to the field's type first, so a wrong type is a
:class:`~toolkit.errors.ValidationError` naming the field rather than a driver error.

Modules: :mod:`.values` (field names and value coercion), :mod:`.operators` (one
operator on one column, the operator table), :mod:`.lists` (``IN`` of any length),
:mod:`.tree` (groups and relationship paths, ``order_by`` names).
"""

from .lists import EXPANDED_MAX as EXPANDED_MAX
from .lists import values_in as values_in
from .operators import ALIASES as ALIASES
from .operators import OPERATORS as OPERATORS
from .tree import build_filters as build_filters
from .tree import order_clauses as order_clauses
from .values import bind_for as bind_for
from .values import coerce_value as coerce_value
from .values import column_names as column_names
from .values import column_of as column_of
from .values import field_adapter as field_adapter
from .values import storable as storable

__all__ = [
    "ALIASES",
    "EXPANDED_MAX",
    "OPERATORS",
    "bind_for",
    "build_filters",
    "coerce_value",
    "column_names",
    "column_of",
    "field_adapter",
    "order_clauses",
    "storable",
    "values_in",
]
