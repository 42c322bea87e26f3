"""/canvas: boards of data/chart/text/sql nodes; node runs stream as SSE."""
from __future__ import annotations

from contextlib import aclosing
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import API_KEY, EventStream, dumps, json_response, no_content, parse_body, requires
from tabletalk.core.canvas.service import canvas_view, node_view
from tabletalk.core.policy.principal import Principal

routes = web.RouteTableDef()


class CanvasCreate(BaseModel):
    name: str = Field(min_length=1)
    datasource_id: str = Field(min_length=1)
    role_id: str | None = None
    role_variables: dict = Field(default_factory=dict)


class CanvasPatch(BaseModel):
    name: str | None = Field(None, min_length=1)
    role_id: str | None = None
    role_variables: dict | None = None


class NodeCreate(BaseModel):
    type: Literal["data", "chart", "text", "sql"]
    question: str = ""
    sql: str | None = None
    title: str = ""
    parent_ids: list[str] = Field(default_factory=list)


class NodePatch(BaseModel):
    question: str | None = None
    sql: str | None = None
    title: str | None = None
    parent_ids: list[str] | None = None


class BatchRefresh(BaseModel):
    node_ids: list[str] = Field(min_length=1)


def _svc(request: web.Request):
    return core_of(request).canvas


def _who(request: web.Request) -> Principal:
    return Principal.of_key(request[API_KEY])


async def _mine(request: web.Request):
    """The canvas in the URL if the caller may see it (administrators: any; askers: their own)."""
    return await _svc(request).get(request.match_info["canvas_id"], _who(request))


@routes.post("/canvas")
@requires("priv_asker", body=CanvasCreate)
async def create_canvas(request: web.Request) -> web.Response:
    """Create a canvas on a datasource (optionally under a role)."""
    body = await parse_body(request, CanvasCreate)
    canvas = await _svc(request).create(body.name, body.datasource_id, body.role_id, body.role_variables,
                                        owner_key_id=request[API_KEY].id)
    return json_response(canvas_view(canvas), status=201)


@routes.get("/canvas")
@requires("priv_asker")
async def list_canvases(request: web.Request) -> web.Response:
    """List canvases (an asker sees the ones it created)."""
    items = [canvas_view(c) for c in await _svc(request).list(_who(request))]
    return json_response({"items": items, "total": len(items), "page": 1, "size": len(items)})


@routes.get("/canvas/{canvas_id}")
@requires("priv_asker")
async def get_canvas(request: web.Request) -> web.Response:
    """A canvas with its nodes."""
    canvas = await _mine(request)
    return json_response({**canvas_view(canvas), "nodes": [node_view(n) for n in await _svc(request).nodes(canvas.id)]})


@routes.patch("/canvas/{canvas_id}")
@requires("priv_asker", body=CanvasPatch)
async def patch_canvas(request: web.Request) -> web.Response:
    """Rename a canvas or change its role."""
    body = await parse_body(request, CanvasPatch)
    await _mine(request)
    canvas = await _svc(request).update(request.match_info["canvas_id"], body.model_dump(exclude_unset=True))
    return json_response(canvas_view(canvas))


@routes.delete("/canvas/{canvas_id}")
@requires("priv_asker")
async def delete_canvas(request: web.Request) -> web.Response:
    """Delete a canvas and its nodes."""
    await _mine(request)
    await _svc(request).delete(request.match_info["canvas_id"])
    return no_content()


@routes.get("/canvas/{canvas_id}/export.html")
@requires("priv_asker")
async def export_canvas(request: web.Request) -> web.Response:
    """A static HTML report of the canvas, charts embedded as PNG."""
    await _mine(request)
    page = await _svc(request).export_html(request.match_info["canvas_id"])
    return web.Response(text=page, content_type="text/html")


@routes.post("/canvas/{canvas_id}/nodes")
@requires("priv_asker", body=NodeCreate)
async def create_node(request: web.Request) -> web.Response:
    """Add a node; parent_ids must not make a cycle."""
    body = await parse_body(request, NodeCreate)
    await _mine(request)
    node = await _svc(request).add_node(request.match_info["canvas_id"], body.type, body.question, body.sql,
                                        body.parent_ids, body.title)
    return json_response(node_view(node), status=201)


@routes.get("/canvas/{canvas_id}/nodes")
@requires("priv_asker")
async def list_nodes(request: web.Request) -> web.Response:
    """The nodes of a canvas."""
    svc = _svc(request)
    await _mine(request)
    items = [node_view(n) for n in await svc.nodes(request.match_info["canvas_id"])]
    return json_response({"items": items, "total": len(items)})


@routes.post("/canvas/{canvas_id}/nodes/batch-refresh")
@requires("priv_asker", body=BatchRefresh)
async def batch_refresh(request: web.Request) -> web.Response:
    """Re-run nodes and their descendants in topological order."""
    body = await parse_body(request, BatchRefresh)
    return json_response(await _svc(request).batch_refresh(request.match_info["canvas_id"], body.node_ids, _who(request)))


@routes.get("/canvas/{canvas_id}/nodes/{node_id}")
@requires("priv_asker")
async def get_node(request: web.Request) -> web.Response:
    """One node with its stored result."""
    m = request.match_info
    await _mine(request)
    return json_response(node_view(await _svc(request).node(m["canvas_id"], m["node_id"])))


@routes.patch("/canvas/{canvas_id}/nodes/{node_id}")
@requires("priv_asker", body=NodePatch)
async def patch_node(request: web.Request) -> web.Response:
    """Change a node's question, SQL or parents (400 on a cycle)."""
    body = await parse_body(request, NodePatch)
    m = request.match_info
    await _mine(request)
    node = await _svc(request).update_node(m["canvas_id"], m["node_id"], body.model_dump(exclude_unset=True))
    return json_response(node_view(node))


@routes.delete("/canvas/{canvas_id}/nodes/{node_id}")
@requires("priv_asker")
async def delete_node(request: web.Request) -> web.Response:
    """Delete a node (its children lose the edge)."""
    m = request.match_info
    await _mine(request)
    await _svc(request).delete_node(m["canvas_id"], m["node_id"])
    return no_content()


@routes.post("/canvas/{canvas_id}/nodes/{node_id}/run")
@requires("priv_asker")
async def run_node(request: web.Request) -> web.StreamResponse:
    """Run one node, streaming `data: {"type": ...}` events."""
    m = request.match_info
    svc = _svc(request)
    await _mine(request)
    await svc.node(m["canvas_id"], m["node_id"])  # 404 before the stream starts
    stream = await EventStream.open(request)
    async with aclosing(svc.run(m["canvas_id"], m["node_id"], _who(request))) as events:
        async for event in events:  # a client that left only stops the writing, never the run
            await stream.write(f"data: {dumps(event)}\n\n")
    return await stream.close()
