"""/v1/training: question/SQL pairs in AskTable's shapes (an array body; ?datasource_id= on every call)."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from tabletalk.adapters.asktable.wire import Body, key_of, refuse_unserved, sliced, stamped
from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import (Paging, json_response, no_content, parse_body, parse_query, read_json,
                                          requires, validation_detail)
from tabletalk.core.errors import NotFound, Unprocessable
from tabletalk.core.metadata.schema import ENGINE_DIALECTS
from tabletalk.core.policy.principal import Principal
from tabletalk.core.policy.readonly import parse_read_only
from tabletalk.core.store.models import TrainingPair, iso

routes = web.RouteTableDef()
UNSERVED = ("role_id", "chat_id", "msg_id")
WHY = "TableTalk's training pairs belong to a datasource, not to a role or a chat message."


def pair_out(p: TrainingPair) -> dict:
    return stamped({"id": p.id, "datasource_id": p.datasource_id, "question": p.question, "sql": p.sql, "active": p.active,
                    "source": "import", "chat_id": None, "msg_id": None, "role_id": None,
                    "created_at": iso(p.created_at), "modified_at": iso(p.created_at)})


class PairIn(Body):
    question: str = Field(min_length=1)
    sql: str = Field(min_length=1)
    active: bool = True
    chat_id: str | None = None
    msg_id: str | None = None
    role_id: str | None = None


class PairUpdate(Body):
    question: str | None = Field(None, min_length=1)
    sql: str | None = Field(None, min_length=1)
    active: bool | None = None
    role_id: str | None = None


class OnDatasource(BaseModel):
    datasource_id: str = Field(min_length=1)


class ListQuery(Paging, OnDatasource):
    pass


async def _pair(request: web.Request) -> tuple[object, TrainingPair]:
    core = core_of(request)
    q = parse_query(request, OnDatasource)
    pair = next((p for p in await core.training.list(q.datasource_id) if p.id == request.match_info["id"]), None)
    if pair is None:
        raise NotFound(f"Training pair '{request.match_info['id']}' does not exist in datasource '{q.datasource_id}'.")
    return core, pair


@routes.post("/training")
@requires("priv_admin")
async def create(request: web.Request) -> web.Response:
    """Add pairs (each SQL must be read-only); all are checked before any is stored."""
    q = parse_query(request, OnDatasource)
    try:
        pairs = TypeAdapter(list[PairIn]).validate_python(await read_json(request))
    except ValidationError as exc:
        raise Unprocessable(validation_detail(exc)) from None
    for p in pairs:
        refuse_unserved(p, UNSERVED, WHY)
    core = core_of(request)
    ds = await core.datasources.get(q.datasource_id)
    dialect = ENGINE_DIALECTS.get(ds.engine, "sqlite")
    for p in pairs:
        parse_read_only(p.sql, dialect)
    made = []
    for p in pairs:
        pair = await core.training.create(ds.id, p.question, p.sql, dialect)
        if not p.active:
            pair = await core.training.update(pair.id, {"active": False}, dialect)
        made.append(pair_out(pair))
    return json_response(made)


@routes.get("/training")
@requires("priv_asker", query=ListQuery)
async def list_(request: web.Request) -> web.Response:
    q = parse_query(request, ListQuery)
    pairs = await core_of(request).training.seen_by(Principal.of_key(key_of(request)), q.datasource_id)
    items = [pair_out(p) for p in pairs]
    return json_response(sliced(items, q))


@routes.patch("/training/{id}")
@requires("priv_admin", body=PairUpdate)
async def update(request: web.Request) -> web.Response:
    body = await parse_body(request, PairUpdate)
    refuse_unserved(body, ("role_id",), WHY)
    core, pair = await _pair(request)
    ds = await core.datasources.get(pair.datasource_id)
    pair = await core.training.update(pair.id, body.model_dump(exclude_unset=True), ENGINE_DIALECTS.get(ds.engine, "sqlite"))
    return json_response(pair_out(pair))


@routes.delete("/training/{id}")
@requires("priv_admin")
async def delete(request: web.Request) -> web.Response:
    core, pair = await _pair(request)
    await core.training.delete(pair.id)
    return no_content()
