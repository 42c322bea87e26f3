"""/chats: multi-turn conversations over REST, answered by the same dispatcher as the chat platforms."""
from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.delivery import deliveries
from tabletalk.adapters.rest.app import DISPATCHER, core_of
from tabletalk.adapters.rest.http import (API_KEY, EventStream, Paging, dumps, json_response, no_content, page_of,
                                          parse_body, parse_query, requires)
from tabletalk.bot.chats import chat_view
from tabletalk.bot.messages import IncomingMessage, Reply
from tabletalk.core.errors import Forbidden, NotFound, TableTalkError, Unprocessable
from tabletalk.core.policy.principal import Principal
from tabletalk.core.store.models import iso, utcnow

routes = web.RouteTableDef()


class ChatCreate(BaseModel):
    bot_id: str | None = Field(None, min_length=1)
    datasource_id: str | None = Field(None, min_length=1)  # a chat on one datasource, without a bot
    role_id: str | None = None  # admin keys only: answer as this role would be answered
    role_variables: dict = Field(default_factory=dict)


class MessageCreate(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    stream: bool = False


async def chat_for(request: web.Request):
    """The chat in the URL, if this key may use it: administrators any, everyone else only the chats
    they created (visitors: of their bots). Platform conversations have no owner key: admin-only."""
    key = request[API_KEY]
    chat = await request.app[DISPATCHER].chats.get(request.match_info["chat_id"])
    if key.scope != "priv_admin" and (chat.owner_key_id != key.id or
                                      (key.scope == "priv_visitor" and chat.bot_id not in key.bot_ids)):
        raise NotFound(f"Chat '{chat.id}' does not exist.")
    return chat


@routes.post("/chats")
@requires("priv_visitor", body=ChatCreate)
async def create_chat(request: web.Request) -> web.Response:
    """Start a conversation with a bot, or on one datasource (`datasource_id`); admins may fix its role."""
    body = await parse_body(request, ChatCreate)
    chat = await open_chat(request, body.bot_id, body.datasource_id, body.role_id, body.role_variables)
    return json_response(chat_view(chat), status=201)


async def open_chat(request: web.Request, bot_id: str | None, datasource_id: str | None, role_id: str | None,
                    role_variables: dict, name: str = ""):
    """Who may open which chat (shared by /api/v1 and /v1): visitors only with their bots, and only
    an admin key may choose the role a chat is answered as."""
    key = request[API_KEY]
    dispatcher = request.app[DISPATCHER]
    if (bot_id is None) == (datasource_id is None):
        raise Unprocessable("Invalid request: give exactly one of 'bot_id' or 'datasource_id'.")
    if bot_id is not None:
        await dispatcher.bots.get_row(bot_id)
        if key.scope == "priv_visitor" and bot_id not in key.bot_ids:
            raise Forbidden(f"This API key may not use bot '{bot_id}'.")
    else:
        if key.scope == "priv_visitor":
            raise Forbidden("A visitor key may only chat with its bots; give 'bot_id'.")
        await core_of(request).datasources.get(datasource_id)
    if role_id is not None or role_variables:
        if key.scope != "priv_admin":
            raise Forbidden("Only an admin key may choose the role a chat is answered as.")
        if role_id is None:
            raise Unprocessable("Invalid request: 'role_variables' needs a 'role_id'.")
        role_id = (await core_of(request).policies.get_role(role_id)).id
    return await dispatcher.chats.create(bot_id or "", owner_key_id=key.id, user_id=key.id, datasource_id=datasource_id,
                                         role_id=role_id, role_variables=role_variables, name=name)


@routes.get("/chats")
@requires("priv_visitor", query=Paging)
async def list_chats(request: web.Request) -> web.Response:
    """List conversations, paged (administrators see all; anyone else the chats they created)."""
    q = parse_query(request, Paging)
    items, total = await visible_chats(request, q)
    return json_response(page_of([chat_view(c) for c in items], total, q))


async def visible_chats(request: web.Request, q: Paging):
    """The chats this key may list, paged (shared by /api/v1 and /v1)."""
    key = request[API_KEY]
    admin = key.scope == "priv_admin"
    return await request.app[DISPATCHER].chats.list(page=q.page, size=q.size,
                                                    bot_ids=key.bot_ids if key.scope == "priv_visitor" else None,
                                                    owner_key_id=None if admin else key.id)


@routes.get("/chats/{chat_id}")
@requires("priv_visitor")
async def get_chat(request: web.Request) -> web.Response:
    """A conversation with its messages."""
    chat = await chat_for(request)
    return json_response(chat_view(chat, await request.app[DISPATCHER].chats.messages(chat.id)))


@routes.delete("/chats/{chat_id}")
@requires("priv_visitor")
async def delete_chat(request: web.Request) -> web.Response:
    """Delete a conversation and its messages."""
    chat = await chat_for(request)
    await request.app[DISPATCHER].chats.delete(chat.id)
    return no_content()


def _reply_body(chat_id: str, reply: Reply) -> dict:
    content = {"text": reply.text, "sql": reply.sql, "dataframe": reply.dataframe, "chart": reply.chart}
    if reply.suggestions:
        content["suggestions"] = reply.suggestions
    if reply.interpretation:
        content["interpretation"] = reply.interpretation
    if reply.error:
        content["error"] = reply.error
    return {"id": reply.message_id, "chat_id": chat_id, "role": "assistant", "content": content,
            "status": "failed" if reply.error else "success", "created_at": iso(utcnow())}


@routes.post("/chats/{chat_id}/messages")
@requires("priv_visitor", body=MessageCreate)
async def post_message(request: web.Request) -> web.StreamResponse:
    """Ask in a conversation; `stream: true` (or Accept: text/event-stream) answers as SSE."""
    body = await parse_body(request, MessageCreate)
    chat = await chat_for(request)
    if not (body.stream or "text/event-stream" in request.headers.get("Accept", "")):
        reply = await ask_in_chat(request, chat, body.question)
        return json_response(_reply_body(chat.id, reply))

    stream = await EventStream.open(request)

    async def send(event: str, payload: dict) -> None:
        await stream.write(f"event: {event}\ndata: {dumps(payload)}\n\n")

    # The question is answered and stored even if the client leaves, and even if this handler is cancelled.
    work = deliveries(request.app).keep(ask_in_chat(request, chat, body.question, events=send))
    try:
        reply = await asyncio.shield(work)
    except TableTalkError as exc:  # headers are sent: the error travels as an event
        await send("error", {"detail": exc.detail})
    else:
        await send("message", _reply_body(chat.id, reply))
        await send("done", {"message_id": reply.message_id})
    return await stream.close()


async def ask_in_chat(request: web.Request, chat, question: str, events=None) -> Reply:
    """One question in a chat, asked by the request's key (shared by /api/v1 and /v1)."""
    key = request[API_KEY]
    msg = IncomingMessage(bot_id=chat.bot_id, platform="rest", user=key.id, user_name=key.name or None,
                          chat=chat.id, text=question, is_admin=key.scope == "priv_admin",
                          principal=Principal.of_key(key))
    return await request.app[DISPATCHER].handle(msg, chat=chat, events=events)
