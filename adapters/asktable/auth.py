"""/v1/auth: who the calling key is (AuthMeResponse) and short-lived tokens (create_token)."""
from __future__ import annotations

from datetime import timezone

from aiohttp import web
from pydantic import Field

from tabletalk.adapters.asktable.wire import AK_ROLES, PROJECT_ID, PROJECT_NAME, SCOPE_ROLES, Body, key_of
from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import json_response, parse_body, requires
from tabletalk.core.errors import Invalid

routes = web.RouteTableDef()


def me_view(key) -> dict:
    chat_role = {"role_id": key.role_id, "role_variables": key.role_variables or {}} if key.role_id else None
    expires = key.expires_at
    if expires is not None and expires.tzinfo is None:  # SQLite hands UTC back without a zone
        expires = expires.replace(tzinfo=timezone.utc)
    return {"ak_role": SCOPE_ROLES[key.scope], "ak_id": key.id, "project_id": PROJECT_ID, "project_name": PROJECT_NAME,
            "chat_role": chat_role, "exp": int(expires.timestamp()) if expires else None, "locked": False,
            "user_profile": key.user_profile or None}


@routes.get("/auth/me")
@requires("priv_visitor")
async def me(request: web.Request) -> web.Response:
    """The calling key: its AskTable role, the project, and the chat role a token carries."""
    return json_response(me_view(key_of(request)))


class ChatRole(Body):
    role_id: str | None = None
    role_variables: dict | None = None


class TokenCreate(Body):
    ak_role: str = "asker"
    chat_role: ChatRole | None = None
    token_ttl: int | None = Field(None, ge=1)
    user_profile: dict | None = None


@routes.post("/auth/tokens")
@requires("priv_admin", body=TokenCreate)
async def create_token(request: web.Request) -> web.Response:
    """A token for one end user: expiring, and bound to chat_role's role and variables, which then
    scope every question asked with it."""
    body = await parse_body(request, TokenCreate)
    if body.ak_role not in AK_ROLES:
        raise Invalid(f"TableTalk cannot serve ak_role '{body.ak_role}'; use one of: {', '.join(AK_ROLES)}.")
    keys = core_of(request).keys
    role = body.chat_role or ChatRole()
    ttl = {"ttl": body.token_ttl} if body.token_ttl else {}
    key, secret = await keys.create_token(scope=AK_ROLES[body.ak_role], role_id=role.role_id,
                                                           role_variables=role.role_variables or {},
                                                           user_profile=body.user_profile or {}, **ttl)
    return json_response({**me_view(key), "token": secret})
