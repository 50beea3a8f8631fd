"""The Markdown report: a table per dialect and section, then the issue's targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .harness import Timing
from .read import DRIVER_LIMIT
from .scaling import ScalePoint, spread

__all__ = ["Check", "DialectResults", "RunInfo", "checks", "render"]

MIB = 1024 * 1024


@dataclass
class DialectResults:
    dialect: str  # "sqlite" | "postgresql"
    label: str
    reads: dict[str, Timing] | None = None
    writes: dict[str, Timing] | None = None
    memory: dict[str, dict[str, Any]] | None = None
    scaling: list[ScalePoint] | None = None
    crud: dict[str, Timing] | None = None
    errors: list[str] = field(default_factory=list)
    section_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class RunInfo:
    rows: int
    repeats: int
    budget: float
    slow_rows: int | None
    started: str
    seconds: float = 0.0
    load_end: str = ""
    machine: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Check:
    name: str
    measured: str
    goal: str
    met: bool | None  # None: informational, or not measured


# -- formatting -------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _seconds(t: Timing) -> str:
    text = f"{t.seconds:.2f}"
    return f"≈ {text} †" if t.extrapolated else text


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _method_table(timings: dict[str, Timing]) -> str:
    driver = timings.get(DRIVER_LIMIT)
    base = driver.seconds if driver is not None and driver.ok else None
    rows = []
    for t in timings.values():
        if not t.ok:
            rows.append([t.label, "failed", str(len(t.runs)), "", t.error or "no run"])
            continue
        ratio = f"{t.seconds / base:.2f}x" if base else "n/a"
        runs = str(len(t.runs))
        span = f"{min(t.runs):.2f}-{max(t.runs):.2f}" if len(t.runs) > 1 else f"{t.runs[0]:.2f}"
        if t.extrapolated:
            runs += f" ({span} on {t.rows:,} rows)"
        elif len(t.runs) > 1:
            runs += f" ({span})"
        rows.append([t.label, _seconds(t), runs, f"{t.full_rows / t.seconds:,.0f}", ratio])
    table = _table(
        ["method", "seconds (median)", "runs (min-max s)", "rows/s", "x driver limit"], rows
    )
    subsets = {t.rows for t in timings.values() if t.extrapolated}
    if subsets:
        sizes = ", ".join(f"{s:,}" for s in sorted(subsets))
        table += (
            f"\n\n† extrapolated linearly from runs on the first {sizes} rows (the method is "
            "too slow to run at full size in a few minutes)."
        )
    return table


# -- targets ----------------------------------------------------------------------------


# (target, numerator, denominator, at most: None is informational), per dialect.
Ratio = tuple[str, str, str, float | None]
READ_TARGETS: dict[str, list[Ratio]] = {
    "postgresql": [
        ("read_frame / ConnectorX", "read_frame", "connectorx", 1.2),
        ("read_frame / pandas.read_sql", "read_frame", "pandas", 0.35),
        ("read_frame / asyncpg fetch path", "read_frame", DRIVER_LIMIT, 0.6),
        ("read_frame(SQL string) / read_frame(select)", "read_frame_sql", "read_frame", 1.1),
        (
            "read_frame(partition_on, 2) / ConnectorX unpartitioned",
            "read_frame_partitioned",
            "connectorx",
            0.8,
        ),
        (
            "read_frame(partition_on, 2) / ConnectorX partition_on 2",
            "read_frame_partitioned",
            "connectorx_partitioned",
            None,
        ),
    ],
    "sqlite": [
        ("read_frame / pandas.read_sql", "read_frame", "pandas", 0.75),
        ("read_frame / ConnectorX (how far from it)", "read_frame", "connectorx", None),
        ("read_frame(SQL string) / read_frame(select)", "read_frame_sql", "read_frame", 1.1),
        ("read_frame / pandas + ADBC", "read_frame", "pandas_adbc", 1.5),
        (
            "read_frame(partition_on, 2) / ConnectorX partition_on 2",
            "read_frame_partitioned",
            "connectorx_partitioned",
            None,
        ),
    ],
}
WRITE_TARGETS: dict[str, list[Ratio]] = {
    "postgresql": [
        ("insert_frame / copy_records_to_table", "insert_frame", DRIVER_LIMIT, 0.8),
        ("insert_frame / to_sql", "insert_frame", "to_sql", 0.15),
    ],
    "sqlite": [
        ("insert_frame / executemany", "insert_frame", DRIVER_LIMIT, 1.2),
        ("insert_frame / to_sql", "insert_frame", "to_sql", 0.35),
    ],
}
# Ratios of the crud section: at most (None: informational).
CRUD_TARGETS: list[Ratio] = [
    (
        "last page by cursor / by offset (cursor >= 20x faster)",
        "paginate_cursor",
        "paginate_offset",
        0.05,
    ),
    ("update_by / search + update_many", "update_by", "search_update_many", None),
]
STREAM_VS_READ = 1.3
#: select(Model) may differ from selecting its columns by at most this share.
MODEL_VS_COLUMNS = 0.10
STREAM_MEMORY_SHARE = 25.0  # percent of read_frame's peak
SCALING_SPREAD = 1.25


def _ratio(timings: dict[str, Timing] | None, a: str, b: str) -> float | None:
    if not timings or a not in timings or b not in timings:
        return None
    ta, tb = timings[a], timings[b]
    if not (ta.ok and tb.ok):
        return None
    return ta.seconds / tb.seconds


def _at_most(name: str, value: float | None, limit: float | None, unit: str = "x") -> Check:
    digits = 0 if unit == "%" else 2
    measured = "not measured" if value is None else f"{value:.{digits}f}{unit}"
    if limit is None:
        return Check(name, measured, "(informational)", None)
    met = None if value is None else value <= limit
    return Check(name, measured, f"<= {limit:g}{unit}", met)


def checks(results: list[DialectResults]) -> list[Check]:
    """The issue's targets, from this run's numbers."""
    out: list[Check] = []
    for r in results:
        tag = "PG" if r.dialect == "postgresql" else "SQLite"
        if r.reads is not None:
            for name, a, b, limit in READ_TARGETS[r.dialect]:
                out.append(_at_most(f"{tag} read: {name}", _ratio(r.reads, a, b), limit))
            ratio = _ratio(r.reads, "read_frame", "read_frame_columns")
            out.append(
                Check(
                    f"{tag} read: select(BenchRow) / explicit columns",
                    "not measured" if ratio is None else f"{ratio:.2f}x",
                    f"within {MODEL_VS_COLUMNS:.0%}",
                    None if ratio is None else abs(ratio - 1) <= MODEL_VS_COLUMNS,
                )
            )
            name = f"{tag} read: stream_frames (+concat) / read_frame"
            ratio = _ratio(r.reads, "stream_frames", "read_frame")
            out.append(_at_most(name, ratio, STREAM_VS_READ))
        if r.writes is not None:
            for name, a, b, limit in WRITE_TARGETS[r.dialect]:
                out.append(_at_most(f"{tag} write: {name}", _ratio(r.writes, a, b), limit))
        if r.crud is not None:
            for name, a, b, limit in CRUD_TARGETS:
                out.append(_at_most(f"{tag} crud: {name}", _ratio(r.crud, a, b), limit))
        if r.memory is not None:
            share = None
            full, streamed = r.memory.get("read_frame"), r.memory.get("stream_frames")
            if full and streamed:
                share = _delta_mib(streamed) / max(_delta_mib(full), 1e-9) * 100
            name = f"{tag} memory: stream_frames peak / read_frame peak"
            out.append(_at_most(name, share, STREAM_MEMORY_SHARE, "%"))
        for which, function in (("read", "read_frame"), ("insert", "insert_frame")):
            if r.scaling:
                name = f"{tag} scaling: {function} time per row, max / min"
                out.append(_at_most(name, spread(r.scaling, which), SCALING_SPREAD))
    return out


def _delta_mib(result: dict[str, Any]) -> float:
    return (int(result["peak_kib"]) - int(result["baseline_kib"])) / 1024


# -- the report -------------------------------------------------------------------------


def render(info: RunInfo, results: list[DialectResults]) -> str:
    parts = [
        "# toolkit benchmarks",
        "",
        f"{info.rows:,} rows of `BenchRow` (id + INTEGER, BIGINT, TEXT, NUMERIC(12,2), DOUBLE "
        "PRECISION, TIMESTAMP WITH TIME ZONE, BOOLEAN, nullable TEXT ~30% NULL). "
        f"Median of {info.repeats} runs for the toolkit's functions; other methods stop "
        f"repeating once their runs pass {info.budget:g} s (see the runs column).",
        "",
        f"Run started {info.started}; the whole run took **{_duration(info.seconds)}**. "
        f"Load average at the end: {info.load_end} (at the start: see Machine). Other work "
        "may have been running on this machine, so absolute times are noisy; the ratios "
        "within one run are the point.",
    ]
    for r in results:
        parts += ["", f"## {r.label}"]
        if r.section_seconds:
            took = ", ".join(f"{k} {_duration(v)}" for k, v in r.section_seconds.items())
            parts += ["", f"Sections took: {took}."]
        for error in r.errors:
            parts += ["", f"**Error:** {error}"]
        if r.reads is not None:
            parts += [
                "",
                f"### Read {info.rows:,} rows into a DataFrame",
                "",
                _method_table(r.reads),
            ]
        if r.writes is not None:
            parts += ["", f"### Write a {info.rows:,}-row DataFrame", "", _method_table(r.writes)]
        if r.crud is not None:
            parts += ["", f"### CRUD on the {info.rows:,}-row table", "", _method_table(r.crud)]
    memory_rows = []
    for r in results:
        if not r.memory:
            continue
        full = r.memory.get("read_frame")
        for mode, result in r.memory.items():
            delta = _delta_mib(result)
            share = (
                f"{delta / _delta_mib(full) * 100:.0f}%" if full and _delta_mib(full) > 0 else ""
            )
            frame = f"{result['frame_bytes'] / MIB:,.0f}" if result.get("frame_bytes") else ""
            memory_rows.append(
                [
                    r.label,
                    mode,
                    f"{delta:,.0f}",
                    share,
                    frame,
                    f"{result['seconds']:.2f}",
                    f"{result['baseline_kib'] / 1024:,.0f}",
                ]
            )
    if memory_rows:
        parts += [
            "",
            "## Peak memory: read_frame vs stream_frames (50,000-row chunks, each aggregated)",
            "",
            _table(
                [
                    "database",
                    "method",
                    "peak RSS above baseline (MiB)",
                    "of read_frame's",
                    "frame size (MiB)",
                    "seconds",
                    "baseline RSS (MiB)",
                ],
                memory_rows,
                "llrrrrr",
            ),
            "",
            "Each in a fresh process: the peak RSS during the read minus the RSS before it "
            "(after imports, connecting, a 1,000-row warm-up read, `malloc_trim` and a reset of "
            "the peak through `/proc/self/clear_refs`); see `benchmarks/memory.py`.",
        ]
    scaling_rows = []
    for r in results:
        for point in r.scaling or []:
            for which, name in (("insert", "insert_frame"), ("read", "read_frame")):
                runs = point.insert if which == "insert" else point.read
                med = sorted(runs)[len(runs) // 2]
                scaling_rows.append(
                    [
                        r.label,
                        name,
                        f"{point.rows:,}",
                        f"{med:.2f}",
                        f"{point.per_row_us(which):.2f}",
                    ]
                )
        if r.scaling:
            for which, name in (("insert", "insert_frame"), ("read", "read_frame")):
                scaling_rows.append(
                    [
                        r.label,
                        name,
                        "spread (max/min per row)",
                        "",
                        f"{spread(r.scaling, which):.2f}x",
                    ]
                )
    if scaling_rows:
        parts += [
            "",
            "## Scaling",
            "",
            _table(
                ["database", "function", "rows", "seconds (median)", "µs per row"],
                scaling_rows,
                "lllrr",
            ),
            "",
            "Measured here: empty the table, insert_frame the first k rows, settle the table "
            "as after a load (untimed), read_frame them back."
            + (
                " The largest size reuses the runs of the read and write sections (the same "
                "calls on the same table)."
                if any(p.reused for r in results for p in r.scaling or [])
                else ""
            ),
        ]
    found = checks(results)
    if found:
        rows = [
            [
                c.name,
                c.measured,
                c.goal,
                "n/a" if c.met is None else ("met" if c.met else "**not met**"),
            ]
            for c in found
        ]
        parts += [
            "",
            "## Targets",
            "",
            _table(["target", "measured", "goal", "status"], rows, "lrrl"),
        ]
    if info.machine:
        parts += ["", "## Machine", "", _table(["", ""], [[k, v] for k, v in info.machine], "ll")]
    parts += ["", NOTES]
    return "\n".join(parts) + "\n"


NOTES = """## How to read this

- *driver limit*: the raw driver with no typing work beyond what pandas does by itself
  (PostgreSQL: asyncpg `fetch` / `copy_records_to_table`; SQLite: sqlite3 `fetchall` /
  `executemany` in one transaction). Ratios in the tables are to it.
- The readers do not all return the same dtypes: `read_frame` and `stream_frames` give
  nullable, exact dtypes (`Int64`, `decimal128(12, 2)[pyarrow]`, `datetime64[us, UTC]`,
  `string`); pandas.read_sql on sqlite3 leaves timestamps as text and booleans as 0/1;
  the asyncpg and ORM paths hold NUMERIC as `Decimal` objects; ConnectorX returns naive
  timestamps and `object` text; polars returns a polars DataFrame; the COPY+read_csv
  reference lets Arrow infer types.
- Writers start from the same frame; each includes the conversions it needs (see
  `benchmarks/write.py`). `insert_frame` validates every cell first.
- Reproduce: `make bench` (1,000,000 rows, 3 repeats) or
  `.venv/bin/python -m benchmarks --rows 100000 --repeats 1`; `--help` lists the options."""
