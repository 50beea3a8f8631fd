"""The sample data set: a seeded generator for the demo CSVs, and a loader for them.

The committed files in the repository's ``data/`` folder come from
``write_sample_csv("data/")`` with the default seed; ``python -m toolkit.demo
data/`` regenerates them byte for byte. Everything is drawn from one
``random.Random(seed)`` with integer arithmetic only, so the same seed gives the same
bytes on every platform (no network, no Faker, no float formatting).

The sizes are chosen so that N+1 shows: loading every team with its members' posts
lazily costs one query per team and one per member, several hundred in all.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import func
from sqlmodel import SQLModel, col, select

from ..errors import ToolkitError
from ..frames import insert_frame
from .models import Comment, Post, Team, User

if TYPE_CHECKING:
    from ..database import Database

__all__ = [
    "DATA_DIR",
    "SAMPLE_FILES",
    "load_sample",
    "read_csv_frame",
    "write_sample_csv",
]

#: The repository's ``data/`` folder, where the committed sample lives.
DATA_DIR = Path(__file__).parents[2] / "data"

#: File name -> model, in foreign-key order (parents first).
SAMPLE_FILES: dict[str, type[SQLModel]] = {
    "teams.csv": Team,
    "users.csv": User,
    "posts.csv": Post,
    "comments.csv": Comment,
}

_COLUMNS = {
    "teams.csv": ["id", "name"],
    "users.csv": ["id", "username", "email", "full_name", "is_active", "credits", "team_id"],
    "posts.csv": ["id", "title", "body", "author_id", "created_at"],
    "comments.csv": ["id", "body", "post_id", "author_id", "created_at"],
}


# -- word lists -------------------------------------------------------------------------

_AREAS = [
    "Billing", "Growth", "Search", "Payments", "Mobile", "Risk", "Supply", "Pricing",
    "Support", "Identity", "Content", "Ads", "Logistics", "Retention", "Forecasting",
]  # fmt: skip
_FUNCTIONS = ["Analytics", "Platform", "Insights", "Engineering", "Research", "Operations"]
_FIRST = [
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Ben", "Bianca", "Carlos", "Chen", "Chloe",
    "Dara", "David", "Elena", "Emeka", "Eva", "Farah", "Felix", "Grace", "Hana", "Hugo",
    "Ines", "Ivan", "Jamal", "Jana", "Jonas", "Kai", "Kenji", "Lara", "Leila", "Liam",
    "Lucia", "Maya", "Mateo", "Mei", "Nadia", "Nikos", "Noah", "Olga", "Omar", "Priya",
    "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Theo", "Uma", "Vera", "Wei",
    "Yara", "Yusuf", "Zoe", "Zainab",
]  # fmt: skip
_LAST = [
    "Abara", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
    "Ivanova", "Jensen", "Kim", "Kowalski", "Larsen", "Moreau", "Nakamura", "Novak",
    "Okafor", "Olsen", "Park", "Petrov", "Quinn", "Rossi", "Santos", "Schmidt", "Singh",
    "Tanaka", "Torres", "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zhang", "Ziegler",
]  # fmt: skip
_DOMAINS = ["example.org", "example.com", "example.net"]
_TOPICS = [
    "window functions", "query plans", "connection pools", "async sessions", "indexes",
    "eager loading", "the N+1 problem", "savepoints", "bulk inserts", "pandas dtypes",
    "time zones", "data quality checks", "schema migrations", "retry loops",
    "dashboards", "cohort analysis", "A/B tests", "forecasts", "data contracts",
    "notebook tests", "parquet files", "CSV imports", "deadlocks", "read replicas",
]  # fmt: skip
_TITLES = [
    "Notes on {topic}",
    "What we learned about {topic}",
    "A practical guide to {topic}",
    "Why we rethought {topic}",
    "{Topic} in five minutes",
    "Debugging {topic} in production",
    "How the {team} team handles {topic}",
    "Ten questions about {topic}",
    "{Topic}: a checklist",
    "Getting {topic} right",
]
_SENTENCES = [
    "We measured it twice before changing anything.",
    "The first version was simple and slow.",
    "Most of the time went into waiting for the database.",
    "A single query replaced hundreds of small ones.",
    "The notebook now runs in seconds instead of minutes.",
    "Nobody noticed the problem until the data grew.",
    "The fix was one line; finding it took a week.",
    "Our tests now count the queries as well as the rows.",
    "It works the same on SQLite and on PostgreSQL.",
    "The numbers below come from last quarter.",
    "Start with the plan, then read the logs.",
    "Keep transactions short and explicit.",
]  # fmt: skip
_REPLIES = [
    "Thanks, this saved me an afternoon.",
    "Did you try it with a larger data set?",
    "We hit the same issue last month.",
    "Could you share the query plan?",
    "Great write-up, bookmarked.",
    "How does this behave under concurrency?",
    "This matches what we see in our dashboards.",
    "I would add an index on the foreign key.",
    "Nice, but the timings look optimistic.",
    "Is there a notebook with the full example?",
    "We switched to selectinload and never looked back.",
    "Small nit: the second chart has the wrong unit.",
]  # fmt: skip

_START = datetime(2023, 1, 1, tzinfo=UTC)
_POST_SPAN_SECONDS = 540 * 24 * 3600  # posts over about eighteen months
_COMMENT_DELAY_SECONDS = 30 * 24 * 3600  # comments within a month of their post


# -- generation -------------------------------------------------------------------------


def _team_names(rng: random.Random, n: int) -> list[str]:
    combos = [f"{area} {function}" for area in _AREAS for function in _FUNCTIONS]
    rng.shuffle(combos)
    # More teams than combinations: number the repeats ("Billing Analytics 2").
    return [
        combos[i % len(combos)] + (f" {i // len(combos) + 1}" if i >= len(combos) else "")
        for i in range(n)
    ]


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def _timestamp(offset_seconds: int) -> str:
    return (_START + timedelta(seconds=offset_seconds)).isoformat()


def _paragraph(rng: random.Random, sentences: Sequence[str], low: int, high: int) -> str:
    return " ".join(rng.sample(sentences, rng.randint(low, high)))


def _users(rng: random.Random, n: int, teams: int) -> list[list[str]]:
    rows: list[list[str]] = []
    taken: set[str] = set()
    for user_id in range(1, n + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        base = f"{first}.{last}".lower()
        username = base
        while username in taken:
            username = f"{base}{rng.randint(2, 99)}"
        taken.add(username)
        # About one user in twelve has no full name, one in ten no team.
        full_name = "" if rng.randrange(12) == 0 else f"{first} {last}"
        team_id = "" if rng.randrange(10) == 0 else str(rng.randint(1, teams))
        rows.append(
            [
                str(user_id),
                username,
                f"{username}@{rng.choice(_DOMAINS)}",
                full_name,
                "false" if rng.randrange(15) == 0 else "true",
                _cents(rng.randint(0, 50_000)),
                team_id,
            ]
        )
    return rows


def _posts(
    rng: random.Random, n: int, users: Sequence[Sequence[str]], team_names: Sequence[str]
) -> tuple[list[list[str]], list[int]]:
    # Integer weights: a few prolific authors and a long tail, as on any real forum.
    weights = [rng.choice([1, 1, 1, 2, 2, 3, 5, 8]) for _ in users]
    authors = rng.choices(range(len(users)), weights=weights, k=n)
    offsets = sorted(rng.randrange(_POST_SPAN_SECONDS) for _ in range(n))
    rows: list[list[str]] = []
    for post_id, (author, offset) in enumerate(zip(authors, offsets, strict=True), start=1):
        topic = rng.choice(_TOPICS)
        team_id = users[author][6]
        team = team_names[int(team_id) - 1] if team_id else "data"
        title = rng.choice(_TITLES).format(
            topic=topic, Topic=topic[0].upper() + topic[1:], team=team
        )
        body = _paragraph(rng, _SENTENCES, 2, 4)
        rows.append([str(post_id), title, body, users[author][0], _timestamp(offset)])
    return rows, offsets


def _comments(
    rng: random.Random, n: int, n_users: int, post_offsets: Sequence[int]
) -> list[list[str]]:
    if not post_offsets:
        return []
    weights = [rng.choice([1, 1, 2, 3, 5]) for _ in post_offsets]
    posts = rng.choices(range(len(post_offsets)), weights=weights, k=n)
    drafts = [
        (
            post_offsets[post] + rng.randrange(60, _COMMENT_DELAY_SECONDS),
            post + 1,
            rng.randint(1, n_users),
            _paragraph(rng, _REPLIES, 1, 2),
        )
        for post in posts
    ]
    drafts.sort(key=lambda draft: (draft[0], draft[1]))  # ids follow time
    return [
        [str(comment_id), body, str(post_id), str(author_id), _timestamp(offset)]
        for comment_id, (offset, post_id, author_id, body) in enumerate(drafts, start=1)
    ]


def write_sample_csv(
    folder: str | Path,
    *,
    seed: int = 2024,
    teams: int = 24,
    users: int = 600,
    posts: int = 2400,
    comments: int = 6000,
) -> dict[str, Path]:
    """Write the sample data set as ``teams.csv``, ``users.csv``, ``posts.csv``, ``comments.csv``.

    Ids are explicit and start at 1; every foreign key points to a row in its file.
    Timestamps are ISO-8601 in UTC with the offset (``2023-04-02T09:15:00+00:00``),
    credits have two decimal places, an empty cell is NULL (about one user in twelve
    has no ``full_name``, one in ten no team). The same arguments always give the same
    bytes.

    Parameters
    ----------
    folder : str or Path
        Created if missing; existing files of the same names are overwritten.
    seed : int
        Seed of the ``random.Random`` that draws everything.
    teams, users, posts, comments : int
        Row counts. ``teams`` and ``users`` must be at least 1; ``comments`` needs
        at least one post.

    Returns
    -------
    dict of str to Path
        File name -> path written, in foreign-key order.

    Raises
    ------
    ValueError
        A row count that cannot make a consistent data set.

    Examples
    --------
    >>> paths = write_sample_csv("data/")          # the committed sample
    >>> small = write_sample_csv(tmp, seed=1, teams=3, users=20, posts=50, comments=80)
    """
    if teams < 1 or users < 1 or posts < 0 or comments < 0:
        raise ValueError(
            f"Cannot make a sample with teams={teams}, users={users}, posts={posts}, "
            f"comments={comments}: teams and users must be at least 1, posts and "
            "comments at least 0."
        )
    if comments and not posts:
        raise ValueError(f"Cannot make {comments} comments without posts; pass posts >= 1.")
    rng = random.Random(seed)
    team_names = _team_names(rng, teams)
    user_rows = _users(rng, users, teams)
    post_rows, post_offsets = _posts(rng, posts, user_rows, team_names)
    tables = {
        "teams.csv": [[str(i), name] for i, name in enumerate(team_names, start=1)],
        "users.csv": user_rows,
        "posts.csv": post_rows,
        "comments.csv": _comments(rng, comments, users, post_offsets),
    }
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, rows in tables.items():
        path = out / name
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(_COLUMNS[name])
            writer.writerows(rows)
        written[name] = path
    return written


# -- loading ----------------------------------------------------------------------------


def _resolve_folder(folder: str | Path | None) -> Path:
    path = DATA_DIR if folder is None else Path(folder)
    missing = [name for name in SAMPLE_FILES if not (path / name).is_file()]
    if missing:
        where = "the repository's data/ folder" if folder is None else "the given folder"
        raise FileNotFoundError(
            f"Sample data not found: {', '.join(missing)} missing in {where} ({path}). "
            "Run from a clone of the repository, or write the files with "
            "`python -m toolkit.demo DIR` and call load_sample(db, DIR)."
        )
    return path


def read_csv_frame(path: Path, model: type[SQLModel]) -> pd.DataFrame:
    """Read a CSV for ``model``'s table as text; an empty cell in a nullable column is NULL.

    Every value stays text: :func:`toolkit.insert_frame` converts it by the column's type,
    so "true", "302.22" or an ISO timestamp arrive as the model defines them.

    Parameters
    ----------
    path : Path
        The CSV file, with a header row of column names.
    model : SQLModel table class
        The model whose table the file fills.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> frame = read_csv_frame(DATA_DIR / "users.csv", User)
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    nullable = [c.name for c in model.__table__.columns if c.nullable]  # type: ignore[attr-defined]
    for name in frame.columns.intersection(nullable):
        frame[name] = frame[name].astype(object).where(frame[name] != "", None)
    return frame


