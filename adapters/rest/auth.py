"""/auth: API key lifecycle, and tokens: keys bound to one end user's role that expire."""
from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import (API_KEY, Paging, json_response, no_content, paged, parse_body, parse_query,
                                          requires)
from tabletalk.core.auth import DEFAULT_TOKEN_TTL, key_view

routes = web.RouteTableDef()


class KeyCreate(BaseModel):
    scope: Literal["priv_admin", "priv_asker", "priv_visitor"] = Field(alias="ak_role", default="priv_asker")
    name: str = ""
    bot_ids: list[str] = []
    role_id: str | None = None          # bind every query of the key to this role
    role_variables: dict = Field(default_factory=dict)
    ttl: int | None = Field(None, ge=1)  # seconds until the key stops working (None: never)

    model_config = {"populate_by_name": True}


class TokenCreate(KeyCreate):
    ttl: int | None = Field(DEFAULT_TOKEN_TTL, ge=1, alias="token_ttl")
    user_profile: dict = Field(default_factory=dict)


@routes.post("/auth/keys")
@requires("priv_admin", body=KeyCreate)
async def create_key(request: web.Request) -> web.Response:
    """Create an API key (optionally bound to a role, optionally expiring); the secret is in this response only."""
    body = await parse_body(request, KeyCreate)
    key, secret = await core_of(request).keys.create(body.scope, body.name, body.bot_ids, role_id=body.role_id,
                                                     role_variables=body.role_variables, ttl=body.ttl)
    return json_response({**key_view(key), "key": secret}, status=201)


@routes.post("/auth/tokens")
@requires("priv_admin", body=TokenCreate)
async def create_token(request: web.Request) -> web.Response:
    """Mint a token for one end user: bound to a role and its variables, expiring after token_ttl seconds."""
    body = await parse_body(request, TokenCreate)
    key, secret = await core_of(request).keys.create_token(
        scope=body.scope, role_id=body.role_id, role_variables=body.role_variables, ttl=body.ttl,
        user_profile=body.user_profile, bot_ids=body.bot_ids, name=body.name)
    return json_response({**key_view(key), "token": secret}, status=201)


@routes.get("/auth/keys")
@requires("priv_admin", query=Paging)
async def list_keys(request: web.Request) -> web.Response:
    """List API keys (prefix only)."""
    q = parse_query(request, Paging)
    return json_response(paged([key_view(k) for k in await core_of(request).keys.list()], q))


@routes.delete("/auth/keys/{key_id}")
@requires("priv_admin")
async def revoke_key(request: web.Request) -> web.Response:
    """Revoke an API key."""
    await core_of(request).keys.revoke(request.match_info["key_id"])
    return no_content()


@routes.get("/auth/me")
@requires("priv_visitor")
async def whoami(request: web.Request) -> web.Response:
    """The calling key's own description."""
    return json_response(key_view(request[API_KEY]))
