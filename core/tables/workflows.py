"""Workflows: named steps (create_table, import, generate, autofill, export) run in order as a
stream of events. Variables fill `{{.name}}` placeholders by plain substitution (no code runs);
file variables arrive as data URLs."""
from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import AsyncIterator

from sqlmodel import select

from tabletalk.core.errors import Conflict, Invalid, NotFound, TableTalkError
from tabletalk.core.store.db import Store
from tabletalk.core.tables.models import GenRow, Workflow
from tabletalk.core.tables.schema import TableSpec
from tabletalk.core.tables.service import TableService, coerce

_VAR = re.compile(r"{{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*}}")
STEP_TYPES = ("create_table", "import", "generate", "autofill", "export")


def render(value, variables: dict):
    """Substitute `{{.var}}` in every string of a step (recursively); unknown variables are an error."""
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(1) not in variables:
            raise Invalid(f"Workflow variable '{m.group(1)}' has no value and no default.")
        return str(variables[m.group(1)])

    whole = _VAR.fullmatch(value.strip())
    if whole and whole.group(1) in variables:
        return variables[whole.group(1)]  # keep numbers numbers
    return _VAR.sub(sub, value)


def data_url_text(value: str) -> str:
    if not isinstance(value, str) or not value.startswith("data:"):
        raise Invalid("File variables must be data URLs (data:text/csv;base64,...).")
    header, _, payload = value.partition(",")
    raw = base64.b64decode(payload) if header.endswith(";base64") else payload.encode()
    return raw.decode("utf-8-sig")


def workflow_view(w: Workflow) -> dict:
    return {"id": w.id, "name": w.name, "description": w.description, **w.definition}


class WorkflowService:
    def __init__(self, store: Store, tables: TableService):
        self.store, self.tables = store, tables

    async def create(self, name: str, description: str, definition: dict) -> Workflow:
        _validate(definition)
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

    async def update(self, ref: str, description: str | None, definition: dict | None) -> Workflow:
        wf = await self.get(ref)
        async with self.store.session() as s:
            row = await s.get(Workflow, wf.id)
            if description is not None:
                row.description = description
            if definition is not None:
                _validate(definition)
                row.definition = definition
            s.add(row)
            await s.commit()
        return row

    async def delete(self, ref: str) -> None:
        wf = await self.get(ref)
        async with self.store.session() as s:
            await s.delete(await s.get(Workflow, wf.id))
            await s.commit()

    async def run(self, ref: str, given: dict) -> AsyncIterator[dict]:
        wf = await self.get(ref)
        variables = {v["name"]: v.get("default_value") for v in wf.definition.get("variables", []) if "default_value" in v}
        variables.update(given or {})
        for i, raw in enumerate(wf.definition.get("steps", [])):
            try:
                step = render(raw, variables)
                yield {"type": "MESSAGE", "step": i, "message": f"Running step {i + 1}: {step['type']}"}
                async for event in self._step(step, variables):
                    yield {**event, "step": i}
                yield {"type": "STEP_DONE", "step": i}
            except TableTalkError as exc:
                yield {"type": "ERROR", "step": i, "error": exc.detail}
                return
        yield {"type": "WORKFLOW_DONE"}

    async def _step(self, step: dict, variables: dict) -> AsyncIterator[dict]:
        kind = step["type"]
        if kind == "create_table":
            spec = TableSpec.model_validate(step["table"])
            on_exists = step.get("on_exists", "error")
            try:
                existing = await self.tables.get(spec.name)
            except NotFound:
                existing = None
            if existing is not None and on_exists == "skip":
                yield {"type": "MESSAGE", "message": f"Table {spec.name} exists; skipped."}
                return
            if existing is not None and on_exists == "recreate":
                await self.tables.delete(spec.name)
            await self.tables.create(spec)
            yield {"type": "MESSAGE", "message": f"Created table {spec.name}."}
        elif kind == "import":
            table = await self.tables.get(step["table"])
            if step.get("truncate"):
                await self.tables.truncate(table.id)
            reader = csv.DictReader(io.StringIO(data_url_text(step["file"])))
            names = {c["name"]: c["type"] for c in table.columns}
            rows = [{n: row.get(n) for n in names} for row in reader]
            async with self.store.session() as s:
                from sqlalchemy import func
                start = (await s.exec(select(func.max(GenRow.seq)).where(GenRow.table_id == table.id))).one() or 0
                for i, row in enumerate(rows, start=start + 1):
                    s.add(GenRow(table_id=table.id, seq=i, data={n: coerce(row.get(n), t) for n, t in names.items()}))
                await s.commit()
            yield {"type": "MESSAGE", "message": f"Imported {len(rows)} rows into {table.name}."}
        elif kind == "generate":
            async for batch in self.tables.generate(step["table"], count=int(step.get("count", 10)),
                                                    batch=int(step.get("batch", 10)), model=step.get("model")):
                yield {"type": "ROWS", "rows": batch}
        elif kind == "autofill":
            rows = await self.tables.autofill(step["table"], step.get("columns", []), step.get("context_columns", []))
            yield {"type": "ROWS", "rows": rows}
        elif kind == "export":
            table = await self.tables.get(step["table"])
            rows, _ = await self.tables.rows(table.id, 0, 1_000_000)
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=[c["name"] for c in table.columns], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            yield {"type": "EXPORT", "table": table.name, "format": "csv", "content": buf.getvalue()}


def _validate(definition: dict) -> None:
    steps = definition.get("steps")
    if not isinstance(steps, list) or not steps:
        raise Invalid("A workflow needs a non-empty 'steps' list.")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
            raise Invalid(f"Step {i + 1} has an unknown type; use one of: {', '.join(STEP_TYPES)}.")
        if step["type"] != "create_table" and not step.get("table"):
            raise Invalid(f"Step {i + 1} ({step['type']}) needs a 'table'.")
        if step["type"] == "create_table" and step.get("on_exists", "error") not in ("skip", "recreate", "error"):
            raise Invalid(f"Step {i + 1}: on_exists must be skip, recreate or error.")
