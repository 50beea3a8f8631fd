"""``python -m benchmarks``: run the sections asked for and write the Markdown report."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import pandas as pd
from sqlalchemy.exc import SAWarning

from .crud import crud_methods
from .data import make_frame, targets
from .harness import Bench, log, machine, run_methods
from .memory import MODES, measure_memory
from .read import polars_engine, read_methods
from .report import DialectResults, RunInfo, render
from .scaling import ScalePoint, run_scaling
from .write import driver_write, write_methods

# memory and crud use the table read loaded (crud before write, which empties it)
SECTIONS = ("read", "memory", "crud", "write", "scaling")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Side-by-side benchmarks of read_frame / stream_frames / insert_frame.",
    )
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows in the table (default 1,000,000)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per method; the median is reported"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run only this section (repeatable); default: all",
    )
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--skip-slow", action="store_true", help="leave out the naive ORM and to_sql(multi)"
    )
    parser.add_argument(
        "--slow-rows",
        type=int,
        default=25_000,
        help="rows the slow methods run on before linear extrapolation (default 25,000)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="seconds after which a method other than the toolkit's is not repeated (default 10)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"report file (default {RESULTS})"
    )
    args = parser.parse_args(argv)
    if args.rows < 10 or args.repeats < 1:
        parser.error("--rows must be at least 10 and --repeats at least 1")
    return args


def _read(bench: Bench, frame: pd.DataFrame, args: argparse.Namespace, out: DialectResults) -> None:
    engine = polars_engine(bench)
    try:
        methods = read_methods(bench, len(frame), slow_rows=_slow_rows(args), engine=engine)
        out.reads = run_methods(
            f"{bench.dialect} read", methods, repeats=args.repeats, budget=args.budget
        )
    finally:
        bench.run(engine.dispose())


def _memory(
    bench: Bench, frame: pd.DataFrame, args: argparse.Namespace, out: DialectResults
) -> None:
    out.memory = {}
    for mode in MODES:
        log(f"  [{bench.dialect} memory] {mode} in a fresh process")
        try:
            result = measure_memory(bench.target.toolkit_url, mode)
            if result["rows"] != len(frame):
                raise RuntimeError(f"read {result['rows']} rows, expected {len(frame)}")
            out.memory[mode] = result
        except Exception as exc:
            out.errors.append(f"memory {mode}: {exc}")
            log(f"  [{bench.dialect} memory] {mode}: FAILED {exc}")


def _crud(bench: Bench, frame: pd.DataFrame, args: argparse.Namespace, out: DialectResults) -> None:
    methods = crud_methods(bench, len(frame))
    out.crud = run_methods(
        f"{bench.dialect} crud", methods, repeats=args.repeats, budget=args.budget
    )


def _write(
    bench: Bench, frame: pd.DataFrame, args: argparse.Namespace, out: DialectResults
) -> None:
    methods = write_methods(bench, frame, slow_rows=_slow_rows(args))
    out.writes = run_methods(
        f"{bench.dialect} write", methods, repeats=args.repeats, budget=args.budget
    )


def _scaling(
    bench: Bench, frame: pd.DataFrame, args: argparse.Namespace, out: DialectResults
) -> None:
    full = None
    read, insert = (out.reads or {}).get("read_frame"), (out.writes or {}).get("insert_frame")
    if read is not None and insert is not None and read.ok and insert.ok:
        full = ScalePoint(len(frame), list(insert.runs), list(read.runs), reused=True)
    out.scaling = run_scaling(bench, frame, repeats=args.repeats, full=full)


SECTION_RUNNERS = {
    "read": _read,
    "memory": _memory,
    "crud": _crud,
    "write": _write,
    "scaling": _scaling,
}


def _slow_rows(args: argparse.Namespace) -> int | None:
    return None if args.skip_slow else args.slow_rows


def _run_dialect(
    bench: Bench, frame: pd.DataFrame, args: argparse.Namespace, out: DialectResults
) -> None:
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    bench.create_table()
    if {"read", "memory", "crud"} & set(sections):
        log(f"[{bench.dialect}] loading {len(frame):,} rows")
        driver_write(bench, frame)
        bench.settle()
        if bench.count() != len(frame):
            raise RuntimeError(f"loaded {bench.count()} rows, not {len(frame)}")
    for section in sections:
        start = time.perf_counter()
        SECTION_RUNNERS[section](bench, frame, args, out)
        out.section_seconds[section] = time.perf_counter() - start
        log(f"[{bench.dialect}] {section} took {out.section_seconds[section]:.0f} s")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    warnings.filterwarnings("ignore", category=SAWarning, message=".*Decimal objects natively.*")
    os.environ.setdefault("CI", "1")  # no progress bars from the toolkit in this output
    start = time.perf_counter()
    info = RunInfo(
        rows=args.rows,
        repeats=args.repeats,
        budget=args.budget,
        slow_rows=None if args.skip_slow else args.slow_rows,
        started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    load_start = os.getloadavg()
    log(f"generating {args.rows:,} rows")
    frame = make_frame(args.rows)
    dialects = ["sqlite", "postgresql"] if args.dialect == "both" else [args.dialect]
    results: list[DialectResults] = []
    versions: dict[str, str] = {}
    with targets(dialects) as found, asyncio.Runner() as runner:
        for target in found:
            result = DialectResults(target.dialect, target.label)
            results.append(result)
            bench = None
            try:
                bench = Bench(target, runner)
                if target.dialect == "postgresql":  # SQLite's version is listed anyway
                    versions[target.label] = bench.server_version()
                _run_dialect(bench, frame, args, result)
            except Exception as exc:
                result.errors.append(f"{type(exc).__name__}: {exc}")
                log(traceback.format_exc())
            finally:
                if bench is not None:
                    bench.drop_table()
                    bench.close()
    info.seconds = time.perf_counter() - start
    info.load_end = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    info.machine = machine(versions, load_start)
    report = render(info, results)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    log(f"wrote {args.output} (took {info.seconds:.0f} s)")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
