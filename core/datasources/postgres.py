"""PostgreSQL connector (asyncpg): a small lazy pool, READ ONLY transactions, statement_timeout."""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg
from pydantic import BaseModel, ValidationError

from tabletalk.core.datasources.base import QueryResult, ResultBudget, json_value
from tabletalk.core.errors import Invalid, Upstream
from tabletalk.core.metadata.schema import Column, Table
from tabletalk.core.policy.readonly import read_only_sql


# The server went away or ended our sessions (restart, pg_terminate_backend, a dropped network), or
# the driver's connection is in a state it cannot go on from: after a terminated backend, asyncpg may
# raise InternalClientError ("cannot switch to state 15; another operation is in progress").
_LOST_CONNECTION = (OSError, asyncpg.InterfaceError, asyncio.TimeoutError, asyncpg.PostgresConnectionError,
                    asyncpg.exceptions.OperatorInterventionError, asyncpg.InternalClientError)
WORK_MEM = "32MB"  # per sort/hash step of a query before it spills to disk
FETCH_BATCH = 100


class ServerConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int
    user: str
    password: str = ""
    database: str
    schema_: str | None = None

    model_config = {"populate_by_name": True, "extra": "allow"}


def server_config(engine: str, access_config: dict, default_port: int) -> ServerConfig:
    try:
        return ServerConfig.model_validate({"port": default_port, **access_config})
    except ValidationError as exc:
        missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise Invalid(f"A {engine} datasource needs access_config fields host, port, user, password, database "
                      f"(problem with: {missing}).") from None


_INTROSPECT = """
SELECT c.table_name, c.column_name, c.data_type, t.table_type
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = $1 ORDER BY c.table_name, c.ordinal_position
"""
_KEYS = """
SELECT tc.constraint_type, kcu.table_name, kcu.column_name, ccu.table_name AS ref_table, ccu.column_name AS ref_column
FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema
LEFT JOIN information_schema.constraint_column_usage ccu ON tc.constraint_type = 'FOREIGN KEY'
     AND ccu.constraint_name = tc.constraint_name AND ccu.constraint_schema = tc.table_schema
WHERE tc.table_schema = $1 AND tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
"""


class PostgresConnector:
    dialect = "postgres"

    def __init__(self, engine: str, access_config: dict, *, home: Path | None = None):
        self.engine = engine
        self.cfg = server_config("postgresql", access_config, 5432)
        self.schema = access_config.get("schema") or "public"
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"

    def _connect_kwargs(self) -> dict:
        return dict(host=self.cfg.host, port=self.cfg.port, user=self.cfg.user, password=self.cfg.password,
                    database=self.cfg.database, timeout=5)

    def _failure(self, exc: BaseException) -> Upstream:
        reason = exc.__class__.__name__ if not str(exc) else str(exc).splitlines()[0]
        if self.cfg.password:
            reason = reason.replace(self.cfg.password, "***")
        return Upstream(f"Could not connect to PostgreSQL at {self.where}: {reason}")

    async def _pool_(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(min_size=0, max_size=5, **self._connect_kwargs())
                except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
                    raise self._failure(exc) from None
            return self._pool

    @contextlib.asynccontextmanager
    async def _connection(self, timeout: float | None = None):
        """A pooled connection; driver and server errors become the user's errors. A lost connection
        expires the whole pool (every pooled connection may be dead), so the next query reconnects."""
        pool = await self._pool_()
        connected = False
        try:
            async with pool.acquire() as conn:
                connected = True
                yield conn
        except asyncpg.QueryCanceledError:
            stopped = f"took longer than {timeout:g} s and " if timeout else ""
            raise Upstream(f"The query {stopped}was stopped.") from None
        except _LOST_CONNECTION as exc:
            await pool.expire_connections()
            # Connected, then cut off (a restart, a terminated session): not "could not connect".
            if connected and not isinstance(exc, asyncio.TimeoutError):
                raise Upstream(f"The connection to PostgreSQL at {self.where} was lost mid-query; ask again.") from None
            raise self._failure(exc) from None
        except asyncpg.PostgresError as exc:
            raise Invalid(f"The database rejected the query: {str(exc).splitlines()[0]}") from None

    async def test(self) -> str:
        try:
            conn = await asyncpg.connect(**self._connect_kwargs())
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
            raise self._failure(exc) from None
        try:
            version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        return f"Connected (PostgreSQL {version})"

    async def introspect(self) -> list[Table]:
        async with self._connection() as conn:
            cols = await conn.fetch(_INTROSPECT, self.schema)
            keys = await conn.fetch(_KEYS, self.schema)
            views = {r["table_name"]: r["view_definition"] for r in await conn.fetch(
                "SELECT table_name, view_definition FROM information_schema.views WHERE table_schema = $1", self.schema)}
        pks = {(k["table_name"], k["column_name"]) for k in keys if k["constraint_type"] == "PRIMARY KEY"}
        fks = {(k["table_name"], k["column_name"]): (k["ref_table"], k["ref_column"])
               for k in keys if k["constraint_type"] == "FOREIGN KEY" and k["ref_table"]}
        tables: dict[str, Table] = {}
        for r in cols:
            name = r["table_name"]
            t = tables.get(name)
            if t is None:
                kind = "view" if r["table_type"] == "VIEW" else "table"
                view_sql = (views.get(name) or "").strip().rstrip(";") or None
                t = tables[name] = Table(name=name, schema=self.schema, kind=kind, view_sql=view_sql if kind == "view" else None)
            t.columns.append(Column(name=r["column_name"], data_type=r["data_type"].upper(),
                                    primary_key=(name, r["column_name"]) in pks,
                                    references=fks.get((name, r["column_name"]))))
        return list(tables.values())

    async def execute(self, sql: str, *, max_rows: int = 1000, timeout: float = 30.0) -> QueryResult:
        checked = read_only_sql(sql, self.dialect)
        async with self._connection(timeout) as conn:
            async with conn.transaction(readonly=True):
                await conn.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}; "
                                   f"SET LOCAL work_mem = '{WORK_MEM}'")
                stmt = await conn.prepare(checked)
                attrs = stmt.get_attributes()
                cursor, budget = await stmt.cursor(), ResultBudget(max_rows)
                while budget.add(await cursor.fetch(budget.next(FETCH_BATCH))):
                    pass
        columns = [a.name for a in attrs]
        return QueryResult(columns, [[json_value(v) for v in r] for r in budget.kept()], budget.truncated)

    async def sample_values(self, table: str, column: str, limit: int) -> list[str] | None:
        t, c = '"' + table.replace('"', '""') + '"', '"' + column.replace('"', '""') + '"'
        async with self._connection() as conn:
            rows = await conn.fetch(f'SELECT DISTINCT {c}::text AS v FROM "{self.schema}".{t} WHERE {c} IS NOT NULL LIMIT {int(limit) + 1}')
        return None if len(rows) > limit else [r["v"] for r in rows]

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
