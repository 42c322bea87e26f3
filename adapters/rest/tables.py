"""Table generation API (Tablepilot-style): tables, rows, generate / autofill / regenerate (SSE).
Datasets, workflows and the model helpers live in the `tables_*` modules beside this one; their
routes are served with these."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.rest import tables_ai, tables_datasets, tables_workflows
from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import json_response, no_content, parse_body, parse_query, read_json, requires
from tabletalk.adapters.rest.tables_stream import collect, sse
from tabletalk.core.errors import Invalid
from tabletalk.core.tables.generation import MAX_BATCH, MAX_ROWS
from tabletalk.core.tables.schema import TableSpec
from tabletalk.core.tables.service import schema_view, table_view

_routes = web.RouteTableDef()


class TablePatch(BaseModel):
    columns: list[dict] | None = None
    sources: list[dict] | None = None


class GenerateBody(BaseModel):
    batch: int = Field(10, ge=1, le=MAX_BATCH)
    count: int = Field(10, ge=1, le=MAX_ROWS)
    temperature: float = Field(0.7, ge=0, le=2)
    model: str | None = None
    stream: bool = False
    seed: int | None = None


class AutofillSpec(BaseModel):
    columns: list[str] = Field(min_length=1)
    context_columns: list[str] = Field(default_factory=list)
    rows: list[str] = Field(default_factory=list, max_length=MAX_ROWS)
    prompt: str = Field("", max_length=10_000)


class AutofillBody(GenerateBody):
    autofill: AutofillSpec


class RowsQuery(BaseModel):
    offset: int = Field(0, ge=0)
    limit: int = Field(100, ge=1, le=10_000)


def _tables(request):
    return core_of(request).tables


def data_roots(request) -> list:
    """Where schema files may be read from over REST: the home's data folder, nothing else."""
    return [core_of(request).home / "data"]


@_routes.post("/tables")
@requires("priv_asker", body=TableSpec)
async def create_table(request: web.Request) -> web.Response:
    """Create a table from a schema (the spec's or Tablepilot's format)."""
    table = await _tables(request).create_from(await read_json(request), data_roots(request))
    return json_response({"id": table.id}, status=201)


@_routes.get("/tables")
@requires("priv_asker")
async def list_tables(request: web.Request) -> web.Response:
    """All tables."""
    tables = await _tables(request).list()
    return json_response({"total": len(tables), "tables": [table_view(t) for t in tables]})


@_routes.get("/tables/{table}")
@requires("priv_asker")
async def get_table(request: web.Request) -> web.Response:
    """A table's columns (id or name)."""
    t = await _tables(request).get(request.match_info["table"])
    return json_response({"id": t.id, "name": t.name, "description": t.description, "columns": [
        {"ID": str(i + 1), "Name": c["name"], "Type": c["type"], "FillMode": c["fill_mode"], "Description": c.get("description", "")}
        for i, c in enumerate(t.columns)]})


@_routes.get("/tables/{table}/schema")
@requires("priv_asker")
async def get_schema(request: web.Request) -> web.Response:
    """The full schema definition of a table."""
    return json_response(schema_view(await _tables(request).get(request.match_info["table"])))


@_routes.patch("/tables/{table}")
@requires("priv_asker", body=TablePatch)
async def patch_table(request: web.Request) -> web.Response:
    """Replace a table's columns and/or sources."""
    body = await parse_body(request, TablePatch)
    table = await _tables(request).patch(request.match_info["table"], body.columns, body.sources)
    return json_response({"id": table.id})


@_routes.delete("/tables/{table}")
@requires("priv_asker")
async def delete_table(request: web.Request) -> web.Response:
    """Delete a table and its rows."""
    await _tables(request).delete(request.match_info["table"])
    return no_content()


@_routes.post("/tables/{table}/truncate")
@requires("priv_asker")
async def truncate_table(request: web.Request) -> web.Response:
    """Delete every row of a table."""
    return json_response({"deleted_rows": await _tables(request).truncate(request.match_info["table"])})


@_routes.get("/tables/{table}/rows")
@requires("priv_asker", query=RowsQuery)
async def table_rows(request: web.Request) -> web.Response:
    """Rows, paged with offset/limit; each row carries its stable `_id`."""
    q = parse_query(request, RowsQuery)
    rows, total = await _tables(request).rows(request.match_info["table"], q.offset, q.limit)
    return json_response({"data": rows, "total": total})


async def _answer(request: web.Request, events, stream: bool) -> web.StreamResponse:
    if stream:
        return await sse(request, events, lambda batch: {"data": batch})
    return json_response({"data": await collect(request, events)})


@_routes.post("/generate/tables/{table}")
@requires("priv_asker", body=GenerateBody)
async def generate(request: web.Request) -> web.StreamResponse:
    """Generate rows (SSE batches with `stream: true`)."""
    body = await parse_body(request, GenerateBody)
    svc = _tables(request)
    await svc.get(request.match_info["table"])
    events = svc.generate(request.match_info["table"], count=body.count, batch=body.batch,
                          temperature=body.temperature, model=body.model, seed=body.seed)
    return await _answer(request, events, body.stream)


@_routes.post("/autofill/tables/{table}")
@requires("priv_asker", body=AutofillBody)
async def autofill(request: web.Request) -> web.StreamResponse:
    """Rewrite the named columns of the table's rows (the first `count` when given) from the named
    context columns only; SSE batches with `stream: true`."""
    body = await parse_body(request, AutofillBody)
    svc = _tables(request)
    await svc.get(request.match_info["table"])
    events = svc.autofill_batches(request.match_info["table"], body.autofill.columns, body.autofill.context_columns,
                                  batch=body.batch, temperature=body.temperature, model=body.model,
                                  count=body.count if "count" in body.model_fields_set else None,
                                  prompt=body.autofill.prompt, seed=body.seed)
    return await _answer(request, events, body.stream)


@_routes.post("/regenerate/tables/{table}")
@requires("priv_asker", body=AutofillBody)
async def regenerate(request: web.Request) -> web.StreamResponse:
    """Rewrite the named columns of the named rows (with an optional prompt); SSE with `stream: true`."""
    body = await parse_body(request, AutofillBody)
    if not body.autofill.rows:
        raise Invalid("Name the rows to regenerate in 'autofill.rows'.")
    svc = _tables(request)
    table = await svc.get(request.match_info["table"])
    context = body.autofill.context_columns or [c["name"] for c in table.columns if c["name"] not in body.autofill.columns]
    events = svc.autofill_batches(table.id, body.autofill.columns, context, batch=body.batch, temperature=body.temperature,
                                  model=body.model, rows=body.autofill.rows, prompt=body.autofill.prompt, seed=body.seed)
    return await _answer(request, events, body.stream)


routes = [*_routes, *tables_datasets.routes, *tables_workflows.routes, *tables_ai.routes]
