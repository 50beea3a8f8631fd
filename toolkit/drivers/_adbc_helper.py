"""The ADBC helper process (see :mod:`toolkit.drivers.sqlite_adbc`), run as a script.

It imports only pyarrow and adbc-driver-sqlite (not the toolkit), so it starts quickly.
Each request on stdin is a frame of ``!BQ`` (status, length) and a pickled
``(path, sql, args, untyped)``; each answer on stdout is such a header and an Arrow IPC stream
(status 0) or an error message (status 1). The process ends when stdin closes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import sys
from typing import IO, Any

HEADER = struct.Struct("!BQ")
OK, ERROR = 0, 1


def receive(stream: IO[bytes]) -> tuple[int, bytes | bytearray]:
    """Read one framed message: its status and payload (EOFError when the pipe ends)."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError("no answer")
    status, size = HEADER.unpack(header)
    payload = bytearray(size)
    view = memoryview(payload)
    got = 0
    while got < size:
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise EOFError("a short answer")
        got += n
    return status, payload


def send(stream: IO[bytes], status: int, payload: Any) -> None:
    """Write one framed message."""
    data = memoryview(payload)
    stream.write(HEADER.pack(status, data.nbytes))
    stream.write(data)
    stream.flush()


def _check_text_columns(cursor: Any, sql: str, args: Any, table: Any) -> None:
    """Refuse a text column that holds other storage classes too.

    ADBC renders a column of mixed values (1, 'x', 2.5) as text, where Python's
    sqlite3 keeps each value's own type: the caller must read such a result its own way.
    """
    import pyarrow as pa

    names = table.column_names
    text = [n for n, f in zip(names, table.schema, strict=True) if pa.types.is_string(f.type)]
    if not text:
        return
    if len(set(names)) != len(names) or any('"' in n for n in text):
        raise ValueError("cannot check the column types of this result")
    others = " OR ".join(f"typeof(\"{n}\") NOT IN ('text', 'null')" for n in text)
    cursor.execute(f"SELECT 1 FROM ({sql}) WHERE {others} LIMIT 1", args or None)
    if cursor.fetchone() is not None:
        raise ValueError("a text column holds values of other types too")


def _ipc(sink: Any, table: Any) -> None:
    import pyarrow as pa

    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def _send_table(stream: IO[bytes], table: Any) -> None:
    """Send ``table`` as an Arrow IPC stream, written straight into the pipe: its size
    is measured first (a mock stream copies nothing), so no whole copy is built."""
    import pyarrow as pa

    mock = pa.MockOutputStream()
    _ipc(mock, table)
    stream.write(HEADER.pack(OK, mock.size()))
    _ipc(pa.PythonFile(stream, mode="w"), table)
    stream.flush()


def serve() -> None:
    """Answer requests until stdin closes."""
    import adbc_driver_sqlite.dbapi as adbc

    # The protocol gets its own copy of stdout; whatever a library prints goes to
    # stderr instead of into an answer.
    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    while True:
        try:
            _, request = receive(stdin)
        except EOFError:
            return
        try:
            path, sql, args, untyped = pickle.loads(request)
            # One read transaction: the check below sees the rows the query saw.
            with (
                adbc.connect(path, autocommit=False) as conn,
                contextlib.closing(conn.cursor()) as cursor,
            ):
                cursor.execute(sql, args or None)
                table = cursor.fetch_arrow_table()
                # The driver has been seen to end a result early (a column whose type
                # changes after the first batch, when iterated): count the rows too.
                cursor.execute(f"SELECT count(*) FROM ({sql})", args or None)
                counted = cursor.fetchone()
                expected = counted[0] if counted else None
                if expected != table.num_rows:
                    raise ValueError(f"ADBC read {table.num_rows} of {expected} rows")
                if untyped:
                    _check_text_columns(cursor, sql, args, table)
                conn.rollback()
            _send_table(stdout, table)
        except Exception as exc:
            send(stdout, ERROR, f"{type(exc).__name__}: {exc}".encode())


if __name__ == "__main__":
    serve()
