"""Measure the peak memory of reading a large result, in a process of its own.

Run by ``test_large_data.py`` as ``python memory_probe.py ACTION URL [SCHEMA]``:

``fill``
    Create ``reliability_big`` (id, grp, value, label) and fill it with ``ROWS`` rows by
    server-side SQL (no client memory), unless it already holds them.
``stream`` / ``read``
    Warm up (imports, a tiny query), record the peak RSS as the baseline, then go
    through the whole table with ``tk.stream_frames`` (50,000-row chunks, a per-chunk
    group-by sum) or with one ``tk.read_frame`` (the same aggregation), and print one
    JSON line: rows seen, the aggregate's checksum, the peak RSS growth in MiB, seconds.

A process of its own, because ``ru_maxrss`` is a high-water mark of the whole process:
the test runner's own allocations must not blur it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Float, Integer, Text, column, func, select, table, text

import toolkit as tk

ROWS = 2_000_000
CHUNK = 50_000
BIG = table(
    "reliability_big",
    column("id", Integer),
    column("grp", Integer),
    column("value", Float),
    column("label", Text),
)
DDL = (
    "CREATE TABLE IF NOT EXISTS reliability_big "
    "(id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, value DOUBLE PRECISION, label TEXT)"
)
FILL = {
    "postgresql": (
        "INSERT INTO reliability_big SELECT g, g % 97, g * 0.5, 'label ' || g "
        f"FROM generate_series(1, {ROWS}) AS g"
    ),
    "sqlite": (
        f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {ROWS}) "
        "INSERT INTO reliability_big SELECT g, g % 97, g * 0.5, 'label ' || g FROM s"
    ),
}


def peak_rss_mib() -> float:
    """This process's own peak RSS: ``VmHWM``.

    ``ru_maxrss`` also folds in the peak of the process image replaced at exec (the
    forking test runner, often bigger than any read here), which would hide the reads.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak() -> None:
    """Give freed memory back and reset the peak to the current RSS (Linux >= 4.0)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def connect(url: str, schema: str | None) -> tk.Database:
    if schema:
        return tk.connect(url, connect_args={"server_settings": {"search_path": schema}})
    return tk.connect(url)


async def fill(db: tk.Database) -> dict[str, Any]:
    async with db.engine.begin() as conn:
        await conn.execute(text(DDL))
        have = (await conn.execute(select(func.count()).select_from(BIG))).scalar_one()
        if have != ROWS:
            await conn.execute(text("DELETE FROM reliability_big"))
            await conn.execute(text(FILL[db.dialect]))
    return {"rows": ROWS}


def aggregate(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby("grp")["value"].sum()


async def measure(db: tk.Database, action: str) -> dict[str, Any]:
    query = select(BIG)
    async for _ in tk.stream_frames(db, query.limit(10), chunk_size=5):
        pass  # warm-up: lazy imports, the pool's first connection
    await tk.read_frame(db, query.limit(10))
    reset_peak()
    baseline = peak_rss_mib()
    started = time.perf_counter()
    rows = 0
    totals = pd.Series(dtype="float64")
    if action == "stream":
        async for chunk in tk.stream_frames(db, query, chunk_size=CHUNK):
            rows += len(chunk)
            totals = totals.add(aggregate(chunk), fill_value=0)
    else:
        frame = await tk.read_frame(db, query)
        rows = len(frame)
        totals = aggregate(frame)
    return {
        "rows": rows,
        "checksum": float(totals.sum()),
        "peak_delta_mib": round(peak_rss_mib() - baseline, 1),
        "baseline_mib": round(baseline, 1),
        "seconds": round(time.perf_counter() - started, 2),
    }


async def main(action: str, url: str, schema: str | None) -> None:
    db = connect(url, schema)
    try:
        result = await fill(db) if action == "fill" else await measure(db, action)
    finally:
        await db.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
