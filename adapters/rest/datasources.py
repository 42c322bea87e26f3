"""/datasources: CRUD and test-connection."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import (Paging, json_response, no_content, page_of, parse_body, parse_query,
                                          requires)
from tabletalk.core.datasources.service import datasource_view

routes = web.RouteTableDef()


class DatasourceCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    engine: str = Field(min_length=1)
    access_config: dict = Field(default_factory=dict)
    desc: str = ""
    sample_questions: list[str] = []


class DatasourcePatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    desc: str | None = None
    sample_questions: list[str] | None = None
    access_config: dict | None = None


class ConnectionTest(BaseModel):
    engine: str
    access_config: dict = Field(default_factory=dict)


class DatasourceQuery(Paging):
    name: str | None = None


@routes.post("/datasources")
@requires("priv_admin", body=DatasourceCreate)
async def create_datasource(request: web.Request) -> web.Response:
    """Create a datasource; a metadata sync starts by itself."""
    body = await parse_body(request, DatasourceCreate)
    core = core_of(request)
    ds = await core.datasources.create(body.name, body.engine, body.access_config, desc=body.desc,
                                       sample_questions=body.sample_questions)
    await core.metadata.start_sync(ds.id)
    ds = await core.datasources.get(ds.id)
    return json_response(datasource_view(ds), status=201)


@routes.get("/datasources")
@requires("priv_asker", query=DatasourceQuery)
async def list_datasources(request: web.Request) -> web.Response:
    """List datasources, paged."""
    q = parse_query(request, DatasourceQuery)
    items, total = await core_of(request).datasources.list(name=q.name, page=q.page, size=q.size)
    return json_response(page_of([datasource_view(d, full=False) for d in items], total, q))


@routes.post("/datasources/test-connection")
@requires("priv_admin", body=ConnectionTest)
async def test_connection(request: web.Request) -> web.Response:
    """Try to connect with the given settings: {success, message}."""
    body = await parse_body(request, ConnectionTest)
    return json_response(await core_of(request).datasources.test_connection(body.engine, body.access_config))


@routes.get("/datasources/{datasource_id}")
@requires("priv_asker")
async def get_datasource(request: web.Request) -> web.Response:
    """One datasource (never its secrets)."""
    ds = await core_of(request).datasources.get(request.match_info["datasource_id"], fresh=True)
    return json_response(datasource_view(ds))


@routes.patch("/datasources/{datasource_id}")
@requires("priv_admin", body=DatasourcePatch)
async def patch_datasource(request: web.Request) -> web.Response:
    """Change name, description, sample questions or access settings."""
    body = await parse_body(request, DatasourcePatch)
    ds = await core_of(request).datasources.update(request.match_info["datasource_id"], body.model_dump(exclude_unset=True))
    return json_response(datasource_view(ds))


@routes.delete("/datasources/{datasource_id}")
@requires("priv_admin")
async def delete_datasource(request: web.Request) -> web.Response:
    """Delete a datasource with its metadata, indexes, training pairs and policies."""
    await core_of(request).datasources.delete(request.match_info["datasource_id"])
    return no_content()
