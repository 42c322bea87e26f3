"""Table generation API (Tablepilot-style): tables, rows, generate/autofill/regenerate (SSE),
models, providers, datasets, workflows, list generation and image import."""
from __future__ import annotations

import csv
import io

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import (dumps, json_response, no_content, parse_body, parse_query, read_json,
                                          requires)
from tabletalk.core.errors import Invalid, NotFound, TableTalkError, TooLarge
from tabletalk.core.tables.models import Dataset
from tabletalk.core.tables.schema import ColumnSpec, TableSpec
from tabletalk.core.tables.service import schema_view, table_view
from tabletalk.core.tables.workflows import WorkflowService, workflow_view

routes = web.RouteTableDef()
MAX_DATASET_BYTES = 5 * 1024 * 1024
PREVIEW_ROWS = 100


class TablePatch(BaseModel):
    columns: list[ColumnSpec] | None = None
    sources: list[dict] | None = None


class GenerateBody(BaseModel):
    batch: int = Field(10, ge=1, le=500)
    count: int = Field(10, ge=1, le=100_000)
    temperature: float = Field(0.7, ge=0, le=2)
    model: str | None = None
    stream: bool = False


class AutofillSpec(BaseModel):
    columns: list[str] = Field(min_length=1)
    context_columns: list[str] = Field(default_factory=list)
    rows: list[str] = Field(default_factory=list)
    prompt: str = ""


class AutofillBody(GenerateBody):
    autofill: AutofillSpec


class RowsQuery(BaseModel):
    offset: int = Field(0, ge=0)
    limit: int = Field(100, ge=1, le=10_000)


class ListGenBody(BaseModel):
    description: str = Field(min_length=1)
    count: int = Field(10, ge=1, le=200)
    existing: list[str] = Field(default_factory=list)
    model: str | None = None


class ProviderModel(BaseModel):
    model: str = Field(min_length=1)
    alias: str = ""
    max_tokens: int = 4096
    rpm: int = Field(0, ge=0)
    image: bool = False
    default: bool = False


class ProviderBody(BaseModel):
    name: str = Field(min_length=1)
    type: str = "openaicompatible"
    key: str = ""
    base_url: str = Field(min_length=1)
    enabled: bool = True
    models: list[ProviderModel] = Field(default_factory=list)


class ProviderPatch(BaseModel):
    key: str | None = None
    base_url: str | None = None
    enabled: bool | None = None
    models: list[ProviderModel] | None = None


class WorkflowBody(BaseModel):
    name: str = Field(min_length=1)
    description: str = ""
    variables: list[dict] = Field(default_factory=list)
    steps: list[dict] = Field(min_length=1)


class WorkflowPatch(BaseModel):
    description: str | None = None
    variables: list[dict] | None = None
    steps: list[dict] | None = None


def _tables(request):
    return core_of(request).tables


def _workflows(request) -> WorkflowService:
    core = core_of(request)
    return WorkflowService(core.store, core.tables)


async def _sse(request: web.Request, events, wrap) -> web.StreamResponse:
    """The spec's stream: `event:message` / `data:<json>` per item, then `data:[DONE]`."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    try:
        async for item in events:
            await resp.write(f"event:message\ndata:{dumps(wrap(item))}\n\n".encode())
    except TableTalkError as exc:
        await resp.write(f"event:error\ndata:{dumps({'detail': exc.detail})}\n\n".encode())
    await resp.write(b"event:message\ndata:[DONE]\n\n")
    await resp.write_eof()
    return resp


# --- tables ---------------------------------------------------------------------------------
@routes.post("/tables")
@requires("priv_asker", body=TableSpec)
async def create_table(request: web.Request) -> web.Response:
    """Create a table from a schema."""
    spec = await parse_body(request, TableSpec)
    table = await _tables(request).create(spec)
    return json_response({"id": table.id}, status=201)


@routes.get("/tables")
@requires("priv_asker")
async def list_tables(request: web.Request) -> web.Response:
    """All tables."""
    tables = await _tables(request).list()
    return json_response({"total": len(tables), "tables": [table_view(t) for t in tables]})


@routes.get("/tables/{table}")
@requires("priv_asker")
async def get_table(request: web.Request) -> web.Response:
    """A table's columns (id or name)."""
    t = await _tables(request).get(request.match_info["table"])
    return json_response({"id": t.id, "name": t.name, "description": t.description, "columns": [
        {"ID": str(i + 1), "Name": c["name"], "Type": c["type"], "FillMode": c["fill_mode"], "Description": c.get("description", "")}
        for i, c in enumerate(t.columns)]})


