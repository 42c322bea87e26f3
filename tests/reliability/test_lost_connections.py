"""A datasource server that ends our sessions mid-conversation (restart, pg_terminate_backend): each
query then is answered or is a clear Upstream error — never a driver's internal error — and the
next one reconnects. After a terminated backend asyncpg sometimes raised InternalClientError
("cannot switch to state 15; another operation is in progress"), about one round in eight."""
from __future__ import annotations

from urllib.parse import urlsplit

from tabletalk.core.datasources.base import connector_for
from tabletalk.core.errors import Upstream

ROUNDS = 25


async def test_postgres_sessions_terminated_again_and_again_are_clear_errors_then_recover(pg_url):
    import asyncpg

    p = urlsplit(pg_url)
    conn = connector_for("postgresql", {"host": p.hostname, "port": p.port, "user": p.username, "password": p.password,
                                        "database": p.path[1:]})
    admin = await asyncpg.connect(pg_url)
    outcomes = []
    try:
        for _ in range(ROUNDS):
            assert (await conn.execute("SELECT 1 AS one")).data == [[1]]
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            try:
                await conn.execute("SELECT 2 AS two")
                outcomes.append("answered")
            except Upstream as exc:
                outcomes.append(exc.detail)
                assert "state" not in exc.detail and "password" not in exc.detail, exc.detail
                assert "lost mid-query" in exc.detail, exc.detail  # it had connected: not "could not connect"
    finally:
        await admin.close()
        await conn.close()
    print({o: outcomes.count(o) for o in set(outcomes)})
