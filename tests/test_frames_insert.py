"""insert_frame: validation with every bad cell listed, all-or-nothing, conflicts, round trip."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlmodel import select

import toolkit as tk
import toolkit.frames_upsert as upsert
from toolkit import crud
from toolkit.demo import Post, User

from .frame_models import AllTypes, Keyed, Renamed, Stock, Yearly, sample_rows


async def count(db: tk.Database, model: type) -> int:
    frame = await tk.read_frame(db, f"SELECT count(*) AS n FROM {model.__tablename__}")
    return int(frame["n"].iloc[0])


def users_frame(n: int, start: int = 0, index: object = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "username": [f"user{i}" for i in range(start, start + n)],
            "email": [f"user{i}@example.org" for i in range(start, start + n)],
            "credits": np.round(np.arange(n) * 0.25, 2),
        },
        index=index,
    )


async def test_round_trip_every_type(db: tk.Database) -> None:
    source = pd.DataFrame(sample_rows(60))
    assert await tk.insert_frame(db, AllTypes, source) == 60
    back = await tk.read_frame(db, select(AllTypes).order_by(AllTypes.id))
    again = back.drop(columns="id")
    # Insert what we read back into a fresh table: identical frame after another read.
    await db.drop_all([AllTypes])
    await db.create_all([AllTypes])
    assert await tk.insert_frame(db, AllTypes, again) == 60
    pd.testing.assert_frame_equal(
        await tk.read_frame(db, select(AllTypes).order_by(AllTypes.id)), back
    )
    assert back["s"].tolist()[:8] == [
        r["s"] if r["s"] is not None else pd.NA for r in sample_rows(8)
    ]
    assert back.loc[3, "n"] == sample_rows(60)[3]["n"] == Decimal("-3.89")


async def test_defaults_fill_missing_columns_and_ids_come_back(db: tk.Database) -> None:
    assert await tk.insert_frame(db, User, users_frame(5)) == 5
    frame = await tk.read_frame(db, select(User).order_by(User.id))
    assert frame["id"].tolist() == [1, 2, 3, 4, 5]
    assert frame["is_active"].all()
    async with db.session() as s:  # the sequence / rowid is past the new rows
        u = await crud.create(s, User, username="after", email="after@example.org")
        assert u.id == 6


async def test_explicit_ids_move_the_sequence(db: tk.Database) -> None:
    frame = users_frame(3).assign(id=[10, 11, 12])
    assert await tk.insert_frame(db, User, frame) == 3
    async with db.session() as s:
        u = await crud.create(s, User, username="next", email="next@example.org")
    assert u.id == 13


async def test_bad_row_in_the_middle_reported_by_label_nothing_written(db: tk.Database) -> None:
    frame = users_frame(10_000, index=pd.RangeIndex(100_000, 110_000))
    frame.loc[105_000, "email"] = "not-an-email"
    frame.loc[107_777, "credits"] = -3
    with pytest.raises(tk.FrameValidationError) as info:
        await tk.insert_frame(db, User, frame)
    errors = info.value.errors
    assert list(errors.columns) == ["row", "column", "value", "message"]
    assert sorted(errors["row"].tolist()) == [105_000, 107_777]
    assert set(errors["column"]) == {"email", "credits"}
    assert await count(db, User) == 0


async def test_every_bad_row_listed(db: tk.Database) -> None:
    frame = pd.DataFrame(
        {
            "username": ["ok", None, "x" * 60, "dup", "dup"],
            "email": ["a@b.org", "c@d.org", "e@f.org", "g@h.org", "i@j.org"],
            "credits": ["1.50", "1.234", "abc", 2, 3],
            "is_active": [True, "yes", "maybe", 0, 1],
            "team_id": [None, 1.5, 2**40, None, None],
        },
        index=list("abcde"),
    )
    with pytest.raises(tk.FrameValidationError) as info:
        await tk.insert_frame(db, User, frame)
    found = {(r.row, r.column) for r in info.value.errors.itertuples()}
    assert found == {
        ("b", "username"),  # NULL
        ("c", "username"),  # too long
        ("b", "credits"),  # 3 decimals
        ("c", "credits"),  # not a number
        ("c", "is_active"),  # not a boolean
        ("b", "team_id"),  # fraction
        ("c", "team_id"),  # out of 32-bit range
        ("d", "username"),  # repeated key inside the frame
        ("e", "username"),
    }
    assert "nothing was written" in str(info.value)


async def test_unknown_and_missing_columns_named(db: tk.Database) -> None:
    with pytest.raises(tk.FrameValidationError, match="nickname") as info:
        await tk.insert_frame(db, User, users_frame(2).assign(nickname="x"))
    assert info.value.errors["column"].tolist() == ["nickname"]
    with pytest.raises(tk.FrameValidationError, match="email") as info:
        await tk.insert_frame(db, User, users_frame(2).drop(columns="email"))
    assert "required" in info.value.errors["message"].iloc[0]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"t": ["nul\x00byte"]}, "NUL"),
        ({"i": [2**31]}, "32-bit"),
        ({"small": [40_000]}, "16-bit"),
        ({"big": [2**70]}, "64-bit"),
        ({"s": [12345]}, "not text"),
        ({"ts": ["yesterday-ish"]}, "date/time"),
        ({"d": [pd.Timestamp("2024-01-01 10:00")]}, "time of day"),
        ({"n": [Decimal("1e12")]}, "digits"),
        ({"f": ["1,5"]}, "not a number"),
    ],
    ids=[
        "nul-byte",
        "int32-overflow",
        "int16-overflow",
        "huge-int",
        "number-as-text",
        "bad-timestamp",
        "date-with-time",
        "decimal-too-big",
        "float-text",
    ],
)
async def test_value_rules(db: tk.Database, values: dict[str, list[object]], message: str) -> None:
    with pytest.raises(tk.FrameValidationError, match=message):
        await tk.insert_frame(db, AllTypes, pd.DataFrame(values))
    assert await count(db, AllTypes) == 0


async def test_coercions_that_are_allowed(db: tk.Database) -> None:
    frame = pd.DataFrame(
        {
            "i": ["12", 13.0, None],
            "f": [np.nan, np.inf, "2.5"],
            "b": ["TRUE", 0, None],
            "n": [1, "2.50", 3.1],
            "ts": [dt.datetime(2024, 1, 1, 12), "2024-01-01T12:00:00+02:00", None],
            "naive": [pd.Timestamp("2024-01-01 12:00", tz="Europe/Paris"), None, None],
            "d": ["2024-02-29", dt.date(2024, 3, 1), None],
        }
    )
    assert await tk.insert_frame(db, AllTypes, frame) == 3
    back = await tk.read_frame(db, select(AllTypes).order_by(AllTypes.id))
    assert back["i"].tolist() == [12, 13, pd.NA]
    assert pd.isna(back.loc[0, "f"]) and back.loc[1, "f"] == np.inf
    assert back["b"].tolist() == [True, False, pd.NA]
    assert back["n"].tolist() == [Decimal("1.00"), Decimal("2.50"), Decimal("3.10")]
    assert back.loc[0, "ts"] == pd.Timestamp("2024-01-01 12:00", tz="UTC")  # naive taken as UTC
    assert back.loc[1, "ts"] == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert back.loc[0, "naive"] == pd.Timestamp("2024-01-01 11:00")  # converted to UTC
    assert back["d"].tolist()[:2] == [pd.Timestamp("2024-02-29"), pd.Timestamp("2024-03-01")]


async def test_model_validators_run(db: tk.Database) -> None:
    frame = users_frame(3)
    frame.loc[1, "email"] = "nope"
    with pytest.raises(tk.FrameValidationError) as info:
        await tk.insert_frame(db, User, frame)
    assert info.value.errors[["row", "column"]].values.tolist() == [[1, "email"]]
    upper = users_frame(2).assign(email=["A@EXAMPLE.ORG", "b@example.org"])
    await tk.insert_frame(db, User, upper)
    back = await tk.read_frame(db, select(User.email).order_by(User.id))
    assert back["email"].tolist() == ["a@example.org", "b@example.org"]  # normalised by the model


# -- conflicts -----------------------------------------------------------------------


def keyed(ids: list[int], qty: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "code": [f"c{i}" for i in ids], "qty": qty})


async def test_conflict_error_leaves_table_unchanged(db: tk.Database) -> None:
    await tk.insert_frame(db, Keyed, keyed([1, 2, 3]))
    with pytest.raises(tk.DuplicateError) as info:
        await tk.insert_frame(db, Keyed, keyed([4, 5, 3, 6], qty=9))
    assert info.value.model == "Keyed"
    frame = await tk.read_frame(db, select(Keyed).order_by(Keyed.id))
    assert frame["id"].tolist() == [1, 2, 3] and frame["qty"].tolist() == [1, 1, 1]


async def test_conflict_ignore_skips_and_counts(db: tk.Database) -> None:
    await tk.insert_frame(db, Keyed, keyed([1, 2, 3]))
    written = await tk.insert_frame(db, Keyed, keyed([2, 3, 4, 5], qty=9), on_conflict="ignore")
    assert written == 2
    frame = await tk.read_frame(db, select(Keyed).order_by(Keyed.id))
    assert frame["qty"].tolist() == [1, 1, 1, 9, 9]


async def test_conflict_ignore_skips_a_collision_on_any_unique_key(db: tk.Database) -> None:
    """A new id whose unique code is taken is skipped too, not a DuplicateError."""
    await tk.insert_frame(db, Keyed, keyed([1, 2]))
    frame = pd.DataFrame({"id": [10, 11], "code": ["c1", "c11"], "qty": 9})
    assert await tk.insert_frame(db, Keyed, frame, on_conflict="ignore") == 1
    back = await tk.read_frame(db, select(Keyed.id, Keyed.code).order_by(Keyed.id))
    assert back["id"].tolist() == [1, 2, 11]


async def test_conflict_update_upserts(db: tk.Database) -> None:
    await tk.insert_frame(db, Keyed, keyed([1, 2, 3]))
    written = await tk.insert_frame(
        db, Keyed, keyed([2, 3, 4], qty=7).assign(note="new"), on_conflict="update"
    )
    assert written == 3
    frame = await tk.read_frame(db, select(Keyed).order_by(Keyed.id))
    assert frame["qty"].tolist() == [1, 7, 7, 7]
    assert frame["note"].tolist() == [pd.NA, "new", "new", "new"]


async def test_conflict_update_leaves_columns_the_frame_lacks(db: tk.Database) -> None:
    await tk.insert_frame(db, Keyed, keyed([1, 2], qty=5).assign(note="kept"))
    partial = pd.DataFrame({"id": [2, 3], "code": ["c2", "c3"]})  # no qty, no note
    assert await tk.insert_frame(db, Keyed, partial, on_conflict="update") == 2
    frame = await tk.read_frame(db, select(Keyed).order_by(Keyed.id))
    assert frame["qty"].tolist() == [5, 5, 0]  # row 3 is new: the model's default
    assert frame["note"].tolist() == ["kept", "kept", pd.NA]


async def test_conflict_update_needs_a_key(db: tk.Database) -> None:
    with pytest.raises(tk.ConfigurationError, match="key"):
        await tk.insert_frame(db, AllTypes, pd.DataFrame({"i": [1]}), on_conflict="update")


async def test_in_frame_duplicates_rejected_before_writing(db: tk.Database) -> None:
    with pytest.raises(tk.FrameValidationError, match="repeats the key"):
        await tk.insert_frame(db, Keyed, keyed([1, 2, 2]), on_conflict="update")
    assert await count(db, Keyed) == 0


async def test_foreign_key_error_writes_nothing(db: tk.Database) -> None:
    await tk.insert_frame(db, User, users_frame(2))
    posts = pd.DataFrame({"title": ["a", "b", "c"], "author_id": [1, 2, 999]})
    with pytest.raises(tk.ForeignKeyError):
        await tk.insert_frame(db, Post, posts, chunk_size=1)
    assert await count(db, Post) == 0


# -- transactions and sources --------------------------------------------------------


async def test_inside_transaction_joins_it(db: tk.Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            assert await tk.insert_frame(s, User, users_frame(3)) == 3
            assert len(await tk.read_frame(s, select(User))) == 3
            raise RuntimeError("undo")
    assert await count(db, User) == 0


async def test_failed_frame_leaves_block_usable(db: tk.Database) -> None:
    async with db.transaction() as s:
        await crud.create(s, User, username="kept", email="kept@example.org")
        with pytest.raises(tk.DuplicateError):
            await tk.insert_frame(s, User, users_frame(2).assign(username=["x", "kept"]))
        await tk.insert_frame(s, User, users_frame(2, start=50))
    frame = await tk.read_frame(db, select(User.username).order_by(User.id))
    assert frame["username"].tolist() == ["kept", "user50", "user51"]


async def test_plain_session_and_connection_commit(db: tk.Database) -> None:
    async with db.session() as s:
        await tk.insert_frame(s, User, users_frame(2))
        assert not s.in_transaction()
    async with db.engine.connect() as conn:
        await tk.insert_frame(conn, User, users_frame(2, start=10))
    assert await count(db, User) == 4


async def test_empty_frame_and_bad_arguments(db: tk.Database) -> None:
    assert await tk.insert_frame(db, User, users_frame(0)) == 0
    with pytest.raises(tk.ConfigurationError):
        await tk.insert_frame(db, User, users_frame(1), on_conflict="replace")  # type: ignore[arg-type]
    with pytest.raises(tk.ConfigurationError):
        await tk.insert_frame(db, User, [{"username": "x"}])  # type: ignore[arg-type]


async def test_progress_bar_when_asked(db: tk.Database, capsys: pytest.CaptureFixture[str]) -> None:
    await tk.insert_frame(db, User, users_frame(30), chunk_size=10, progress=True)
    assert "30.0/30.0" in capsys.readouterr().err
    await tk.insert_frame(db, User, users_frame(30, start=100), chunk_size=10)
    assert capsys.readouterr().err == ""  # small frame, nobody watching: no bar


async def test_fields_named_apart_from_their_columns(db: tk.Database) -> None:
    """A frame names such a column by its field or by its column (as read_frame does);
    to_frame names it by field; both round-trip."""
    at = pd.Timestamp("2024-01-01 12:00", tz="UTC")
    by_field = pd.DataFrame({"key": [1], "at": [at], "amount": [Decimal(3)]})
    assert await tk.insert_frame(db, Renamed, by_field) == 1
    read = await tk.read_frame(db, select(Renamed))
    assert read.columns.tolist() == ["row_key", "stamped_at", "amount_whole"]
    assert await tk.insert_frame(db, Renamed, read.assign(row_key=[2])) == 1
    async with db.session() as s:
        rows = await crud.search(s, Renamed)
    frame = tk.to_frame(rows)
    assert frame.columns.tolist() == ["key", "at", "amount"]
    assert frame["key"].tolist() == [1, 2]
    assert frame["at"].tolist() == [at, at]


# -- upsert keys and partial upsert frames ---------------------------------------------


def stock(skus: list[str], qty: int = 1, region: str = "north") -> pd.DataFrame:
    return pd.DataFrame(
        {"region": region, "sku": skus, "name": [f"n-{s}" for s in skus], "qty": qty}
    )


async def test_upsert_on_a_composite_unique_constraint(db: tk.Database) -> None:
    """The key validation knows (UniqueConstraint(region, sku)) is the upsert's target."""
    await tk.insert_frame(db, Stock, stock(["a", "b"]))
    written = await tk.insert_frame(db, Stock, stock(["b", "c"], qty=5), on_conflict="update")
    assert written == 2
    back = await tk.read_frame(db, select(Stock.id, Stock.sku, Stock.qty).order_by(Stock.sku))
    # The stored rows keep their ids (PostgreSQL's sequence may skip numbers for c).
    assert back["id"].tolist()[:2] == [1, 2] and back["id"].iloc[2] > 2
    assert back[["sku", "qty"]].to_dict("list") == {"sku": ["a", "b", "c"], "qty": [1, 5, 5]}


