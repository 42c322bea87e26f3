"""Generated tables: schemas (spec or Tablepilot format), durable rows, columns, import and export.

Generation itself (generate / autofill / regenerate) is `GenerationMixin`; list generation, image
import and naming `{}` columns are `AssistMixin`.
"""
from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import delete, func
from sqlmodel import select

from tabletalk.core.errors import Conflict, Invalid, NotFound, TooLarge, Unprocessable
from tabletalk.core.llm.registry import ModelRegistry
from tabletalk.core.store.db import Store
from tabletalk.core.tables import tablepilot
from tabletalk.core.tables.assist import AssistMixin
from tabletalk.core.tables.generation import MAX_ROWS, GenerationMixin
from tabletalk.core.tables.models import Dataset, GenRow, GenTable
from tabletalk.core.tables.schema import ColumnSpec, TableSpec, table_name

IMPORT_BATCH = 500
COLUMN_DEFAULTS = ColumnSpec().model_dump()


def table_view(t: GenTable) -> dict:
    return {"id": t.id, "name": t.name, "description": t.description}


def schema_view(t: GenTable) -> dict:
    return {"name": t.name, "description": t.description, "model": t.model,
            "columns": [{**COLUMN_DEFAULTS, **c} for c in t.columns], "sources": tablepilot.public_sources(t.sources)}


def invalid_schema(exc: ValidationError, what: str = "schema") -> Unprocessable:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"'{loc}': {err.get('msg', 'invalid')}")
    return Unprocessable(f"Invalid {what}: " + "; ".join(parts))


def validate_spec(raw) -> TableSpec:
    if not isinstance(raw, dict):
        raise Unprocessable("Invalid schema: a JSON object is required.")
    try:
        return TableSpec.model_validate(raw)
    except ValidationError as exc:
        raise invalid_schema(exc) from None


