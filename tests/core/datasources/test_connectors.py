"""Each engine's connector against a real database: introspection, row caps, read-only refusal,
timeouts, unreachable servers and wrong passwords, value conversion."""
from __future__ import annotations

import asyncio
import socket
import sqlite3
from urllib.parse import urlsplit

import pytest

from tabletalk.core.datasources.base import connector_for
from tabletalk.core.errors import Invalid, Upstream

SCHEMA = [
    "CREATE TABLE teams (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL)",
    "CREATE TABLE players (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES teams(id), name VARCHAR(40), "
    "score DECIMAL(8,2), joined DATE)",
    "CREATE VIEW top_players AS SELECT id, name FROM players WHERE score > 50",
    "CREATE TABLE codes (code VARCHAR(10))",
]
ROWS = ["INSERT INTO teams VALUES (1, 'Red'), (2, 'Blue')", "INSERT INTO codes VALUES ('US'), ('us'), ('US '), ('US')"] + [
    f"INSERT INTO players VALUES ({i}, {i % 2 + 1}, 'p{i}', {i * 10}.50, '2024-01-{i:02d}')" for i in range(1, 11)]
# 10^10 rows of cross join: slow on every engine (MariaDB caps recursive CTEs at 1000 iterations).
SLOW = "SELECT COUNT(*) FROM " + ", ".join(f"players p{i}" for i in range(10))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _sqlite(tmp_path):
    db = sqlite3.connect(tmp_path / "t.db")
    for stmt in SCHEMA + ROWS:
        db.execute(stmt)
    db.commit()
    db.close()
    return connector_for("sqlite", {"database": str(tmp_path / "t.db")})


async def _pg(url):
    import asyncpg

    conn = await asyncpg.connect(url)
    for stmt in SCHEMA + ROWS:
        await conn.execute(stmt)
    await conn.close()
    p = urlsplit(url)
    return connector_for("postgresql", {"host": p.hostname, "port": p.port, "user": p.username, "password": p.password,
                                        "database": p.path[1:]})


async def _mysql(url):
    import aiomysql

    p = urlsplit(url)
    conn = await aiomysql.connect(host=p.hostname, port=p.port, user=p.username, password=p.password, db=p.path[1:], autocommit=True)
    async with conn.cursor() as cur:
        for stmt in SCHEMA + ROWS:
            await cur.execute(stmt)
    conn.close()
    return connector_for("mysql", {"host": p.hostname, "port": p.port, "user": p.username, "password": p.password,
                                   "database": p.path[1:]})


@pytest.fixture
async def sqlite_conn(tmp_path):
    c = await _sqlite(tmp_path)
    yield c
    await c.close()


@pytest.fixture
async def postgres_conn(pg_url):
    c = await _pg(pg_url)
    yield c
    await c.close()


@pytest.fixture
async def mysql_conn(mysql_url):
    c = await _mysql(mysql_url)
    yield c
    await c.close()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def conn(request):
    return request.getfixturevalue(f"{request.param}_conn")


async def test_introspection_finds_tables_keys_and_views(conn):
    tables = {t.name: t for t in await conn.introspect()}
    assert {"teams", "players", "top_players"} <= set(tables)
    players = tables["players"]
    assert players.column("id").primary_key
    assert players.column("team_id").references == ("teams", "id")
    assert players.column("score").kind == "number" and players.column("joined").kind == "date"
    assert tables["top_players"].kind == "view" and "score" in tables["top_players"].view_sql.lower()


async def test_row_cap_and_value_conversion(conn):
    result = await conn.execute("SELECT id, score, joined FROM players ORDER BY id", max_rows=3)
    assert result.truncated and len(result.data) == 3
    assert result.data[0] == [1, 10.5, "2024-01-01"]
    full = await conn.execute("SELECT COUNT(*) FROM players")
    assert full.data == [[10]] and not full.truncated


