"""SQLite connector: read-only URI connections, reused from a small pool per datasource (a fresh one
opens once the file is replaced), in a worker thread, a deadline enforced by a progress handler, and memory bounded per query: values, SQL and LIKE patterns are size-limited (SQLite refuses
an oversized value before allocating it), the page cache is small, the rows kept are byte-budgeted,
and a process-wide heap ceiling backs it all. The one built-in that runs long in a single step
(printf's repeated character, `%.Nc`) is refused before it runs."""
from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

import sqlglot
from sqlglot import exp

from tabletalk.core.datasources.base import QueryResult, ResultBudget, json_value
from tabletalk.core.datasources.pool import ConnectionPool
from tabletalk.core.errors import Invalid, Upstream
from tabletalk.core.metadata.schema import Column, Table
from tabletalk.core.policy.readonly import read_only_sql


MAX_VALUE_BYTES = 8 * 2**20  # a string or blob any query may build (SQLITE_LIMIT_LENGTH)
LIMITS = {sqlite3.SQLITE_LIMIT_LENGTH: MAX_VALUE_BYTES, sqlite3.SQLITE_LIMIT_SQL_LENGTH: 2**20,
          sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1000, sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 200,
          sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200}
CACHE_KIB = 16 * 1024  # page cache per connection
HEAP_CEILING = 2 * 2**30  # PRAGMA hard_heap_limit: process-wide, so far above any one bounded query
POOL_SIZE = 4  # connections open at once per datasource (each with its own page cache)
INLINE_BUDGET = 0.001  # seconds a query may run on the event loop before it moves to a worker thread
_REPEATED_CHAR = re.compile(r"%[-+ 0#,!]*(?:\d+|\*)?\.(\d+|\*)c")
_FORMAT_CALL = re.compile(r"\b(printf|format)\s*\(", re.I)


def _refuse_single_step_hogs(sql: str) -> None:
    """printf('%.*c', n, 'x') repeats a character n times inside one step, where neither the
    deadline nor the length limit interrupts it; refuse it (and printf formats built at run time)."""
    low = sql.lower()
    if ("printf" not in low and "format" not in low) or not _FORMAT_CALL.search(sql):
        return
    for call in sqlglot.parse_one(sql, read="sqlite").find_all(exp.Anonymous, exp.Format):
        if isinstance(call, exp.Anonymous) and call.name.lower() not in ("printf", "format"):
            continue
        fmt = call.this if isinstance(call, exp.Format) else (call.expressions or [None])[0]
        if not (isinstance(fmt, exp.Literal) and fmt.is_string):
            raise Invalid("printf/format needs its format as a string literal here.")
        for precision in _REPEATED_CHAR.findall(fmt.this):
            if precision == "*" or int(precision) > 10_000:
                raise Invalid("printf's repeated-character form (%.Nc) is limited to 10000 characters here.")


def _fetch(conn: sqlite3.Connection, sql: str, max_rows: int) -> tuple[list[str], ResultBudget]:
    """The columns and the rows, one at a time (a value may be 8 MB): the byte budget is checked
    before the next row is read. The cursor is closed, so an idle pooled connection holds no read lock."""
    cur = conn.execute(sql)
    try:
        columns = [d[0] for d in cur.description or []]
        budget = ResultBudget(max_rows)
        while budget.add(cur.fetchmany(budget.next(1))):
            pass
        return columns, budget
    finally:
        cur.close()


def _result(columns: list[str], budget: ResultBudget) -> QueryResult:
    return QueryResult(columns, [[json_value(v) for v in r] for r in budget.kept()], budget.truncated)


def _failure(exc: sqlite3.Error, timeout: float) -> Invalid | Upstream:
    """What a failed query tells its asker."""
    if isinstance(exc, sqlite3.DataError):  # SQLITE_TOOBIG: refused before the value was allocated
        return Invalid(f"The query builds a value larger than {MAX_VALUE_BYTES // 2**20} MB ({exc}).")
    if isinstance(exc, sqlite3.OperationalError):
        if "interrupted" in str(exc):
            return Upstream(f"The query took longer than {timeout:g} s and was stopped.")
        if "out of memory" in str(exc):
            return Upstream("The query needed more memory than this service allows and was stopped.")
    return Invalid(f"The database rejected the query: {exc}")


