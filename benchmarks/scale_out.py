"""``python -m benchmarks.scale_out`` (``make bench-scale``): cost growth and Dask.

Kept out of ``make bench`` (which stays about ten minutes): at each size (default 1M,
3M and 10M rows) and on each dialect, ``insert_frame``, ``read_frame`` and
``stream_frames`` are timed and reported per row; the spread (largest per-row time over
the smallest) should stay within 1.25. Then, at the first size, on a ``LocalCluster``
of worker processes, ``tk.read_dask(...).compute()`` is timed against
``dask.dataframe.read_sql_query(...).compute()`` on the same cluster and table.

Each size needs the frame in memory (about 1 GiB at 10M rows) and the table on disk
(about 1.5 GiB per dialect at 10M rows); ``--sizes`` takes smaller ones.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
from sqlmodel import select

import toolkit as tk

from .data import TABLE, BenchRow, make_frame, targets
from .harness import Bench, log

RESULTS = Path(__file__).resolve().parent / "results" / "scale.md"
SPREAD_LIMIT = 1.25
NPARTITIONS = 4


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_out")
    parser.add_argument(
        "--sizes",
        default="1000000,3000000,10000000",
        help="comma-separated row counts (default 1M, 3M, 10M)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per size (median)")
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--no-dask", action="store_true", help="leave out the Dask comparison")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def _timed(bench: Bench, coro: object) -> float:
    gc.collect()
    start = time.perf_counter()
    bench.run(coro)  # type: ignore[arg-type]
    return time.perf_counter() - start


async def _stream(db: tk.Database) -> int:
    rows = 0
    async for chunk in tk.stream_frames(db, select(BenchRow), chunk_size=50_000):
        rows += len(chunk)
    return rows


def _growth(bench: Bench, frame: pd.DataFrame, sizes: list[int], repeats: int) -> list[str]:
    lines = []
    per_row: dict[str, list[float]] = {"insert_frame": [], "read_frame": [], "stream_frames": []}
    for rows in sizes:
        part = frame.iloc[:rows]
        runs: dict[str, list[float]] = {k: [] for k in per_row}
        for _ in range(repeats):
            bench.truncate()
            runs["insert_frame"].append(
                _timed(bench, tk.insert_frame(bench.db, BenchRow, part, progress=False))
            )
            bench.settle()
            runs["read_frame"].append(_timed(bench, tk.read_frame(bench.db, select(BenchRow))))
            runs["stream_frames"].append(_timed(bench, _stream(bench.db)))
        cells = []
        for key, times in runs.items():
            us = statistics.median(times) / rows * 1e6
            per_row[key].append(us)
            cells.append(f"{statistics.median(times):.2f} s ({us:.2f} us/row)")
        log(f"  [{bench.dialect}] {rows:,} rows: " + ", ".join(cells))
        lines.append(f"| {rows:,} | " + " | ".join(cells) + " |")
    spreads = [f"{max(v) / min(v):.2f}" for v in per_row.values()]
    lines.append(
        f"| spread (max/min per row; goal <= {SPREAD_LIMIT}) | " + " | ".join(spreads) + " |"
    )
    return lines


def _dask(bench: Bench, rows: int) -> list[str]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    lines = []
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        # Workers import the toolkit (and its drivers) once, before the clock starts;
        # dask's reader imports SQLAlchemy and pandas alike.
        client.run(importlib.import_module, "toolkit.frames")
        client.run(importlib.import_module, "dask.dataframe.io.sql")
        gc.collect()
        start = time.perf_counter()
        ddf = bench.run(
            tk.read_dask(bench.db, select(BenchRow), partition_on="id", npartitions=NPARTITIONS)
        )
        got = len(ddf.compute())
        ours = time.perf_counter() - start
        theirs_ddf = dd.read_sql_query(
            select(BenchRow.__table__),  # type: ignore[attr-defined]
            bench.target.sync_url,
            index_col="id",
            npartitions=NPARTITIONS,
        )
        start = time.perf_counter()
        theirs_rows = len(theirs_ddf.compute())
        theirs = time.perf_counter() - start
        if got != rows or theirs_rows != rows:
            raise RuntimeError(f"read {got} and {theirs_rows} rows, not {rows}")
    lines.append(f"| {bench.target.label} | {ours:.2f} s | {theirs:.2f} s | {ours / theirs:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    log(f"generating {sizes[-1]:,} rows")
    frame = make_frame(sizes[-1])
    dialects = ["sqlite", "postgresql"] if args.dialect == "both" else [args.dialect]
    report = [
        "# toolkit scale benchmarks",
        "",
        f"`BenchRow` ({TABLE}); median of {args.repeats} run(s) per size.",
        "",
    ]
    dask_rows: list[str] = []
    with targets(dialects) as found, asyncio.Runner() as runner:
        for target in found:
            bench = Bench(target, runner)
            try:
                bench.create_table()
                report += [
                    f"## {target.label}: time per row",
                    "",
                    "| rows | insert_frame | read_frame | stream_frames |",
                    "| ---: | ---: | ---: | ---: |",
                    *_growth(bench, frame, sizes, args.repeats),
                    "",
                ]
                if not args.no_dask:
                    bench.truncate()
                    bench.run(
                        tk.insert_frame(bench.db, BenchRow, frame.iloc[: sizes[0]], progress=False)
                    )
                    bench.settle()
                    dask_rows += _dask(bench, sizes[0])
            finally:
                bench.drop_table()
                bench.close()
    if dask_rows:
        report += [
            f"## Dask: {sizes[0]:,} rows, {NPARTITIONS} partitions, LocalCluster of 2 worker "
            "processes",
            "",
            "| database | tk.read_dask().compute() | dd.read_sql_query().compute() | ratio |",
            "| :--- | ---: | ---: | ---: |",
            *dask_rows,
            "",
        ]
    text = "\n".join(report)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
