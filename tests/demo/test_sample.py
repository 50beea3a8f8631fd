"""The sample data set: a deterministic generator, consistent files, an idempotent loader."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import func, select

import toolkit as tk
from toolkit import crud, demo
from toolkit.demo import Comment, Post, Team, User
from toolkit.demo.sample import DATA_DIR, SAMPLE_FILES

SMALL = {"teams": 3, "users": 20, "posts": 50, "comments": 80}
DEFAULTS = {"teams": 24, "users": 600, "posts": 2400, "comments": 6000}
MODELS = [Team, User, Post, Comment]


def read(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


async def table_counts(db: tk.Database) -> dict[str, int]:
    async with db.session() as s:
        return {
            m.__tablename__: (await s.exec(select(func.count()).select_from(m))).one()
            for m in MODELS
        }


# -- generator ----------------------------------------------------------------------------


def test_same_seed_gives_same_bytes(tmp_path: Path) -> None:
    first = demo.write_sample_csv(tmp_path / "a", seed=7, **SMALL)
    second = demo.write_sample_csv(tmp_path / "b", seed=7, **SMALL)
    assert list(first) == ["teams.csv", "users.csv", "posts.csv", "comments.csv"]
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_other_seed_gives_other_data(tmp_path: Path) -> None:
    first = demo.write_sample_csv(tmp_path / "a", seed=7, **SMALL)
    second = demo.write_sample_csv(tmp_path / "b", seed=8, **SMALL)
    assert first["users.csv"].read_bytes() != second["users.csv"].read_bytes()


def test_committed_files_are_the_generator_output(tmp_path: Path) -> None:
    fresh = demo.write_sample_csv(tmp_path)
    for name, path in fresh.items():
        assert (DATA_DIR / name).read_bytes() == path.read_bytes(), (
            f"data/{name} is stale: run `python -m toolkit.demo data/`"
        )


def test_committed_sizes() -> None:
    counts = {name.removesuffix(".csv"): len(read(DATA_DIR, name)) for name in SAMPLE_FILES}
    assert counts == DEFAULTS
    # Big enough for N+1 to show, small enough to commit.
    assert counts["teams"] >= 20 and counts["users"] >= 500
    assert counts["posts"] >= 2000 and counts["comments"] >= 5000
    assert sum((DATA_DIR / name).stat().st_size for name in SAMPLE_FILES) < 3_000_000


@pytest.mark.parametrize(
    "folder",
    [pytest.param(None, id="committed"), pytest.param("small", id="small-seed-3")],
)
def test_ids_and_foreign_keys_are_consistent(folder: str | None, tmp_path: Path) -> None:
    if folder is None:
        where = DATA_DIR
    else:
        where = tmp_path
        demo.write_sample_csv(where, seed=3, teams=30, users=20, posts=40, comments=60)
    teams, users, posts, comments = (read(where, name) for name in SAMPLE_FILES)
    for rows in (teams, users, posts, comments):
        assert [int(r["id"]) for r in rows] == list(range(1, len(rows) + 1))
    team_ids = {r["id"] for r in teams}
    user_ids = {r["id"] for r in users}
    post_times = {r["id"]: r["created_at"] for r in posts}
    assert all(r["team_id"] in team_ids for r in users if r["team_id"])
    assert all(r["author_id"] in user_ids for r in posts)
    assert all(r["author_id"] in user_ids for r in comments)
    assert all(r["post_id"] in post_times for r in comments)
    # A comment never predates its post (same format, so text order is time order).
    assert all(r["created_at"] > post_times[r["post_id"]] for r in comments)
    assert len({r["name"] for r in teams}) == len(teams)
    assert len({r["username"] for r in users}) == len(users)


def test_value_formats() -> None:
    _, users, posts, comments = (read(DATA_DIR, name) for name in SAMPLE_FILES)
    assert all(re.fullmatch(r"\d+\.\d\d", r["credits"]) for r in users)
    assert {r["is_active"] for r in users} == {"true", "false"}
    assert all(re.fullmatch(r"[^@\s]+@example\.(org|com|net)", r["email"]) for r in users)
    for row in posts + comments:
        stamp = datetime.fromisoformat(row["created_at"])
        assert stamp.utcoffset() is not None and stamp.tzinfo == UTC
        assert row["created_at"].endswith("+00:00")
    # Some NULLs, but not many.
    no_name = sum(1 for r in users if not r["full_name"])
    no_team = sum(1 for r in users if not r["team_id"])
    assert 0 < no_name < len(users) // 5
    assert 0 < no_team < len(users) // 5
    assert all(r["title"] and r["body"] for r in posts)
    assert all(r["body"] for r in comments)


@pytest.mark.parametrize(
    "sizes",
    [
        {"teams": 0},
        {"users": 0},
        {"posts": -1},
        {"posts": 0, "comments": 5},
    ],
    ids=["no-teams", "no-users", "negative-posts", "comments-without-posts"],
)
def test_impossible_sizes_are_refused(sizes: dict[str, int], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Cannot make"):
        demo.write_sample_csv(tmp_path, **{**SMALL, **sizes})
    assert not any(tmp_path.iterdir())


# -- loading ------------------------------------------------------------------------------


async def test_load_sample_twice_keeps_the_same_rows(db: tk.Database) -> None:
    first = await demo.load_sample(db)
    assert first == DEFAULTS
    assert await table_counts(db) == DEFAULTS
    second = await demo.load_sample(db)
    assert second == dict.fromkeys(DEFAULTS, 0)
    assert await table_counts(db) == DEFAULTS


async def test_loaded_values_round_trip(db: tk.Database) -> None:
    await demo.load_sample(db)
    users = read(DATA_DIR, "users.csv")
    async with db.session() as s:
        loaded = {u.id: u for u in await crud.search(s, User)}
        post = await crud.get(s, Post, 1)
    for row in users[:50]:
        user = loaded[int(row["id"])]
        assert user.username == row["username"]
        assert user.credits == Decimal(row["credits"])
        assert user.full_name == (row["full_name"] or None)
        assert user.team_id == (int(row["team_id"]) if row["team_id"] else None)
        assert user.is_active is (row["is_active"] == "true")
    first_post = read(DATA_DIR, "posts.csv")[0]
    assert post is not None and post.title == first_post["title"]
    expected = datetime.fromisoformat(first_post["created_at"])
    assert post.created_at.replace(tzinfo=post.created_at.tzinfo or UTC) == expected


async def test_new_rows_get_ids_after_the_sample(db: tk.Database, tmp_path: Path) -> None:
    demo.write_sample_csv(tmp_path, seed=1, **SMALL)
    await demo.load_sample(db, tmp_path)
    async with db.session() as s:
        team = await crud.create(s, Team, name="Newcomers")
        post = await crud.create(s, Post, title="Hello", author_id=1)
    assert team.id == SMALL["teams"] + 1
    assert post.id == SMALL["posts"] + 1


async def test_table_with_other_rows_is_refused(db: tk.Database, tmp_path: Path) -> None:
    demo.write_sample_csv(tmp_path, seed=1, **SMALL)
    async with db.session() as s:
        await crud.create(s, Team, name="Mine")
    with pytest.raises(tk.ToolkitError, match="already holds 1 rows that are not the sample"):
        await demo.load_sample(db, tmp_path)
    assert (await table_counts(db))["teams"] == 1


async def test_load_resumes_after_a_partial_load(db: tk.Database, tmp_path: Path) -> None:
    demo.write_sample_csv(tmp_path, seed=1, **SMALL)
    posts = read(tmp_path, "posts.csv")
    posts[-1]["author_id"] = "999"  # no such user
    with (tmp_path / "posts.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(posts[0]))
        writer.writeheader()
        writer.writerows(posts)
    with pytest.raises(tk.ForeignKeyError):
        await demo.load_sample(db, tmp_path)
    # The bad table loaded nothing; the tables before it are complete.
    assert await table_counts(db) == {"teams": 3, "users": 20, "posts": 0, "comments": 0}
    demo.write_sample_csv(tmp_path, seed=1, **SMALL)
    assert await demo.load_sample(db, tmp_path) == {
        "teams": 0,
        "users": 0,
        "posts": 50,
        "comments": 80,
    }


async def test_missing_folder_says_how_to_make_it(db: tk.Database, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m toolkit\.demo DIR"):
        await demo.load_sample(db, tmp_path / "nowhere")
