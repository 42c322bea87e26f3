"""/training: question/SQL pairs used as examples."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import API_KEY, Paging, json_response, no_content, paged, parse_body, parse_query, requires
from tabletalk.core.metadata.schema import ENGINE_DIALECTS
from tabletalk.core.nlq.training import training_view
from tabletalk.core.policy.principal import Principal

routes = web.RouteTableDef()


class TrainingCreate(BaseModel):
    datasource_id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    sql: str = Field(min_length=1)


class TrainingQuery(Paging):
    datasource_id: str | None = None
    role_id: str | None = None  # the pairs this role may see (a key bound to a role always sees its role's)


@routes.post("/training")
@requires("priv_admin", body=TrainingCreate)
async def create_training(request: web.Request) -> web.Response:
    """Add a question/SQL pair (the SQL must be read-only)."""
    body = await parse_body(request, TrainingCreate)
    core = core_of(request)
    ds = await core.datasources.get(body.datasource_id)
    pair = await core.training.create(ds.id, body.question, body.sql, ENGINE_DIALECTS.get(ds.engine, "sqlite"))
    return json_response(training_view(pair), status=201)


@routes.get("/training")
@requires("priv_asker", query=TrainingQuery)
async def list_training(request: web.Request) -> web.Response:
    """List pairs, optionally for one datasource, paged: a role sees only pairs on its tables."""
    q = parse_query(request, TrainingQuery)
    pairs = await core_of(request).training.seen_by(Principal.of_key(request[API_KEY]), q.datasource_id, q.role_id)
    items = [training_view(p) for p in pairs]
    return json_response(paged(items, q))


@routes.delete("/training/{training_id}")
@requires("priv_admin")
async def delete_training(request: web.Request) -> web.Response:
    """Delete a pair."""
    await core_of(request).training.delete(request.match_info["training_id"])
    return no_content()
