"""MySQL/MariaDB connector (aiomysql): lazy pool, READ ONLY transactions, a server-side statement limit."""
from __future__ import annotations

import asyncio
from pathlib import Path

import aiomysql
import pymysql

from tabletalk.core.datasources.base import QueryResult, ResultBudget, json_value
from tabletalk.core.datasources.postgres import FETCH_BATCH, server_config
from tabletalk.core.errors import Invalid, Upstream
from tabletalk.core.metadata.schema import Column, Table
from tabletalk.core.policy.readonly import read_only_sql

_TIMEOUT_CODES = {1969, 3024, 1317}  # MariaDB max_statement_time, MySQL max_execution_time, query interrupted


class MySQLConnector:
    dialect = "mysql"

    def __init__(self, engine: str, access_config: dict, *, home: Path | None = None):
        self.engine = engine
        self.cfg = server_config("mysql", access_config, 3306)
        self._pool: aiomysql.Pool | None = None
        self._lock = asyncio.Lock()
        self._mariadb: bool | None = None

    @property
    def where(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"

    def _kwargs(self) -> dict:
        return dict(host=self.cfg.host, port=self.cfg.port, user=self.cfg.user, password=self.cfg.password,
                    db=self.cfg.database, connect_timeout=5, autocommit=True, charset="utf8mb4")

    def _failure(self, exc: BaseException) -> Upstream:
        reason = str(exc.args[-1]) if getattr(exc, "args", None) else type(exc).__name__
        if self.cfg.password:
            reason = reason.replace(self.cfg.password, "***")
        return Upstream(f"Could not connect to MySQL at {self.where}: {reason}")

    async def _pool_(self) -> aiomysql.Pool:
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await aiomysql.create_pool(minsize=0, maxsize=5, pool_recycle=300, **self._kwargs())
                    async with self._pool.acquire() as conn, conn.cursor() as cur:
                        await cur.execute("SELECT VERSION()")
                        self._mariadb = "mariadb" in (await cur.fetchone())[0].lower()
                except (OSError, pymysql.MySQLError, asyncio.TimeoutError) as exc:
                    self._pool = None
                    raise self._failure(exc) from None
            return self._pool

    async def test(self) -> str:
        try:
            conn = await aiomysql.connect(**self._kwargs())
        except (OSError, pymysql.MySQLError, asyncio.TimeoutError) as exc:
            raise self._failure(exc) from None
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT VERSION()")
                version = (await cur.fetchone())[0]
        finally:
            conn.close()
        return f"Connected (MySQL {version})"

    async def _fetch(self, sql: str, args=()) -> list[tuple]:
        pool = await self._pool_()
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql, args)
            return list(await cur.fetchall())

    async def introspect(self) -> list[Table]:
        db = self.cfg.database
        cols = await self._fetch(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_KEY, t.TABLE_TYPE FROM information_schema.COLUMNS c "
            "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
            "WHERE c.TABLE_SCHEMA = %s ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION", (db,))
        fks = {(r[0], r[1]): (r[2], r[3]) for r in await self._fetch(
            "SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = %s AND REFERENCED_TABLE_NAME IS NOT NULL", (db,))}
        views = {r[0]: r[1] for r in await self._fetch(
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s", (db,))}
        tables: dict[str, Table] = {}
        for name, col, dtype, key, ttype in cols:
            t = tables.get(name)
            if t is None:
                kind = "view" if ttype == "VIEW" else "table"
                t = tables[name] = Table(name=name, schema=db, kind=kind, view_sql=views.get(name) if kind == "view" else None)
            t.columns.append(Column(name=col, data_type=str(dtype).upper(), primary_key=key == "PRI", references=fks.get((name, col))))
        return list(tables.values())

    async def execute(self, sql: str, *, max_rows: int = 1000, timeout: float = 30.0) -> QueryResult:
        checked = read_only_sql(sql, self.dialect)
        pool = await self._pool_()
        limit = (f"SET SESSION max_statement_time = {timeout:g}" if self._mariadb
                 else f"SET SESSION max_execution_time = {int(timeout * 1000)}")
        try:
            async with pool.acquire() as conn, conn.cursor(aiomysql.SSCursor) as cur:
                await cur.execute(limit)
                await cur.execute("START TRANSACTION READ ONLY")
                try:
                    await asyncio.wait_for(cur.execute(checked), timeout + 5)
                    columns = [d[0] for d in cur.description or []]
                    budget = ResultBudget(max_rows)  # streamed in batches
                    while budget.add(await cur.fetchmany(budget.next(FETCH_BATCH))):
                        pass
                finally:
                    try:
                        await cur.close()  # drains an unbuffered result
                        await conn.rollback()
                    except Exception:
                        conn.close()
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in _TIMEOUT_CODES:
                raise Upstream(f"The query took longer than {timeout:g} s and was stopped.") from None
            if exc.args and exc.args[0] in (2003, 2006, 2013):
                raise self._failure(exc) from None
            raise Invalid(f"The database rejected the query: {exc.args[-1]}") from None
        except pymysql.MySQLError as exc:
            raise Invalid(f"The database rejected the query: {exc.args[-1] if exc.args else exc}") from None
        except asyncio.TimeoutError:
            raise Upstream(f"The query took longer than {timeout:g} s and was stopped.") from None
        except OSError as exc:
            raise self._failure(exc) from None
        return QueryResult(columns, [[json_value(v) for v in r] for r in budget.kept()], budget.truncated)

    async def sample_values(self, table: str, column: str, limit: int) -> list[str] | None:
        t, c = "`" + table.replace("`", "``") + "`", "`" + column.replace("`", "``") + "`"
        # BINARY: the usual collations call 'US', 'us' and 'US ' equal, and DISTINCT would keep one of them.
        rows = await self._fetch(f"SELECT DISTINCT CAST({c} AS BINARY) FROM {t} WHERE {c} IS NOT NULL LIMIT {int(limit) + 1}")
        if len(rows) > limit:
            return None
        return [r[0].decode("utf-8", "replace") if isinstance(r[0], (bytes, bytearray)) else str(r[0]) for r in rows]

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()
            await pool.wait_closed()
