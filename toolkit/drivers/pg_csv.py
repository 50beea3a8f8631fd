"""PostgreSQL's COPY CSV, both ways: Arrow tables to the CSV ``COPY ... FROM`` reads,
and ``COPY ... TO`` output to typed Arrow tables (see :mod:`toolkit.drivers.postgresql`).

NULL is the unquoted ``\\N``; a quoted value is never NULL, so NULL, the empty string and
the text ``\\N`` stay distinct, and an empty line is a row (a one-column ``''``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..types.encode import csv_table
from ..types.registry import arrow_type
from ..types.spec import ColumnSpec

__all__ = ["NULL", "parse", "record_end", "render"]

NULL = "\\N"
_NULL = NULL


def _read_csv(raw: bytes, types: dict[str, pa.DataType | None]) -> pa.Table:
    return pacsv.read_csv(
        pa.py_buffer(raw),
        read_options=pacsv.ReadOptions(column_names=list(types), block_size=8 << 20),
        # COPY quotes a value only when it must; without any quote character in the
        # data no value can hold a newline, and Arrow can split blocks freely.
        # A one-column row holding the empty string is an empty line: keep it.
        parse_options=pacsv.ParseOptions(newlines_in_values=b'"' in raw, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[_NULL],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )


#: What asyncpg (and so the fetch path) reads PostgreSQL's infinite moments as.
_INFINITE = {
    "date": ("9999-12-31", "0001-01-01"),
    "datetime": ("9999-12-31 23:59:59.999999", "0001-01-01 00:00:00"),
    "datetime_tz": ("9999-12-31 23:59:59.999999+00", "0001-01-01 00:00:00+00"),
}


def parse(data: bytes | bytearray | memoryview, specs: Sequence[ColumnSpec]) -> pa.Table:
    names = [f"c{i}" for i in range(len(specs))]
    types = {n: arrow_type(s) for n, s in zip(names, specs, strict=True)}
    raw = bytes(data) if not isinstance(data, bytes) else data
    try:
        return _read_csv(raw, types)
    except pa.ArrowInvalid:
        if not (b"infinity" in raw and any(s.kind in _INFINITE for s in specs)):
            raise
    # A date or timestamp of 'infinity' / '-infinity': read those columns as text, put
    # the moments the fetch path gives in their place, and parse them again.
    text = _read_csv(
        raw,
        {
            n: pa.string() if s.kind in _INFINITE else types[n]
            for n, s in zip(names, specs, strict=True)
        },
    )
    for i, spec in enumerate(specs):
        if spec.kind not in _INFINITE:
            continue
        high, low = _INFINITE[spec.kind]
        column = text.column(i)
        column = pc.if_else(pc.equal(column, "infinity"), high, column)
        column = pc.if_else(pc.equal(column, "-infinity"), low, column)
        sink = io.BytesIO()
        single = pa.table({"c": pc.fill_null(column.cast(pa.string()), _NULL)})
        pacsv.write_csv(
            single,
            sink,
            write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
        )
        parsed = _read_csv(sink.getvalue(), {"c": types[names[i]]}) if len(single) else None
        typed = parsed.column(0) if parsed is not None else pa.chunked_array([], types[names[i]])
        text = text.set_column(i, names[i], typed)
    return text


def record_end(buffer: bytearray) -> int:
    """Index just past the last complete CSV record in ``buffer`` (0 if none).

    A newline ends a record unless it lies inside quotes; quotes inside values are
    doubled, so a position is outside quotes when the quotes before it are even.
    """
    end = buffer.rfind(b"\n")
    if b'"' not in buffer:
        return end + 1
    while end >= 0:
        if buffer.count(b'"', 0, end) % 2 == 0:
            return end + 1
        end = buffer.rfind(b"\n", 0, end)
    return 0


def render(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(
        csv_table(table),
        sink,
        write_options=pacsv.WriteOptions(include_header=False, quoting_style="all_valid"),
    )
    return sink.getvalue()
