"""Workflows: named steps run in order as a stream of spec-shaped events `{type, data}`.

Steps create, change, fill, import and export tables through the same TableService as the REST
API, so every bound (row counts, batch sizes, time) holds here too. Files (a step's `schema_file`,
a path-valued file variable) are read from allowed folders only: the data folder over REST.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

from sqlmodel import select

from tabletalk.core.errors import Conflict, Invalid, NotFound, TableTalkError
from tabletalk.core.store.db import Store
from tabletalk.core.tables import files
from tabletalk.core.tables.models import Workflow
from tabletalk.core.tables.service import TableService
from tabletalk.core.tables.schema import table_name
from tabletalk.core.tables.workflow_steps import builtins, data_url_text, normalize, render


def workflow_view(w: Workflow) -> dict:
    return {"id": w.id, "name": w.name, "description": w.description, "variables": w.definition.get("variables", []),
            "steps": w.definition.get("steps", [])}


def cells(rows: list[dict], columns: list[dict]) -> list[dict]:
    """Rows as the spec's ROWS events carry them: each cell `{value, type}`."""
    types = {c["name"]: c["type"] for c in columns}
    return [{n: {"value": r.get(n), "type": t} for n, t in types.items()} for r in rows]


class WorkflowService:
    def __init__(self, store: Store, tables: TableService):
        self.store, self.tables = store, tables

    async def create(self, name: str, description: str, definition: dict) -> Workflow:
        definition = normalize(definition)
        async with self.store.session() as s:
            if (await s.exec(select(Workflow).where(Workflow.name == name))).first():
                raise Conflict(f"A workflow named '{name}' already exists.")
            wf = Workflow(name=name, description=description, definition=definition)
            s.add(wf)
            await s.commit()
        return wf

    async def get(self, ref: str) -> Workflow:
        async with self.store.session() as s:
            wf = await s.get(Workflow, ref) or (await s.exec(select(Workflow).where(Workflow.name == ref))).first()
        if wf is None:
            raise NotFound(f"Workflow '{ref}' does not exist.")
        return wf

    async def list(self) -> list[Workflow]:
        async with self.store.session() as s:
            return list((await s.exec(select(Workflow).order_by(Workflow.created_at))).all())

    async def update(self, ref: str, *, name: str | None = None, description: str | None = None,
                     definition: dict | None = None) -> Workflow:
        wf = await self.get(ref)
        async with self.store.session() as s:
            row = await s.get(Workflow, wf.id)
            if name and name != row.name:
                if (await s.exec(select(Workflow).where(Workflow.name == name))).first():
                    raise Conflict(f"A workflow named '{name}' already exists.")
                row.name = name
            if description is not None:
                row.description = description
            if definition is not None:
                row.definition = normalize(definition)
            s.add(row)
            await s.commit()
        return row

    async def delete(self, ref: str) -> None:
        wf = await self.get(ref)
        async with self.store.session() as s:
            await s.delete(await s.get(Workflow, wf.id))
            await s.commit()

    async def run(self, ref: str, given: dict, **options) -> AsyncIterator[dict]:
        wf = await self.get(ref)
        async with aclosing(self.run_definition(wf.definition, given, **options)) as events:
            async for event in events:
                yield event

    async def run_definition(self, definition: dict, given: dict, *, roots: list[Path] | None = None,
                             model: str | None = None, temperature: float | None = None) -> AsyncIterator[dict]:
        """Run the steps in order; an ERROR event ends the run, WORKFLOW_DONE marks success."""
        runner = _Runner(self.tables, list(roots or []), model, temperature)
        try:
            definition = normalize(definition)
            variables = {**builtins(), **{v["name"]: v["default_value"] for v in definition["variables"] if "default_value" in v}}
            variables.update(given or {})
        except TableTalkError as exc:
            yield {"type": "ERROR", "data": exc.detail}
            return
        for i, raw in enumerate(definition["steps"]):
            label = raw["name"] or raw["type"]
            yield {"type": "MESSAGE", "data": f"Starting step: {label}..."}
            context: dict = {"table": "", "column": ""}
            try:
                payload = render(raw["payload"], variables)
                async with aclosing(runner.step(raw["type"], payload, variables, context)) as events:
                    async for event in events:
                        yield event
            except TableTalkError as exc:
                yield {"type": "ERROR", "data": f"Step {i + 1} ({label}): {exc.detail}"}
                return
            finally:
                variables[f"step{i + 1}"] = context
            yield {"type": "STEP_DONE"}
        yield {"type": "WORKFLOW_DONE"}


