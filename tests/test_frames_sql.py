"""read_frame / stream_frames with SQL as users type it: long IN lists, a trailing ';',
positional parameters; and failures that must read as the toolkit's errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import tuple_
from sqlmodel import col, select

import toolkit as tk
from toolkit import crud
from toolkit.sqltext import named_parameters, one_statement

from .conftest import PG_URL
from .frame_models import AllTypes, Keyed, Pair, sample_rows

N_ROWS = 50


async def fill(db: tk.Database) -> None:
    async with db.session() as s:
        await crud.create_many(
            s, Keyed, [{"id": i, "code": f"c{i}", "qty": i % 7} for i in range(1, N_ROWS + 1)]
        )


@pytest.mark.parametrize("length", [3, 1_665, 40_000], ids=["short", "over-1664", "over-32767"])
async def test_in_list_of_any_length(db: tk.Database, length: int) -> None:
    await fill(db)
    wanted = list(range(-length, 0)) + list(range(1, 10))  # ids 1..9 and many absent ones
    stmt = select(Keyed.id).where(col(Keyed.id).in_(wanted)).order_by(Keyed.id)
    frame = await tk.read_frame(db, stmt)
    assert frame["id"].tolist() == list(range(1, 10))
    chunks = [c async for c in tk.stream_frames(db, stmt, chunk_size=4)]
    assert pd.concat(chunks)["id"].tolist() == list(range(1, 10))


@pytest.mark.parametrize("length", [3, 40_000], ids=["short", "long"])
async def test_not_in_list_of_any_length(db: tk.Database, length: int) -> None:
    await fill(db)
    excluded = [f"c{i}" for i in range(3, N_ROWS + 1)] + [f"x{i}" for i in range(length)]
    stmt = select(Keyed.code).where(col(Keyed.code).not_in(excluded)).order_by(Keyed.id)
    assert (await tk.read_frame(db, stmt))["code"].tolist() == ["c1", "c2"]


async def test_in_list_of_strings_and_empty_list(db: tk.Database) -> None:
    await fill(db)
    codes = [f"c{i}" for i in range(0, 5_000, 2)]
    stmt = select(Keyed.id).where(col(Keyed.code).in_(codes)).order_by(Keyed.id)
    assert (await tk.read_frame(db, stmt))["id"].tolist() == list(range(2, N_ROWS + 1, 2))
    none = select(Keyed.id).where(col(Keyed.id).in_([]))
    assert len(await tk.read_frame(db, none)) == 0


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM test_keyed WHERE id < 3 ORDER BY id;",
        "SELECT id FROM test_keyed WHERE id < 3 ORDER BY id ;\n  ",
        "SELECT id FROM test_keyed WHERE id < 3 ORDER BY id; -- two rows\n",
        "SELECT id FROM test_keyed WHERE id < 3 ORDER BY id /* c */ ;;",
        "SELECT id FROM test_keyed WHERE id < 3 ORDER BY id -- no newline",
    ],
    ids=["semicolon", "blank-after", "comment-after", "block-comment", "comment-no-newline"],
)
async def test_trailing_semicolon_and_comments(db: tk.Database, sql: str) -> None:
    await fill(db)
    assert (await tk.read_frame(db, sql))["id"].tolist() == [1, 2]
    chunks = [c async for c in tk.stream_frames(db, sql, chunk_size=1)]
    assert pd.concat(chunks)["id"].tolist() == [1, 2]


async def test_semicolon_inside_a_literal_is_kept(db: tk.Database) -> None:
    frame = await tk.read_frame(db, "SELECT 'a;b' AS v;")
    assert frame["v"].tolist() == ["a;b"]


async def test_two_statements_are_refused(db: tk.Database) -> None:
    with pytest.raises(tk.ConfigurationError, match="more than one statement"):
        await tk.read_frame(db, "SELECT 1 AS a; SELECT 2 AS b")


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT id FROM test_keyed WHERE id > ? AND qty = ? ORDER BY id", (40, 6)),
        ("SELECT id FROM test_keyed WHERE id > ? AND qty = ? ORDER BY id", [40, 6]),
        ("SELECT id FROM test_keyed WHERE id > %s AND qty = %s ORDER BY id", [40, 6]),
        ("SELECT id FROM test_keyed WHERE qty = $2 AND id > $1 ORDER BY id", (40, 6)),
        (
            "SELECT id FROM test_keyed WHERE id > %(lo)s AND qty = %(q)s ORDER BY id",
            {"lo": 40, "q": 6},
        ),
    ],
    ids=["qmark-tuple", "qmark-list", "format", "numeric", "pyformat"],
)
async def test_positional_and_pyformat_params(
    db: tk.Database, sql: str, params: tuple[int, ...] | list[int] | dict[str, int]
) -> None:
    await fill(db)
    expected = [i for i in range(41, N_ROWS + 1) if i % 7 == 6]
    assert (await tk.read_frame(db, sql, params=params))["id"].tolist() == expected
    chunks = [c async for c in tk.stream_frames(db, sql, params=params, chunk_size=1)]
    assert pd.concat(chunks)["id"].tolist() == expected
    assert (await db.frame(sql, params=params))["id"].tolist() == expected


async def test_placeholders_in_literals_are_not_params(db: tk.Database) -> None:
    await fill(db)
    sql = "SELECT code, '?' AS q, ':x' AS c FROM test_keyed WHERE id = ?"
    frame = await tk.read_frame(db, sql, params=[3])
    assert frame.to_dict("records") == [{"code": "c3", "q": "?", "c": ":x"}]


async def test_wrong_number_of_positional_params(db: tk.Database) -> None:
    with pytest.raises(tk.ConfigurationError, match="1 positional parameter"):
        await tk.read_frame(db, "SELECT id FROM test_keyed WHERE id = ?", params=[1, 2])


async def test_positional_params_with_a_statement_are_refused(db: tk.Database) -> None:
    with pytest.raises(tk.ConfigurationError, match="dict"):
        await tk.read_frame(db, select(Keyed), params=[1])


def test_one_statement_rules() -> None:
    assert one_statement("SELECT $$a;$$ ;") == "SELECT $$a;$$"
    assert one_statement("SELECT E'\\';' AS a;") == "SELECT E'\\';' AS a"
    assert one_statement('SELECT 1 AS ";"; ') == 'SELECT 1 AS ";"'
    with pytest.raises(tk.ConfigurationError):
        one_statement("SELECT 1; DROP TABLE x")


def test_named_parameters_rules() -> None:
    assert named_parameters("SELECT ?, ?", (1, 2)) == ("SELECT :_p1, :_p2", {"_p1": 1, "_p2": 2})
    assert named_parameters("SELECT $1::int", [5]) == ("SELECT (:_p1)::int", {"_p1": 5})
    assert named_parameters("SELECT %s, 5 %% 2", [1])[0] == "SELECT :_p1, 5 % 2"
    with pytest.raises(tk.ConfigurationError, match="mixes"):
        named_parameters("SELECT ?, %s", [1, 2])
    with pytest.raises(tk.ConfigurationError, match="positional"):
        named_parameters("SELECT $1, $3", [1, 2, 3])


async def test_authentication_failure_is_unavailable(dialect: str, tmp_path: Path) -> None:
    if dialect == "postgresql":
        from .conftest import require_postgres

        require_postgres()
        url = PG_URL.replace("postgres@", "toolkit_no_such_role@")
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        url = str(folder)  # a folder: SQLite cannot open it as a database file
    db = tk.connect(url)
    try:
        with pytest.raises(tk.DatabaseUnavailableError):
            await tk.read_frame(db, "SELECT 1 AS a")
        with pytest.raises(tk.DatabaseUnavailableError):
            async for _ in tk.stream_frames(db, "SELECT 1 AS a"):
                pass
    finally:
        await db.dispose()


@pytest.mark.parametrize("length", [3, 40_000], ids=["short", "long"])
async def test_tuple_in_list_of_any_length(db: tk.Database, length: int) -> None:
    async with db.session() as s:
        await crud.create_many(s, Pair, [{"a": i, "b": i * 10} for i in range(1, 6)])
    pairs = [(-i, i) for i in range(length)] + [(2, 20), (4, 40), (5, 51)]
    key = tuple_(col(Pair.a), col(Pair.b))
    inside = select(Pair.a).where(key.in_(pairs)).order_by(Pair.a)
    assert (await tk.read_frame(db, inside))["a"].tolist() == [2, 4]
    outside = select(Pair.a).where(key.not_in(pairs)).order_by(Pair.a)
    assert (await tk.read_frame(db, outside))["a"].tolist() == [1, 3, 5]


async def test_too_many_placeholders_is_never_raw(db: tk.Database) -> None:
    n = 40_000
    sql = "SELECT 1 AS x WHERE 1 IN (" + ", ".join("?" * n) + ")"
    try:
        frame = await tk.read_frame(db, sql, params=list(range(n)))
    except tk.QueryError as exc:
        assert "in_(" in str(exc) or "too many" in str(exc)
    else:
        assert frame["x"].tolist() == [1]


@pytest.mark.parametrize("n", [1_665, 5_000], ids=["over-1664", "5000"])
async def test_many_placeholders_in_raw_sql(db: tk.Database, n: int) -> None:
    await fill(db)
    sql = "SELECT id FROM test_keyed WHERE id IN (" + ", ".join("?" * n) + ") ORDER BY id"
    params = list(range(-n + 3, 3))  # ids 1 and 2 among absent ones
    assert (await tk.read_frame(db, sql, params=params))["id"].tolist() == [1, 2]
    chunks = [c async for c in tk.stream_frames(db, sql, params=params, chunk_size=1)]
    assert pd.concat(chunks)["id"].tolist() == [1, 2]


@pytest.mark.parametrize("length", [2, 3_000], ids=["short", "long"])
@pytest.mark.parametrize("field", ["i", "big", "n", "s", "ts", "naive", "d"])
async def test_in_list_matches_stored_values_of_each_type(
    db: tk.Database, field: str, length: int
) -> None:
    """The values of an IN list are stored the way the column stores them (SQLite keeps
    dates, timestamps and decimals as text or floats), however long the list."""
    rows = sample_rows(4)
    async with db.session() as s:
        await crud.create_many(s, AllTypes, rows)
    value = rows[1][field]
    column = getattr(AllTypes, field)
    stmt = select(AllTypes.id).where(column.in_([value] * length)).order_by(AllTypes.id)
    assert (await tk.read_frame(db, stmt))["id"].tolist() == [2]
    others = select(AllTypes.id).where(column.not_in([value] * length)).order_by(AllTypes.id)
    assert (await tk.read_frame(db, others))["id"].tolist() == [1, 3, 4]
