"""/v1/datasources: CRUD, runtime metadata and file uploads, in AskTable's shapes."""
from __future__ import annotations

import asyncio
import re

from aiohttp import web
from pydantic import Field

from tabletalk.adapters.asktable.wire import Body, lines, page, refuse_unserved, stamped, visible_tables
from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import Paging, json_response, no_content, parse_body, parse_query, requires
from tabletalk.core.datasources.base import SUPPORTED_ENGINES
from tabletalk.core.errors import Invalid, NotFound
from tabletalk.core.store.models import Datasource, iso, new_id

routes = web.RouteTableDef()

# AskTable engine -> TableTalk engine. TableTalk's own names are accepted as they are.
ENGINES_IN = {"mysql": "mysql", "postgresql": "postgresql", "excel": "excel"}
# TableTalk engine -> the AskTable name it is shown under (file-backed engines are AskTable's 'excel').
ENGINES_OUT = {"mysql": "mysql", "postgresql": "postgresql", "excel": "excel", "csv": "excel", "parquet": "excel",
               "sqlite": "excel"}
STATUS_OUT = {"pending": "unprocessed", "running": "processing", "success": "success", "failed": "failed"}
FILE_ENGINES = {"excel": (".xlsx", ".xls"), "csv": (".csv", ".tsv", ".txt"), "parquet": (".parquet", ".pq")}
SERVER_ENGINES = ("mysql", "postgresql")


def upload_dir(core, ds_id: str):
    return core.home / "uploads" / ds_id


def _files(core, ds: Datasource) -> list[dict]:
    folder = upload_dir(core, ds.id)
    if not folder.is_dir():
        return []
    return [{"id": p.name, "filename": p.name} for p in sorted(folder.iterdir()) if p.is_file()]


def datasource_out(core, ds: Datasource, *, full: bool = True) -> dict:
    out = stamped({"id": ds.id, "name": ds.name, "engine": ENGINES_OUT.get(ds.engine, ds.engine),
                   "tabletalk_engine": ds.engine, "desc": ds.desc, "meta_status": STATUS_OUT.get(ds.meta_status, "failed"),
                   "meta_error": ds.meta_error, "schema_count": ds.schema_count, "table_count": ds.table_count,
                   "field_count": ds.field_count, "sample_questions": "\n".join(ds.sample_questions) or None,
                   "created_at": iso(ds.created_at), "modified_at": iso(ds.modified_at)})
    if full:
        out["access_config"] = _access_out(core, ds)
    return out


def _access_out(core, ds: Datasource) -> dict | None:
    cfg = ds.access_config  # only non-secret keys are read below
    if ds.engine in SERVER_ENGINES:
        return {"host": cfg.get("host", "127.0.0.1"), "port": cfg.get("port"), "user": cfg.get("user"),
                "db": cfg.get("database"), "db_version": cfg.get("db_version")}
    if ds.engine in FILE_ENGINES and cfg.get("path") == str(upload_dir(core, ds.id)):
        return {"files": _files(core, ds)}
    return None  # e.g. SQLite: a local path, no AskTable shape (see tabletalk_engine)


class ConnectionIn(Body):
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    db: str | None = None
    db_version: str | None = None
    extra_config: dict | None = None
    securetunnel_id: str | None = None
    files: list[str] | None = None
    database: str | None = None  # TableTalk's own engines (e.g. sqlite) name their file or database so
    path: str | None = None


def _access_in(engine: str, cfg: ConnectionIn | None, ds_id: str, core) -> dict:
    cfg = cfg or ConnectionIn()
    refuse_unserved(cfg, ("securetunnel_id", "extra_config"), "TableTalk connects directly, without tunnels or extra driver settings.")
    if engine in FILE_ENGINES:
        refuse_unserved(cfg, ("files",), "upload files with datasources.add_file (multipart) after creating the datasource.")
        return {"path": cfg.path or str(upload_dir(core, ds_id))}
    if engine in SERVER_ENGINES:
        out = {"host": cfg.host or "127.0.0.1", "port": cfg.port, "user": cfg.user, "password": cfg.password or "",
               "database": cfg.db or cfg.database}
        if cfg.db_version:
            out["db_version"] = cfg.db_version
        return {k: v for k, v in out.items() if v is not None}
    return cfg.model_dump(exclude_none=True)


def engine_in(engine: str) -> str:
    if engine in ENGINES_IN:
        return ENGINES_IN[engine]
    if engine in SUPPORTED_ENGINES:
        return engine
    raise Invalid(f"TableTalk cannot serve the engine '{engine}'. Supported on /v1: "
                  f"{', '.join(sorted(set(ENGINES_IN) | set(SUPPORTED_ENGINES)))}.")


class DatasourceCreate(Body):
    engine: str
    access_config: ConnectionIn | None = None
    name: str | None = Field(None, max_length=200)
    desc: str | None = None
    sample_questions: str | None = None


class DatasourceUpdate(Body):
    access_config: ConnectionIn | None = None
    desc: str | None = None
    engine: str | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    sample_questions: str | None = None
    field_count: int | None = None
    meta_error: str | None = None
    meta_status: str | None = None
    schema_count: int | None = None
    table_count: int | None = None


class DatasourceQuery(Paging):
    name: str | None = None


