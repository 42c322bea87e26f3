"""Shared fixtures: real database servers started by `.ci/start-dbs.sh` (CI runs it), and the app.

A test needing PostgreSQL or MariaDB skips with a reason when the server is not reachable,
except when TABLETALK_REQUIRE_SERVERS=1 (set by .ci/run), where it fails instead.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import pytest


# Where `.ci/start-dbs.sh` starts the servers; override with the environment variables.
DEFAULT_PG = "postgresql://tt:ttpass@127.0.0.1:55432/tt"
DEFAULT_MYSQL = "mysql://tt:ttpass@127.0.0.1:53306/tt"


def _unavailable(reason: str):
    if os.environ.get("TABLETALK_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason} (TABLETALK_REQUIRE_SERVERS=1: CI must start it with .ci/start-dbs.sh)")
    pytest.skip(reason)


def _with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + db))


@pytest.fixture
async def pg_url():
    """URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    import asyncpg

    base = os.environ.get("TABLETALK_TEST_POSTGRES_URL", DEFAULT_PG)
    try:
        admin = await asyncpg.connect(base, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable(f"PostgreSQL not reachable at {urlsplit(base).netloc.split('@')[-1]}: {exc}")
    name = "t_" + secrets.token_hex(6)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_db(base, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def mysql_url():
    """URL of a fresh, empty MariaDB/MySQL database, dropped afterwards."""
    import aiomysql

    base = os.environ.get("TABLETALK_TEST_MYSQL_URL", DEFAULT_MYSQL)
    p = urlsplit(base)
    try:
        conn = await aiomysql.connect(host=p.hostname, port=p.port or 3306, user=p.username,
                                      password=p.password or "", connect_timeout=5, autocommit=True)
    except (OSError, aiomysql.OperationalError) as exc:  # pymysql's OperationalError is no OSError
        _unavailable(f"MariaDB not reachable at {p.hostname}:{p.port}: {exc}")
    name = "t_" + secrets.token_hex(6)
    async with conn.cursor() as cur:
        await cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield _with_db(base, name)
    finally:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


ADMIN_KEY = "tt_test_admin_key_0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def make_settings(home, **env):
    """Settings for a test app: its own home, a known admin key, no LLM unless given."""
    from tabletalk.config.settings import Settings

    values = {"TABLETALK_HOME": str(home), "TABLETALK_ADMIN_KEY": ADMIN_KEY}
    values.update(env)
    return Settings(**values)


@pytest.fixture
async def client(tmp_path):
    """A running app (demo shop included) and an aiohttp client to it."""
    from aiohttp.test_utils import TestClient, TestServer

    from tabletalk.adapters.rest.app import create_app

    app = create_app(make_settings(tmp_path / "home"))
    async with TestClient(TestServer(app)) as c:
        yield c


@contextlib.asynccontextmanager
async def running_app(home, **env):
    """A served app (demo shop included): yields (app, client, demo datasource id)."""
    from aiohttp.test_utils import TestClient, TestServer

    from tabletalk.adapters.rest.app import create_app

    app = create_app(make_settings(home, **env))
    async with TestClient(TestServer(app)) as c:
        yield app, c, await demo_id(c)


async def wait_synced(client, ds_id: str) -> None:
    """Wait for a datasource's metadata sync to end, and require it to have succeeded."""
    import asyncio

    for _ in range(400):
        body = await (await client.get(f"/api/v1/datasources/{ds_id}", headers=ADMIN)).json()
        if body["meta_status"] in ("success", "failed"):
            assert body["meta_status"] == "success", body
            return
        await asyncio.sleep(0.05)
    raise AssertionError("metadata sync did not finish")


async def demo_id(client) -> str:
    resp = await client.get("/api/v1/datasources", headers=ADMIN)
    items = (await resp.json())["items"]
    return next(d["id"] for d in items if d["name"] == "Demo shop")


def demo_truth(app, sql: str) -> list[tuple]:
    """Rows of `sql` read straight from the demo shop's SQLite file: the truth an answer is checked against."""
    import sqlite3

    from tabletalk.adapters.rest.app import CORE

    with contextlib.closing(sqlite3.connect(app[CORE].home / "demo" / "shop.db")) as db:
        return db.execute(sql).fetchall()


def customers_in(app, city: str) -> int:
    return demo_truth(app, f"SELECT COUNT(*) FROM customers WHERE city = '{city}'")[0][0]
