"""Metadata sync of one datasource, safe under concurrency.

The live schema and the value samples are read first, outside any store transaction; everything is
then written in one short transaction that starts by updating the datasource's own row. That row
lock (PostgreSQL) or write lock (SQLite) makes concurrent syncs — in this instance or another —
apply one after the other, each merging over the committed result of the one before, and a sync
that races a delete of its datasource writes nothing (no orphan metadata or sampled values).
Within an instance, requests for a datasource whose next sync has not started yet join that sync.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlmodel import select

from tabletalk.core.datasources.service import lock_datasource
from tabletalk.core.errors import TableTalkError
from tabletalk.core.metadata.schema import Column, Table
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import MetaTable, ValueIndex

log = logging.getLogger(__name__)
MAX_SAMPLED_COLUMNS = 2000
TOO_MANY: list = []  # sample_values said the column has more distinct values than the cap


def _field_record(col: Column, old: dict | None) -> dict:
    keep = old or {}
    by_user = keep.get("description_by_user", False)
    return {"name": col.name, "data_type": col.data_type,
            "description": keep.get("description", "") if by_user else (col.description or keep.get("description", "")),
            "description_by_user": by_user, "visibility": keep.get("visibility", True),
            "primary_key": col.primary_key, "references": list(col.references) if col.references else None}


def public_error(exc: BaseException) -> str:
    """What a failed sync shows its users: our own sentences, never a driver's message (those can
    carry SQL statements and the sampled values bound to them)."""
    if isinstance(exc, TableTalkError):
        return exc.detail
    return f"The metadata sync failed ({type(exc).__name__}); the service log has the details."


def _samplable(table: Table, col: Column) -> bool:
    # Every text column, keys included: codes and lookup values ('AKO', a maker's name as a
    # foreign key) are what questions name.
    return col.kind == "text"


async def _manual_indexes(store: Store, ds_id: str, session=None) -> set[tuple[str, str]]:
    q = select(ValueIndex.table_name, ValueIndex.field_name).where(
        ValueIndex.datasource_id == ds_id, ValueIndex.kind == "value", ValueIndex.auto == False)  # noqa: E712
    if session is not None:
        return {tuple(r) for r in (await session.exec(q)).all()}
    async with store.session() as s:
        return {tuple(r) for r in (await s.exec(q)).all()}


async def read_live(store: Store, ds_id: str, conn, value_cap: int) -> tuple[list[Table], list[tuple[Table, Column, list]]]:
    """The live tables and the distinct values of their text columns (columns a user indexed by hand keep theirs)."""
    tables = await conn.introspect()
    manual = await _manual_indexes(store, ds_id)
    jobs = [(t, c) for t in tables for c in t.columns if _samplable(t, c) and (t.name, c.name) not in manual]
    sem = asyncio.Semaphore(4)

    async def sample(table: Table, col: Column):
        async with sem:
            try:
                values = await conn.sample_values(table.name, col.name, value_cap)
                return table, col, TOO_MANY if values is None else values[:value_cap]
            except Exception as exc:  # one odd column must not fail the sync
                log.debug("value sampling %s.%s failed: %s", table.name, col.name, type(exc).__name__)
                return table, col, None

    results = await asyncio.gather(*(sample(t, c) for t, c in jobs[:MAX_SAMPLED_COLUMNS]))
    return tables, [(t, c, v) for t, c, v in results if v or v is TOO_MANY]


async def write_sync(store: Store, ds_id: str, tables: list[Table], samples: list) -> dict:
    """Merge the live schema over the stored metadata and replace the automatic value indexes, in one transaction."""
    counts = {"schema_count": len({t.schema or "" for t in tables}), "table_count": len(tables),
              "field_count": sum(len(t.columns) for t in tables)}
    async with store.session() as s:
        await lock_datasource(s, ds_id, meta_status="success", meta_error=None, **counts)
        existing = {(t.schema_name, t.name): t for t in (await s.exec(select(MetaTable).where(MetaTable.datasource_id == ds_id))).all()}
        seen = set()
        for table in tables:
            key = (table.schema or "", table.name)
            seen.add(key)
            row = existing.get(key) or MetaTable(datasource_id=ds_id, schema_name=key[0], name=table.name)
            old_fields = {f["name"]: f for f in row.fields}
            row.kind, row.view_sql = table.kind, table.view_sql
            if not row.description_by_user:
                row.description = table.description or row.description
            row.fields = [_field_record(c, old_fields.get(c.name)) for c in table.columns]
            s.add(row)
        for key, row in existing.items():
            if key not in seen:
                await s.delete(row)
        await s.exec(delete(ValueIndex).where(ValueIndex.datasource_id == ds_id, ValueIndex.auto == True))  # noqa: E712
        manual = await _manual_indexes(store, ds_id, s)  # one may have been made while sampling
        for table, col, values in samples:
            if (table.name, col.name) in manual:
                continue
            # Over the cap: no values kept, they are looked up per question instead.
            s.add(ValueIndex(datasource_id=ds_id, schema_name=table.schema or "", table_name=table.name, field_name=col.name,
                             **({"kind": "lookup", "values": []} if values is TOO_MANY else {"values": values})))
        await s.commit()
    return counts


@dataclass
class _Next:
    """The next sync of one datasource, not started yet: later requests join it."""

    job_ids: list[str] = field(default_factory=list)


class SyncQueue:
    """One sync at a time per datasource in this instance; requests made while one waits share it."""

    def __init__(self):
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, _Next] = {}
        self.tasks: set[asyncio.Task] = set()

    def submit(self, ds_id: str, job_id: str, run: Callable[[list[str]], Awaitable[None]]) -> None:
        waiting = self._next.get(ds_id)
        if waiting is not None:
            waiting.job_ids.append(job_id)
            return
        waiting = self._next[ds_id] = _Next([job_id])

        async def go():
            async with self.lock(ds_id):
                if self._next.get(ds_id) is waiting:
                    del self._next[ds_id]  # from now on a new request needs a new run
                await run(waiting.job_ids)

        task = asyncio.create_task(go(), name=f"meta-sync:{ds_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def lock(self, ds_id: str) -> asyncio.Lock:
        """The lock of a datasource (a sync run in the foreground takes it too)."""
        return self._locks.setdefault(ds_id, asyncio.Lock())
