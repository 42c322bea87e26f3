"""Workflow routes: CRUD in the spec's shapes and runs as SSE events `{type, data}`."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import json_response, parse_body, read_json, requires
from tabletalk.adapters.rest.tables_stream import sse
from tabletalk.core.errors import Invalid
from tabletalk.core.tables.workflows import WorkflowService, workflow_view

routes = web.RouteTableDef()


class WorkflowBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    variables: list[dict] = Field(default_factory=list)
    steps: list[dict] = Field(min_length=1)


class WorkflowPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    variables: list[dict] | None = None
    steps: list[dict] | None = None


class RunBody(BaseModel):
    variables: dict = Field(default_factory=dict)
    model: str | None = None
    image_model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)


def _workflows(request) -> WorkflowService:
    core = core_of(request)
    return WorkflowService(core.store, core.tables)


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
    """All workflows (id, name, description)."""
    items = await _workflows(request).list()
    return json_response({"total": len(items), "workflows": [{"id": w.id, "name": w.name, "description": w.description} for w in items]})


@routes.get("/workflows/{workflow}")
@requires("priv_asker")
async def get_workflow(request: web.Request) -> web.Response:
    """One workflow with its variables and steps."""
    return json_response(workflow_view(await _workflows(request).get(request.match_info["workflow"])))


@routes.patch("/workflows/{workflow}")
@requires("priv_asker", body=WorkflowPatch)
async def patch_workflow(request: web.Request) -> web.Response:
    """Change a workflow (the spec sends the whole object; absent fields stay)."""
    body = await parse_body(request, WorkflowPatch)
    svc = _workflows(request)
    wf = await svc.get(request.match_info["workflow"])
    definition = None
    if body.steps is not None or body.variables is not None:
        definition = {"variables": body.variables if body.variables is not None else wf.definition.get("variables", []),
                      "steps": body.steps if body.steps is not None else wf.definition.get("steps", [])}
    wf = await svc.update(wf.id, name=body.name, description=body.description, definition=definition)
    return json_response({"id": wf.id})


@routes.delete("/workflows/{workflow}")
@requires("priv_asker")
async def delete_workflow(request: web.Request) -> web.Response:
    """Delete a workflow."""
    await _workflows(request).delete(request.match_info["workflow"])
    return json_response("")


@routes.post("/workflows/{workflow}/run")
@requires("priv_asker", body=RunBody)
async def run_workflow(request: web.Request) -> web.StreamResponse:
    """Run a workflow; events stream as SSE, then [DONE]. A dropped client stops the run."""
    svc = _workflows(request)
    await svc.get(request.match_info["workflow"])
    raw = await request.read()
    body = await read_json(request) if raw.strip() else {}
    if not isinstance(body, dict) or not isinstance(body.get("variables", {}), dict):
        raise Invalid("Send {\"variables\": {...}} (optional: model, temperature).")
    run = RunBody.model_validate(body)
    events = svc.run(request.match_info["workflow"], run.variables, roots=[core_of(request).home / "data"],
                     model=run.model, temperature=run.temperature)
    return await sse(request, events)
