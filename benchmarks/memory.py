"""Peak memory of read_frame versus stream_frames, each in a fresh Python process.

The child imports everything, opens the database and does a small warm-up read (so
the driver modules, the pooled connection and Arrow's thread pool exist). It hands free
heap back to the OS (``malloc_trim``, Arrow's ``release_unused``), resets the peak RSS
to the current RSS (``/proc/self/clear_refs``; otherwise memory the imports freed could
hide a small read) and takes the peak RSS as its baseline. It then reads the whole
table either with ``read_frame`` or with ``stream_frames`` (50,000-row chunks),
computing the same small aggregation (sum and count of ``float_val`` per ``bool_val``)
and keeping no chunk. The peak RSS after, minus the baseline, is what the read cost.

The peak RSS is ``VmHWM`` (``ru_maxrss`` where there is no /proc): ``getrusage`` in a
child also counts the peak of the process image it replaced at exec, i.e. the forking
parent's size. RSS rather than tracemalloc, which does not see Arrow's allocations.

Run as ``python -m benchmarks.memory --url URL --mode read_frame|stream_frames``; it
prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlmodel import select

import toolkit as tk

from .data import BenchRow

__all__ = ["MODES", "measure_memory"]

MODES = ("read_frame", "stream_frames")
CHUNK = 50_000


def _peak_kib() -> int:
    """This process's peak RSS in KiB.

    ``VmHWM`` where there is /proc: it is the ``ru_maxrss`` of this process's own memory.
    ``getrusage`` also folds in the peak of the process image replaced at exec (here the
    forking parent, hundreds of MiB), which would hide every read smaller than that.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _release_free_memory() -> None:
    """Hand memory that is free but still resident back to the OS (best effort).

    Otherwise the baseline counts heap the imports freed, and a read that fits into it
    looks free of cost.
    """
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0), so imports do not mask it."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def _aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.groupby("bool_val")["float_val"].agg(["sum", "count"])


async def _child(url: str, mode: str, chunk_size: int) -> dict[str, Any]:
    db = tk.connect(url)
    try:
        warm = select(BenchRow).limit(1_000)
        _aggregate(await tk.read_frame(db, warm))
        async for chunk in tk.stream_frames(db, warm, chunk_size=chunk_size):
            _aggregate(chunk)
        _release_free_memory()
        reset = _reset_peak()
        baseline = _peak_kib()
        start = time.perf_counter()
        frame_bytes = None
        if mode == "read_frame":
            frame = await tk.read_frame(db, select(BenchRow))
            rows = len(frame)
            totals = _aggregate(frame)
            frame_bytes = int(frame.memory_usage(deep=True).sum())
            del frame
        else:
            rows = 0
            totals = None
            async for chunk in tk.stream_frames(db, select(BenchRow), chunk_size=chunk_size):
                part = _aggregate(chunk)
                totals = part if totals is None else totals.add(part, fill_value=0)
                rows += len(chunk)
        seconds = time.perf_counter() - start
        peak = _peak_kib()
    finally:
        await db.dispose()
    assert totals is not None
    return {
        "mode": mode,
        "rows": rows,
        "seconds": seconds,
        "baseline_kib": baseline,
        "peak_kib": peak,
        "frame_bytes": frame_bytes,
        "peak_reset": reset,
        "count": int(totals["count"].sum()),
    }


def measure_memory(url: str, mode: str, chunk_size: int = CHUNK) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.memory",
            "--url",
            url,
            "--mode",
            mode,
            "--chunk-size",
            str(chunk_size),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory child ({mode}) failed:\n{done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--chunk-size", type=int, default=CHUNK)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_child(args.url, args.mode, args.chunk_size))))


if __name__ == "__main__":
    main()
