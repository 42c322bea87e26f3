"""SQLite datasources reuse a few read-only connections: counted as the file descriptors this
process holds on the database file. A connection whose query failed is not reused, an idle one
holds no lock, a replaced file gets fresh connections, and updating or deleting the datasource
(or stopping the service) closes them."""
from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from tabletalk.core.datasources.base import connector_for
from tabletalk.core.datasources.sqlite import POOL_SIZE
from tabletalk.core.errors import Invalid, Upstream
from tests.conftest import ADMIN, running_app

SLOW = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT COUNT(*) FROM c"


def open_fds(path: Path) -> int:
    """How many descriptors of this process point at the file `path` (or did, if it was replaced)."""
    target = str(path.resolve())
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += link in (target, f"{target} (deleted)")
    return count


def make_db(path: Path, rows: int) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (i INTEGER)")
    db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(rows)])
    db.commit()
    db.close()
    return path


@pytest.fixture
async def sqlite_ds(tmp_path):
    path = make_db(tmp_path / "p.db", 10)
    conn = connector_for("sqlite", {"database": str(path)})
    yield conn, path
    await conn.close()


async def test_sequential_queries_share_one_connection(sqlite_ds):
    conn, path = sqlite_ds
    assert open_fds(path) == 0
    for _ in range(20):
        assert (await conn.execute("SELECT COUNT(*) FROM t")).data == [[10]]
    await conn.introspect()
    await conn.sample_values("t", "i", 100)
    assert open_fds(path) == 1
    await conn.close()
    assert open_fds(path) == 0


async def test_concurrent_queries_use_at_most_the_pool(sqlite_ds):
    conn, path = sqlite_ds
    results = await asyncio.gather(*(conn.execute(f"SELECT SUM(i) + {n} FROM t") for n in range(40)))
    assert [r.data for r in results] == [[[45 + n]] for n in range(40)]
    assert 1 <= open_fds(path) <= POOL_SIZE


async def test_a_timed_out_query_does_not_spoil_the_next(sqlite_ds):
    conn, path = sqlite_ds
    await conn.execute("SELECT 1")
    with pytest.raises(Upstream, match="longer than 0.2 s"):
        await conn.execute(SLOW, timeout=0.2)
    assert open_fds(path) == 0  # the interrupted connection was closed, and it was the only one
    # The next query gets a fresh connection with its own deadline, not the expired one.
    assert (await conn.execute("SELECT COUNT(*) FROM t", timeout=5)).data == [[10]]
    await conn.introspect()  # no deadline at all: a reused connection must not carry the last query's
    assert open_fds(path) == 1


async def test_a_refused_result_closes_its_connection(sqlite_ds):
    conn, path = sqlite_ds
    await conn.execute("SELECT 1")
    with pytest.raises(Invalid, match="MB"):
        await conn.execute("SELECT length(randomblob(900000000))")
    assert open_fds(path) == 0
    assert (await conn.execute("SELECT MAX(i) FROM t")).data == [[9]]


async def test_an_idle_connection_holds_no_lock(tmp_path):
    # Rollback-journal mode: a reader's unfinished statement would keep writers out.
    path = make_db(tmp_path / "w.db", 50)
    conn = connector_for("sqlite", {"database": str(path)})
    try:
        result = await conn.execute("SELECT i FROM t", max_rows=2)  # stops reading after 3 rows
        assert result.truncated
        writer = sqlite3.connect(path, timeout=0)
        writer.execute("INSERT INTO t VALUES (99)")
        writer.commit()  # "database is locked" if the pooled connection still held its read
        writer.close()
        assert (await conn.execute("SELECT COUNT(*) FROM t")).data == [[51]]
    finally:
        await conn.close()