async def test_upsert_frame_of_key_and_changes_only(db: tk.Database) -> None:
    """Rows that exist keep the NOT NULL columns the frame lacks (code; name)."""
    await tk.insert_frame(db, Keyed, keyed([1, 2, 3]).assign(note="kept"))
    change = pd.DataFrame({"id": [3, 1], "qty": [30, 10]}, index=["x", "y"])
    assert await tk.insert_frame(db, Keyed, change, on_conflict="update") == 2
    back = await tk.read_frame(db, select(Keyed).order_by(Keyed.id))
    assert back["code"].tolist() == ["c1", "c2", "c3"]
    assert back["qty"].tolist() == [10, 1, 30]
    assert back["note"].tolist() == ["kept"] * 3
    # A composite key, looked up in several batches.
    await tk.insert_frame(db, Stock, stock([f"s{i}" for i in range(7)]))
    partial = pd.DataFrame({"region": "north", "sku": [f"s{i}" for i in range(7)], "qty": 9})
    original = upsert.LOOKUP_PARAMETERS
    upsert.LOOKUP_PARAMETERS = 4  # two keys a query: four queries
    try:
        async with tk.count_queries(db) as log:
            assert await tk.insert_frame(db, Stock, partial, on_conflict="update") == 7
    finally:
        upsert.LOOKUP_PARAMETERS = original
    lookups = [r.sql for r in log.statements if r.sql.upper().startswith("SELECT")]
    assert sum("test_stock" in sql for sql in lookups) == 4
    back = await tk.read_frame(db, select(Stock.sku, Stock.name, Stock.qty).order_by(Stock.sku))
    assert back["name"].tolist() == [f"n-s{i}" for i in range(7)]
    assert back["qty"].tolist() == [9] * 7


