"""Per-dialect fast paths for frames, behind one small interface.

Each module works on the *driver* connection (``asyncpg.Connection`` or
``aiosqlite.Connection``) that SQLAlchemy's pooled connection wraps, so that frames skip
building SQLAlchemy ``Row`` objects, which costs more than the query itself:

``read(conn, sql, args, specs) -> DataFrame``
    The whole result. ``specs`` may be None (untyped SQL) where the driver can infer.
``stream(conn, sql, args, specs, chunk_size) -> AsyncIterator[DataFrame]``
    Chunks of exactly ``chunk_size`` rows (the last may be shorter).
``write(conn, target, table, *, on_conflict, chunk_size, progress) -> int``
    Insert an Arrow table of validated values; returns the rows written.

A module is imported only when its dialect is first used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ["WriteTarget", "driver_for"]


@dataclass(frozen=True)
class WriteTarget:
    """Where ``insert_frame`` writes: quoted names and the conflict key.

    Attributes
    ----------
    table : str
        The quoted, schema-qualified table name.
    name, schema : str, str | None
        Unquoted, for drivers that take them apart (asyncpg's COPY).
    columns : tuple[str, ...]
        The columns being written, unquoted, in the Arrow table's order.
    quoted_columns : tuple[str, ...]
    conflict_columns : tuple[str, ...]
        Quoted columns of the key ``on_conflict="update"`` acts on (primary key or a
        unique key fully present in the frame), and the order staged rows are written
        in; empty when there is none.
    serial_column : str | None
        An auto-incrementing integer primary key given explicitly in the frame, whose
        sequence must be moved past the new values (PostgreSQL).
    update_columns : tuple[str, ...]
        Quoted columns an upsert overwrites: those the caller's frame holds, never the
        ones filled from defaults (an upsert must not reset what the frame left out).
    """

    table: str
    name: str
    schema: str | None
    columns: tuple[str, ...]
    quoted_columns: tuple[str, ...]
    conflict_columns: tuple[str, ...]
    serial_column: str | None = None
    update_columns: tuple[str, ...] = ()

    def conflict_clause(self, on_conflict: str, *, excluded: str = "excluded") -> str:
        """The ``ON CONFLICT ...`` clause for ``on_conflict`` ("" for "error").

        PostgreSQL and SQLite (3.24+) share the upsert syntax.
        """
        if on_conflict == "error":
            return ""
        if on_conflict == "ignore":
            # No conflict target: a row that collides with a stored one on *any* unique
            # key is skipped. With a target, a collision on another key (or a concurrent
            # insert of the same row reaching that key's index first) is an error.
            return " ON CONFLICT DO NOTHING"
        target = f"({', '.join(self.conflict_columns)})" if self.conflict_columns else ""
        updates = [c for c in self.update_columns if c not in self.conflict_columns]
        # With every column in the key, rewriting a key column keeps the row as it is.
        sets = ", ".join(f"{c} = {excluded}.{c}" for c in updates or self.conflict_columns[:1])
        return f" ON CONFLICT {target} DO UPDATE SET {sets}"


def driver_for(dialect: str) -> ModuleType:
    """Import and return the fast-path module for ``dialect`` (``sqlite`` or ``postgresql``)."""
    return importlib.import_module(f"toolkit.drivers.{dialect}")
