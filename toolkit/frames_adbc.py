"""``read_frame`` on a SQLite file outside a transaction, through ADBC.

The ADBC SQLite driver returns Arrow directly, several times faster than building one
Python object per cell; it runs in a helper process (see
:mod:`toolkit.drivers.sqlite_adbc` for why). This module decides whether a read may
take that path and keeps SQLAlchemy's listeners (``count_queries``, echo) informed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .dtypes import override_specs
from .frames_compile import Params, compile_query, declared_types
from .frames_connection import Source, announce, engine_of, finished

__all__ = ["read_adbc"]


async def read_adbc(
    source: Source,
    query: Any,
    params: Params | None,
    dtypes: Mapping[str, Any] | None,
) -> pd.DataFrame | None:
    """The result of ``query`` read through ADBC, or None when that path does not apply
    (not a SQLite file, inside a caller's connection or session, ADBC not installed, or
    a result ADBC cannot type exactly: the caller then reads it the usual way)."""
    engine = engine_of(source)
    if engine is None:
        return None
    from .drivers import sqlite_adbc

    path = sqlite_adbc.usable_path(engine.url)
    if path is None or not sqlite_adbc.available():
        return None
    sql, args, specs = compile_query(query, params, engine.dialect)
    declared = declared_types(query, dtypes)
    if specs is None and declared:
        return None  # types declared over inferred ones: the aiosqlite path applies them
    if specs is not None:
        specs = override_specs(specs, declared)
    frame = await sqlite_adbc.read(path, sql, args, specs)
    if frame is not None:
        async with engine.connect() as conn:
            announce(conn, sql, args)
            finished(conn, sql, args)
    return frame
