"""Scaling: insert_frame and read_frame at N/10, 3N/10 and N rows (100k, 300k and 1M).

At each size and repeat the table is emptied, ``insert_frame`` writes the first k rows
of the frame, the table is settled as after the read section's load (VACUUM ANALYZE /
WAL checkpoint, untimed) and ``read_frame(db, select(BenchRow))`` reads them back. The
N-row point reuses the runs of the read and write sections when they ran, which
measured the same calls on the same table. Time per row should not grow with k: the
spread is the largest per-row time over the smallest.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field

import pandas as pd
from sqlmodel import select

import toolkit as tk

from .data import BenchRow
from .harness import Bench, log

__all__ = ["ScalePoint", "run_scaling", "scaling_sizes", "spread"]

FRACTIONS = (0.1, 0.3, 1.0)


@dataclass
class ScalePoint:
    rows: int
    insert: list[float] = field(default_factory=list)
    read: list[float] = field(default_factory=list)
    reused: bool = False  # taken from the read and write sections

    def per_row_us(self, which: str) -> float:
        runs = self.insert if which == "insert" else self.read
        return statistics.median(runs) / self.rows * 1e6


def scaling_sizes(rows: int) -> list[int]:
    return sorted({max(1, round(rows * f)) for f in FRACTIONS})


def spread(points: list[ScalePoint], which: str) -> float:
    per_row = [p.per_row_us(which) for p in points]
    return max(per_row) / min(per_row)


def run_scaling(
    bench: Bench, frame: pd.DataFrame, *, repeats: int, full: ScalePoint | None = None
) -> list[ScalePoint]:
    """Time the sizes; ``full``, when given, is the N-row point already measured."""
    points = []
    for rows in scaling_sizes(len(frame)):
        if full is not None and rows == full.rows:
            points.append(full)
            continue
        part = frame.iloc[:rows]
        point = ScalePoint(rows)
        for round_no in range(repeats):
            bench.truncate()
            gc.collect()
            start = time.perf_counter()
            bench.run(tk.insert_frame(bench.db, BenchRow, part, progress=False))
            point.insert.append(time.perf_counter() - start)
            if bench.count() != rows:
                raise RuntimeError(f"insert_frame wrote {bench.count()} rows, not {rows}")
            bench.settle()
            gc.collect()
            start = time.perf_counter()
            got = len(bench.run(tk.read_frame(bench.db, select(BenchRow))))
            point.read.append(time.perf_counter() - start)
            if got != rows:
                raise RuntimeError(f"read_frame returned {got} rows, not {rows}")
            log(
                f"  [{bench.dialect} scaling] {rows:,} rows, run {round_no + 1}: insert "
                f"{point.insert[-1]:.2f} s, read {point.read[-1]:.2f} s"
            )
        points.append(point)
    return points