@routes.post("/datasources")
@requires("priv_admin", body=DatasourceCreate)
async def create(request: web.Request) -> web.Response:
    """Create a datasource; its metadata sync starts at once (file datasources: on the first upload)."""
    body = await parse_body(request, DatasourceCreate)
    core = core_of(request)
    engine = engine_in(body.engine)
    ds_id = new_id("ds")
    ds = await core.datasources.create(body.name or f"{body.engine} datasource", engine,
                                       _access_in(engine, body.access_config, ds_id, core), desc=body.desc or "",
                                       sample_questions=lines(body.sample_questions), ds_id=ds_id)
    if engine in FILE_ENGINES and not _files(core, ds):
        upload_dir(core, ds.id).mkdir(parents=True, exist_ok=True)
    else:
        await core.metadata.start_sync(ds.id)
    return json_response(datasource_out(core, await core.datasources.get(ds.id, fresh=True), full=False))


@routes.get("/datasources")
@requires("priv_asker", query=DatasourceQuery)
async def list_(request: web.Request) -> web.Response:
    """Datasources, paged."""
    q = parse_query(request, DatasourceQuery)
    core = core_of(request)
    items, total = await core.datasources.list(name=q.name, page=q.page, size=q.size)
    return json_response(page([datasource_out(core, d, full=False) for d in items], total, q))


@routes.get("/datasources/{datasource_id}")
@requires("priv_asker")
async def retrieve(request: web.Request) -> web.Response:
    core = core_of(request)
    return json_response(datasource_out(core, await core.datasources.get(request.match_info["datasource_id"], fresh=True)))


@routes.patch("/datasources/{datasource_id}")
@requires("priv_admin", body=DatasourceUpdate)
async def update(request: web.Request) -> web.Response:
    body = await parse_body(request, DatasourceUpdate)
    core = core_of(request)
    ds = await core.datasources.get(request.match_info["datasource_id"], fresh=True)
    refuse_unserved(body, ("field_count", "meta_error", "meta_status", "schema_count", "table_count"),
                    "these are computed by the metadata sync (datasources.meta.create).")
    if body.engine is not None and engine_in(body.engine) != ds.engine:
        raise Invalid(f"A datasource's engine cannot change ('{ds.engine}' to '{body.engine}'); create a new datasource.")
    changes = {"name": body.name, "desc": body.desc, "sample_questions": lines(body.sample_questions)}
    if body.access_config is not None:
        changes["access_config"] = _access_in(ds.engine, body.access_config, ds.id, core)
    ds = await core.datasources.update(ds.id, changes)
    return json_response(datasource_out(core, ds, full=False))


@routes.delete("/datasources/{datasource_id}")
@requires("priv_admin")
async def delete(request: web.Request) -> web.Response:
    await core_of(request).datasources.delete(request.match_info["datasource_id"])
    return no_content()


@routes.get("/datasources/{datasource_id}/runtime-meta")
@requires("priv_asker")
async def runtime_meta(request: web.Request) -> web.Response:
    """The live schema, read from the database now: {schema: [{name, type}]} (the tables the key's role may see)."""
    core = core_of(request)
    ds = await core.datasources.get(request.match_info["datasource_id"])
    schemas: dict[str, list] = {}
    live = await (await core.datasources.connector(ds)).introspect()
    visible = await visible_tables(request, core, ds.id, {t.name.lower() for t in live})
    for t in live:
        if visible is not None and t.name.lower() not in visible:
            continue
        schemas.setdefault(t.schema or "main", []).append({"name": t.name, "type": "view" if t.kind == "view" else "table"})
    return json_response({"schemas": schemas})


# --- files: an AskTable 'excel' datasource is a TableTalk file engine reading an upload folder ----------
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


async def _file_datasource(request: web.Request):
    core = core_of(request)
    ds = await core.datasources.get(request.match_info["datasource_id"], fresh=True)
    if ds.engine not in FILE_ENGINES or ds.access_config.get("path") != str(upload_dir(core, ds.id)):
        raise Invalid(f"Datasource '{ds.id}' does not read uploaded files (engine '{ds.engine}'); files can be added "
                      "to datasources created on /v1 with engine 'excel' (or csv/parquet).")
    return core, ds


@routes.post("/datasources/{datasource_id}/files")
@requires("priv_admin")
async def add_file(request: web.Request) -> web.Response:
    """Upload one file (multipart field 'file'); the metadata sync then reads it as a table."""
    core, ds = await _file_datasource(request)
    if not request.content_type.startswith("multipart/"):
        raise Invalid("Send the file as multipart/form-data in a field named 'file'.")
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and part.name != "file":
        part = await reader.next()
    if part is None or not part.filename:
        raise Invalid("The multipart body has no 'file' field with a filename.")
    name = _SAFE.sub("_", part.filename).strip("._") or "upload"
    if not name.lower().endswith(FILE_ENGINES[ds.engine]):
        raise Invalid(f"A {ds.engine} datasource reads {', '.join(FILE_ENGINES[ds.engine])} files; '{part.filename}' is not one.")
    folder = upload_dir(core, ds.id)
    folder.mkdir(parents=True, exist_ok=True)
    data = await part.read()
    await asyncio.to_thread((folder / name).write_bytes, data)
    await core.datasources.update(ds.id, {})  # a new file: the cached connector is rebuilt
    await core.metadata.start_sync(ds.id)
    return json_response({"id": name, "filename": name, "datasource_id": ds.id})


@routes.delete("/datasources/{datasource_id}/files/{file_id}")
@requires("priv_admin")
async def delete_file(request: web.Request) -> web.Response:
    core, ds = await _file_datasource(request)
    path = upload_dir(core, ds.id) / request.match_info["file_id"]
    if "/" in request.match_info["file_id"] or not path.is_file():
        raise NotFound(f"File '{request.match_info['file_id']}' is not in datasource '{ds.id}'.")
    path.unlink()
    await core.datasources.update(ds.id, {})
    if _files(core, ds):
        await core.metadata.start_sync(ds.id)
    return no_content()