async def test_a_replaced_file_is_read_afresh(sqlite_ds, tmp_path):
    conn, path = sqlite_ds
    assert (await conn.execute("SELECT COUNT(*) FROM t")).data == [[10]]
    make_db(tmp_path / "new.db", 3).replace(path)  # as the demo is rebuilt: a new file under the old name
    assert (await conn.execute("SELECT COUNT(*) FROM t")).data == [[3]]
    assert open_fds(path) == 1  # the old file's connection was closed
    path.unlink()
    with pytest.raises(Upstream, match="does not exist"):
        await conn.execute("SELECT COUNT(*) FROM t")


async def test_a_query_running_while_the_connector_closes_still_answers(sqlite_ds):
    conn, path = sqlite_ds
    slow = asyncio.ensure_future(conn.execute(
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 300000) SELECT COUNT(*) FROM c"))
    await asyncio.sleep(0.01)
    await conn.close()
    assert (await slow).data == [[300000]]
    assert (await conn.execute("SELECT COUNT(*) FROM t")).data == [[10]]  # a one-off connection, closed after
    assert open_fds(path) == 0


async def test_updating_deleting_or_stopping_closes_the_connections(tmp_path):
    async with running_app(tmp_path / "home") as (app, client, demo):
        shop = tmp_path / "home" / "demo" / "shop.db"
        ask = {"datasource_id": demo, "question": "How many orders are there?"}

        async def answered():
            body = await (await client.post("/api/v1/single-turn/q2a", headers=ADMIN, json=ask)).json()
            assert body["status"] == "success", body

        await answered()
        assert open_fds(shop) >= 1
        assert (await client.patch(f"/api/v1/datasources/{demo}", headers=ADMIN, json={"desc": "changed"})).status == 200
        assert open_fds(shop) == 0
        await answered()
        assert open_fds(shop) >= 1
    assert open_fds(shop) == 0  # the service stopped

    async with running_app(tmp_path / "home2") as (app, client, demo):
        shop = tmp_path / "home2" / "demo" / "shop.db"
        body = await (await client.post("/api/v1/single-turn/q2a", headers=ADMIN,
                                        json={"datasource_id": demo, "question": "How many orders are there?"})).json()
        assert body["status"] == "success", body
        assert open_fds(shop) >= 1
        assert (await client.delete(f"/api/v1/datasources/{demo}", headers=ADMIN)).status in (200, 204)
        assert open_fds(shop) == 0


async def test_a_reused_connection_does_not_keep_the_last_deadline(tmp_path):
    path = make_db(tmp_path / "d.db", 5000)
    conn = connector_for("sqlite", {"database": str(path)})
    try:
        assert (await conn.execute("SELECT COUNT(*) FROM t", timeout=0.05)).data == [[5000]]
        await asyncio.sleep(0.1)  # that query's deadline has passed; its connection is idle in the pool
        assert len(await conn.sample_values("t", "i", 10_000)) == 5000  # no deadline of its own
        assert open_fds(path) == 1
    finally:
        await conn.close()


async def test_quick_queries_run_on_the_loop_and_slow_ones_move_to_a_thread(sqlite_ds, monkeypatch):
    """Once a connection is idle, a query that finishes within INLINE_BUDGET needs no thread; one
    that runs longer is interrupted there and answered in full from a thread, on the same connection."""
    conn, path = sqlite_ds
    handed: list[str] = []
    to_thread = asyncio.to_thread

    async def counting(fn, *args, **kw):
        handed.append(fn.__name__)
        return await to_thread(fn, *args, **kw)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    assert (await conn.execute("SELECT COUNT(*) FROM t")).data == [[10]]  # opens the first connection
    handed.clear()
    for n in range(5):
        assert (await conn.execute(f"SELECT SUM(i) + {n} FROM t")).data == [[45 + n]]
    assert handed == []
    slow = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000000) SELECT COUNT(*) FROM c"
    assert (await conn.execute(slow)).data == [[3000000]]
    assert handed == ["_execute"] and open_fds(path) == 1  # interrupted on the loop, not discarded
    with pytest.raises(Invalid, match="no such table"):
        await conn.execute("SELECT * FROM missing")
    assert (await conn.execute("SELECT MAX(i) FROM t")).data == [[9]]