@routes.get("/tables/{table}/schema")
@requires("priv_asker")
async def get_schema(request: web.Request) -> web.Response:
    """The full schema definition of a table."""
    return json_response(schema_view(await _tables(request).get(request.match_info["table"])))


@routes.patch("/tables/{table}")
@requires("priv_asker", body=TablePatch)
async def patch_table(request: web.Request) -> web.Response:
    """Replace a table's columns and/or sources."""
    body = await parse_body(request, TablePatch)
    columns = None if body.columns is None else [c.model_dump() for c in body.columns]
    table = await _tables(request).patch(request.match_info["table"], columns, body.sources)
    return json_response({"id": table.id})


@routes.delete("/tables/{table}")
@requires("priv_asker")
async def delete_table(request: web.Request) -> web.Response:
    """Delete a table and its rows."""
    await _tables(request).delete(request.match_info["table"])
    return no_content()


@routes.post("/tables/{table}/truncate")
@requires("priv_asker")
async def truncate_table(request: web.Request) -> web.Response:
    """Delete every row of a table."""
    return json_response({"deleted_rows": await _tables(request).truncate(request.match_info["table"])})


@routes.get("/tables/{table}/rows")
@requires("priv_asker", query=RowsQuery)
async def table_rows(request: web.Request) -> web.Response:
    """Rows, paged with offset/limit; each row carries its stable `_id`."""
    q = parse_query(request, RowsQuery)
    rows, total = await _tables(request).rows(request.match_info["table"], q.offset, q.limit)
    return json_response({"data": rows, "total": total})


@routes.post("/generate/tables/{table}")
@requires("priv_asker", body=GenerateBody)
async def generate(request: web.Request) -> web.StreamResponse:
    """Generate rows (SSE batches with `stream: true`)."""
    body = await parse_body(request, GenerateBody)
    svc = _tables(request)
    await svc.get(request.match_info["table"])
    events = svc.generate(request.match_info["table"], count=body.count, batch=body.batch,
                          temperature=body.temperature, model=body.model)
    if body.stream:
        return await _sse(request, events, lambda batch: {"data": batch})
    rows = [row async for batch in events for row in batch]
    return json_response({"data": rows})


@routes.post("/autofill/tables/{table}")
@requires("priv_asker", body=AutofillBody)
async def autofill(request: web.Request) -> web.Response:
    """Fill empty cells of the named columns, from the named context columns only."""
    body = await parse_body(request, AutofillBody)
    rows = await _tables(request).autofill(request.match_info["table"], body.autofill.columns, body.autofill.context_columns,
                                           batch=body.batch, temperature=body.temperature, model=body.model)
    return json_response({"data": rows})


@routes.post("/regenerate/tables/{table}")
@requires("priv_asker", body=AutofillBody)
async def regenerate(request: web.Request) -> web.Response:
    """Rewrite the named columns of the named rows (with an optional prompt)."""
    body = await parse_body(request, AutofillBody)
    if not body.autofill.rows:
        raise Invalid("Name the rows to regenerate in 'autofill.rows'.")
    svc = _tables(request)
    table = await svc.get(request.match_info["table"])
    context = body.autofill.context_columns or [c["name"] for c in table.columns if c["name"] not in body.autofill.columns]
    rows = await svc.autofill(table.id, body.autofill.columns, context, batch=body.batch, temperature=body.temperature,
                              model=body.model, rows=body.autofill.rows, prompt=body.autofill.prompt, only_empty=False)
    return json_response({"data": rows})


# --- models and providers ---------------------------------------------------------------------
@routes.get("/models")
@requires("priv_asker")
async def models(request: web.Request) -> web.Response:
    """Model names (aliases when set) and the default."""
    reg = core_of(request).llm
    default = reg.default
    return json_response({"default": (default.alias or default.model) if default else "",
                          "models": [m.alias or m.model for m in reg.models()]})


@routes.get("/providers")
@requires("priv_admin")
async def list_providers(request: web.Request) -> web.Response:
    """Configured providers (keys never shown)."""
    return json_response(core_of(request).providers.list())


@routes.post("/providers")
@requires("priv_admin", body=ProviderBody)
async def create_provider(request: web.Request) -> web.Response:
    """Add an OpenAI-compatible provider."""
    body = await parse_body(request, ProviderBody)
    await core_of(request).providers.create(body.model_dump())
    return json_response("")


