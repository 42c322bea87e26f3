"""CSV / Excel / Parquet files queried through DuckDB, in a process of their own
(core/datasources/duckdb_worker.py): each file is loaded as a table of a private in-memory database,
which is then sealed (no external access, configuration locked) so a query can never read another
file, and the process runs under an address-space ceiling, so no query can take the service's
memory. Queries have a deadline (interrupted, and the process killed if it does not stop) and a row
cap; a metadata sync reloads the files."""
from __future__ import annotations

import asyncio
import json
import logging
import struct
import sys
from pathlib import Path

from pydantic import BaseModel, ValidationError

from tabletalk.core.datasources.base import MAX_RESULT_BYTES, TOO_LARGE, QueryResult
from tabletalk.core.errors import Invalid, Upstream
from tabletalk.core.metadata.schema import Column, Table
from tabletalk.core.policy.readonly import read_only_sql

log = logging.getLogger(__name__)
_SUFFIXES = {"csv": (".csv", ".tsv", ".txt"), "excel": (".xlsx", ".xls"), "parquet": (".parquet", ".pq")}
_HEADER = struct.Struct(">I")
GRACE = 2.0  # seconds past a query's deadline before its process is killed (an interrupt DuckDB did not see)


class FileConfig(BaseModel):
    path: str


class WorkerGone(Exception):
    """The DuckDB process ended (killed at a deadline, or it died)."""


class _Worker:
    """One DuckDB process holding a datasource's files, asked one thing at a time."""

    def __init__(self, proc: asyncio.subprocess.Process, address_space_mb: int):
        self.proc, self.address_space_mb = proc, address_space_mb
        self.stopped = False

    @classmethod
    async def start(cls, engine: str, files: list[Path]) -> "_Worker":
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tabletalk.core.datasources.duckdb_worker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=_worker_env())
        worker = cls(proc, 0)
        try:
            opened = await worker.ask({"engine": engine, "files": [str(f) for f in files]}, timeout=None)
        except BaseException:
            await worker.kill()
            raise
        if "error" in opened:
            await worker.kill()
            raise Upstream(f"The {engine} files could not be loaded: {opened.get('message', opened['error'])}")
        worker.address_space_mb = opened["address_space_mb"]
        return worker

    async def ask(self, request: dict, timeout: float | None) -> dict:
        body = json.dumps(request).encode()
        try:
            self.proc.stdin.write(_HEADER.pack(len(body)) + body)
            await self.proc.stdin.drain()
            return await asyncio.wait_for(self._answer(), timeout)
        except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionResetError):
            self.stop()
            raise WorkerGone() from None
        except BaseException:  # the deadline passed or the caller left: its answer would come out of turn
            self.stop()
            raise

    async def _answer(self) -> dict:
        size = _HEADER.unpack(await self.proc.stdout.readexactly(_HEADER.size))[0]
        if size > 3 * MAX_RESULT_BYTES:
            raise asyncio.IncompleteReadError(b"", size)
        return json.loads(await self.proc.stdout.readexactly(size))

    @property
    def alive(self) -> bool:
        return not self.stopped and self.proc.returncode is None

    def stop(self) -> None:
        """Kill the process now (reaped in the background); a new one serves the next request."""
        self.stopped = True
        if self.proc.returncode is None:
            self.proc.kill()

    async def kill(self) -> None:
        self.stop()
        await self.proc.wait()

    async def close(self) -> None:
        """Let the process end by itself (end of its input), killed if it lingers."""
        if self.alive:
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                await self.kill()
        else:
            await self.kill()


def _worker_env() -> dict:
    """Only what Python needs: queries run there, and the service's environment holds its secrets.
    Few malloc arenas: each reserves 64 MB of address space, which counts against the ceiling."""
    import os

    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "TMPDIR")}
    return {**keep, "MALLOC_ARENA_MAX": "2"}


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
        self._worker: _Worker | None = None
        self._lock = asyncio.Lock()

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

    async def _ask(self, request: dict, timeout: float | None = None) -> dict:
        async with self._lock:  # one process, one request at a time
            if self._worker is None or not self._worker.alive:
                self._worker = await _Worker.start(self.engine, await asyncio.to_thread(self._files))
            return await self._worker.ask(request, timeout)

    async def test(self) -> str:
        try:
            files = await asyncio.to_thread(self._files)
        except Upstream:
            raise
        return f"Connected ({len(files)} {self.engine} file(s))"

    async def introspect(self) -> list[Table]:
        await self.close()  # a sync reloads the files
        answer = await self._ask({"op": "tables"})
        self._raise(answer, 30.0)
        return [Table(name=t["name"], schema="main", columns=[Column(name=c, data_type=d) for c, d in t["columns"]])
                for t in answer["tables"]]

    async def execute(self, sql: str, *, max_rows: int = 1000, timeout: float = 30.0) -> QueryResult:
        checked = read_only_sql(sql, self.dialect)
        try:
            answer = await self._ask({"op": "query", "sql": checked, "max_rows": max_rows, "timeout": timeout},
                                     timeout + GRACE)
        except asyncio.TimeoutError:
            log.warning("a %s query ignored its interrupt; its DuckDB process was killed", self.engine)
            answer = {"error": "timeout"}
        except WorkerGone:
            log.warning("the DuckDB process of a %s datasource ended during a query", self.engine)
            answer = {"error": "gone"}
        self._raise(answer, timeout)
        return QueryResult(answer["columns"], answer["data"], answer["truncated"])

    def _raise(self, answer: dict, timeout: float) -> None:
        error = answer.get("error")
        if error is None:
            return
        limit = self._worker.address_space_mb if self._worker is not None else 0
        raise {
            "timeout": Upstream(f"The query took longer than {timeout:g} s and was stopped."),
            "memory": Invalid(f"The query needs more memory than a file datasource may use (about {limit} MB); "
                              "make it build smaller values or fewer rows."),
            "too_large": Invalid(TOO_LARGE),
            "gone": Upstream("The query stopped the file datasource's engine (it was restarted); try a smaller query."),
        }.get(error) or Invalid(f"The database rejected the query: {answer.get('message', error)}")

    async def sample_values(self, table: str, column: str, limit: int) -> list[str] | None:
        answer = await self._ask({"op": "sample", "table": table, "column": column, "limit": limit})
        self._raise(answer, 30.0)
        return answer["values"]

    async def close(self) -> None:
        async with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close()
