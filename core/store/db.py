"""The metadata store: an async SQLAlchemy engine (SQLite or PostgreSQL) and its versioned migrations.

Upgrades: every start runs `create_all` (new tables appear) and then each numbered migration the
database has not seen yet, recorded in `schema_migrations`. A migration must be idempotent with
respect to a fresh `create_all` (e.g. "add column if missing"), so a new home and an upgraded home
end in the same shape. On PostgreSQL an advisory lock keeps two instances from migrating at once.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import DateTime, Table, event, insert, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from tabletalk.core import jsoncodec
from tabletalk.core.errors import NotFound
from tabletalk.core.store.append import SqliteAppender, sqlite_file

log = logging.getLogger(__name__)

# Modules whose SQLModel tables belong to the store; optional ones may not exist yet.
MODEL_MODULES = ("tabletalk.core.store.models", "tabletalk.core.tables.models", "tabletalk.core.canvas.models",
                 "tabletalk.core.nlq.history", "tabletalk.core.policy.asktable_map")


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def add_column_if_missing(table: str, column: str, ddl_type, default_sql: str | None = None) -> Callable[[Connection], None]:
    """A migration step adding one column (idempotent). `ddl_type` is DDL text or a SQLAlchemy type,
    compiled for the store's engine (DATETIME on SQLite, TIMESTAMP on PostgreSQL)."""

    def apply(conn: Connection) -> None:
        inspector = inspect(conn)
        if table not in inspector.get_table_names():
            return
        existing = {c["name"] for c in inspector.get_columns(table)}
        if column not in existing:
            ddl = ddl_type if isinstance(ddl_type, str) else ddl_type.compile(dialect=conn.dialect)
            default = f" DEFAULT {default_sql}" if default_sql is not None else ""
            conn.execute(text(f'ALTER TABLE {table} ADD COLUMN {column} {ddl}{default}'))

    return apply


def steps(*parts: Callable[[Connection], None]) -> Callable[[Connection], None]:
    """Several migration steps as one."""

    def apply(conn: Connection) -> None:
        for part in parts:
            part(conn)

    return apply


def _short_key_prefixes(conn: Connection) -> None:
    # Listings showed the first ten characters of keys, TABLETALK_ADMIN_KEY's included: keep four.
    conn.execute(text("UPDATE api_keys SET prefix = substr(prefix, 1, 4) WHERE length(prefix) > 4"))


def _chat_seq_counter(conn: Connection) -> None:
    add_column_if_missing("chats", "last_seq", "INTEGER", "0")(conn)
    conn.execute(text("UPDATE chats SET last_seq = (SELECT COALESCE(MAX(seq), 0) FROM messages "
                      "WHERE messages.chat_id = chats.id)"))


# Version 1 is the schema `create_all` makes; later releases append steps here.
MIGRATIONS: list[Migration] = [
    Migration(1, "initial schema", lambda conn: None),
    Migration(2, "chats.datasource_id", add_column_if_missing("chats", "datasource_id", "VARCHAR")),
    Migration(3, "chats.name", add_column_if_missing("chats", "name", "VARCHAR", "''")),
    Migration(10, "api_keys carry a role and an expiry", steps(
        add_column_if_missing("api_keys", "role_id", "VARCHAR"),
        add_column_if_missing("api_keys", "role_variables", "JSON"),
        add_column_if_missing("api_keys", "user_profile", "JSON"),
        add_column_if_missing("api_keys", "expires_at", DateTime()),
        add_column_if_missing("api_keys", "kind", "VARCHAR", "'key'"))),
    Migration(11, "api key prefixes keep four characters", _short_key_prefixes),
    Migration(12, "canvases remember who created them", add_column_if_missing("canvases", "owner_key_id", "VARCHAR")),
    Migration(20, "chats.last_seq: message numbers handed out by the database", _chat_seq_counter),
    Migration(21, "messages carry the lease of the instance answering them", steps(
        add_column_if_missing("messages", "lease_owner", "VARCHAR"),
        add_column_if_missing("messages", "lease_until", DateTime()),
        add_column_if_missing("messages", "turn", "JSON"))),
    Migration(22, "canvas nodes carry the lease of the instance running them", steps(
        add_column_if_missing("canvas_nodes", "run_owner", "VARCHAR"),
        add_column_if_missing("canvas_nodes", "run_until", DateTime()))),
    Migration(23, "kept single-turn results remember the key that asked",
              add_column_if_missing("query_records", "owner_key_id", "VARCHAR")),
]


def _load_models() -> None:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not name.startswith(exc.name or "?"):
                raise


class Store:
    """Owns the engine; `session()` opens a unit of work."""

    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # hide_parameters: a failed statement's error text (logged, and once stored for users) never
        # carries the values bound to it — sampled data, secrets sealed or not.
        kwargs: dict = {"echo": echo, "hide_parameters": True, "json_serializer": jsoncodec.dumps_compact}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        path = sqlite_file(url) if self.is_sqlite else None
        self._appender = SqliteAppender(path, self.engine.dialect, _sqlite_pragmas) if path else None

    def session(self) -> AsyncSession:
        return self._sessions()

    async def add(self, *rows) -> None:
        """Store new rows in one transaction."""
        async with self.session() as s:
            s.add_all(rows)
            await s.commit()

    async def append(self, table: Table, rows: list[dict], *, batch: int = 50) -> None:
        """Insert many new rows in one transaction (on SQLite one trip to a thread: store/append.py;
        elsewhere INSERTs of `batch` rows each)."""
        if self._appender is not None:
            await self._appender.append(table, rows)
            return
        async with self.engine.begin() as conn:
            for i in range(0, len(rows), batch):
                await conn.execute(insert(table), rows[i:i + batch])

    async def fetch(self, model, key, what: str):
        """The row with this primary key, or NotFound naming it ("Chat 'x' does not exist.")."""
        async with self.session() as s:
            row = await s.get(model, key)
        if row is None:
            raise NotFound(f"{what} '{key}' does not exist.")
        return row

    async def remove(self, model, key, what: str):
        """Delete the row with this primary key (NotFound when absent); returns the deleted row."""
        async with self.session() as s:
            row = await s.get(model, key)
            if row is None:
                raise NotFound(f"{what} '{key}' does not exist.")
            await s.delete(row)
            await s.commit()
        return row

    async def migrate(self, migrations: list[Migration] | None = None) -> int:
        """Create/upgrade the schema; returns the version the database is at afterwards."""
        _load_models()
        steps = sorted(migrations if migrations is not None else MIGRATIONS, key=lambda m: m.version)
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(7411901)"))
            return await conn.run_sync(_migrate_sync, steps)

    async def close(self) -> None:
        if self._appender is not None:
            await self._appender.close()
        await self.engine.dispose()


def _migrate_sync(conn: Connection, steps: list[Migration]) -> int:
    conn.execute(text("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT, applied_at TEXT)"))
    SQLModel.metadata.create_all(conn)
    done = {row[0] for row in conn.execute(text("SELECT version FROM schema_migrations"))}
    for step in steps:
        if step.version in done:
            continue
        log.info("applying metadata migration %s: %s", step.version, step.description)
        step.apply(conn)
        conn.execute(
            text("INSERT INTO schema_migrations (version, description, applied_at) VALUES (:v, :d, CURRENT_TIMESTAMP)"),
            {"v": step.version, "d": step.description},
        )
        done.add(step.version)
    return max(done) if done else 0


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