class SQLiteConfig(BaseModel):
    database: str


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteConnector:
    dialect = "sqlite"

    def __init__(self, engine: str, access_config: dict, *, home: Path | None = None):
        self.engine = engine
        try:
            cfg = SQLiteConfig.model_validate(access_config)
        except ValidationError:
            raise Invalid("A sqlite datasource needs access_config.database (the path of the database file).") from None
        path = Path(cfg.database).expanduser()
        if not path.is_absolute() and home is not None:
            path = home / path
        self.path = path
        self._pool = ConnectionPool(self._connect, POOL_SIZE, identity=self._file_identity)

    def _file_identity(self) -> tuple[int, int]:
        """Which file the path names now: a connection to a replaced file is not reused."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise Upstream(f"The SQLite database file {self.path} does not exist.") from None
        return st.st_dev, st.st_ino

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise Upstream(f"The SQLite database file {self.path} does not exist.")
        # mode=ro: the connection itself cannot write, whatever SQL reaches it.
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        for limit, value in LIMITS.items():
            conn.setlimit(limit, value)
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("PRAGMA temp_store = FILE")
        if conn.execute("PRAGMA hard_heap_limit").fetchone()[0] == 0:
            conn.execute(f"PRAGMA hard_heap_limit = {HEAP_CEILING}")
        return conn

    async def test(self) -> str:
        def probe():
            with self._pool.connection() as conn:
                return conn.execute("SELECT sqlite_version()").fetchone()[0]

        try:
            version = await asyncio.to_thread(probe)
        except sqlite3.Error as exc:
            raise Upstream(f"Could not open {self.path}: {exc}") from None
        return f"Connected (SQLite {version})"

    async def introspect(self) -> list[Table]:
        return await asyncio.to_thread(self._introspect)

    def _introspect(self) -> list[Table]:
        with self._pool.connection() as conn:
            objs = conn.execute("SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
                                "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
            tables = []
            for name, kind, ddl in objs:
                fks = {row[3]: (row[2], row[4] or "id") for row in conn.execute(f"PRAGMA foreign_key_list({_quote(name)})")}
                cols = [Column(name=c[1], data_type=(c[2] or "TEXT").upper(), primary_key=bool(c[5]), references=fks.get(c[1]))
                        for c in conn.execute(f"PRAGMA table_info({_quote(name)})")]
                view_sql = None
                if kind == "view" and ddl:
                    m = re.search(r"\bAS\b\s*(.*)$", ddl, re.I | re.S)
                    view_sql = m.group(1).strip().rstrip(";") if m else None
                tables.append(Table(name=name, columns=cols, schema="main", kind=kind, view_sql=view_sql))
            return tables

    async def execute(self, sql: str, *, max_rows: int = 1000, timeout: float = 30.0) -> QueryResult:
        checked = read_only_sql(sql, self.dialect)
        _refuse_single_step_hogs(checked)
        result = self._execute_inline(checked, max_rows, timeout)
        if result is not None:
            return result
        return await asyncio.to_thread(self._execute, checked, max_rows, timeout)

    def _execute_inline(self, sql: str, max_rows: int, timeout: float) -> QueryResult | None:
        """Most questions' queries finish well within a millisecond, less than handing them to a
        thread costs: they run here, on the event loop, on a connection idle right now. One still
        running after INLINE_BUDGET is interrupted (the connection stays usable) and runs again in
        a thread with its full deadline. None: run it in a thread."""
        held = self._pool.take_idle()
        if held is None:
            return None
        ident, conn = held
        limit = time.monotonic() + min(INLINE_BUDGET, timeout)
        conn.set_progress_handler(lambda: 1 if time.monotonic() > limit else 0, 1000)
        try:
            columns, budget = _fetch(conn, sql, max_rows)
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
                conn.set_progress_handler(None, 0)
                self._pool.give_back(ident, conn)
                return None
            self._pool.discard(conn)
            raise _failure(exc, timeout) from None
        except BaseException:
            self._pool.discard(conn)
            raise
        conn.set_progress_handler(None, 0)
        self._pool.give_back(ident, conn)
        return _result(columns, budget)

    def _execute(self, sql: str, max_rows: int, timeout: float) -> QueryResult:
        deadline = time.monotonic() + timeout
        try:
            # A query that raised (timed out, interrupted, too big) closes its connection: not reused.
            with self._pool.connection(wait=timeout) as conn:
                conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
                columns, budget = _fetch(conn, sql, max_rows)
                conn.set_progress_handler(None, 0)
        except sqlite3.Error as exc:
            raise _failure(exc, timeout) from None
        return _result(columns, budget)

    async def sample_values(self, table: str, column: str, limit: int) -> list[str] | None:
        def sample():
            with self._pool.connection() as conn:
                rows = conn.execute(f"SELECT DISTINCT {_quote(column)} FROM {_quote(table)} "
                                    f"WHERE {_quote(column)} IS NOT NULL LIMIT {int(limit) + 1}").fetchall()
            return None if len(rows) > limit else [str(r[0]) for r in rows]

        return await asyncio.to_thread(sample)

    async def close(self) -> None:
        self._pool.close()
