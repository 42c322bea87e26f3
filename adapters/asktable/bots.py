"""/v1/bots in AskTable's Chatbot shape: the server makes the id; `webhooks` lists the bot's inbound
webhook URLs. Settings TableTalk has no counterpart for are refused by name."""
from __future__ import annotations

import secrets

from aiohttp import web
from pydantic import Field

from tabletalk.adapters.asktable.wire import Body, key_of, refuse_unserved, sliced, stamped
from tabletalk.adapters.rest.app import DISPATCHER
from tabletalk.adapters.rest.http import Paging, json_response, no_content, parse_body, parse_query, requires
from tabletalk.bot.config import BotConfig, BotPatch
from tabletalk.core.errors import Invalid, NotFound, Unprocessable
from tabletalk.core.store.models import Bot, iso

routes = web.RouteTableDef()
UNSERVED = ("avatar_url", "color_theme", "debug", "extapi_ids", "interaction_rules", "magic_input", "publish",
            "query_balance")
WHY = "TableTalk bots have datasources, a welcome message, sample questions and a row limit; chat channels and " \
      "access rules are set on /api/v1/bots."


def webhooks(bot: Bot) -> list[str]:
    return [f"/webhooks/{p}/{bot.id}" for p, c in bot.channels.items() if c]


def bot_out(bot: Bot) -> dict:
    return stamped({"id": bot.id, "name": bot.name, "datasource_ids": bot.datasource_ids, "max_rows": bot.max_rows,
                    "sample_questions": bot.sample_questions, "welcome_message": bot.welcome_message,
                    "webhooks": webhooks(bot), "debug": False, "publish": False, "extapi_ids": [],
                    "interaction_rules": [], "created_at": iso(bot.created_at), "modified_at": iso(bot.modified_at)})


class BotFields(Body):
    avatar_url: str | None = None
    color_theme: str | None = None
    debug: bool | None = None
    extapi_ids: list[str] | None = None
    interaction_rules: list[dict] | None = None
    magic_input: str | None = None
    publish: bool | None = None
    query_balance: int | None = None
    max_rows: int | None = Field(None, ge=1, le=10_000)
    sample_questions: list[str] | None = None
    webhooks: list[str] | None = None
    welcome_message: str | None = None


class BotCreate(BotFields):
    datasource_ids: list[str] = Field(min_length=1)
    name: str = Field(min_length=1)


class BotUpdate(BotFields):
    datasource_ids: list[str] | None = Field(None, min_length=1)
    name: str | None = Field(None, min_length=1)


class BotQuery(Paging):
    name: str | None = None


def _check(body: BotFields, current: list[str]) -> None:
    refuse_unserved(body, UNSERVED, WHY)
    if body.webhooks is not None and body.webhooks != current:
        raise Unprocessable(f"TableTalk cannot serve 'webhooks': a bot's webhooks are its inbound URLs ({current or 'none'}), "
                            "made by adding Slack, Telegram or Feishu channels on /api/v1/bots.")


async def _visible(request: web.Request, bot_id: str) -> Bot:
    key = key_of(request)
    if key.scope == "priv_visitor" and bot_id not in key.bot_ids:
        raise NotFound(f"Bot '{bot_id}' does not exist.")
    return await request.app[DISPATCHER].bots.get_row(bot_id)


@routes.post("/bots")
@requires("priv_admin", body=BotCreate)
async def create(request: web.Request) -> web.Response:
    body = await parse_body(request, BotCreate)
    _check(body, [])
    fields = body.model_dump(include={"name", "datasource_ids", "max_rows", "sample_questions", "welcome_message"},
                             exclude_none=True)
    bot = await request.app[DISPATCHER].bots.create(BotConfig(id=f"bot_{secrets.token_hex(6)}", **fields))
    return json_response(bot_out(bot))


@routes.get("/bots")
@requires("priv_visitor", query=BotQuery)
async def list_(request: web.Request) -> web.Response:
    q = parse_query(request, BotQuery)
    key = key_of(request)
    ids = request.query.getall("bot_ids", [])
    bots = await request.app[DISPATCHER].bots.list(key.bot_ids if key.scope == "priv_visitor" else None)
    bots = [b for b in bots if (not ids or b.id in ids) and (not q.name or q.name.lower() in b.name.lower())]
    return json_response(sliced([bot_out(b) for b in bots], q))


@routes.get("/bots/{bot_id}")
@requires("priv_visitor")
async def retrieve(request: web.Request) -> web.Response:
    return json_response(bot_out(await _visible(request, request.match_info["bot_id"])))


@routes.patch("/bots/{bot_id}")
@requires("priv_admin", body=BotUpdate)
async def update(request: web.Request) -> web.Response:
    body = await parse_body(request, BotUpdate)
    bots = request.app[DISPATCHER].bots
    bot = await bots.get_row(request.match_info["bot_id"])
    _check(body, webhooks(bot))
    patch = BotPatch(**body.model_dump(include={"name", "datasource_ids", "max_rows", "sample_questions",
                                                "welcome_message"}, exclude_none=True))
    return json_response(bot_out(await bots.update(bot.id, patch)))


@routes.delete("/bots/{bot_id}")
@requires("priv_admin")
async def delete(request: web.Request) -> web.Response:
    await request.app[DISPATCHER].bots.delete(request.match_info["bot_id"])
    return no_content()


@routes.post("/bots/{bot_id}/invite")
@requires("priv_admin")
async def invite(request: web.Request) -> web.Response:
    await request.app[DISPATCHER].bots.get_row(request.match_info["bot_id"])
    raise Invalid("TableTalk has one project per installation, so a bot cannot be invited into another project.")