async def _load_table(db: Database, model: type[SQLModel], frame: pd.DataFrame) -> int:
    """Insert ``frame`` into ``model``'s table, validated and all or nothing; return how many.

    ``insert_frame`` also moves a PostgreSQL id sequence past the explicit ids.
    """
    return await insert_frame(db, model, frame)


async def _table_state(db: Database, model: type[SQLModel]) -> tuple[int, Any, Any]:
    """(row count, min id, max id) of ``model``'s table."""
    pk = col(model.id)  # type: ignore[attr-defined]
    async with db.session() as session:
        result = await session.exec(select(func.count(), func.min(pk), func.max(pk)))
        count, low, high = result.one()
        await session.commit()
    return int(count), low, high


def _sample_ids(frame: pd.DataFrame) -> tuple[int, Any, Any]:
    ids = frame["id"].astype(int)
    return len(ids), (int(ids.min()) if len(ids) else None), (int(ids.max()) if len(ids) else None)


async def load_sample(db: Database, folder: str | Path | None = None) -> dict[str, int]:
    """Create the demo tables and load the sample CSVs into them; safe to call twice.

    A table that already holds the sample (same row count and id range) is skipped;
    an empty table is filled in one transaction; a table that holds other rows is an
    error, because mixing them with the sample would break its ids. On PostgreSQL
    each id sequence is then moved past the loaded ids.

    Parameters
    ----------
    db : Database
    folder : str, Path or None
        Where ``teams.csv``, ``users.csv``, ``posts.csv`` and ``comments.csv`` are;
        default: the repository's ``data/`` folder.

    Returns
    -------
    dict of str to int
        Table name -> rows loaded by this call (0 for a table that already held the
        sample).

    Raises
    ------
    FileNotFoundError
        The folder lacks a sample file; the message says how to write them.
    ToolkitError
        A demo table already holds rows that are not the sample.
    ValidationError, ConstraintError
        A file does not fit the models (an edited CSV); nothing of that table is loaded.

    Examples
    --------
    >>> import toolkit as tk
    >>> from toolkit import demo
    >>> db = tk.connect("demo.db")
    >>> await demo.load_sample(db)
    {'teams': 24, 'users': 600, 'posts': 2400, 'comments': 6000}
    """
    path = _resolve_folder(folder)
    models = list(SAMPLE_FILES.values())
    await db.create_all(models)
    loaded: dict[str, int] = {}
    for name, model in SAMPLE_FILES.items():
        table = str(model.__tablename__)
        frame = read_csv_frame(path / name, model)
        present = await _table_state(db, model)
        if present == _sample_ids(frame):
            loaded[table] = 0
            continue
        if present[0]:
            raise ToolkitError(
                f"Table {table!r} already holds {present[0]} rows that are not the sample "
                f"({len(frame)} rows, ids 1-{len(frame)}); nothing was loaded into it. Load "
                "the sample into an empty database (e.g. tk.connect('demo.db') or "
                "`toolkit demo --url demo.db`), or drop the demo tables first."
            )
        loaded[table] = await _load_table(db, model, frame)
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m toolkit.demo FOLDER [--seed N]``: write the sample CSVs."""
    parser = argparse.ArgumentParser(
        prog="python -m toolkit.demo",
        description="Write the demo sample CSVs (teams, users, posts, comments).",
    )
    parser.add_argument("folder", type=Path, help="where to write the files (created if missing)")
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default: 2024)")
    args = parser.parse_args(argv)
    for path in write_sample_csv(args.folder, seed=args.seed).values():
        with path.open(encoding="utf-8") as handle:
            count = sum(1 for _ in handle) - 1
        print(f"wrote {path} ({count} rows)")
    return 0
