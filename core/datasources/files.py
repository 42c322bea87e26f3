"""CSV / Excel / Parquet files queried through DuckDB: each file is loaded as a table of a private
in-memory database, which is then sealed (no external access, configuration locked) so a query
can never read another file. Queries run in a worker thread with a deadline and a row cap; a
metadata sync reloads the files."""
from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import duckdb
from pydantic import BaseModel, ValidationError

from tabletalk.core.datasources.base import QueryResult, check_result_size, json_value
from tabletalk.core.errors import Invalid, Upstream
from tabletalk.core.metadata.schema import Column, Table
from tabletalk.core.policy.readonly import read_only_sql

_SUFFIXES = {"csv": (".csv", ".tsv", ".txt"), "excel": (".xlsx", ".xls"), "parquet": (".parquet", ".pq")}


class FileConfig(BaseModel):
    path: str


def _table_name(path: Path) -> str:
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", path.stem).strip("_").lower() or "data"
    return name if not name[0].isdigit() else f"t_{name}"


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class FileConnector:
    dialect = "duckdb"

    def __init__(self, engine: str, access_config: dict, *, home: Path | None = None):
        self.engine = engine
        try:
            cfg = FileConfig.model_validate(access_config)
        except ValidationError:
            raise Invalid(f"A {engine} datasource needs access_config.path (a file, folder or glob).") from None
        path = Path(cfg.path).expanduser()
        if not path.is_absolute() and home is not None:
            path = home / path
        self.path = path
        self._db: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _files(self) -> list[Path]:
        suffixes = _SUFFIXES[self.engine]
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in suffixes)
        elif any(ch in str(self.path) for ch in "*?["):
            files = sorted(p for p in self.path.parent.glob(self.path.name) if p.suffix.lower() in suffixes)
        else:
            files = [self.path] if self.path.exists() else []
        if not files:
            raise Upstream(f"No {self.engine} files found at {self.path}.")
        return files

    def _reader(self, f: Path) -> str:
        if self.engine == "csv":
            return f"read_csv_auto({_quote(str(f))}, header = true)"
        if self.engine == "parquet":
            return f"read_parquet({_quote(str(f))})"
        return f"read_xlsx({_quote(str(f))})"

    def _open(self) -> duckdb.DuckDBPyConnection:
        if self._db is None:
            db = duckdb.connect(":memory:")
            if self.engine == "excel":
                try:
                    db.execute("LOAD excel")
                except duckdb.Error:
                    db.close()
                    db = None
                    return self._open_excel_via_pandas()
            for f in self._files():
                db.execute(f"CREATE TABLE \"{_table_name(f)}\" AS SELECT * FROM {self._reader(f)}")
            self._db = _sealed(db)
        return self._db

    def _open_excel_via_pandas(self) -> duckdb.DuckDBPyConnection:
        # DuckDB's excel extension would be downloaded at run time, which this service must not
        # need: read workbooks with pandas/openpyxl and register each sheet's frame instead.
        import pandas as pd

        db = duckdb.connect(":memory:")
        for f in self._files():
            frame = pd.read_excel(f)
            db.register(f"_frame_{_table_name(f)}", frame)
            db.execute(f"CREATE TABLE \"{_table_name(f)}\" AS SELECT * FROM \"_frame_{_table_name(f)}\"")
            db.unregister(f"_frame_{_table_name(f)}")
        self._db = _sealed(db)
        return self._db

    def _run(self, fn):
        with self._lock:  # one DuckDB connection, used by one thread at a time
            return fn(self._open())

    async def test(self) -> str:
        try:
            files = await asyncio.to_thread(self._files)
        except Upstream:
            raise
        return f"Connected ({len(files)} {self.engine} file(s))"

    async def introspect(self) -> list[Table]:
        await self.close()  # a sync reloads the files

        def read(db):
            tables = []
            for (name,) in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                                      "AND table_name NOT LIKE '\\_frame\\_%' ESCAPE '\\' ORDER BY 1").fetchall():
                cols = db.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                                  "ORDER BY ordinal_position", [name]).fetchall()
                tables.append(Table(name=name, schema="main", columns=[Column(name=c, data_type=str(t).upper()) for c, t in cols]))
            return tables

        return await asyncio.to_thread(self._run, read)

    async def execute(self, sql: str, *, max_rows: int = 1000, timeout: float = 30.0) -> QueryResult:
        checked = read_only_sql(sql, self.dialect)

        def run(db):
            timer = threading.Timer(timeout, db.interrupt)
            timer.start()
            try:
                cur = db.execute(checked)
                columns = [d[0] for d in cur.description or []]
                rows = []
                while len(rows) <= max_rows:  # in batches, so an oversized result stops early
                    batch = cur.fetchmany(min(100, max_rows + 1 - len(rows)))
                    rows += batch
                    check_result_size(rows)
                    if not batch:
                        break
            except duckdb.InterruptException:
                raise Upstream(f"The query took longer than {timeout:g} s and was stopped.") from None
            except duckdb.Error as exc:
                raise Invalid(f"The database rejected the query: {str(exc).splitlines()[0]}") from None
            finally:
                timer.cancel()
            return QueryResult(columns, [[json_value(v) for v in r] for r in rows[:max_rows]], len(rows) > max_rows)

        return await asyncio.to_thread(self._run, run)

    async def sample_values(self, table: str, column: str, limit: int) -> list[str] | None:
        def run(db):
            q = f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{table}" WHERE "{column}" IS NOT NULL LIMIT {int(limit) + 1}'
            rows = db.execute(q).fetchall()
            return None if len(rows) > limit else [r[0] for r in rows]

        return await asyncio.to_thread(self._run, run)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.to_thread(db.close)


QUERY_MEMORY = 512 * 2**20  # what queries may use beyond the loaded files (DuckDB's memory_limit)


def _sealed(db: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    loaded = db.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()").fetchone()[0]
    db.execute(f"SET memory_limit = '{(int(loaded) + QUERY_MEMORY) // 2**20}MB'")
    db.execute("SET threads = 2")
    db.execute("SET enable_external_access = false")
    db.execute("SET lock_configuration = true")
    return db
