"""/v1/datasources/{id}/meta, /field and /indexes: sync, AskTable's nested Meta, edits, value indexes."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from tabletalk.adapters.asktable.wire import Body, key_of, refuse_unserved, sliced, visible_tables
from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import Paging, json_response, no_content, parse_body, parse_query, requires
from tabletalk.core.errors import Invalid, Unprocessable
from tabletalk.core.policy.principal import Principal
from tabletalk.core.store.models import iso

routes = web.RouteTableDef()


def _desc(description: str, by_user: bool) -> dict:
    return {"curr_desc": description or "", "curr_desc_stat": "user" if by_user else "origin",
            "origin_desc": "" if by_user else (description or "")}


async def meta_out(core, ds_id: str, visible: set[str] | None = None) -> dict:
    ds = await core.datasources.get(ds_id)
    stamp = iso(ds.modified_at)
    schemas: dict = {}
    for t in await core.metadata.tables(ds_id):
        if visible is not None and t.name.lower() not in visible:
            continue
        sname = t.schema_name or "main"
        sch = schemas.setdefault(sname, {"name": sname, **_desc("", False), "tables": {}})
        sch["tables"][t.name] = {
            "name": t.name, "full_name": f"{sname}.{t.name}", "table_type": "view" if t.kind == "view" else "table",
            "visibility": t.visibility, **_desc(t.description, t.description_by_user),
            "fields": {f["name"]: {"name": f["name"], "full_name": f"{sname}.{t.name}.{f['name']}",
                                   "data_type": f.get("data_type"), "visibility": f.get("visibility", True),
                                   "created_at": stamp, "modified_at": stamp,
                                   **_desc(f.get("description", ""), f.get("description_by_user", False))}
                       for f in t.fields}}
    return {"datasource_id": ds_id, "schemas": schemas}


class MetaQuery(BaseModel):
    async_process_meta: bool = True
    value_index: bool = True


class MetaBody(Body):
    meta: dict | None = None
    selected_tables: dict[str, list[str]] | None = None


async def _sync(request: web.Request, query: MetaQuery, body: MetaBody) -> web.Response:
    refuse_unserved(body, ("meta",), "TableTalk reads the metadata from the database itself; edit descriptions with "
                                     "datasources.meta.annotate.")
    if not query.value_index:
        raise Unprocessable("TableTalk cannot serve 'value_index=false': every sync refreshes the value indexes "
                            "of low-cardinality text columns.")
    core = core_of(request)
    ds_id = request.match_info["datasource_id"]
    if query.async_process_meta and not body.selected_tables:
        await core.metadata.start_sync(ds_id)
        return json_response({"datasource_id": ds_id, "status": "processing"})
    await core.metadata.sync(ds_id)
    if body.selected_tables:  # only the selected tables stay visible to questions
        chosen = {t.lower() for names in body.selected_tables.values() for t in names}
        edits = {t.name: {"visibility": t.name.lower() in chosen} for t in await core.metadata.tables(ds_id)}
        unknown = chosen - {t.lower() for t in edits}
        if unknown:
            raise Invalid(f"selected_tables names tables the datasource does not have: {', '.join(sorted(unknown))}.")
        await core.metadata.put_meta(ds_id, {"*": {"tables": edits}})
    return json_response({"datasource_id": ds_id, "status": "success"})


@routes.post("/datasources/{datasource_id}/meta")
@requires("priv_admin", body=MetaBody)
async def create_meta(request: web.Request) -> web.Response:
    """Sync the metadata from the database (in the background unless async_process_meta=false)."""
    return await _sync(request, parse_query(request, MetaQuery), await _optional_body(request))


@routes.put("/datasources/{datasource_id}/meta")
@requires("priv_admin", body=MetaBody)
async def update_meta(request: web.Request) -> web.Response:
    """Re-sync the metadata (stored descriptions and visibility are kept)."""
    return await _sync(request, parse_query(request, MetaQuery), await _optional_body(request))


async def _optional_body(request: web.Request) -> MetaBody:
    return await parse_body(request, MetaBody) if request.can_read_body and (await request.read()).strip() else MetaBody()


@routes.get("/datasources/{datasource_id}/meta")
@requires("priv_asker")
async def retrieve_meta(request: web.Request) -> web.Response:
    """The metadata, limited to the tables the calling key's role may see."""
    core = core_of(request)
    ds_id = request.match_info["datasource_id"]
    names = {t.name.lower() for t in await core.metadata.tables(ds_id)}
    return json_response(await meta_out(core, ds_id, await visible_tables(request, core, ds_id, names)))


