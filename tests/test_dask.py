"""read_dask / insert_dask on a LocalCluster of worker processes, on both dialects."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select, text

import toolkit as tk

from .conftest import PG_SCHEMA, pg_connect_args
from .frame_models import AllTypes, Keyed

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings(
    # distributed warns about ports and event-loop details on start-up and shutdown.
    "ignore::DeprecationWarning",
    "ignore::ResourceWarning",
    "ignore:.*Port .* is already in use.*:UserWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two worker processes, one thread each; a task that kills its worker fails at once
    (allowed-failures 0) instead of being retried on the other worker."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        with cluster, distributed.Client(cluster) as c:
            yield c


def _settings(db: tk.Database) -> dict[str, Any] | None:
    return pg_connect_args(PG_SCHEMA) if db.dialect == "postgresql" else None


def _keyed(n: int, start: int = 1) -> pd.DataFrame:
    ids = range(start, start + n)
    return pd.DataFrame(
        {
            "id": ids,
            "code": [f"c{k}" for k in ids],
            "qty": [k % 9 for k in ids],
            "note": [None if k % 7 == 0 else f"n{k}" for k in ids],
        }
    )


async def _staging_tables(db: tk.Database) -> list[str]:
    if db.dialect == "postgresql":
        sql = "SELECT tablename FROM pg_tables WHERE tablename LIKE '\\_tk\\_stage\\_%'"
    else:
        sql = "SELECT name FROM sqlite_master WHERE name LIKE '\\_tk\\_stage\\_%' ESCAPE '\\'"
    return list((await tk.read_frame(db, sql)).iloc[:, 0])


async def test_read_dask_equals_read_frame(db: tk.Database, client: Any) -> None:
    frame = _keyed(300)
    await tk.insert_frame(db, Keyed, frame)
    query = select(Keyed).order_by(Keyed.id)
    whole = await tk.read_frame(db, query)
    ddf = await tk.read_dask(
        db, query, partition_on="id", npartitions=4, connect_args=_settings(db)
    )
    assert ddf.npartitions == 4
    assert ddf._meta.dtypes.equals(whole.dtypes)
    got = await asyncio.to_thread(ddf.compute)
    got = got.sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(got, whole)


async def test_read_dask_raw_sql_groupby(db: tk.Database, client: Any) -> None:
    await tk.insert_frame(db, Keyed, _keyed(250))
    sql = "SELECT id, qty, note FROM test_keyed WHERE id > :low"
    ddf = await tk.read_dask(
        db, sql, params={"low": 10}, partition_on="id", npartitions=3, connect_args=_settings(db)
    )
    got = await asyncio.to_thread(ddf.groupby("qty").size().compute)
    expected = (await tk.read_frame(db, sql, params={"low": 10})).groupby("qty").size()
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index())


async def test_read_dask_types_every_column(db: tk.Database, client: Any) -> None:
    from .test_partitioned_read import _rows

    await tk.insert_frame(db, AllTypes, _rows(120))
    whole = await tk.read_frame(db, select(AllTypes).order_by(AllTypes.id))
    ddf = await tk.read_dask(
        db, select(AllTypes), partition_on="ts", npartitions=3, connect_args=_settings(db)
    )
    got = (await asyncio.to_thread(ddf.compute)).sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(got, whole)


async def test_credentials_stay_out_of_keys_and_graph(db: tk.Database, client: Any) -> None:
    await tk.insert_frame(db, Keyed, _keyed(20))
    ddf = await tk.read_dask(
        db, select(Keyed), partition_on="id", npartitions=2, connect_args=_settings(db)
    )
    url = db.url.render_as_string(hide_password=False)
    graph = dict(ddf.__dask_graph__())
    assert url not in repr(list(graph))
    assert url not in repr(graph)
    assert str(db.url.database) not in repr(list(graph))


async def test_partitions_are_read_at_compute_time(db: tk.Database, client: Any) -> None:
    """The README's claim: each partition reads the database when the graph computes
    (its own transaction), not when read_dask returns."""
    await tk.insert_frame(db, Keyed, _keyed(50))
    ddf = await tk.read_dask(
        db, select(Keyed), partition_on="id", npartitions=2, connect_args=_settings(db)
    )
    await tk.insert_frame(db, Keyed, _keyed(10, start=1000))  # beyond the bounds read
    got = await asyncio.to_thread(ddf.compute)
    assert sorted(got["id"]) == [*range(1, 51), *range(1000, 1010)]


async def test_insert_dask_loads_every_partition(db: tk.Database, client: Any) -> None:
    frame = _keyed(400)
    ddf = dd.from_pandas(frame, npartitions=4)
    n = await tk.insert_dask(db, Keyed, ddf, connect_args=_settings(db))
    assert n == 400
    got = await tk.read_frame(db, select(Keyed).order_by(Keyed.id))
    assert got["id"].tolist() == frame["id"].tolist()
    assert got["qty"].tolist() == frame["qty"].tolist()
    assert await _staging_tables(db) == []


@pytest.mark.parametrize("how", ["name", "table"])
async def test_insert_dask_into_a_table_without_a_model(
    db: tk.Database, client: Any, how: str
) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table, Text

    name = f"sales_{how}"
    async with db.engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    await tk.insert_frame(db, name, _keyed(1), create=True, primary_key="id")
    target: Any = name  # reflected from the database
    if how == "table":
        target = Table(
            name,
            MetaData(),
            Column("id", Integer, primary_key=True),
            Column("code", Text),
            Column("qty", Integer),
            Column("note", Text),
        )
    ddf = dd.from_pandas(_keyed(300, start=2), npartitions=3)
    n = await tk.insert_dask(db, target, ddf, connect_args=_settings(db))
    assert n == 300
    got = await tk.read_frame(db, f"SELECT id FROM {name} ORDER BY id")
    assert got["id"].tolist() == list(range(1, 302))
    bad = _keyed(2, start=500)
    bad["qty"] = bad["qty"].astype(object)
    bad.loc[1, "qty"] = "many"  # not a number
    with pytest.raises(tk.FrameValidationError):
        await tk.insert_dask(
            db, target, dd.from_pandas(bad, npartitions=2), connect_args=_settings(db)
        )
    assert len(await tk.read_frame(db, f"SELECT id FROM {name}")) == 301
    assert await _staging_tables(db) == []


async def test_insert_dask_bad_row_writes_nothing(db: tk.Database, client: Any) -> None:
    frame = _keyed(300)
    frame.loc[250, "qty"] = -5  # Keyed.qty >= 0, in the last partition
    ddf = dd.from_pandas(frame, npartitions=3)
    with pytest.raises(tk.FrameValidationError):
        await tk.insert_dask(db, Keyed, ddf, connect_args=_settings(db))
    assert len(await tk.read_frame(db, select(Keyed))) == 0
    assert await _staging_tables(db) == []


async def test_insert_dask_duplicate_across_partitions(db: tk.Database, client: Any) -> None:
    frame = pd.concat([_keyed(100), _keyed(1, start=5)], ignore_index=True)
    ddf = dd.from_pandas(frame, npartitions=2, sort=False)
    with pytest.raises(tk.DuplicateError):
        await tk.insert_dask(db, Keyed, ddf, connect_args=_settings(db))
    assert len(await tk.read_frame(db, select(Keyed))) == 0
    n = await tk.insert_dask(db, Keyed, ddf, on_conflict="ignore", connect_args=_settings(db))
    assert n == 100
    changed = _keyed(100)
    changed["qty"] = 7
    n = await tk.insert_dask(
        db,
        Keyed,
        dd.from_pandas(changed, npartitions=2),
        on_conflict="update",
        connect_args=_settings(db),
    )
    assert n == 100
    assert set((await tk.read_frame(db, select(Keyed.qty)))["qty"]) == {7}
    assert await _staging_tables(db) == []


def die_in_worker(frame: pd.DataFrame, marker: int) -> pd.DataFrame:
    """Kill the worker process that computes the partition holding ``marker``."""
    if len(frame) and (frame["id"] == marker).any():
        try:
            distributed.get_worker()
        except ValueError:
            return frame
        os.kill(os.getpid(), signal.SIGKILL)
    return frame


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_worker_dying_mid_load_writes_nothing(db: tk.Database, client: Any) -> None:
    frame = _keyed(300)
    ddf = dd.from_pandas(frame, npartitions=3).map_partitions(die_in_worker, 280)
    with pytest.raises(distributed.KilledWorker):
        await tk.insert_dask(db, Keyed, ddf, connect_args=_settings(db))
    assert len(await tk.read_frame(db, select(Keyed))) == 0
    assert await _staging_tables(db) == []
    await asyncio.to_thread(client.wait_for_workers, 2, 60)


async def test_without_dask_names_the_extra(
    db: tk.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(tk.ConfigurationError, match=r"toolkit\[dask\]"):
        await tk.read_dask(db, text("SELECT 1 AS x"), partition_on="x", npartitions=2)
    with pytest.raises(tk.ConfigurationError, match=r"toolkit\[dask\]"):
        await tk.insert_dask(db, Keyed, None)


async def test_read_dask_typed_text_query(db: tk.Database, client: Any) -> None:
    from sqlalchemy import Integer, String, column

    await tk.insert_frame(db, Keyed, _keyed(40))
    query = text("SELECT id, code FROM test_keyed").columns(
        column("id", Integer), column("code", String)
    )
    ddf = await tk.read_dask(
        db, query, partition_on="id", npartitions=2, connect_args=_settings(db)
    )
    got = (await asyncio.to_thread(ddf.compute)).sort_values("id", ignore_index=True)
    expected = (await tk.read_frame(db, query)).sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