class TableService(GenerationMixin, AssistMixin):
    def __init__(self, store: Store, llm: ModelRegistry):
        self.store = store
        self.llm = llm
        self._write_lock = asyncio.Lock()

    # --- schema ------------------------------------------------------------------------------
    async def create_from(self, raw: dict, roots: list[Path] | None = None) -> GenTable:
        """A table from a schema in either format; file sources resolve under `roots` only."""
        if not isinstance(raw, dict):
            raise Unprocessable("Invalid schema: a JSON object is required.")
        if isinstance(raw.get("name"), str):
            raw = {**raw, "name": table_name(raw["name"])}
        converted = await tablepilot.convert(raw, list(roots or []), self._list_source)
        if "columns" in converted and isinstance(converted["columns"], list):
            converted = {**converted, "columns": [c if isinstance(c, dict) else {} for c in converted["columns"]]}
        return await self.create(validate_spec(converted))

    async def _list_source(self, prompt: str, count: int) -> list[str]:
        return await self.list_gen(prompt, count, [])

    async def create(self, spec: TableSpec) -> GenTable:
        if spec.unnamed:
            spec = await self.name_columns(spec)
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
        files = {x.get("name") for x in spec.sources if isinstance(x, dict) and "records" in x}
        for c in spec.columns:
            if c.fill_mode != "pick" or not c.source_id:
                continue
            kind = c.source_type or "dataset"
            if kind == "file":
                if c.source_id not in files:
                    raise Invalid(f"Column '{c.name}' picks from file source '{c.source_id}', which has no rows.")
            elif kind in ("dataset", "table") and await self._source(s, kind, c.source_id) is None:
                raise NotFound(f"Column '{c.name}' picks from {kind} '{c.source_id}', which does not exist.")

    async def _source(self, s, kind: str, ref: str):
        model = Dataset if kind == "dataset" else GenTable
        row = await s.get(model, ref)
        return row or (await s.exec(select(model).where(model.name == ref))).first()

    async def get(self, ref: str) -> GenTable:
        async with self.store.session() as s:
            table = await s.get(GenTable, ref) or (await s.exec(select(GenTable).where(GenTable.name.in_({ref, table_name(ref)})))).first()
        if table is None:
            raise NotFound(f"Table '{ref}' does not exist.")
        return table

    async def find(self, ref: str) -> GenTable | None:
        try:
            return await self.get(ref)
        except NotFound:
            return None

    async def list(self) -> list[GenTable]:
        async with self.store.session() as s:
            return list((await s.exec(select(GenTable).order_by(GenTable.created_at))).all())

    async def patch(self, ref: str, columns: list[dict] | None, sources: list[dict] | None) -> GenTable:
        table = await self.get(ref)
        stored = {x.get("name"): x for x in table.sources if isinstance(x, dict) and "records" in x}
        if sources is not None:  # file rows stay with their source unless it is dropped
            sources = [{**stored[x["name"]], **x} if isinstance(x, dict) and x.get("name") in stored else x for x in sources]
        spec = validate_spec({**schema_view(table), "sources": table.sources,
                              **({"columns": columns} if columns is not None else {}),
                              **({"sources": sources} if sources is not None else {})})
        if spec.unnamed:
            spec = await self.name_columns(spec)
        async with self.store.session() as s:
            await self._check_sources(s, spec)
            row = await s.get(GenTable, table.id)
            row.columns, row.sources = [c.model_dump() for c in spec.columns], spec.sources
            s.add(row)
            await s.commit()
        return row

    async def add_column(self, ref: str, column: dict) -> GenTable:
        table = await self.get(ref)
        name = column.get("name") if isinstance(column, dict) else None
        if any(c["name"] == name for c in table.columns):
            raise Conflict(f"Table '{table.name}' already has a column '{name}'.")
        return await self.patch(table.id, [*table.columns, column], None)

    async def delete_column(self, ref: str, name: str) -> GenTable:
        table = await self.get(ref)
        if not any(c["name"] == name for c in table.columns):
            raise NotFound(f"Table '{table.name}' has no column '{name}'.")
        rest = [c for c in table.columns if c["name"] != name]
        if not rest:
            raise Invalid(f"'{name}' is the last column of '{table.name}'; delete the table instead.")
        return await self.patch(table.id, rest, None)

    async def delete(self, ref: str) -> None:
        table = await self.get(ref)
        async with self._write_lock:
            async with self.store.session() as s:
                await s.exec(delete(GenRow).where(GenRow.table_id == table.id))
                await s.delete(await s.get(GenTable, table.id))
                await s.commit()

    async def truncate(self, ref: str) -> int:
        table = await self.get(ref)
        async with self._write_lock:
            async with self.store.session() as s:
                result = await s.exec(delete(GenRow).where(GenRow.table_id == table.id))
                await s.commit()
        return result.rowcount or 0

    async def rows(self, ref: str, offset: int = 0, limit: int = 100) -> tuple[list[dict], int]:
        table = await self.get(ref)
        names = [c["name"] for c in table.columns]
        async with self.store.session() as s:
            total = (await s.exec(select(func.count()).select_from(GenRow).where(GenRow.table_id == table.id))).one()
            rows = (await s.exec(select(GenRow).where(GenRow.table_id == table.id).order_by(GenRow.seq)
                                 .offset(offset).limit(limit))).all()
        return [{"_id": r.id, **{n: r.data.get(n) for n in names}} for r in rows], int(total)

    # --- import / export ---------------------------------------------------------------------
    async def import_csv(self, ref: str, text: str, *, truncate: bool = False) -> int:
        """CSV rows into the table's columns (matched by header name), in short transactions."""
        table = await self.get(ref)
        if truncate:
            await self.truncate(table.id)
        reader = csv.DictReader(io.StringIO(text))
        async with self.store.session() as s:
            seq = {"next": (await s.exec(select(func.max(GenRow.seq)).where(GenRow.table_id == table.id))).one() or 0}
        total, chunk = 0, []
        try:
            for record in reader:
                total += 1
                if total > MAX_ROWS:
                    raise TooLarge(f"Imports are limited to {MAX_ROWS:,} rows.")
                chunk.append(record)
                if len(chunk) >= IMPORT_BATCH:
                    await self._store_batch(table, table.columns, chunk, seq)
                    chunk = []
        except csv.Error as exc:
            raise Invalid(f"The CSV file is not readable: {exc}") from None
        if chunk:
            await self._store_batch(table, table.columns, chunk, seq)
        return total

    async def export_csv(self, ref: str) -> str:
        import json

        table = await self.get(ref)
        names = [c["name"] for c in table.columns]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names)
        offset = 0
        while True:
            rows, total = await self.rows(table.id, offset, 1000)
            for r in rows:
                writer.writerow(["" if r.get(n) is None else json.dumps(r[n], ensure_ascii=False) if isinstance(r[n], list)
                                 else r[n] for n in names])
            offset += len(rows)
            if not rows or offset >= total:
                return buf.getvalue()

    # --- sources -----------------------------------------------------------------------------
    async def _records(self, table: GenTable, column: dict) -> list[dict]:
        """Source rows for a pick column, as dicts keyed by source column name."""
        kind = column.get("source_type") or ("options" if column.get("options") and not column.get("source_id") else "dataset")
        if kind == "options":
            return [{column.get("linked_column") or column["name"]: o} for o in column.get("options") or []]
        if kind == "file":
            source = next((x for x in table.sources if x.get("name") == column["source_id"]), None)
            if source is None:
                raise NotFound(f"File source '{column['source_id']}' of column '{column['name']}' has no rows.")
            return source.get("records") or []
        async with self.store.session() as s:
            source = await self._source(s, kind, column["source_id"])
            if source is None:
                raise NotFound(f"Source '{column['source_id']}' of column '{column['name']}' does not exist.")
            if isinstance(source, Dataset):
                if source.type == "list":
                    return [{column.get("linked_column") or column["name"]: v} for v in source.values]
                return [dict(zip(source.columns, r)) for r in source.values]
            rows = (await s.exec(select(GenRow).where(GenRow.table_id == source.id).order_by(GenRow.seq).limit(MAX_ROWS))).all()
            return [r.data for r in rows]