class TableNotes(Body):
    desc: str | None = None
    fields: dict[str, str] = {}


class SchemaNotes(Body):
    desc: str | None = None
    tables: dict[str, TableNotes]


class Annotate(Body):
    schemas: dict[str, SchemaNotes]


@routes.patch("/datasources/{datasource_id}/meta")
@requires("priv_admin", body=Annotate)
async def annotate(request: web.Request) -> web.Response:
    """Set table and field descriptions (they survive later syncs)."""
    body = await parse_body(request, Annotate)
    for name, sch in body.schemas.items():
        if sch.desc:
            raise Unprocessable(f"TableTalk cannot serve 'schemas.{name}.desc': it keeps descriptions of tables and fields, not schemas.")
    edits = {s: {"tables": {t: {"description": n.desc, "fields": {f: {"description": d} for f, d in n.fields.items()}}
                            for t, n in sch.tables.items()}} for s, sch in body.schemas.items()}
    core = core_of(request)
    ds_id = request.match_info["datasource_id"]
    await core.metadata.put_meta(ds_id, edits)
    return json_response(await meta_out(core, ds_id))


class FieldQuery(BaseModel):
    schema_name: str
    table_name: str
    field_name: str


class FieldUpdate(Body):
    identifiable_type: str | None = None
    visibility: bool | None = None


@routes.patch("/datasources/{datasource_id}/field")
@requires("priv_admin", body=FieldUpdate)
async def update_field(request: web.Request) -> web.Response:
    """Show or hide one field."""
    q = parse_query(request, FieldQuery)
    body = await parse_body(request, FieldUpdate)
    if body.identifiable_type not in (None, "plain"):
        raise Unprocessable("TableTalk cannot serve 'identifiable_type': it does not classify or mask personal data; "
                            "hide the field with visibility=false instead.")
    return json_response(await core_of(request).metadata.patch_field(
        request.match_info["datasource_id"], q.table_name, q.field_name, None, body.visibility))


# --- value indexes ----------------------------------------------------------------------------------
class IndexCreate(Body):
    schema_name: str
    table_name: str
    field_name: str


def index_out(view: dict, ds_modified: str) -> dict:
    count = view.get("value_count", view.get("table_count", 0))
    return {"id": view["id"], "datasource_id": view["datasource_id"], "schema_name": "main",
            "table_name": view.get("table", "*"), "field_name": view.get("field", "*"),
            "index_value_count": count, "value_count": count, "distinct_count": count,
            "status_msg": view.get("status"), "kind": view.get("kind", "value"),
            "created_at": view.get("created_at") or ds_modified, "modified_at": view.get("created_at") or ds_modified}


@routes.post("/datasources/{ds_id}/indexes")
@requires("priv_admin", body=IndexCreate)
async def create_index(request: web.Request) -> web.Response:
    """Build (or rebuild) the value index of one field (always at once: async_process is accepted as given)."""
    body = await parse_body(request, IndexCreate)
    core = core_of(request)
    ds = await core.datasources.get(request.match_info["ds_id"])
    view = await core.metadata.create_index(ds.id, body.table_name, body.field_name, "value")
    return json_response(index_out(view, iso(ds.modified_at)))


@routes.get("/datasources/{ds_id}/indexes")
@requires("priv_asker", query=Paging)
async def list_indexes(request: web.Request) -> web.Response:
    q = parse_query(request, Paging)
    core = core_of(request)
    ds = await core.datasources.get(request.match_info["ds_id"])
    # As on /api/v1: a role's samples come only from the rows it may read (core's scope_for decides).
    scope = await core.policies.scope_for(Principal.of_key(key_of(request)), ds.id)
    views = await core.metadata.list_indexes(ds.id, scope)
    return json_response(sliced([index_out(v, iso(ds.modified_at)) for v in views], q))


@routes.delete("/datasources/{ds_id}/indexes/{index_id}")
@requires("priv_admin")
async def delete_index(request: web.Request) -> web.Response:
    m = request.match_info
    await core_of(request).metadata.delete_index(m["ds_id"], m["index_id"])
    return no_content()