@routes.patch("/providers/{provider_id}")
@requires("priv_admin", body=ProviderPatch)
async def patch_provider(request: web.Request) -> web.Response:
    """Change a provider's key, URL, models or enabled flag."""
    body = await parse_body(request, ProviderPatch)
    await core_of(request).providers.update(_int_id(request.match_info["provider_id"]), body.model_dump(exclude_unset=True))
    return json_response("")


@routes.delete("/providers/{provider_id}")
@requires("priv_admin")
async def delete_provider(request: web.Request) -> web.Response:
    """Remove a provider."""
    await core_of(request).providers.delete(_int_id(request.match_info["provider_id"]))
    return no_content()


def _int_id(raw: str) -> int:
    if not raw.isdigit():
        raise NotFound(f"Provider '{raw}' does not exist.")
    return int(raw)


# --- datasets -------------------------------------------------------------------------------
async def _dataset_form(request: web.Request) -> dict:
    if request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise Invalid("Send datasets as multipart/form-data (fields: name, description, type, data or files).")
    form = await request.post()
    out = {"name": form.get("name"), "description": form.get("description", ""), "type": form.get("type", "list")}
    if out["type"] not in ("list", "csv"):
        raise Invalid("Dataset 'type' must be 'list' or 'csv'.")
    if out["type"] == "list":
        out["values"] = [v for v in form.getall("data", []) if isinstance(v, str)]
        out["columns"] = []
    else:
        upload = form.get("files")
        if upload is None or isinstance(upload, str):
            raise Invalid("A csv dataset needs a file in the 'files' field.")
        raw = upload.file.read(MAX_DATASET_BYTES + 1)
        if len(raw) > MAX_DATASET_BYTES:
            raise TooLarge(f"Dataset files are limited to {MAX_DATASET_BYTES // (1024 * 1024)} MB.")
        if not (upload.filename or "").lower().endswith(".csv"):
            raise Invalid("Only .csv files can be uploaded as datasets.")
        try:
            rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error):
            raise Invalid("The file is not a readable UTF-8 CSV.") from None
        if not rows:
            raise Invalid("The CSV file is empty.")
        out["columns"], out["values"] = rows[0], rows[1:]
    return out


def dataset_view(d: Dataset) -> dict:
    return {"id": d.id, "name": d.name, "description": d.description, "type": d.type, "columns": d.columns,
            "size": len(d.values)}


@routes.get("/datasets")
@requires("priv_asker")
async def list_datasets(request: web.Request) -> web.Response:
    """All datasets."""
    from sqlmodel import select

    async with core_of(request).store.session() as s:
        rows = (await s.exec(select(Dataset).order_by(Dataset.created_at))).all()
    return json_response([dataset_view(d) for d in rows])


@routes.post("/datasets")
@requires("priv_asker")
async def create_dataset(request: web.Request) -> web.Response:
    """Create a dataset (multipart: a list of `data` values, or a CSV in `files`)."""
    from sqlmodel import select

    data = await _dataset_form(request)
    if not data["name"]:
        raise Invalid("A dataset needs a 'name'.")
    async with core_of(request).store.session() as s:
        if (await s.exec(select(Dataset).where(Dataset.name == data["name"]))).first():
            raise Invalid(f"A dataset named '{data['name']}' already exists.")
        ds = Dataset(**data)
        s.add(ds)
        await s.commit()
    return json_response(dataset_view(ds), status=201)


async def _dataset(request: web.Request) -> Dataset:
    from sqlmodel import select

    ref = request.match_info["dataset"]
    async with core_of(request).store.session() as s:
        ds = await s.get(Dataset, ref) or (await s.exec(select(Dataset).where(Dataset.name == ref))).first()
    if ds is None:
        raise NotFound(f"Dataset '{ref}' does not exist.")
    return ds


@routes.get("/datasets/{dataset}")
@requires("priv_asker")
async def get_dataset(request: web.Request) -> web.Response:
    """One dataset."""
    return json_response(dataset_view(await _dataset(request)))


@routes.get("/datasets/{dataset}/preview")
@requires("priv_asker")
async def preview_dataset(request: web.Request) -> web.Response:
    """List items, or the first 100 CSV rows."""
    ds = await _dataset(request)
    if ds.type == "list":
        return json_response({"type": "list", "data": ds.values[:PREVIEW_ROWS]})
    return json_response({"type": "csv", "columns": ds.columns, "data": ds.values[:PREVIEW_ROWS]})


@routes.patch("/datasets/{dataset}")
@requires("priv_asker")
async def patch_dataset(request: web.Request) -> web.Response:
    """Replace a dataset's content (multipart, like create)."""
    ds = await _dataset(request)
    data = await _dataset_form(request)
    async with core_of(request).store.session() as s:
        row = await s.get(Dataset, ds.id)
        for k in ("description", "type", "columns", "values"):
            setattr(row, k, data[k])
        if data.get("name"):
            row.name = data["name"]
        s.add(row)
        await s.commit()
    return json_response(dataset_view(row))


