"""Large data: streaming 2,000,000 rows in bounded memory, inserting 1,000,000 rows.

Memory is measured in a subprocess (``memory_probe.py``): the peak RSS is a figure of
the whole process, so the test runner's own allocations must stay out of it.

The probe runs with Arrow's ``system`` allocator (``ARROW_DEFAULT_MEMORY_POOL``). With
pyarrow's default pool (mimalloc on this platform) the streamed figure on PostgreSQL
drifts between 63 and 103 MiB from run to run: the pool keeps freed chunks mapped. That
overhead is flat (75 MiB at 8 million rows, 68 at 1 million), so it is the allocator's
cache, not rows the toolkit holds; with the system (or jemalloc) allocator the same
stream measures a steady ~30 MiB, which is what the bound below checks.

Peak RSS growth over a warmed-up baseline, 4-column ``reliability_big`` table, measured
on the development machine (2 CPUs, Python 3.11, pyarrow 26, system allocator):

==========  ==================================  ===========================
dialect     stream_frames, 50,000-row chunks    read_frame (whole result)
==========  ==================================  ===========================
SQLite      17 MiB                              185-187 MiB
PostgreSQL  30-33 MiB                           222-225 MiB
==========  ==================================  ===========================

(SQLite fetches and converts 5,000 rows at a time, in a stream and in read_frame alike;
before that, 36-38 and 577 MiB.) Hence the bound: :data:`STREAM_BOUND_MIB` = 64 MiB,
about 2x the worst streamed figure and under a third of either read_frame figure; and
streaming must always take less than reading the same result whole.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlmodel import select

import toolkit as tk

from ..conftest import DIALECTS, PG_URL, require_postgres
from ..frame_models import AllTypes
from .support import row_count

pytestmark = pytest.mark.slow

PROBE = Path(__file__).with_name("memory_probe.py")
PROJECT = Path(__file__).parents[2]
STREAM_ROWS = 2_000_000
#: sum(g * 0.5 for g in 1..2,000,000): every row was seen exactly once.
STREAM_CHECKSUM = 0.5 * STREAM_ROWS * (STREAM_ROWS + 1) / 2
STREAM_BOUND_MIB = 64
INSERT_ROWS = 1_000_000


def probe(action: str, target: tuple[str, str | None]) -> dict[str, Any]:
    """Run ``memory_probe.py ACTION URL [SCHEMA]`` and return its JSON result."""
    url, schema = target
    args = [sys.executable, str(PROBE), action, url, *([schema] if schema else [])]
    done = subprocess.run(
        args,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        # No progress bars; Arrow's system allocator (see the module docstring).
        env={**os.environ, "CI": "true", "ARROW_DEFAULT_MEMORY_POOL": "system"},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module", params=DIALECTS)
def big_table(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str | None]]:
    """(url, schema) of a database holding ``reliability_big`` with 2,000,000 rows,
    filled once per module and dialect by server-side SQL."""
    if request.param == "postgresql":
        require_postgres()
        target: tuple[str, str | None] = (PG_URL, request.getfixturevalue("pg_schema"))
    else:
        target = (str(tmp_path_factory.mktemp("big") / "big.db"), None)
    assert probe("fill", target) == {"rows": STREAM_ROWS}
    yield target


def test_stream_frames_memory_is_bounded(
    big_table: tuple[str, str | None], record_property: Any
) -> None:
    """stream_frames over 2,000,000 rows with a per-chunk aggregation sees every row once
    and grows the process by less than STREAM_BOUND_MIB, less than read_frame does."""
    streamed = probe("stream", big_table)
    whole = probe("read", big_table)
    record_property("stream_frames", streamed)
    record_property("read_frame", whole)
    print(f"stream_frames: {streamed}\nread_frame:    {whole}")
    for result in (streamed, whole):
        assert result["rows"] == STREAM_ROWS
        assert result["checksum"] == STREAM_CHECKSUM
    assert streamed["peak_delta_mib"] < STREAM_BOUND_MIB
    assert streamed["peak_delta_mib"] < whole["peak_delta_mib"]


def million_rows() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    k = np.arange(INSERT_ROWS)
    return pd.DataFrame(
        {
            "i": k.astype("int64"),
            "big": rng.integers(-(2**62), 2**62, INSERT_ROWS),
            "f": rng.normal(size=INSERT_ROWS),
            "t": pd.Series([f"row {j}" for j in k], dtype="string[pyarrow]"),
            "b": k % 2 == 0,
            "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(k, unit="s"),
        }
    )


async def test_insert_frame_of_a_million_rows(db: tk.Database) -> None:
    """insert_frame writes 1,000,000 rows of six column kinds; the count and the sums
    read back match the frame."""
    frame = million_rows()
    assert await tk.insert_frame(db, AllTypes, frame, progress=False) == INSERT_ROWS
    assert await row_count(db, "test_all_types") == INSERT_ROWS
    sums = await tk.read_frame(
        db, "SELECT sum(i) AS i, count(DISTINCT t) AS t, max(ts) AS ts FROM test_all_types"
    )
    assert int(sums.loc[0, "i"]) == int(frame["i"].sum())
    assert int(sums.loc[0, "t"]) == INSERT_ROWS
    sample = await tk.read_frame(
        db, select(AllTypes.i, AllTypes.big, AllTypes.ts).where(AllTypes.i == 765_432)
    )
    assert sample.loc[0, "big"] == frame.loc[765_432, "big"]
    assert sample.loc[0, "ts"] == frame.loc[765_432, "ts"]
