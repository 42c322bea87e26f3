"""/datasources/{id}/meta and /indexes: metadata sync and edits, value indexes."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import API_KEY, Paging, json_response, no_content, paged, parse_body, parse_query, requires
from tabletalk.core.policy.principal import Principal

routes = web.RouteTableDef()


class MetaEdit(BaseModel):
    description: str | None = None
    visibility: bool | None = None


class TableEdit(MetaEdit):
    fields: dict[str, MetaEdit] = {}


class SchemaEdit(BaseModel):
    tables: dict[str, TableEdit] = {}


class MetaPut(BaseModel):
    schemas: dict[str, SchemaEdit]


class MetaQuery(BaseModel):
    role_id: str | None = None  # show only what this role may see


class IndexQuery(Paging):
    role_id: str | None = None  # samples as this role may see them


class IndexCreate(BaseModel):
    table: str = "*"  # a vector index covers every table
    field: str = "*"
    kind: str = "value"


@routes.post("/datasources/{datasource_id}/meta/sync")
@requires("priv_admin")
async def sync_meta(request: web.Request) -> web.Response:
    """Start a metadata sync in the background."""
    job = await core_of(request).metadata.start_sync(request.match_info["datasource_id"])
    return json_response({"job_id": job.id, "status": "running"}, status=202)


@routes.get("/datasources/{datasource_id}/meta")
@requires("priv_asker", query=MetaQuery)
async def get_meta(request: web.Request) -> web.Response:
    """Tables and fields with descriptions and visibility (as a role sees them, with ?role_id=; a key
    bound to a role always sees what its role sees)."""
    q = parse_query(request, MetaQuery)
    core = core_of(request)
    ds_id = request.match_info["datasource_id"]
    scope = await core.policies.scope_for(Principal.of_key(request[API_KEY]), ds_id, q.role_id)
    visible = scope.visible({t.name.lower() for t in await core.metadata.tables(ds_id)})
    return json_response(await core.metadata.get_meta(ds_id, visible, hidden_too=not scope.restricted))


@routes.put("/datasources/{datasource_id}/meta")
@requires("priv_admin", body=MetaPut)
async def put_meta(request: web.Request) -> web.Response:
    """Bulk-edit descriptions and visibility."""
    body = await parse_body(request, MetaPut)
    schemas = body.model_dump()["schemas"]
    return json_response(await core_of(request).metadata.put_meta(request.match_info["datasource_id"], schemas))


@routes.patch("/datasources/{datasource_id}/meta/tables/{table_name}")
@requires("priv_admin", body=MetaEdit)
async def patch_table(request: web.Request) -> web.Response:
    """Edit a table's description or visibility."""
    body = await parse_body(request, MetaEdit)
    m = request.match_info
    return json_response(await core_of(request).metadata.patch_table(m["datasource_id"], m["table_name"], body.description, body.visibility))


@routes.patch("/datasources/{datasource_id}/meta/tables/{table_name}/fields/{field_name}")
@requires("priv_admin", body=MetaEdit)
async def patch_field(request: web.Request) -> web.Response:
    """Edit a field's description or visibility."""
    body = await parse_body(request, MetaEdit)
    m = request.match_info
    return json_response(await core_of(request).metadata.patch_field(
        m["datasource_id"], m["table_name"], m["field_name"], body.description, body.visibility))


@routes.get("/datasources/{datasource_id}/indexes")
@requires("priv_asker", query=IndexQuery)
async def list_indexes(request: web.Request) -> web.Response:
    """Value indexes of a datasource, paged (with ?role_id=, or a key bound to a role: samples from its rows only)."""
    q = parse_query(request, IndexQuery)
    core = core_of(request)
    ds_id = request.match_info["datasource_id"]
    scope = await core.policies.scope_for(Principal.of_key(request[API_KEY]), ds_id, q.role_id)
    return json_response(paged(await core.metadata.list_indexes(ds_id, scope), q))


@routes.post("/datasources/{datasource_id}/indexes")
@requires("priv_admin", body=IndexCreate)
async def create_index(request: web.Request) -> web.Response:
    """Build (or rebuild) a value index on one field."""
    body = await parse_body(request, IndexCreate)
    view = await core_of(request).metadata.create_index(request.match_info["datasource_id"], body.table, body.field, body.kind)
    return json_response(view, status=201)


@routes.delete("/datasources/{datasource_id}/indexes/{index_id}")
@requires("priv_admin")
async def delete_index(request: web.Request) -> web.Response:
    """Delete a value index."""
    m = request.match_info
    await core_of(request).metadata.delete_index(m["datasource_id"], m["index_id"])
    return no_content()
