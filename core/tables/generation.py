"""Generate / autofill / regenerate rows of a generated table, bounded and cancellable.

Values come from `pick` sources (options, datasets, other tables, file rows), from an LLM (a JSON
array per batch, retried up to 3 times when malformed) or offline from `OfflineFiller`. Each batch
is stored in its own short transaction (writes of all generations take turns), so a long job never
holds the metadata store; at most `MAX_CONCURRENT_BATCHES` are planned and in flight at once, and
closing the iterator (a dropped client) cancels what is left. Counts, batch sizes and wall time are
capped for every caller (REST, workflows, CLI, chat).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from datetime import date

from sqlalchemy import func
from sqlmodel import select

from tabletalk.core.errors import Invalid, NotFound, Upstream
from tabletalk.core.nlq.parse import extract_json
from tabletalk.core.tables.models import GenRow, GenTable
from tabletalk.core.tables.offline import OfflineFiller

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
MAX_CONCURRENT_BATCHES = 32
MAX_ROWS = 100_000
MAX_BATCH = 500
MAX_SECONDS = 3600.0


def check_bounds(count: int, batch: int) -> None:
    if count < 1 or batch < 1:
        raise Invalid("'count' and 'batch' must be positive.")
    if count > MAX_ROWS:
        raise Invalid(f"'count' is limited to {MAX_ROWS:,} rows per run (asked for {count:,}).")
    if batch > MAX_BATCH:
        raise Invalid(f"'batch' is limited to {MAX_BATCH} rows.")


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
        if kind == "array":
            return _array(value)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def _array(value) -> list:
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, ensure_ascii=False) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
            if isinstance(parsed, list):
                return _array(parsed)
        except json.JSONDecodeError:
            pass
    sep = "\n" if "\n" in text else ";" if ";" in text else ","
    return [part.strip() for part in text.split(sep) if part.strip()]


class Picker:
    """Draws values for `pick` columns: random or in order, with or without replacement, each value
    for `run_length` consecutive rows, cycling when `repeat` is set; None once a source runs out."""

    def __init__(self, column: dict, records: list[dict], rng: random.Random):
        self.column, self.rng = column, rng
        self.records = list(records)
        self.order = list(range(len(records)))
        if column.get("random"):
            rng.shuffle(self.order)
        self.position = 0
        repeat = column.get("repeat")
        self.run = repeat if not isinstance(repeat, bool) and isinstance(repeat, int) and repeat > 1 else 1
        self.current: dict | None = None
        self.used = 0

    def draw(self) -> dict | None:
        if self.current is not None and self.used < self.run:
            self.used += 1
            return self.current
        self.current, self.used = self._next(), 1
        return self.current

    def _next(self) -> dict | None:
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


def pick_value(column: dict, record: dict):
    key = column.get("linked_column") or column["name"]
    return record.get(key, next(iter(record.values()), None))


class GenerationMixin:
    """The generation half of TableService (needs `store`, `llm`, `get` and `_records`)."""

    _write_lock: asyncio.Lock

    async def _llm(self, table: GenTable, model: str | None, needed: bool):
        if not needed or not self.llm.available:
            return None, None
        return self.llm.resolve(model or table.model or None)

    async def generate(self, ref: str, *, count: int, batch: int = 10, temperature: float = 0.7,
                       model: str | None = None, seed: int | None = None,
                       max_seconds: float = MAX_SECONDS) -> AsyncIterator[list[dict]]:
        """Generate `count` rows in batches; yields each stored batch (in completion order)."""
        check_bounds(count, batch)
        table = await self.get(ref)
        columns = table.columns
        rng = random.Random(seed)
        pickers = {c["name"]: Picker(c, await self._records(table, c), rng) for c in columns if c["fill_mode"] == "pick"}
        ai_cols = [c for c in columns if c["fill_mode"] == "ai"]
        client, info = await self._llm(table, model, bool(ai_cols))
        recent: dict[str, list] = {c["name"]: [] for c in columns}
        async with self.store.session() as s:
            start = (await s.exec(select(func.max(GenRow.seq)).where(GenRow.table_id == table.id))).one() or 0
        offline = OfflineFiller(seed)
        table_text = f"{table.name} {table.description}"
        deadline = time.monotonic() + max_seconds
        seq = {"next": start}

        def plan(size: int) -> tuple[list[dict], list[dict]]:
            """Picks are drawn in order, so sources are consumed deterministically."""
            rows, contexts = [], []
            for _ in range(size):
                row, context = {}, {}
                for name, picker in pickers.items():
                    record = picker.draw()
                    if record is None:
                        continue
                    col = next(c for c in columns if c["name"] == name)
                    row[name] = pick_value(col, record)
                    # Linked context columns inform the model about the picked record; they never
                    # become values, even where the table has a column of the same name.
                    linked = {k: record[k] for k in col.get("linked_context_columns") or [] if k in record}
                    if linked:
                        context[name] = linked
                rows.append(row)
                contexts.append(context)
            return rows, contexts

        async def run_batch(index: int, planned: list[dict], contexts: list[dict]) -> list[dict]:
            todo = [c for c in ai_cols if any(c["name"] not in p for p in planned)]
            # Image columns get a labelled placeholder: no image-generation endpoint is called.
            text = [c for c in todo if c["type"] != "image"]
            if client is not None and text:
                filled = await self._llm_rows(client, table, text, planned, contexts, recent, temperature, info.model)
                images = offline.rows([c for c in todo if c["type"] == "image"], len(planned))
                filled = [{**i, **f} for i, f in zip(images, filled)]
            else:
                made = offline.rows(todo, len(planned), start + index * batch, table_text=table_text, given=planned)
                filled = [{**m, **p} for m, p in zip(made, planned)]
            stored = await self._store_batch(table, columns, filled, seq)
            for row in stored:
                for name in recent:
                    recent[name] = (recent[name] + [row.get(name)])[-1000:]
            return stored

        sizes = iter([min(batch, count - i) for i in range(0, count, batch)])
        running: set[asyncio.Task] = set()
        index = 0
        try:
            while True:
                while len(running) < MAX_CONCURRENT_BATCHES and (size := next(sizes, None)) is not None:
                    running.add(asyncio.create_task(run_batch(index, *plan(size))))
                    index += 1
                if not running:
                    return
                done, running = await asyncio.wait(running, timeout=max(0.0, deadline - time.monotonic()),
                                                   return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    raise Invalid(f"Generation stopped after the {int(max_seconds)} s limit; {seq['next'] - start} rows were stored.")
                for task in done:
                    yield task.result()
        finally:
            for t in running:
                t.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _store_batch(self, table: GenTable, columns: list[dict], rows: list[dict], seq: dict) -> list[dict]:
        types = {c["name"]: c["type"] for c in columns}
        out = []

        async def write() -> None:
            # One short transaction per batch: all of it or nothing; generations take turns writing so
            # other writers to the metadata store always get in between.
            async with self._write_lock:
                async with self.store.session() as s:
                    for data in rows:
                        seq["next"] += 1
                        clean = {name: coerce(data.get(name), kind) for name, kind in types.items()}
                        row = GenRow(table_id=table.id, seq=seq["next"], data=clean)
                        s.add(row)
                        out.append({"_id": row.id, **clean})
                    await s.commit()

        # A cancel (the client left) never cuts a transaction in half: SQLite would stay locked for
        # every other writer until the connection is collected. The batch commits, then the cancel lands.
        await asyncio.shield(write())
        await asyncio.sleep(0)
        return out

    def _prompt(self, table: GenTable, cols: list[dict], planned: list[dict], contexts: list[dict], recent: dict,
                extra: str = "") -> list[dict]:
        def spec(c: dict) -> str:
            kind = "JSON array of strings" if c["type"] == "array" else c["type"]
            options = f" (one of: {', '.join(map(str, c['options']))})" if c.get("options") else ""
            return f"- {c['name']} ({kind}): {c.get('description', '')}{options}"

        avoid = []
        for c in cols:
            n = c.get("context_length") or 0
            if n and recent.get(c["name"]):
                avoid.append(f"Recent values of {c['name']} (do not repeat): {json.dumps(recent[c['name']][-n:], default=str)}")
        system = (f"You fill rows of the table '{table.name}': {table.description}\nColumns to write:\n"
                  + "\n".join(spec(c) for c in cols) + "\n" + ("\n".join(avoid) + "\n" if avoid else "")
                  + "Answer with a JSON array only: one object per row, in order, with exactly those column keys.")
        user = f"Write {len(planned)} rows. Values already chosen for each row (keep them consistent): {json.dumps(planned, default=str, ensure_ascii=False)}"
        if any(contexts):
            user += ("\nContext for each row (use it; it is not a column to write): "
                     + json.dumps(contexts, default=str, ensure_ascii=False))
        return [{"role": "system", "content": system}, {"role": "user", "content": user + extra}]

    async def _llm_rows(self, client, table, cols, planned, contexts, recent, temperature, model, extra: str = "") -> list[dict]:
        """Rows with the model's values for `cols`; values chosen already win over the model's,
        context never becomes a value."""
        messages = self._prompt(table, cols, planned, contexts, recent, extra)
        problem = "no answer"
        for attempt in range(MAX_ATTEMPTS):
            completion = await client.complete(messages, model=model, temperature=temperature)
            data = extract_json(completion.text)
            if isinstance(data, dict):
                data = next((v for v in data.values() if isinstance(v, list)), None)
            if isinstance(data, list) and len(data) >= len(planned) and all(isinstance(r, dict) for r in data[: len(planned)]):
                missing = [c["name"] for c in cols if not any(c["name"] in r for r in data[: len(planned)])]
                if not missing:
                    return [{**{c["name"]: r.get(c["name"]) for c in cols}, **p} for r, p in zip(data, planned)]
                problem = f"missing columns {', '.join(missing)}"
            else:
                problem = f"expected a JSON array of {len(planned)} objects"
            log.info("malformed generation batch (attempt %d): %s", attempt + 1, problem)
            messages = messages + [{"role": "assistant", "content": completion.text},
                                   {"role": "user", "content": f"That was not usable ({problem}). Answer with the JSON array only."}]
        raise Upstream(f"The model returned unusable rows {MAX_ATTEMPTS} times ({problem}); nothing from that batch was stored.")

    async def autofill(self, ref: str, columns: list[str], context_columns: list[str], **kw) -> list[dict]:
        return [row async for rows in self.autofill_batches(ref, columns, context_columns, **kw) for row in rows]

    async def autofill_batches(self, ref: str, columns: list[str], context_columns: list[str], *, batch: int = 10,
                               temperature: float = 0.7, model: str | None = None, rows: list[str] | None = None,
                               prompt: str = "", count: int | None = None, seed: int | None = None) -> AsyncIterator[list[dict]]:
        """(Re)write the named columns of existing rows from their context columns, a batch at a time.

        Every targeted row gets new values (the first `count` rows, or the named `rows`); context
        columns only inform the model, so a context column never overwrites a filled one."""
        check_bounds(count or 1, batch)
        table = await self.get(ref)
        by_name = {c["name"]: c for c in table.columns}
        unknown = [c for c in list(columns) + list(context_columns) if c not in by_name]
        if unknown or not columns:
            raise Invalid(f"Unknown column '{unknown[0]}' in table '{table.name}'." if unknown else "Name the columns to fill.")
        async with self.store.session() as s:
            q = select(GenRow).where(GenRow.table_id == table.id).order_by(GenRow.seq)
            q = q.where(GenRow.id.in_(rows)) if rows else q.limit(count or MAX_ROWS)
            targets = list((await s.exec(q)).all())
        if rows and len(targets) != len(set(rows)):
            found = {r.id for r in targets}
            raise NotFound(f"Row '{next(r for r in rows if r not in found)}' does not exist in table '{table.name}'.")
        fill_cols = [by_name[c] for c in columns]
        client, info = await self._llm(table, model, True)
        offline = OfflineFiller(seed)
        extra = f"\nInstructions: {prompt}" if prompt else ""
        deadline = time.monotonic() + MAX_SECONDS
        for i in range(0, len(targets), batch):
            if time.monotonic() > deadline:
                raise Invalid(f"Autofill stopped after the {int(MAX_SECONDS)} s limit; {i} rows were rewritten.")
            chunk = targets[i:i + batch]
            contexts = [{c: r.data.get(c) for c in context_columns} for r in chunk]
            text = [c for c in fill_cols if c["type"] != "image"]
            if client is not None and text:
                values = await self._llm_rows(client, table, text, [{} for _ in chunk],
                                              contexts, {}, temperature, info.model, extra)
            else:
                values = offline.rows(fill_cols, len(chunk), i, table_text=f"{table.name} {table.description}", given=contexts)
            if client is not None and text and len(text) < len(fill_cols):
                images = offline.rows([c for c in fill_cols if c["type"] == "image"], len(chunk))
                values = [{**im, **v} for im, v in zip(images, values)]
            updated = []
            async with self._write_lock:
                async with self.store.session() as s:
                    for row, new in zip(chunk, values):
                        stored = await s.get(GenRow, row.id)
                        if stored is None:  # deleted meanwhile
                            continue
                        data = dict(stored.data)
                        for c in fill_cols:
                            data[c["name"]] = coerce(new.get(c["name"]), c["type"])
                        stored.data = data
                        s.add(stored)
                        updated.append({"_id": stored.id, **data})
                    await s.commit()
            await asyncio.sleep(0)
            yield updated
