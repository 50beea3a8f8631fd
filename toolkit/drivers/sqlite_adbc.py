"""SQLite reads at Arrow speed: ``adbc-driver-sqlite`` in a helper process.

The ADBC SQLite driver returns a result as Arrow columns, several times faster than
building Python rows with ``sqlite3``. It is used for reads on a connection of their
own, outside any transaction (``read_frame(db, ...)`` with a ``Database`` or an
``AsyncEngine`` on a SQLite file); inside a transaction the aiosqlite path reads, so
that the caller's uncommitted writes are seen.

Why a helper process: ``libadbc_driver_sqlite.so`` links its own copy of SQLite
(3.53 in adbc-driver-sqlite 1.13; its ``sqlite3_*`` symbols are internal and ``ldd``
lists no ``libsqlite3``), while Python's ``sqlite3``, under aiosqlite, uses the
system's ``libsqlite3``. Two copies of SQLite in one process on one file break
SQLite's POSIX locks: closing any descriptor of the file drops every lock the process
holds on it, including the other copy's, and a connection can then take itself for the
last user and delete or reset the WAL (https://sqlite.org/howtocorrupt.html, 2.2.1).
Across processes SQLite's locking is the ordinary, supported case. So ADBC never runs
in the toolkit's process: one helper process per toolkit process, started on the
first such read (the script ``_adbc_helper.py`` beside this module, not multiprocessing,
which would re-run an unguarded ``__main__``), reads the query and sends the result back as an
Arrow IPC stream over a pipe. It sees committed data only, as the aiosqlite read
outside a transaction does.

dtypes: the Arrow columns are cast to the toolkit's types per column spec (SQLite's
text dates to timestamps, REAL to NUMERIC(p, s), 0/1 to bool), or, for untyped SQL,
the specs are taken from ADBC's types as the aiosqlite path infers them from values.
A result the helper or the casts cannot handle (a column of mixed types, an exotic
type) is read by the aiosqlite path instead, so the rules hold either way.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import pickle
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..dtypes import ColumnSpec, arrow_to_frame, arrow_type
from ._adbc_helper import OK, receive, send

__all__ = ["available", "handles", "read", "usable_path"]


@functools.cache
def available() -> bool:
    """Whether ``adbc-driver-sqlite`` is installed (checked once, without importing it
    here)."""
    import importlib.util

    return importlib.util.find_spec("adbc_driver_sqlite") is not None


def usable_path(url: Any) -> str | None:
    """The absolute path of the file a SQLite URL names, or None where ADBC is not used
    (another database, in-memory databases, ``file:`` URIs, URLs with options)."""
    import os

    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if url.query or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(str(database))


class _Helper:
    """The helper process and a lock that keeps one request on the pipe at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def _process(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            if self._proc is None:
                # Ended with the interpreter (stdin closed: the helper returns).
                atexit.register(self.close)
            self._proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("_adbc_helper.py"))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._proc

    def request(self, path: str, sql: str, args: Sequence[Any], untyped: bool) -> pa.Table:
        with self._lock:
            proc = self._process()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                send(proc.stdin, OK, pickle.dumps((path, sql, tuple(args), untyped)))
                status, payload = receive(proc.stdout)
            except (OSError, EOFError) as exc:
                proc.kill()
                proc.wait()
                for stream in (proc.stdin, proc.stdout):
                    with contextlib.suppress(OSError):
                        stream.close()
                self._proc = None
                raise _HelperError(f"the ADBC helper process ended: {exc}") from exc
        if status != OK:
            raise _HelperError(bytes(payload).decode("utf-8", "replace"))
        return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()

    def kill(self) -> None:
        """Kill the helper now (without the lock: a request may hold it, and then ends
        with the helper's output)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def close(self) -> None:
        """End the helper process (its stdin closed; killed if it does not end)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _HelperError(Exception):
    """The helper could not read the query (the caller reads it another way)."""


_helper = _Helper()


def _spec_of(name: str, t: pa.DataType) -> ColumnSpec | None:
    """The spec the aiosqlite path infers for a column ADBC typed ``t`` (None: not known)."""
    if pa.types.is_integer(t):
        return ColumnSpec(name, "int")
    if pa.types.is_floating(t):
        return ColumnSpec(name, "float")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return ColumnSpec(name, "str")
    if pa.types.is_null(t):
        return ColumnSpec(name, "object")
    return None


def _cast(column: pa.ChunkedArray, spec: ColumnSpec) -> pa.ChunkedArray | None:
    target = arrow_type(spec)
    if target is None:
        return None
    source = column.type
    if source == target:
        return column
    if pa.types.is_timestamp(target) and target.tz is not None:
        # SQLite stores aware values as UTC text without an offset.
        naive = column.cast(pa.timestamp("us")) if not pa.types.is_timestamp(source) else column
        return naive.cast(target)
    if (pa.types.is_string(source) or pa.types.is_null(source)) or (
        pa.types.is_integer(source) or pa.types.is_floating(source)
    ):
        return column.cast(target)
    return None


#: Kinds whose SQLite storage an Arrow cast reads exactly; the others (UUID as hex,
#: JSON, TIME, INTERVAL, BLOB...) need the registry's SQLite decoding on the aiosqlite path.
_CASTABLE_KINDS = frozenset(
    {"int", "float", "str", "bool", "decimal", "datetime", "datetime_tz", "date"}
)


def handles(specs: Sequence[ColumnSpec] | None) -> bool:
    """Whether ADBC can read a result of these column kinds exactly (None: untyped SQL,
    whose types :func:`read` infers and checks itself)."""
    return specs is None or all(s.kind in _CASTABLE_KINDS for s in specs)


def _frame(table: pa.Table, specs: Sequence[ColumnSpec] | None) -> pd.DataFrame | None:
    names = table.column_names
    if specs is None:
        inferred = [_spec_of(n, f.type) for n, f in zip(names, table.schema, strict=True)]
        if any(s is None for s in inferred):
            return None
        specs = [s for s in inferred if s is not None]
        if any(s.kind == "object" for s in specs):
            return None  # an all-NULL untyped column: the aiosqlite path decides its type
    if len(specs) != table.num_columns:
        return None
    columns = []
    for i, spec in enumerate(specs):
        cast = _cast(table.column(i), spec)
        if cast is None:
            return None
        columns.append(cast)
    typed = pa.Table.from_arrays(columns, names=[f"c{i}" for i in range(len(columns))])
    return arrow_to_frame(typed, specs)


async def read(
    path: str, sql: str, args: Sequence[Any], specs: Sequence[ColumnSpec] | None
) -> pd.DataFrame | None:
    """Read ``sql`` on the file ``path`` through ADBC; None when the aiosqlite path must.

    Returns the frame typed per ``specs`` (or per the specs ADBC's types imply, for
    untyped SQL), or None when ADBC is not installed, the helper failed, or a column
    cannot be cast exactly.
    """
    if not available() or not handles(specs):
        return None
    request = asyncio.ensure_future(
        asyncio.to_thread(_helper.request, path, sql, args, specs is None)
    )
    try:
        table = await asyncio.shield(request)
    except asyncio.CancelledError:
        # A cancelled read (a notebook interrupt) ends the helper's query by ending
        # the helper; the next read starts a new one.
        _helper.kill()
        with contextlib.suppress(BaseException):
            await request
        raise
    except _HelperError:
        return None
    try:
        return await asyncio.to_thread(_frame, table, specs)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
