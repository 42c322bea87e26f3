"""Generated tables: schema CRUD, durable rows, and generate / autofill / regenerate.

Values come from `pick` sources (datasets or other tables), from an LLM (a JSON array per batch,
retried up to 3 times when malformed, written in one transaction so a batch is never half-stored),
or offline from faker when no model is configured. Batches run concurrently within the model's
rpm budget; `context_length` feeds a column's latest values back so rows do not repeat.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from datetime import date

from sqlalchemy import delete, func
from sqlmodel import select

from tabletalk.core.errors import Conflict, Invalid, NotFound, Upstream
from tabletalk.core.llm.registry import ModelRegistry
from tabletalk.core.nlq.parse import extract_json
from tabletalk.core.store.db import Store
from tabletalk.core.tables.models import Dataset, GenRow, GenTable
from tabletalk.core.tables.offline import OfflineFiller
from tabletalk.core.tables.schema import TableSpec

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
MAX_CONCURRENT_BATCHES = 32


def table_view(t: GenTable) -> dict:
    return {"id": t.id, "name": t.name, "description": t.description}


def schema_view(t: GenTable) -> dict:
    defaults = TableSpec(name="x", columns=[{"name": "x"}]).columns[0].model_dump()
    return {"name": t.name, "description": t.description, "model": t.model,
            "columns": [{**defaults, **c} for c in t.columns], "sources": t.sources}


def coerce(value, kind: str):
    """A value as the column's type; None when it cannot be read as one."""
    if value is None or value == "":
        return None
    try:
        if kind == "integer":
            return int(float(value))
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "yes", "1", "y")
        if kind == "date":
            return date.fromisoformat(str(value)[:10]).isoformat()
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


class Picker:
    """Draws values for `pick` columns: random or in order, with or without replacement, repeating
    when asked, and keeping linked context columns from the same source row together."""

    def __init__(self, column: dict, records: list[dict], rng: random.Random):
        self.column, self.rng = column, rng
        self.records = list(records)
        self.order = list(range(len(records)))
        if column.get("random"):
            rng.shuffle(self.order)
        self.position = 0

    def draw(self) -> dict | None:
        if not self.records:
            return None
        if self.column.get("random") and self.column.get("replacement"):
            return self.records[self.rng.randrange(len(self.records))]
        if self.position >= len(self.order):
            if not self.column.get("repeat"):
                return None
            self.position = 0
            if self.column.get("random"):
                self.rng.shuffle(self.order)
        record = self.records[self.order[self.position]]
        self.position += 1
        return record


