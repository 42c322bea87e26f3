"""/bots: bot CRUD (file-defined bots are read-only here)."""
from __future__ import annotations

from aiohttp import web

from tabletalk.adapters.rest.app import DISPATCHER
from tabletalk.adapters.rest.http import API_KEY, Paging, json_response, no_content, paged, parse_body, parse_query, requires
from tabletalk.bot.config import BotConfig, BotPatch
from tabletalk.bot.service import bot_view, public_bot_view
from tabletalk.core.errors import NotFound

routes = web.RouteTableDef()


def _allowed(request: web.Request) -> list[str] | None:
    key = request[API_KEY]
    return key.bot_ids if key.scope == "priv_visitor" else None


def _view(request: web.Request):
    """Administrators see the whole bot (secrets masked); other keys its name, welcome and samples."""
    return bot_view if request[API_KEY].scope == "priv_admin" else public_bot_view


@routes.post("/bots")
@requires("priv_admin", body=BotConfig)
async def create_bot(request: web.Request) -> web.Response:
    """Create a bot."""
    cfg = await parse_body(request, BotConfig)
    bot = await request.app[DISPATCHER].bots.create(cfg)
    return json_response(bot_view(bot), status=201)


@routes.get("/bots")
@requires("priv_visitor", query=Paging)
async def list_bots(request: web.Request) -> web.Response:
    """List bots, paged (a visitor key sees only its bots; non-admins never see access rules)."""
    q = parse_query(request, Paging)
    bots = await request.app[DISPATCHER].bots.list(_allowed(request))
    view = _view(request)
    return json_response(paged([view(b) for b in bots], q))


@routes.get("/bots/{bot_id}")
@requires("priv_visitor")
async def get_bot(request: web.Request) -> web.Response:
    """One bot (channel secrets masked; non-admins see name, welcome and sample questions)."""
    bot_id = request.match_info["bot_id"]
    allowed = _allowed(request)
    if allowed is not None and bot_id not in allowed:
        raise NotFound(f"Bot '{bot_id}' does not exist.")
    return json_response(_view(request)(await request.app[DISPATCHER].bots.get_row(bot_id)))


@routes.patch("/bots/{bot_id}")
@requires("priv_admin", body=BotPatch)
async def patch_bot(request: web.Request) -> web.Response:
    """Change a bot (409 for bots defined in a YAML file)."""
    patch = await parse_body(request, BotPatch)
    bot = await request.app[DISPATCHER].bots.update(request.match_info["bot_id"], patch)
    return json_response(bot_view(bot))


@routes.delete("/bots/{bot_id}")
@requires("priv_admin")
async def delete_bot(request: web.Request) -> web.Response:
    """Delete a bot (409 for bots defined in a YAML file)."""
    await request.app[DISPATCHER].bots.delete(request.match_info["bot_id"])
    return no_content()
