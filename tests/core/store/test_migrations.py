"""The metadata store upgrades an existing home without losing data, on SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import inspect, text

from tabletalk.config.settings import to_async_url
from tabletalk.core.store.db import MIGRATIONS, Migration, Store, add_column_if_missing
from tabletalk.core.store.models import Datasource


async def _upgrade_keeps_rows(url: str) -> None:
    store = Store(url)
    assert await store.migrate() == max(m.version for m in MIGRATIONS)
    async with store.session() as s:
        s.add(Datasource(id="ds_keep", name="keep me", engine="sqlite", access_config={"database": "x"}))
        await s.commit()
    await store.close()

    # A later release adds a column through a new numbered migration.
    release2 = [*MIGRATIONS, Migration(99, "add datasources.owner", add_column_if_missing("datasources", "owner", "TEXT", "'nobody'"))]
    store = Store(url)
    assert await store.migrate(release2) == 99
    assert await store.migrate(release2) == 99  # idempotent on the next start
    async with store.engine.connect() as conn:
        cols = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("datasources")})
        rows = (await conn.execute(text("SELECT name, owner FROM datasources WHERE id = 'ds_keep'"))).all()
        versions = (await conn.execute(text("SELECT version FROM schema_migrations ORDER BY version"))).scalars().all()
    await store.close()
    assert "owner" in cols
    assert rows == [("keep me", "nobody")]
    assert versions[-1] == 99


async def test_sqlite_home_upgrades_without_losing_data(tmp_path):
    await _upgrade_keeps_rows(to_async_url(f"sqlite:///{tmp_path / 'tt.db'}"))


async def test_postgres_metadata_upgrades_without_losing_data(pg_url):
    await _upgrade_keeps_rows(to_async_url(pg_url))


async def _old_keys_table_upgrades(url: str) -> None:
    """A home from before keys carried roles: its keys keep working and lose their long prefixes."""
    from tabletalk.core.auth import KeyService, hash_key

    store = Store(url)
    async with store.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE api_keys (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, prefix VARCHAR NOT NULL, "
                                "key_hash VARCHAR NOT NULL UNIQUE, scope VARCHAR NOT NULL, bot_ids JSON, "
                                "created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)"))
        await conn.execute(text("INSERT INTO api_keys VALUES ('key_old', 'TABLETALK_ADMIN_KEY', 'tt_secret_', :h, 'priv_admin', '[]', "
                                "CURRENT_TIMESTAMP, NULL)"), {"h": hash_key("tt_secret_admin")})
    await store.migrate()
    key = await KeyService(store).authenticate("Bearer tt_secret_admin")
    await store.close()
    assert key.id == "key_old" and key.prefix == "tt_s" and key.role_id is None and key.expires_at is None


async def test_sqlite_keys_from_an_older_release_upgrade(tmp_path):
    await _old_keys_table_upgrades(to_async_url(f"sqlite:///{tmp_path / 'tt.db'}"))


async def test_postgres_keys_from_an_older_release_upgrade(pg_url):
    await _old_keys_table_upgrades(to_async_url(pg_url))