class TableService:
    def __init__(self, store: Store, llm: ModelRegistry):
        self.store = store
        self.llm = llm

    # --- schema ------------------------------------------------------------------------------
    async def create(self, spec: TableSpec) -> GenTable:
        async with self.store.session() as s:
            if (await s.exec(select(GenTable).where(GenTable.name == spec.name))).first():
                raise Conflict(f"A table named '{spec.name}' already exists.")
            await self._check_sources(s, spec)
            table = GenTable(name=spec.name, description=spec.description, model=spec.model,
                             columns=[c.model_dump() for c in spec.columns], sources=spec.sources)
            s.add(table)
            await s.commit()
        return table

    async def _check_sources(self, s, spec: TableSpec) -> None:
        for c in spec.columns:
            if c.fill_mode == "pick" and c.source_id:
                found = await self._source(s, c.source_type or "dataset", c.source_id)
                if found is None:
                    raise NotFound(f"Column '{c.name}' picks from {c.source_type or 'dataset'} '{c.source_id}', which does not exist.")

    async def _source(self, s, kind: str, ref: str):
        model = Dataset if kind == "dataset" else GenTable
        row = await s.get(model, ref)
        return row or (await s.exec(select(model).where(model.name == ref))).first()

    async def get(self, ref: str) -> GenTable:
        async with self.store.session() as s:
            table = await s.get(GenTable, ref) or (await s.exec(select(GenTable).where(GenTable.name == ref))).first()
        if table is None:
            raise NotFound(f"Table '{ref}' does not exist.")
        return table

    async def list(self) -> list[GenTable]:
        async with self.store.session() as s:
            return list((await s.exec(select(GenTable).order_by(GenTable.created_at))).all())

    async def patch(self, ref: str, columns: list[dict] | None, sources: list[dict] | None) -> GenTable:
        table = await self.get(ref)
        spec = TableSpec.model_validate({**schema_view(table), **({"columns": columns} if columns is not None else {}),
                                         **({"sources": sources} if sources is not None else {})})
        async with self.store.session() as s:
            await self._check_sources(s, spec)
            row = await s.get(GenTable, table.id)
            row.columns, row.sources = [c.model_dump() for c in spec.columns], spec.sources
            s.add(row)
            await s.commit()
        return row

    async def delete(self, ref: str) -> None:
        table = await self.get(ref)
        async with self.store.session() as s:
            await s.exec(delete(GenRow).where(GenRow.table_id == table.id))
            await s.delete(await s.get(GenTable, table.id))
            await s.commit()

    async def truncate(self, ref: str) -> int:
        table = await self.get(ref)
        async with self.store.session() as s:
            result = await s.exec(delete(GenRow).where(GenRow.table_id == table.id))
            await s.commit()
        return result.rowcount or 0

    async def rows(self, ref: str, offset: int = 0, limit: int = 100) -> tuple[list[dict], int]:
        table = await self.get(ref)
        async with self.store.session() as s:
            total = (await s.exec(select(func.count()).select_from(GenRow).where(GenRow.table_id == table.id))).one()
            rows = (await s.exec(select(GenRow).where(GenRow.table_id == table.id).order_by(GenRow.seq)
                                 .offset(offset).limit(limit))).all()
        return [{"_id": r.id, **r.data} for r in rows], int(total)

    # --- sources -----------------------------------------------------------------------------
    async def _records(self, column: dict) -> list[dict]:
        """Source rows for a pick column, as dicts keyed by source column name."""
        if column.get("options") and not column.get("source_id"):
            return [{column["name"]: o} for o in column["options"]]
        async with self.store.session() as s:
            source = await self._source(s, column.get("source_type") or "dataset", column["source_id"])
            if source is None:
                raise NotFound(f"Source '{column['source_id']}' of column '{column['name']}' does not exist.")
            if isinstance(source, Dataset):
                if source.type == "list":
                    return [{column.get("linked_column") or column["name"]: v} for v in source.values]
                return [dict(zip(source.columns, r)) for r in source.values]
            rows = (await s.exec(select(GenRow).where(GenRow.table_id == source.id).order_by(GenRow.seq))).all()
            return [r.data for r in rows]

    # --- generation --------------------------------------------------------------------------
    async def generate(self, ref: str, *, count: int, batch: int = 10, temperature: float = 0.7,
                       model: str | None = None) -> AsyncIterator[list[dict]]:
        """Generate `count` rows in batches; yields each stored batch (in completion order)."""
        table = await self.get(ref)
        if count < 1 or batch < 1:
            raise Invalid("'count' and 'batch' must be positive.")
        columns = table.columns
        rng = random.Random()
        pickers = {c["name"]: Picker(c, await self._records(c), rng) for c in columns if c["fill_mode"] == "pick"}
        ai_cols = [c for c in columns if c["fill_mode"] == "ai"]
        client = info = None
        if ai_cols and self.llm.available:
            client, info = self.llm.resolve(model or table.model or None)
        recent: dict[str, list] = {c["name"]: [] for c in columns}
        async with self.store.session() as s:
            start = (await s.exec(select(func.max(GenRow.seq)).where(GenRow.table_id == table.id))).one() or 0
        sizes = [min(batch, count - i) for i in range(0, count, batch)]
        # Picks are drawn up front, in order, so sources are consumed deterministically.
        plans: list[list[dict]] = []
        for size in sizes:
            rows = []
            for _ in range(size):
                row = {}
                for name, picker in pickers.items():
                    record = picker.draw()
                    col = next(c for c in columns if c["name"] == name)
                    if record is None:
                        continue
                    row[name] = record.get(col.get("linked_column") or name, next(iter(record.values()), None))
                    for ctx in col.get("linked_context_columns") or []:
                        if ctx in record and any(c["name"] == ctx for c in columns):
                            row[ctx] = record[ctx]
                rows.append(row)
            plans.append(rows)
        offline = OfflineFiller()
        queue: asyncio.Queue = asyncio.Queue()
        limit = asyncio.Semaphore(MAX_CONCURRENT_BATCHES)
        seq = {"next": start}

        async def run_batch(index: int, planned: list[dict]) -> None:
            try:
                async with limit:
                    if client is not None:
                        filled = await self._llm_rows(client, table, ai_cols, planned, recent, temperature, info.model)
                    else:
                        filled = [{**offline.rows(ai_cols, 1, start + index * batch + i)[0], **p} for i, p in enumerate(planned)]
                    stored = await self._store_batch(table, columns, filled, seq)
                for row in stored:
                    for name in recent:
                        recent[name] = (recent[name] + [row.get(name)])[-1000:]
                await queue.put(stored)
            except Exception as exc:  # handed to the consumer, which stops the whole generation
                await queue.put(exc)

        tasks = [asyncio.create_task(run_batch(i, p)) for i, p in enumerate(plans)]
        try:
            for _ in tasks:
                result = await queue.get()
                if isinstance(result, BaseException):
                    raise result
                yield result
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _store_batch(self, table: GenTable, columns: list[dict], rows: list[dict], seq: dict) -> list[dict]:
        types = {c["name"]: c["type"] for c in columns}
        out = []
        async with self.store.session() as s:  # one transaction per batch: all of it or nothing
            for data in rows:
                seq["next"] += 1
                clean = {name: coerce(data.get(name), kind) for name, kind in types.items()}
                row = GenRow(table_id=table.id, seq=seq["next"], data=clean)
                s.add(row)
                out.append({"_id": row.id, **clean})
            await s.commit()
        return out

    def _prompt(self, table: GenTable, ai_cols: list[dict], planned: list[dict], recent: dict, extra: str = "") -> list[dict]:
        spec = "\n".join(f"- {c['name']} ({c['type']}): {c.get('description', '')}" for c in ai_cols)
        avoid = []
        for c in ai_cols:
            n = c.get("context_length") or 0
            if n and recent.get(c["name"]):
                avoid.append(f"Recent values of {c['name']} (do not repeat): {json.dumps(recent[c['name']][-n:], default=str)}")
        given = json.dumps(planned, default=str)
        system = (f"You fill rows of the table '{table.name}': {table.description}\nColumns to write:\n{spec}\n"
                  + ("\n".join(avoid) + "\n" if avoid else "")
                  + "Answer with a JSON array only: one object per row, in order, with exactly those column keys.")
        user = f"Write {len(planned)} rows. Values already chosen for each row (keep them consistent): {given}{extra}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    async def _llm_rows(self, client, table, ai_cols, planned, recent, temperature, model, extra: str = "") -> list[dict]:
        messages = self._prompt(table, ai_cols, planned, recent, extra)
        problem = "no answer"
        for attempt in range(MAX_ATTEMPTS):
            completion = await client.complete(messages, model=model, temperature=temperature)
            data = extract_json(completion.text)
            if isinstance(data, dict):
                data = next((v for v in data.values() if isinstance(v, list)), None)
            if isinstance(data, list) and len(data) >= len(planned) and all(isinstance(r, dict) for r in data[: len(planned)]):
                missing = [c["name"] for c in ai_cols if not any(c["name"] in r for r in data[: len(planned)])]
                if not missing:
                    return [{**{c["name"]: r.get(c["name"]) for c in ai_cols}, **p} for r, p in zip(data, planned)]
                problem = f"missing columns {', '.join(missing)}"
            else:
                problem = f"expected a JSON array of {len(planned)} objects"
            log.info("malformed generation batch (attempt %d): %s", attempt + 1, problem)
            messages = messages + [{"role": "assistant", "content": completion.text},
                                   {"role": "user", "content": f"That was not usable ({problem}). Answer with the JSON array only."}]
        raise Upstream(f"The model returned unusable rows {MAX_ATTEMPTS} times ({problem}); nothing from that batch was stored.")

    async def autofill(self, ref: str, columns: list[str], context_columns: list[str], *, batch: int = 10,
                       temperature: float = 0.7, model: str | None = None, rows: list[str] | None = None,
                       prompt: str = "", only_empty: bool = True) -> list[dict]:
        """Fill the named columns of existing rows (only empty cells, unless regenerating given rows)."""
        table = await self.get(ref)
        by_name = {c["name"]: c for c in table.columns}
        unknown = [c for c in columns + context_columns if c not in by_name]
        if unknown or not columns:
            raise Invalid(f"Unknown column '{unknown[0]}' in table '{table.name}'." if unknown else "Name the columns to fill.")
        async with self.store.session() as s:
            q = select(GenRow).where(GenRow.table_id == table.id).order_by(GenRow.seq)
            if rows:
                q = q.where(GenRow.id.in_(rows))
            targets = list((await s.exec(q)).all())
        if rows and len(targets) != len(set(rows)):
            found = {r.id for r in targets}
            raise NotFound(f"Row '{next(r for r in rows if r not in found)}' does not exist in table '{table.name}'.")
        if only_empty:
            targets = [r for r in targets if any(r.data.get(c) in (None, "") for c in columns)]
        fill_cols = [by_name[c] for c in columns]
        client = info = None
        if self.llm.available:
            client, info = self.llm.resolve(model or table.model or None)
        offline = OfflineFiller()
        updated = []
        for i in range(0, len(targets), batch):
            chunk = targets[i:i + batch]
            planned = [{c: r.data.get(c) for c in context_columns} for r in chunk]
            if client is not None:
                extra = f"\nInstructions: {prompt}" if prompt else ""
                values = await self._llm_rows(client, table, fill_cols, planned, {}, temperature, info.model, extra)
            else:
                values = offline.rows(fill_cols, len(chunk), i)
            async with self.store.session() as s:
                for row, new in zip(chunk, values):
                    stored = await s.get(GenRow, row.id)
                    data = dict(stored.data)
                    for c in fill_cols:
                        if not only_empty or data.get(c["name"]) in (None, ""):
                            data[c["name"]] = coerce(new.get(c["name"]), c["type"])
                    stored.data = data
                    s.add(stored)
                    updated.append({"_id": stored.id, **data})
                await s.commit()
        return updated

    async def import_image(self, image_url: str, *, name: str | None = None, prompt: str = "",
                           model: str | None = None) -> tuple["GenTable", int]:
        """Build a table (schema and rows) from a picture of one, with a vision-capable model."""
        vision = [m for m in self.llm.models() if m.image]
        if not vision:
            raise Invalid("Image import needs a vision-capable model (a provider model with \"image\": true); none is configured.")
        client, info = self.llm.resolve(model or (vision[0].alias or vision[0].model))
        if not info.image:
            raise Invalid(f"Model '{info.alias or info.model}' cannot read images.")
        ask = ("Read the table in this image. Answer with JSON only: {\"name\": snake_case, \"description\": str, "
               "\"columns\": [{\"name\": snake_case, \"type\": \"string|integer|number|boolean|date\", \"description\": str}], "
               "\"rows\": [{column: value}]}." + (f" {prompt}" if prompt else ""))
        messages = [{"role": "user", "content": [{"type": "text", "text": ask}, {"type": "image_url", "image_url": {"url": image_url}}]}]
        for _ in range(MAX_ATTEMPTS):
            data = extract_json((await client.complete(messages, model=info.model)).text)
            if isinstance(data, dict) and isinstance(data.get("columns"), list) and data["columns"]:
                break
        else:
            raise Upstream("The model did not describe the image as a table.")
        spec = TableSpec.model_validate({"name": name or data.get("name") or "imported_table",
                                         "description": data.get("description", ""),
                                         "columns": [{k: c.get(k) for k in ("name", "type", "description") if c.get(k)} for c in data["columns"]]})
        table = await self.create(spec)
        rows = [r for r in data.get("rows") or [] if isinstance(r, dict)]
        await self._store_batch(table, table.columns, rows, {"next": 0})
        return table, len(rows)

    async def list_gen(self, description: str, count: int, existing: list[str], model: str | None = None) -> list[str]:
        if not self.llm.available:
            filler = OfflineFiller()
            out = []
            while len(out) < count:
                v = filler.fake.word().capitalize()
                if v not in existing and v not in out:
                    out.append(v)
            return out
        client, info = self.llm.resolve(model)
        messages = [{"role": "system", "content": "Answer with a JSON array of strings only."},
                    {"role": "user", "content": f"List {count} new items: {description}. Do not repeat any of: {json.dumps(existing)}"}]
        for _ in range(MAX_ATTEMPTS):
            data = extract_json((await client.complete(messages, model=info.model, temperature=0.8)).text)
            if isinstance(data, list):
                items = [str(x) for x in data if str(x) not in existing]
                return list(dict.fromkeys(items))[:count]
        raise Upstream("The model did not return a JSON list.")


