"""Timing, the per-database connections every contender uses, and the machine's description.

Methods of a section run round-robin (run 1 of every method, then run 2 of every
method, ...), so that drifting load on the machine spreads over all of them instead of
landing on one; each round starts one method later. A method other than the toolkit's
stops repeating once its runs add up to the time budget: its median is then over fewer
runs, and the table says how many.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

import toolkit as tk

from .data import TABLE, BenchRow, Target

__all__ = ["Bench", "Method", "SelfTimed", "Timing", "log", "machine", "run_methods"]

T = TypeVar("T")


def log(message: str) -> None:
    """Progress goes to stderr; the report alone goes to stdout."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class SelfTimed:
    """What a method returns when it timed the work itself (in a child process)."""

    rows: int
    seconds: float


@dataclass
class Method:
    """One contender in a section.

    ``run`` does the timed work and returns the rows it read (or None, or ``SelfTimed``
    when it timed the work itself). ``before`` runs untimed first (e.g. emptying the
    table); ``check``, when given, runs untimed after and returns the rows the table
    holds. Either count must equal ``rows``. ``warmup`` runs once, untimed, before the
    first round: a small read that opens pools and does the method's lazy imports.
    """

    key: str
    label: str
    run: Callable[[], int | SelfTimed | None]
    rows: int
    full_rows: int
    before: Callable[[], None] | None = None
    check: Callable[[], int] | None = None
    warmup: Callable[[], object] | None = None
    core: bool = False  # the toolkit's own: always run ``repeats`` times

    @property
    def extrapolated(self) -> bool:
        return self.rows != self.full_rows


@dataclass
class Timing:
    """The runs of one method; ``seconds`` is scaled to ``full_rows`` when extrapolated."""

    key: str
    label: str
    rows: int
    full_rows: int
    runs: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def measured(self) -> float:
        return statistics.median(self.runs)

    @property
    def seconds(self) -> float:
        return self.measured * self.full_rows / self.rows

    @property
    def extrapolated(self) -> bool:
        return self.rows != self.full_rows

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.runs)


def run_methods(
    section: str, methods: list[Method], *, repeats: int, budget: float
) -> dict[str, Timing]:
    """Time every method ``repeats`` times, round-robin, within ``budget`` seconds each.

    The toolkit's methods (``core``) ignore the budget: the targets are about them.
    A method that fails is reported with its error and not run again; the others go on.
    """
    timings = {m.key: Timing(m.key, m.label, m.rows, m.full_rows) for m in methods}
    for method in methods:
        if method.warmup is not None:
            try:
                method.warmup()
            except Exception as exc:
                timings[method.key].error = f"warm-up failed: {type(exc).__name__}: {exc}"
                log(f"  [{section}] {method.label}: FAILED {timings[method.key].error}")
    for round_no in range(repeats):
        # Each round starts one method later, so no method always runs first.
        shift = round_no % len(methods)
        for method in methods[shift:] + methods[:shift]:
            timing = timings[method.key]
            over_budget = not method.core and sum(timing.runs) >= budget
            if timing.error is not None or (round_no and over_budget):
                continue
            try:
                if method.before is not None:
                    method.before()
                gc.collect()
                start = time.perf_counter()
                outcome = method.run()
                elapsed = time.perf_counter() - start
                rows = outcome
                if isinstance(outcome, SelfTimed):
                    rows, elapsed = outcome.rows, outcome.seconds
                if method.check is not None:
                    rows = method.check()
            except Exception as exc:
                timing.error = f"{type(exc).__name__}: {exc}"
                log(f"  [{section}] {method.label}: FAILED {timing.error}")
                continue
            finally:
                gc.collect()
            if rows is not None and rows != method.rows:
                timing.error = f"produced {rows} rows, expected {method.rows}"
                log(f"  [{section}] {method.label}: {timing.error}")
                continue
            timing.runs.append(elapsed)
            log(f"  [{section}] {method.label}: run {round_no + 1}: {elapsed:.2f} s")
    return timings


class Bench:
    """Everything that talks to one target database, opened once and reused.

    An event loop (``asyncio.Runner``) runs the async contenders; the sync contenders
    (pandas, ConnectorX, polars) run outside it, as in a script.
    """

    def __init__(self, target: Target, runner: asyncio.Runner) -> None:
        self.target = target
        self._runner = runner
        self.db = tk.connect(target.toolkit_url)
        self.sync_engine = _sync_engine(target)
        self.apg: asyncpg.Connection | None = None
        self.sqlite: sqlite3.Connection | None = None
        if target.dialect == "postgresql":
            self.apg = self.run(asyncpg.connect(target.cx_url))
        else:
            self.sqlite = target.sqlite3_connect()

    @property
    def dialect(self) -> str:
        return self.target.dialect

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def create_table(self) -> None:
        self.run(self.db.drop_all(BenchRow))
        self.run(self.db.create_all(BenchRow))

    def truncate(self) -> None:
        if self.apg is not None:
            self.run(self.apg.execute(f"TRUNCATE {TABLE} RESTART IDENTITY"))
        else:
            assert self.sqlite is not None
            self.sqlite.execute(f"DELETE FROM {TABLE}")
            self.sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def count(self) -> int:
        if self.apg is not None:
            return int(self.run(self.apg.fetchval(f"SELECT count(*) FROM {TABLE}")))
        assert self.sqlite is not None
        return int(self.sqlite.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0])

    def settle(self) -> None:
        """After a bulk load: set hint bits and statistics (PG), fold the WAL in (SQLite)."""
        if self.apg is not None:
            self.run(self.apg.execute(f"VACUUM ANALYZE {TABLE}"))
        else:
            assert self.sqlite is not None
            self.sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def drop_table(self) -> None:
        self.run(self.db.drop_all(BenchRow))

    def server_version(self) -> str:
        if self.apg is not None:
            return str(self.run(self.apg.fetchval("SHOW server_version")))
        return f"SQLite {sqlite3.sqlite_version}"

    def close(self) -> None:
        if self.apg is not None:
            self.run(self.apg.close())
        if self.sqlite is not None:
            self.sqlite.close()
        self.sync_engine.dispose()
        self.run(self.db.dispose())


def _sync_engine(target: Target) -> Engine:
    engine = create_engine(target.sync_url)
    if target.dialect == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # The toolkit's own setting, so that only the code path differs.
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    return engine


# -- the machine --------------------------------------------------------------------------

PACKAGES = [
    "toolkit",
    "sqlalchemy",
    "sqlmodel",
    "pydantic",
    "asyncpg",
    "aiosqlite",
    "psycopg2-binary",
    "pandas",
    "numpy",
    "pyarrow",
    "polars",
    "connectorx",
]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine(server_versions: dict[str, str], load: tuple[float, ...]) -> list[tuple[str, str]]:
    """(item, value) rows describing where the numbers come from; ``load``: at the start."""
    rows = [
        ("CPU", _cpu_model()),
        ("cores", str(os.cpu_count())),
        ("RAM", _memory_gib()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("load average at start (1/5/15 min)", " / ".join(f"{x:.2f}" for x in load)),
    ]
    for dialect, version in server_versions.items():
        rows.append((f"{dialect} server", version))
    rows.append(("SQLite library", sqlite3.sqlite_version))
    for name in PACKAGES:
        try:
            rows.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return rows
