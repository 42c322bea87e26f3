"""The process a file datasource's DuckDB runs in (`python -m tabletalk.core.datasources.duckdb_worker`).

DuckDB's memory_limit bounds its buffer manager only: one value built by `repeat`, `lpad`, nested
`replace` and the like is allocated outside it (`repeat('x', 900000000)` took 1.8 GB and 35 s in the
service). Here the files are loaded into a private in-memory database, which is sealed, and then the
whole process gets an address-space ceiling (RLIMIT_AS): any allocation past it fails at once, as an
Out of Memory error, whatever made it — and a query that will not stop is this process's to lose,
not the service's (the service kills it at the deadline and starts another).

Protocol on stdin/stdout: each message a 4-byte big-endian length and a JSON object. The first
request opens the files; then one request at a time, each answered once.
"""
from __future__ import annotations

import json
import os
import re
import resource
import struct
import sys
import threading

import duckdb

from tabletalk.core.datasources.base import ResultBudget, json_value
from tabletalk.core.errors import Invalid

QUERY_MEMORY = 512 * 2**20  # what queries may use beyond the loaded files (DuckDB's memory_limit)
# Address space beyond what the loaded process uses: QUERY_MEMORY, thread stacks and allocator slack.
HEADROOM = QUERY_MEMORY + 384 * 2**20
_HEADER = struct.Struct(">I")


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def table_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", stem).strip("_").lower() or "data"
    return name if not name[0].isdigit() else f"t_{name}"


def _reader(engine: str, f: str) -> str:
    if engine == "csv":
        return f"read_csv_auto({_quote(f)}, header = true)"
    if engine == "parquet":
        return f"read_parquet({_quote(f)})"
    return f"read_xlsx({_quote(f)})"


def load(engine: str, files: list[str]) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect(":memory:")
    if engine == "excel":
        try:
            db.execute("LOAD excel")
        except duckdb.Error:
            # DuckDB's excel extension would be downloaded at run time, which this service must not
            # need: read workbooks with pandas/openpyxl and register each sheet's frame instead.
            import pandas as pd

            for f in files:
                name = table_name(f)
                db.register(f"_frame_{name}", pd.read_excel(f))
                db.execute(f'CREATE TABLE "{name}" AS SELECT * FROM "_frame_{name}"')
                db.unregister(f"_frame_{name}")
            return sealed(db)
    for f in files:
        db.execute(f'CREATE TABLE "{table_name(f)}" AS SELECT * FROM {_reader(engine, f)}')
    return sealed(db)


def sealed(db: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """No file or network access, configuration locked, queries within QUERY_MEMORY of buffers."""
    loaded = db.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()").fetchone()[0]
    db.execute(f"SET memory_limit = '{(int(loaded) + QUERY_MEMORY) // 2**20}MB'")
    db.execute("SET threads = 2")
    db.execute("SET enable_progress_bar = false")
    db.execute("SET enable_external_access = false")
    db.execute("SET lock_configuration = true")
    return db


def address_space_now() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def query(db, sql: str, max_rows: int, timeout: float) -> dict:
    timer = threading.Timer(timeout, db.interrupt)
    timer.start()
    try:
        cur = db.execute(sql)
        columns = [d[0] for d in cur.description or []]
        budget = ResultBudget(max_rows)
        while budget.add(cur.fetchmany(budget.next(100))):
            pass
    except Invalid:  # over the byte budget
        return {"error": "too_large"}
    finally:
        timer.cancel()
    return {"columns": columns, "data": [[json_value(v) for v in r] for r in budget.kept()], "truncated": budget.truncated}


def tables(db) -> dict:
    out = []
    for (name,) in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                              "AND table_name NOT LIKE '\\_frame\\_%' ESCAPE '\\' ORDER BY 1").fetchall():
        cols = db.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                          "ORDER BY ordinal_position", [name]).fetchall()
        out.append({"name": name, "columns": [[c, str(t).upper()] for c, t in cols]})
    return {"tables": out}


def sample(db, table: str, column: str, limit: int) -> dict:
    q = f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{table}" WHERE "{column}" IS NOT NULL LIMIT {int(limit) + 1}'
    rows = db.execute(q).fetchall()
    return {"values": None if len(rows) > limit else [r[0] for r in rows]}


def handle(db, request: dict) -> dict:
    op = request.get("op")
    try:
        if op == "query":
            return query(db, request["sql"], int(request["max_rows"]), float(request["timeout"]))
        if op == "tables":
            return tables(db)
        if op == "sample":
            return sample(db, request["table"], request["column"], int(request["limit"]))
        return {"error": "bad_request", "message": f"unknown op {op!r}"}
    except duckdb.InterruptException:
        return {"error": "timeout"}
    except (duckdb.OutOfMemoryException, MemoryError):
        return {"error": "memory"}
    except duckdb.Error as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {"error": "memory" if "Out of Memory" in text else "rejected", "message": text}


def _read(stream) -> dict | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None  # the service closed the pipe (stopped, or died): so do we
    return json.loads(stream.read(_HEADER.unpack(header)[0]))


def _write(stream, message: dict) -> None:
    body = json.dumps(message, ensure_ascii=False).encode()
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def main() -> None:
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but protocol messages on the pipe
    opening = _read(inp)
    if opening is None:
        return
    try:
        db = load(opening["engine"], opening["files"])
    except (duckdb.Error, OSError, ValueError, ImportError) as exc:
        _write(out, {"error": "load", "message": (str(exc).splitlines() or [type(exc).__name__])[0]})
        return
    ceiling = address_space_now() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    _write(out, {"ok": True, "address_space_mb": ceiling // 2**20})
    while (request := _read(inp)) is not None:
        try:
            answer = handle(db, request)
            _write(out, answer)
        except MemoryError:  # the answer itself did not fit under the ceiling
            answer = None
            _write(out, {"error": "memory"})


if __name__ == "__main__":
    main()