async def test_writes_are_refused_before_the_database(conn):
    for sql in ("DELETE FROM players", "UPDATE players SET score = 0", "DROP TABLE teams", "SELECT 1; DELETE FROM players"):
        with pytest.raises(Invalid):
            await conn.execute(sql)
    assert (await conn.execute("SELECT COUNT(*), SUM(score) FROM players")).data == [[10, 555]]


async def test_slow_query_hits_the_statement_timeout(conn):
    with pytest.raises(Upstream, match="longer than 0.5 s"):
        await asyncio.wait_for(conn.execute(SLOW, timeout=0.5), 30)
    assert (await conn.execute("SELECT COUNT(*) FROM teams")).data == [[2]]  # the connector still works


async def test_database_errors_are_clear(conn):
    with pytest.raises(Invalid, match="rejected the query"):
        await conn.execute("SELECT nope FROM players")


async def test_values_for_the_index(conn):
    assert sorted(await conn.sample_values("teams", "name", 10)) == ["Blue", "Red"]
    assert await conn.sample_values("players", "name", 5) is None  # too many distinct values
    # Stored values that differ only in case or a trailing space stay distinct (MariaDB's collations call them equal).
    assert sorted(await conn.sample_values("codes", "code", 10)) == ["US", "US ", "us"]


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
async def test_closed_port_fails_fast_without_the_password(engine):
    c = connector_for(engine, {"host": "127.0.0.1", "port": _closed_port(), "user": "u", "password": "s3cret-pw", "database": "d"})
    with pytest.raises(Upstream) as err:
        await asyncio.wait_for(c.test(), 10)
    assert "s3cret-pw" not in err.value.detail and "127.0.0.1" in err.value.detail


async def test_wrong_password_is_reported_without_it(pg_url, mysql_url):
    for engine, url in (("postgresql", pg_url), ("mysql", mysql_url)):
        p = urlsplit(url)
        c = connector_for(engine, {"host": p.hostname, "port": p.port, "user": p.username, "password": "Wr0ng-Pass",
                                   "database": p.path[1:]})
        with pytest.raises(Upstream) as err:
            await c.test()
        assert "Wr0ng-Pass" not in err.value.detail


async def test_database_down_mid_session_is_a_clear_error(pg_url):
    import asyncpg

    c = await _pg(pg_url)
    assert (await c.execute("SELECT COUNT(*) FROM teams")).data == [[2]]
    admin = await asyncpg.connect(pg_url)
    await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    await admin.close()
    try:
        await c.execute("SELECT COUNT(*) FROM teams")  # a killed pooled connection: an error or a reconnect, never a hang
    except (Upstream, Invalid) as exc:
        assert "password" not in exc.detail
    assert (await c.execute("SELECT COUNT(*) FROM teams")).data == [[2]]  # and the pool recovers
    await c.close()


@pytest.mark.parametrize("engine,suffix", [("csv", ".csv"), ("parquet", ".parquet"), ("excel", ".xlsx")])
async def test_file_sources_are_tables_and_sealed(tmp_path, engine, suffix):
    import pandas as pd

    frame = pd.DataFrame({"city": ["Berlin", "Paris", "Berlin"], "sales": [10, 5, 7]})
    path = tmp_path / f"shop_sales{suffix}"
    {"csv": lambda: frame.to_csv(path, index=False), "parquet": lambda: frame.to_parquet(path),
     "excel": lambda: frame.to_excel(path, index=False)}[engine]()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    c = connector_for(engine, {"path": str(path)})
    tables = await c.introspect()
    assert [t.name for t in tables] == ["shop_sales"]
    result = await c.execute("SELECT city, SUM(sales) FROM shop_sales GROUP BY city ORDER BY city")
    assert result.data == [["Berlin", 17], ["Paris", 5]]
    with pytest.raises(Invalid):
        await c.execute(f"SELECT * FROM '{tmp_path / 'secret.csv'}'")
    with pytest.raises(Invalid):
        await c.execute(f'SELECT * FROM "{tmp_path / "secret.csv"}"')
    await c.close()
