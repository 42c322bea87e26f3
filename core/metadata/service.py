"""Stored metadata of each datasource: sync from the database, user edits that survive re-syncs,
value indexes, and the in-memory `Schema` the query engine reads."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace

from sqlalchemy import delete, update
from sqlglot import exp
from sqlmodel import select

from tabletalk.core.errors import Invalid, NotFound, TableTalkError
from tabletalk.core.metadata.schema import ENGINE_DIALECTS, Column, Schema, Table
from tabletalk.core.datasources.service import DatasourceService, lock_datasource
from tabletalk.core.metadata.sync import SyncQueue, public_error, read_live, write_sync
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import Job, MetaTable, ValueIndex, iso, utcnow

log = logging.getLogger(__name__)

_SCHEMA_TTL = 30.0  # seconds another instance's edits may take to show in this one's cached schema


class MetadataService:
    def __init__(self, store: Store, datasources: DatasourceService, *, value_cap: int = 200, embed=None):
        self.store = store
        self.datasources = datasources
        self.value_cap = value_cap
        # async (texts) -> vectors, when an embedding model is configured: powers vector indexes
        self.embed = embed
        self._vectors: dict[str, tuple[float, dict[str, list[float]]]] = {}
        self._schemas: dict[str, tuple[float, Schema]] = {}
        self._scoped: dict[tuple, tuple[float, Schema, Schema]] = {}  # (expiry, full, as a role sees it)
        self._syncs = SyncQueue()

    # --- sync -------------------------------------------------------------------------------
    async def start_sync(self, ds_id: str) -> Job:
        """Mark the datasource as syncing and sync it in the background (joining a sync not started yet)."""
        await self.datasources.get(ds_id)
        job = Job(kind="meta_sync", target_id=ds_id)
        async with self.store.session() as s:
            s.add(job)
            await s.commit()
        await self.datasources.set_status(ds_id, meta_status="running", meta_error=None)
        self._syncs.submit(ds_id, job.id, lambda job_ids: self._run_sync(ds_id, job_ids))
        return job

    async def _run_sync(self, ds_id: str, job_ids: list[str]) -> None:
        error = None
        try:
            await self._sync(ds_id)
        except NotFound as exc:  # deleted meanwhile: nothing was written
            error = exc.detail
        except Exception as exc:  # recorded on the datasource for its users, without driver text
            error = public_error(exc)
            log.warning("metadata sync of %s failed: %s", ds_id, error, exc_info=not isinstance(exc, TableTalkError))
            await self.datasources.set_status(ds_id, meta_status="failed", meta_error=error)
        async with self.store.session() as s:
            await s.exec(update(Job).where(Job.id.in_(job_ids)).values(
                status="failed" if error else "success", error=error, finished_at=utcnow()))
            await s.commit()

    async def sync(self, ds_id: str) -> dict:
        """Read the live schema, merge it with stored descriptions/visibility, refresh value indexes."""
        async with self._syncs.lock(ds_id):
            return await self._sync(ds_id)

    async def _sync(self, ds_id: str) -> dict:
        ds = await self.datasources.get(ds_id, fresh=True)
        conn = await self.datasources.connector(ds)
        tables, samples = await read_live(self.store, ds_id, conn, self.value_cap)
        counts = await write_sync(self.store, ds_id, tables, samples)
        self.datasources.forget(ds_id)
        self.invalidate(ds_id)
        return counts

    # --- value indexes (user-managed) ------------------------------------------------------------
    async def list_indexes(self, ds_id: str, scope=None) -> list[dict]:
        """The value indexes; under a restricted `scope`, only those of its visible columns, their
        samples taken from the rows it may read (see `schema_for`)."""
        await self.datasources.get(ds_id)
        async with self.store.session() as s:
            rows = (await s.exec(select(ValueIndex).where(ValueIndex.datasource_id == ds_id, ValueIndex.kind == "value"))).all()
            vectors = (await s.exec(select(ValueIndex).where(ValueIndex.datasource_id == ds_id, ValueIndex.kind == "vector"))).all()
        if scope is not None and scope.restricted:
            seen = {(t.name.lower(), c.name.lower()): c.values for t in (await self.schema_for(ds_id, scope)).tables
                    for c in t.columns}
            return [index_view(r, seen[k]) for r in rows if (k := (r.table_name.lower(), r.field_name.lower())) in seen]
        out = [index_view(r) for r in rows]
        if vectors:
            out.append({"id": f"vector:{ds_id}", "datasource_id": ds_id, "kind": "vector", "status": "success",
                        "table_count": len(vectors), "dimensions": len(vectors[0].values)})
        return out

    async def create_index(self, ds_id: str, table: str, field: str, kind: str = "value") -> dict:
        if kind == "vector":
            return await self._vector_index(ds_id)
        if kind != "value":
            raise Invalid(f"Unknown index kind '{kind}'; use 'value' or 'vector'.")
        ds = await self.datasources.get(ds_id)
        t = (await self.schema(ds_id)).table(table)
        if t is None or t.column(field) is None:
            raise NotFound(f"Field '{table}.{field}' does not exist in datasource '{ds_id}'.")
        conn = await self.datasources.connector(ds)
        values = await conn.sample_values(t.name, t.column(field).name, max(self.value_cap, 1000)) or []
        async with self.store.session() as s:
            await lock_datasource(s, ds_id)
            old = (await s.exec(select(ValueIndex).where(ValueIndex.datasource_id == ds_id, ValueIndex.table_name == t.name,
                                                         ValueIndex.field_name == t.column(field).name))).first()
            row = old or ValueIndex(datasource_id=ds_id, table_name=t.name, field_name=t.column(field).name)
            row.values, row.auto, row.status = values, False, ("success" if values else "empty")
            s.add(row)
            await s.commit()
        self.invalidate(ds_id)
        return index_view(row)

    async def _vector_index(self, ds_id: str) -> dict:
        """Embed every visible table (name, description, columns) so linking can also match by meaning."""
        if self.embed is None:
            raise Invalid("Vector indexes need an embedding model: set TABLETALK_EMBEDDING_MODEL (with an OpenAI-compatible "
                          "provider); value indexes are available without one.")
        tables = (await self.schema(ds_id)).tables
        texts = [f"{t.name.replace('_', ' ')}: {t.description} ({', '.join(c.name.replace('_', ' ') for c in t.columns)})"
                 for t in tables]
        vectors: list[list[float]] = []
        for i in range(0, len(texts), 100):
            vectors += await self.embed(texts[i:i + 100])
        async with self.store.session() as s:
            await lock_datasource(s, ds_id)
            await s.exec(delete(ValueIndex).where(ValueIndex.datasource_id == ds_id, ValueIndex.kind == "vector"))
            rows = [ValueIndex(datasource_id=ds_id, table_name=t.name, field_name="*", kind="vector", auto=False, values=v)
                    for t, v in zip(tables, vectors)]
            s.add_all(rows)
            await s.commit()
        self._vectors.pop(ds_id, None)
        return {"id": f"vector:{ds_id}", "datasource_id": ds_id, "kind": "vector", "status": "success",
                "table_count": len(rows), "dimensions": len(vectors[0]) if vectors else 0}

    async def similar_tables(self, ds_id: str, question: str, k: int = 3, visible: set[str] | None = None) -> list[str]:
        """Tables closest in meaning to the question (empty without a vector index or embedding model)."""
        if self.embed is None:
            return []
        hit = self._vectors.get(ds_id)
        if hit is None or hit[0] <= time.monotonic():
            async with self.store.session() as s:
                rows = (await s.exec(select(ValueIndex).where(ValueIndex.datasource_id == ds_id, ValueIndex.kind == "vector"))).all()
            hit = (time.monotonic() + _SCHEMA_TTL, {r.table_name: r.values for r in rows})
            self._vectors[ds_id] = hit
        vectors = hit[1]
        if not vectors:
            return []
        (query,) = await self.embed([question])
        scored = sorted(((_cosine(query, v), name) for name, v in vectors.items()
                         if visible is None or name.lower() in visible), reverse=True)
        return [name for score, name in scored[:k] if score > 0]

    async def delete_index(self, ds_id: str, index_id: str) -> None:
        if index_id == f"vector:{ds_id}":
            async with self.store.session() as s:
                await s.exec(delete(ValueIndex).where(ValueIndex.datasource_id == ds_id, ValueIndex.kind == "vector"))
                await s.commit()
            self._vectors.pop(ds_id, None)
            return
        async with self.store.session() as s:
            row = await s.get(ValueIndex, index_id)
            if row is None or row.datasource_id != ds_id:
                raise NotFound(f"Index '{index_id}' does not exist.")
            await s.delete(row)
            await s.commit()
        self.invalidate(ds_id)

    # --- reading and editing ---------------------------------------------------------------------
    async def tables(self, ds_id: str) -> list[MetaTable]:
        async with self.store.session() as s:
            return list((await s.exec(select(MetaTable).where(MetaTable.datasource_id == ds_id).order_by(MetaTable.name))).all())

    async def get_meta(self, ds_id: str, visible: set[str] | None = None, *, hidden_too: bool = True) -> dict:
        """The spec's nested `{"schemas": {s: {"tables": {t: {"fields": {...}}}}}}` shape; `visible`
        limits the tables, and without `hidden_too` what an administrator hid is left out."""
        await self.datasources.get(ds_id)
        schemas: dict = {}
        for t in await self.tables(ds_id):
            if (visible is not None and t.name.lower() not in visible) or not (hidden_too or t.visibility):
                continue
            sch = schemas.setdefault(t.schema_name, {"name": t.schema_name, "tables": {}})
            sch["tables"][t.name] = {
                "name": t.name, "kind": t.kind, "description": t.description, "visibility": t.visibility,
                "fields": {f["name"]: {"name": f["name"], "data_type": f["data_type"], "description": f["description"],
                                       "visibility": f["visibility"], "primary_key": f.get("primary_key", False),
                                       "references": f.get("references")}
                           for f in t.fields if hidden_too or f.get("visibility", True)}}
        return {"schemas": schemas}

    async def patch_table(self, ds_id: str, table: str, description: str | None = None, visibility: bool | None = None) -> dict:
        await self._edit(ds_id, {table: {"description": description, "visibility": visibility, "fields": {}}})
        return (await self._table(ds_id, table))

    async def patch_field(self, ds_id: str, table: str, field: str, description: str | None = None,
                          visibility: bool | None = None) -> dict:
        await self._edit(ds_id, {table: {"fields": {field: {"description": description, "visibility": visibility}}}})
        t = await self._table(ds_id, table)
        return next(f for f in t["fields"] if f["name"].lower() == field.lower())

    async def put_meta(self, ds_id: str, schemas: dict) -> dict:
        edits: dict = {}
        for sch in schemas.values():
            for tname, t in (sch.get("tables") or {}).items():
                edits[tname] = {"description": t.get("description"), "visibility": t.get("visibility"),
                                "fields": {f: {"description": v.get("description"), "visibility": v.get("visibility")}
                                           for f, v in (t.get("fields") or {}).items()}}
        await self._edit(ds_id, edits)
        return await self.get_meta(ds_id)

    async def _edit(self, ds_id: str, edits: dict) -> None:
        await self.datasources.get(ds_id)
        async with self.store.session() as s:
            rows = {t.name.lower(): t for t in (await s.exec(select(MetaTable).where(MetaTable.datasource_id == ds_id))).all()}
            for tname, edit in edits.items():
                row = rows.get(tname.lower())
                if row is None:
                    raise NotFound(f"Table '{tname}' is not in the metadata of datasource '{ds_id}' (sync it first?).")
                if edit.get("description") is not None:
                    row.description, row.description_by_user = edit["description"], True
                if edit.get("visibility") is not None:
                    row.visibility = edit["visibility"]
                fields = [dict(f) for f in row.fields]
                by_name = {f["name"].lower(): f for f in fields}
                for fname, fedit in (edit.get("fields") or {}).items():
                    f = by_name.get(fname.lower())
                    if f is None:
                        raise NotFound(f"Field '{tname}.{fname}' is not in the metadata of datasource '{ds_id}'.")
                    if fedit.get("description") is not None:
                        f["description"], f["description_by_user"] = fedit["description"], True
                    if fedit.get("visibility") is not None:
                        f["visibility"] = fedit["visibility"]
                row.fields = fields  # reassign so the JSON column is marked dirty
                s.add(row)
            await s.commit()
        self.invalidate(ds_id)

    async def _table(self, ds_id: str, table: str) -> dict:
        for t in await self.tables(ds_id):
            if t.name.lower() == table.lower():
                return {"name": t.name, "description": t.description, "visibility": t.visibility,
                        "fields": [{k: f.get(k) for k in ("name", "data_type", "description", "visibility")} for f in t.fields]}
        raise NotFound(f"Table '{table}' is not in the metadata of datasource '{ds_id}'.")

    # --- the engine's view -----------------------------------------------------------------------
    def invalidate(self, ds_id: str) -> None:
        hit = self._schemas.get(ds_id)
        if hit is not None:  # expired, but kept: a rebuild that finds nothing changed reuses the object
            self._schemas[ds_id] = (0.0, hit[1])
        self._scoped = {k: v for k, v in self._scoped.items() if k[0] != ds_id}

    async def schema(self, ds_id: str) -> Schema:
        """The visible schema with value-index samples, cached per datasource."""
        hit = self._schemas.get(ds_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        ds = await self.datasources.get(ds_id)
        async with self.store.session() as s:
            rows = (await s.exec(select(MetaTable).where(MetaTable.datasource_id == ds_id))).all()
            indexes = (await s.exec(select(ValueIndex).where(ValueIndex.datasource_id == ds_id))).all()
        values = {(i.table_name.lower(), i.field_name.lower()): i.values for i in indexes if i.kind == "value"}
        lookups = {(i.table_name.lower(), i.field_name.lower()) for i in indexes if i.kind == "lookup"}
        tables = []
        for r in rows:
            if not r.visibility:
                continue
            cols = [Column(name=f["name"], data_type=f.get("data_type") or "TEXT", description=f.get("description") or "",
                           visibility=True, primary_key=bool(f.get("primary_key")),
                           references=tuple(f["references"]) if f.get("references") else None,
                           values=values.get((r.name.lower(), f["name"].lower()), []),
                           lookup=(r.name.lower(), f["name"].lower()) in lookups)
                    for f in r.fields if f.get("visibility", True)]
            hidden = tuple(f["name"] for f in r.fields if not f.get("visibility", True))
            tables.append(Table(name=r.name, columns=cols, description=r.description, schema=r.schema_name,
                                kind=r.kind, view_sql=r.view_sql, hidden=hidden))
        tables.sort(key=lambda t: t.name)
        schema = Schema(ENGINE_DIALECTS.get(ds.engine, "sqlite"), tables)
        if hit is not None and hit[1] == schema:
            # Unchanged since the last read: the same object, so every per-schema memo (the engine's
            # index, the lexicon, prompt text, scoped views) keeps serving instead of rebuilding.
            schema = hit[1]
        self._schemas[ds_id] = (time.monotonic() + _SCHEMA_TTL, schema)
        return schema

    # --- what one asker sees ---------------------------------------------------------------------
    async def schema_for(self, ds_id: str, scope) -> Schema:
        """The schema as one asker sees it (`scope`: a `core.policy.service.Scope`): only the tables
        its role may query, and value samples only from rows it may read. Every consumer of values
        (built-in engine, LLM prompt, value hints, index listings) reads them from here."""
        full = await self.schema(ds_id)
        visible = scope.visible_in(full)
        if visible is None and not scope.filtered:
            return full
        # One Schema object per (datasource, what the role sees) while the metadata stands: every
        # per-schema memo (engine index, prompt text, value indexes) then serves all its questions.
        key = (ds_id, frozenset(visible) if visible is not None else None, scope.role_id if scope.filtered else None,
               json.dumps(scope.values, sort_keys=True, default=str) if scope.filtered else None)
        hit = self._scoped.get(key)
        if hit is not None and hit[1] is full and hit[0] > time.monotonic():
            return hit[2]
        schema = full.restricted_to(visible)
        if scope.filtered:
            values = await self._scoped_values(ds_id, full, schema, scope)
            schema = Schema(schema.dialect, [
                replace(t, columns=[replace(c, values=values.get((t.name, c.name), c.values)) for c in t.columns])
                for t in schema.tables])
        if len(self._scoped) > 1000:
            self._scoped.clear()
        # Filtered samples are re-read after _SCHEMA_TTL; a visibility cut lasts as long as the metadata.
        self._scoped[key] = (time.monotonic() + _SCHEMA_TTL if scope.filtered else float("inf"), full, schema)
        return schema

    async def _scoped_values(self, ds_id: str, full: Schema, schema: Schema, scope) -> dict:
        """Value samples of the tables a row filter shapes, read live through the policy rewriter
        (and only among the indexed values): a filtered role never sees another row's value."""
        ds = await self.datasources.get(ds_id)
        conn = await self.datasources.connector(ds)
        shaped = scope.shaped_tables({t.name.lower() for t in full.tables})
        jobs = [(t, c) for t in schema.tables for c in t.columns
                if c.values and (t.kind == "view" or t.name.lower() in shaped)]
        sem = asyncio.Semaphore(4)

        async def lookup(table: Table, col: Column):
            sql = (exp.select(exp.column(exp.to_identifier(col.name, quoted=True))).distinct()
                   .from_(exp.to_table(table.name, quoted=True)).sql(dialect=full.dialect))
            async with sem:
                try:
                    rewritten = scope.enforce(sql, full)
                    result = await conn.execute(rewritten, max_rows=len(col.values) + 1, timeout=10.0)
                except Exception as exc:  # fail closed: no samples rather than unfiltered ones
                    log.info("filtered value lookup %s.%s failed: %s", table.name, col.name, exc)
                    return (table.name, col.name), []
            seen = {str(row[0]) for row in result.data if row and row[0] is not None}
            return (table.name, col.name), [v for v in col.values if v in seen]

        return dict(await asyncio.gather(*(lookup(t, c) for t, c in jobs)))

    async def close(self) -> None:
        tasks = list(self._syncs.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb) if na and nb else 0.0


def index_view(r: ValueIndex, values: list[str] | None = None) -> dict:
    values = r.values if values is None else values
    return {"id": r.id, "datasource_id": r.datasource_id, "table": r.table_name, "field": r.field_name, "kind": r.kind,
            "status": r.status, "auto": r.auto, "value_count": len(values), "sample": values[:10],
            "created_at": iso(r.created_at)}