async def test_upsert_new_rows_need_every_not_null_column(db: tk.Database) -> None:
    await tk.insert_frame(db, Keyed, keyed([1, 2]))
    change = pd.DataFrame({"id": [1, 7, 2, 8], "qty": 5}, index=["a", "b", "c", "d"])
    with pytest.raises(tk.FrameValidationError, match="new row") as info:
        await tk.insert_frame(db, Keyed, change, on_conflict="update")
    errors = info.value.errors
    assert list(zip(errors["row"], errors["column"], strict=True)) == [("b", "code"), ("d", "code")]
    assert "key (id)" in errors["message"].iloc[0]
    back = await tk.read_frame(db, select(Keyed).order_by(Keyed.id))
    assert back["qty"].tolist() == [1, 1]  # nothing written, existing rows included
    # Inside a transaction: the failed frame leaves the caller's work alone.
    async with db.transaction() as s:
        await crud.create(s, Keyed, id=5, code="c5")
        with pytest.raises(tk.FrameValidationError):
            await tk.insert_frame(s, Keyed, change, on_conflict="update")
    assert await count(db, Keyed) == 3


async def test_integer_labels_name_columns_as_strings(db: tk.Database) -> None:
    pivot = pd.DataFrame({"region": ["n", "s"], 2023: [1, 2], 2024: [3, 4]})
    assert await tk.insert_frame(db, Yearly, pivot) == 2
    back = await tk.read_frame(db, select(Yearly).order_by(Yearly.region))
    assert back[["2023", "2024"]].to_dict("list") == {"2023": [1, 2], "2024": [3, 4]}
    with pytest.raises(tk.FrameValidationError, match="is not a column") as info:
        await tk.insert_frame(db, Yearly, pivot.assign(**{"7": 1}).rename(columns={"7": 7}))
    assert info.value.errors["column"].tolist() == ["7"]
