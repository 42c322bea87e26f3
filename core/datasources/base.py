"""The connector protocol every datasource engine implements, and the engine registry."""
from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from tabletalk.core.errors import Invalid
from tabletalk.core.metadata.schema import Table


MAX_RESULT_BYTES = 64 * 2**20  # what one query may hand back to the service, all rows together


def value_bytes(v) -> int:
    """About what a fetched value costs in memory (strings and blobs dominate)."""
    if isinstance(v, (str, bytes, bytearray, memoryview)):
        return len(v) + 48
    return 24


TOO_LARGE = f"The result is larger than {MAX_RESULT_BYTES // 2**20} MB; select fewer rows or columns."


class ResultBudget:
    """The rows of one result as they are fetched, in batches: at most `max_rows` + 1 (the extra one
    tells a truncated result), stopped with Invalid once they hold more than MAX_RESULT_BYTES — checked
    before the next batch is read, so an oversized result stops early.

        budget = ResultBudget(max_rows)
        while budget.add(cursor.fetchmany(budget.next(100))):
            pass
    """

    def __init__(self, max_rows: int):
        self.max_rows = max_rows
        self.rows: list = []
        self.size = 0

    def next(self, batch: int) -> int:
        """How many rows to fetch next, at most `batch`."""
        return min(batch, self.max_rows + 1 - len(self.rows))

    def add(self, chunk) -> bool:
        """Keep a fetched batch; False once there is nothing more to fetch."""
        if not chunk:
            return False
        self.size += sum(value_bytes(v) for r in chunk for v in r)
        if self.size > MAX_RESULT_BYTES:
            raise Invalid(TOO_LARGE)
        self.rows += chunk
        return len(self.rows) <= self.max_rows

    @property
    def truncated(self) -> bool:
        return len(self.rows) > self.max_rows

    def kept(self) -> list:
        """The rows to answer with (the extra one left out)."""
        return self.rows[:self.max_rows]


@dataclass
class QueryResult:
    columns: list[str]
    data: list[list]
    truncated: bool = False

    def to_dict(self) -> dict:
        return {"columns": self.columns, "data": self.data, "truncated": self.truncated}


def json_value(v):
    """A database value as something JSON can carry."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and abs(v) < 2**53 else float(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return str(v)


class Connector(Protocol):
    engine: str
    dialect: str

    async def test(self) -> str: ...
    async def introspect(self) -> list[Table]: ...
    async def execute(self, sql: str, *, max_rows: int = 1000, timeout: float = 30.0) -> QueryResult: ...
    async def sample_values(self, table: str, column: str, limit: int) -> list[str] | None: ...
    async def close(self) -> None: ...


# engine name -> "module:Class" (imported on first use, so a missing driver only affects its engine)
SUPPORTED_ENGINES: dict[str, str] = {
    "sqlite": "tabletalk.core.datasources.sqlite:SQLiteConnector",
    "postgresql": "tabletalk.core.datasources.postgres:PostgresConnector",
    "mysql": "tabletalk.core.datasources.mysql:MySQLConnector",
    "csv": "tabletalk.core.datasources.files:FileConnector",
    "excel": "tabletalk.core.datasources.files:FileConnector",
    "parquet": "tabletalk.core.datasources.files:FileConnector",
}
KNOWN_ENGINES = {"mysql", "postgresql", "sqlite", "sqlserver", "oracle", "clickhouse", "snowflake", "bigquery",
                 "redshift", "mongodb", "elasticsearch", "excel", "csv", "parquet"}


def connector_for(engine: str, access_config: dict, *, home: Path | None = None) -> Connector:
    supported = ", ".join(sorted(SUPPORTED_ENGINES))
    target = SUPPORTED_ENGINES.get(engine)
    if target is None:
        if engine in KNOWN_ENGINES:
            raise Invalid(f"The engine '{engine}' has no driver installed here. Supported engines: {supported}.")
        raise Invalid(f"Unsupported engine '{engine}'. Supported engines: {supported}.")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(engine, access_config, home=home)
