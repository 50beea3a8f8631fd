"""compare_loading: exact, dialect-independent query counts per loading strategy."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

import toolkit as tk
from toolkit import demo
from toolkit.demo.sample import DATA_DIR

STRATEGIES = [
    "lazy (awaitable_attrs)",
    "selectinload",
    "joinedload",
    "subqueryload",
    "joinedload+selectinload",
]


def chunks(n: int) -> int:
    """SELECT ... IN queries selectinload needs for n parent keys (500 per query)."""
    return -(-n // 500)


def expected(folder: Path) -> tuple[dict[str, int], int]:
    """Query count per strategy and posts reached, computed from the CSV files."""
    with (folder / "teams.csv").open(encoding="utf-8") as handle:
        teams = len(list(csv.DictReader(handle)))
    with (folder / "users.csv").open(encoding="utf-8") as handle:
        members = {row["id"] for row in csv.DictReader(handle) if row["team_id"]}
    with (folder / "posts.csv").open(encoding="utf-8") as handle:
        reached = sum(1 for row in csv.DictReader(handle) if row["author_id"] in members)
    queries = {
        # the teams, then each team's members, then each member's posts
        "lazy (awaitable_attrs)": 1 + teams + len(members),
        "selectinload": 1 + chunks(teams) + chunks(len(members)),
        "joinedload": 1,
        "subqueryload": 3,
        "joinedload+selectinload": 1 + chunks(len(members)),
    }
    return queries, reached


async def test_committed_sample_counts(db: tk.Database) -> None:
    await demo.load_sample(db)
    frame = await demo.compare_loading(db)
    queries, reached = expected(DATA_DIR)
    assert list(frame.columns) == ["strategy", "queries", "rows", "seconds"]
    assert list(frame["strategy"]) == STRATEGIES
    assert dict(zip(frame["strategy"], frame["queries"], strict=True)) == queries
    # The numbers the README and the notebooks quote.
    assert queries == {
        "lazy (awaitable_attrs)": 570,
        "selectinload": 4,
        "joinedload": 1,
        "subqueryload": 3,
        "joinedload+selectinload": 3,
    }
    assert set(frame["rows"]) == {reached} == {2156}
    assert (frame["seconds"] > 0).all()
    assert frame["queries"].dtype.kind == "i" and frame["rows"].dtype.kind == "i"


async def test_counts_follow_the_data(db: tk.Database, tmp_path: Path) -> None:
    # More teams than users: some teams have no members and still cost a lazy query.
    demo.write_sample_csv(tmp_path, seed=5, teams=30, users=25, posts=60, comments=10)
    await demo.load_sample(db, tmp_path)
    frame = await demo.compare_loading(db)
    queries, reached = expected(tmp_path)
    assert dict(zip(frame["strategy"], frame["queries"], strict=True)) == queries
    assert set(frame["rows"]) == {reached}


async def test_repeated_runs_count_the_same(db: tk.Database, tmp_path: Path) -> None:
    demo.write_sample_csv(tmp_path, seed=2, teams=4, users=30, posts=50, comments=0)
    await demo.load_sample(db, tmp_path)
    first = await demo.compare_loading(db)
    second = await demo.compare_loading(db)
    assert first[["strategy", "queries", "rows"]].equals(second[["strategy", "queries", "rows"]])


def frame_of(rows: list[tuple[str, int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["strategy", "queries", "rows", "seconds"])


def test_summary_names_the_n_plus_one_and_the_fastest() -> None:
    frame = frame_of(
        [
            ("lazy (awaitable_attrs)", 570, 2156, 0.9),
            ("selectinload", 4, 2156, 0.05),
            ("joinedload", 1, 2156, 0.1),
            ("subqueryload", 3, 2156, 0.06),
            ("joinedload+selectinload", 3, 2156, 0.07),
        ]
    )
    summary = demo.loading_summary(frame)
    lines = summary.splitlines()
    assert lines[0] == "Every strategy reached the same 2,156 posts."
    assert "lazy (awaitable_attrs) sent 570 queries" in lines[1] and "N+1" in lines[1]
    assert lines[2].startswith("The other strategies needed 1 to 4: joinedload 1,")
    assert lines[3] == (
        "Fastest: selectinload (0.050 s), 18.0x faster than lazy (awaitable_attrs) (0.900 s)."
    )


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([], "No strategies were measured."),
        ([("joinedload", 1, 10, 0.1), ("selectinload", 3, 9, 0.1)], "disagree"),
    ],
    ids=["empty", "rows-disagree"],
)
def test_summary_edge_cases(rows: list[tuple[str, int, int, float]], needle: str) -> None:
    assert needle in demo.loading_summary(frame_of(rows))
