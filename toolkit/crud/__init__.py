"""Generic async CRUD over any SQLModel table model, validated and typed by the model.

Transactions: a call made outside an explicit transaction (``db.transaction()``,
``session.begin()`` or a savepoint) is its own transaction: when it returns, its write
is durable and its read has released the connection. Inside an explicit transaction a
call joins it: nothing is durable until the block exits. Every write runs in a
SAVEPOINT, so a call that fails (duplicate, foreign key, validation) undoes only its own
work and leaves the surrounding block usable with its earlier work intact.

Every write returns objects whose columns are all loaded (server defaults and
``onupdate`` values included), so reading one never needs implicit IO. Lists of keys
or lookup values of any length are one statement (see :mod:`toolkit.filters.lists`).

Modules: :mod:`.validate`, :mod:`.keys` (primary keys, lookups vs options),
:mod:`.create`, :mod:`.statement` (``select`` and projections), :mod:`.read`,
:mod:`.write`, :mod:`.upsert`, :mod:`.page`, :mod:`.paginate`.
"""

from .create import create as create
from .create import create_many as create_many
from .create import get_or_create as get_or_create
from .page import Page as Page
from .paginate import paginate as paginate
from .read import count as count
from .read import exists as exists
from .read import get as get
from .read import get_by as get_by
from .read import get_many as get_many
from .read import search as search
from .read import stream as stream
from .statement import select as select
from .upsert import upsert as upsert
from .upsert import upsert_many as upsert_many
from .validate import validate as validate
from .write import delete as delete
from .write import delete_by as delete_by
from .write import delete_many as delete_many
from .write import update as update
from .write import update_by as update_by
from .write import update_many as update_many

__all__ = [
    "Page",
    "count",
    "create",
    "create_many",
    "delete",
    "delete_by",
    "delete_many",
    "exists",
    "get",
    "get_by",
    "get_many",
    "get_or_create",
    "paginate",
    "search",
    "select",
    "stream",
    "update",
    "update_by",
    "update_many",
    "upsert",
    "upsert_many",
    "validate",
]
