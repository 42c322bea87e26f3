"""Appending many new rows to a SQLite metadata store in one trip to a thread.

Through the async driver a transaction of one INSERT is six round trips between the event loop and
aiosqlite's thread (cursor, execute, close, commit, the pool's reset, …), each a thread wake-up and
a wake-up of the loop back — on the 2-core bench machine 60-110 µs of CPU apiece — and SQLAlchemy
converts every parameter of every row on the loop. A burst's query history (core/nlq/history.py)
is a few dozen such transactions per thousand answers. `SqliteAppender` writes a whole batch in one
call on a thread of its own connection: each value encoded by the column type's own bind
processor for the store's dialect (exactly what SQLAlchemy would store: JSON text by the engine's
serializer, DATETIME in its SQLite format), then multi-row INSERTs between BEGIN and COMMIT. The
loop waits on one future.

One statement of many rows, not `executemany`: sqlite3 lets go of the GIL around every statement
step, and while a burst keeps the loop's thread busy each step waits for the loop to hand the GIL
back (up to the 5 ms switch interval) — an `executemany` of 60 rows beside a busy thread took 0.6 s
and 120 forced GIL switches, one statement of 60 rows a few; idle, 13 instead of 18 µs of CPU a row.

The connection is the appender's alone, opened on first use with the store's pragmas (WAL is a
property of the file; busy_timeout and synchronous are per connection), and it is used by one
thread at a time (`append` holds a lock across the trip).
"""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect, make_url

MAX_VARIABLES = 999  # per statement: SQLite's limit before 3.32 (32766 since); rows per INSERT follow from it


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for an in-memory database (a second connection to
    it would be another, empty database)."""
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
        return None
    return database


class SqliteAppender:
    def __init__(self, path: str, dialect: Dialect, pragmas: Callable[[sqlite3.Connection, Any], None]):
        self.path = path
        self.dialect = dialect  # the store engine's: its bind processors encode each value as SQLAlchemy would
        self.pragmas = pragmas
        self._con: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._plans: dict[str, tuple[str, str, int, list]] = {}

    def _plan(self, table: Table) -> tuple[str, str, int, list]:
        """Worked out once per table: the INSERT's head (`INSERT INTO t (...) VALUES `), one row's
        placeholders, how many rows one statement takes, and each column's encoder."""
        plan = self._plans.get(table.name)
        if plan is None:
            columns = list(table.columns)
            names = ", ".join(f'"{c.name}"' for c in columns)
            encoders = [(c.name, c.type.dialect_impl(self.dialect).bind_processor(self.dialect)) for c in columns]
            plan = self._plans[table.name] = (f'INSERT INTO "{table.name}" ({names}) VALUES ',
                                              f"({', '.join(['?'] * len(columns))})",
                                              max(1, MAX_VARIABLES // len(columns)), encoders)
        return plan

    def _write(self, table: Table, rows: list[dict]) -> None:
        head, group, per_statement, columns = self._plan(table)
        values = [row.get(name) if encode is None else encode(row.get(name)) for row in rows for name, encode in columns]
        width = len(columns)
        if self._con is None:
            con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.pragmas(con, None)
            self._con = con
        con = self._con
        con.execute("BEGIN")
        try:
            for start in range(0, len(rows), per_statement):
                count = min(per_statement, len(rows) - start)
                con.execute(head + ", ".join([group] * count), values[start * width:(start + count) * width])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    async def append(self, table: Table, rows: list[dict]) -> None:
        async with self._lock:
            await asyncio.to_thread(self._write, table, rows)

    async def close(self) -> None:
        async with self._lock:
            if self._con is not None:
                con, self._con = self._con, None
                await asyncio.to_thread(con.close)
