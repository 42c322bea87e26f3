"""/v1/auth: who the calling key is (AuthMeResponse) and short-lived tokens (create_token)."""
from __future__ import annotations

from aiohttp import web

from tabletalk.adapters.asktable.wire import PROJECT_ID, PROJECT_NAME, SCOPE_ROLES, key_of
from tabletalk.adapters.rest.http import json_response, requires

routes = web.RouteTableDef()


def me_view(key) -> dict:
    role = getattr(key, "role_id", None)
    chat_role = {"role_id": role, "role_variables": getattr(key, "role_variables", None) or {}} if role else None
    expires = getattr(key, "expires_at", None)
    return {"ak_role": SCOPE_ROLES[key.scope], "ak_id": key.id, "project_id": PROJECT_ID, "project_name": PROJECT_NAME,
            "chat_role": chat_role, "exp": int(expires.timestamp()) if expires else None, "locked": False,
            "user_profile": getattr(key, "user_profile", None)}


@routes.get("/auth/me")
@requires("priv_visitor")
async def me(request: web.Request) -> web.Response:
    """The calling key: its AskTable role, the project, and the chat role a token carries."""
    return json_response(me_view(key_of(request)))