@routes.delete("/datasets/{dataset}")
@requires("priv_asker")
async def delete_dataset(request: web.Request) -> web.Response:
    """Delete a dataset."""
    ds = await _dataset(request)
    async with core_of(request).store.session() as s:
        await s.delete(await s.get(Dataset, ds.id))
        await s.commit()
    return no_content()


# --- workflows, list generation, image import --------------------------------------------------
@routes.post("/workflows")
@requires("priv_asker", body=WorkflowBody)
async def create_workflow(request: web.Request) -> web.Response:
    """Create a workflow of steps."""
    body = await parse_body(request, WorkflowBody)
    wf = await _workflows(request).create(body.name, body.description, {"variables": body.variables, "steps": body.steps})
    return json_response(workflow_view(wf), status=201)


@routes.get("/workflows")
@requires("priv_asker")
async def list_workflows(request: web.Request) -> web.Response:
    """All workflows."""
    return json_response([workflow_view(w) for w in await _workflows(request).list()])


@routes.get("/workflows/{workflow}")
@requires("priv_asker")
async def get_workflow(request: web.Request) -> web.Response:
    """One workflow."""
    return json_response(workflow_view(await _workflows(request).get(request.match_info["workflow"])))


@routes.patch("/workflows/{workflow}")
@requires("priv_asker", body=WorkflowPatch)
async def patch_workflow(request: web.Request) -> web.Response:
    """Change a workflow's description, variables or steps."""
    body = await parse_body(request, WorkflowPatch)
    svc = _workflows(request)
    wf = await svc.get(request.match_info["workflow"])
    definition = None
    if body.steps is not None or body.variables is not None:
        definition = {"variables": body.variables if body.variables is not None else wf.definition.get("variables", []),
                      "steps": body.steps if body.steps is not None else wf.definition.get("steps", [])}
    return json_response(workflow_view(await svc.update(wf.id, body.description, definition)))


@routes.delete("/workflows/{workflow}")
@requires("priv_asker")
async def delete_workflow(request: web.Request) -> web.Response:
    """Delete a workflow."""
    await _workflows(request).delete(request.match_info["workflow"])
    return no_content()


@routes.post("/workflows/{workflow}/run")
@requires("priv_asker")
async def run_workflow(request: web.Request) -> web.StreamResponse:
    """Run a workflow; events stream as SSE, then [DONE]."""
    svc = _workflows(request)
    await svc.get(request.match_info["workflow"])
    raw = await request.read()
    given = (await read_json(request)).get("variables", {}) if raw.strip() else {}
    return await _sse(request, svc.run(request.match_info["workflow"], given), lambda event: event)


@routes.post("/ai/list_gen")
@requires("priv_asker", body=ListGenBody)
async def list_gen(request: web.Request) -> web.Response:
    """New list items for a description, avoiding the given ones."""
    body = await parse_body(request, ListGenBody)
    return json_response(await _tables(request).list_gen(body.description, body.count, body.existing, body.model))


@routes.post("/image_import/tables")
@requires("priv_asker")
async def image_import(request: web.Request) -> web.Response:
    """Build a table (schema and rows) from an image: multipart `image` (+ name, prompt, model), or
    JSON {"image": data URL, ...}. Needs a vision-capable model."""
    import base64

    if request.content_type.startswith("multipart/"):
        form = await request.post()
        upload = form.get("image") or form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("Send the picture in the 'image' field.")
        raw = upload.file.read(MAX_DATASET_BYTES + 1)
        if len(raw) > MAX_DATASET_BYTES:
            raise TooLarge("Images are limited to 5 MB.")
        url = f"data:{upload.content_type or 'image/png'};base64,{base64.b64encode(raw).decode()}"
        fields = {k: form.get(k) for k in ("name", "prompt", "model")}
    else:
        body = await read_json(request)
        if not isinstance(body, dict) or not str(body.get("image", "")).startswith("data:image/"):
            raise Invalid("Send {\"image\": \"data:image/png;base64,...\"} or a multipart 'image' field.")
        url, fields = body["image"], {k: body.get(k) for k in ("name", "prompt", "model")}
    table, count = await _tables(request).import_image(url, name=fields["name"], prompt=fields["prompt"] or "",
                                                       model=fields["model"])
    return json_response({"id": table.id, "name": table.name, "rows": count}, status=201)