class _Runner:
    """What each step type does."""

    def __init__(self, tables: TableService, roots: list[Path], model: str | None, temperature: float | None):
        self.tables, self.roots, self.model = tables, roots, model
        self.temperature = 0.7 if temperature is None else temperature

    def step(self, kind: str, p: dict, variables: dict, context: dict) -> AsyncIterator[dict]:
        return getattr(self, kind)(p, variables, context)

    async def create_table(self, p: dict, variables: dict, context: dict):
        request = p.get("request") if isinstance(p.get("request"), dict) else None
        if p.get("schema_file"):
            text = files.read_text("Schema file", str(p["schema_file"]), self.roots)
            try:
                request = render(json.loads(text), variables)
            except json.JSONDecodeError as exc:
                raise Invalid(f"Schema file '{p['schema_file']}' is not valid JSON ({exc.msg}).") from None
        if not isinstance(request, dict):
            raise Invalid("The table schema must be an object.")
        name = table_name(p.get("name") or request.get("name"))
        request = {**request, "name": name, **({"model": self.model} if self.model else {})}
        on_exists = str(p.get("on_exists") or "error").lower()
        existing = await self.tables.find(name)
        if existing is not None and on_exists == "skip":
            context["table"] = existing.name
            yield {"type": "MESSAGE", "data": f"Table {name} already exists, skip creating."}
            return
        if existing is not None and on_exists == "recreate":
            await self.tables.delete(existing.id)
        elif existing is not None:
            raise Conflict(f"Table {name} already exists.")
        table = await self.tables.create_from(request, self.roots)
        context["table"] = table.name
        yield {"type": "MESSAGE", "data": f"Table created: id {table.id}, name {table.name}"}

    async def import_(self, p: dict, variables: dict, context: dict):
        table = await self.tables.get(table_name(p["table"]))
        text = self._file_text(p["file"])
        count = await self.tables.import_csv(table.id, text, truncate=bool(p.get("truncate")))
        context["table"] = table.name
        yield {"type": "MESSAGE", "data": f"CSV imported: {count} rows into {table.name}"}

    def _file_text(self, value) -> str:
        if isinstance(value, dict):  # the spec's file variable: {"name": ..., "data": data URL}
            value = value.get("data")
        text = data_url_text(value)
        if text is not None:
            return text
        if isinstance(value, str) and value.strip():
            return files.read_text("Import file", value, self.roots)
        raise Invalid("File variables must be {\"name\", \"data\": data URL}, a data URL, or a path in the data folder.")

    async def generate(self, p: dict, variables: dict, context: dict):
        table = await self.tables.get(table_name(p["table"]))
        context["table"] = table.name
        yield {"type": "MESSAGE", "data": f"Start generating rows for table {table.name}..."}
        events = self.tables.generate(table.id, count=_int(p.get("count", 10), "count"), batch=_int(p.get("batch", 10), "batch"),
                                      model=self.model, temperature=self.temperature)
        async with aclosing(events) as batches:
            async for batch in batches:
                yield {"type": "ROWS", "data": cells(batch, table.columns)}

    async def autofill(self, p: dict, variables: dict, context: dict):
        table = await self.tables.get(table_name(p["table"]))
        columns = list(p.get("columns") or [])
        # Like Tablepilot's CLI (unlike REST): no context columns named means all the others.
        context_columns = p.get("context_columns") or [c["name"] for c in table.columns if c["name"] not in columns]
        context["table"] = table.name
        yield {"type": "MESSAGE", "data": f"Start autofilling rows for table {table.name}..."}
        count = _int(p["count"], "count") if p.get("count") not in (None, "") else None
        events = self.tables.autofill_batches(table.id, columns, context_columns, batch=_int(p.get("batch", 10), "batch"),
                                              count=count, model=self.model, temperature=self.temperature)
        async with aclosing(events) as batches:
            async for batch in batches:
                yield {"type": "ROWS", "data": cells(batch, table.columns)}

    async def export(self, p: dict, variables: dict, context: dict):
        table = await self.tables.get(table_name(p["table"]))
        event = {"type": "EXPORT", "data": await self.tables.export_csv(table.id)}
        if p.get("path"):
            event["path"] = str(p["path"])
        context["table"] = table.name
        yield event
        yield {"type": "MESSAGE", "data": f"Table {table.name} exported"}

    async def create_column(self, p: dict, variables: dict, context: dict):
        column = dict(p["column"]) if isinstance(p.get("column"), dict) else {k: v for k, v in p.items() if k != "table"}
        column.setdefault("fill_mode", "ai")
        table = await self.tables.add_column(table_name(p["table"]), column)
        context.update(table=table.name, column=column.get("name", ""))
        yield {"type": "MESSAGE", "data": f"Column {column.get('name')} created"}

    async def delete_column(self, p: dict, variables: dict, context: dict):
        table = await self.tables.delete_column(table_name(p["table"]), str(p["column"]))
        context.update(table=table.name, column=str(p["column"]))
        yield {"type": "MESSAGE", "data": f"Column {p['column']} deleted"}

    async def delete_table(self, p: dict, variables: dict, context: dict):
        name = table_name(p["table"])
        await self.tables.delete(name)
        context["table"] = name
        yield {"type": "MESSAGE", "data": f"Table {name} deleted"}


setattr(_Runner, "import", _Runner.import_)


def _int(value, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise Invalid(f"'{what}' must be a whole number, not '{value}'.") from None
