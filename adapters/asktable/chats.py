"""/v1/chats and their messages in AskTable's shapes (messages are `human` / `ai`; the question
travels as ?question=). Opening, listing and answering are /api/v1's own functions."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.asktable.wire import Body, refuse_unserved, page, sliced, stamped
from tabletalk.adapters.rest.app import DISPATCHER, core_of
from tabletalk.adapters.rest.chats import ask_in_chat, chat_for, open_chat, visible_chats
from tabletalk.adapters.rest.http import Paging, json_response, no_content, parse_body, parse_query, requires
from tabletalk.core.errors import NotFound, Unprocessable
from tabletalk.core.store.models import Chat, Message, iso

routes = web.RouteTableDef()


def chat_out(chat: Chat) -> dict:
    return stamped({"id": chat.id, "created_at": iso(chat.created_at), "modified_at": iso(chat.modified_at),
                    "status": "active" if chat.status == "active" else "error", "bot_id": chat.bot_id or None,
                    "datasource_id": chat.datasource_id, "name": chat.name or None, "role_id": chat.role_id,
                    "role_variables": chat.role_variables or None, "user_profile": None})


def message_out(m: Message) -> dict:
    content = m.content or {}
    if m.role == "human":
        return {"id": m.id, "role": "human", "content": {"text": content.get("text", "")}, "created_at": iso(m.created_at)}
    frame = content.get("dataframe")
    return {"id": m.id, "role": "ai", "created_at": iso(m.created_at), "status": m.status, "end_turn": True,
            "reply_to_msg_id": content.get("in_reply_to"),
            "content": {"text": content.get("text", ""), "attachments": [{"type": "json", "info": frame}] if frame else None},
            "metadata": {"sql": content.get("sql"), "chart": content.get("chart"), "error": content.get("error")}}


class ChatCreate(Body):
    bot_id: str | None = Field(None, min_length=1)
    name: str | None = None
    role_id: str | None = None
    role_variables: dict | None = None
    user_profile: dict | None = None
    datasource_id: str | None = Field(None, min_length=1)  # TableTalk's own: a chat on one datasource, no bot


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=4000)


@routes.post("/chats")
@requires("priv_visitor", body=ChatCreate)
async def create(request: web.Request) -> web.Response:
    """A chat with a bot, or without one on the datasource (the only one, or `datasource_id`)."""
    body = await parse_body(request, ChatCreate)
    refuse_unserved(body, ("user_profile",), "a user profile belongs to a token (auth.create_token).")
    ds_id = body.datasource_id
    if body.bot_id is None and ds_id is None:
        items, total = await core_of(request).datasources.list(size=2)
        if total != 1:
            raise Unprocessable(f"A chat without bot_id needs a datasource: there are {total}; send "
                                "extra_body={'datasource_id': ...} (TableTalk's own field) or use a bot.")
        ds_id = items[0].id
    chat = await open_chat(request, body.bot_id, ds_id, body.role_id, body.role_variables or {}, name=body.name or "")
    return json_response(chat_out(chat))


@routes.get("/chats")
@requires("priv_visitor", query=Paging)
async def list_(request: web.Request) -> web.Response:
    q = parse_query(request, Paging)
    items, total = await visible_chats(request, q)
    return json_response(page([chat_out(c) for c in items], total, q))


@routes.get("/chats/{chat_id}")
@requires("priv_visitor")
async def retrieve(request: web.Request) -> web.Response:
    chat = await chat_for(request)
    dispatcher = request.app[DISPATCHER]
    bot = await (dispatcher.bots.for_datasource(chat.datasource_id) if chat.datasource_id else dispatcher.bot(chat.bot_id))
    return json_response({**chat_out(chat), "datasource_ids": bot.datasource_ids, "sample_questions": bot.sample_questions,
                          "welcome_message": bot.welcome_message})


@routes.delete("/chats/{chat_id}")
@requires("priv_visitor")
async def delete(request: web.Request) -> web.Response:
    chat = await chat_for(request)
    await request.app[DISPATCHER].chats.delete(chat.id)
    return no_content()


@routes.post("/chats/{chat_id}/messages")
@requires("priv_visitor", query=Question)
async def create_message(request: web.Request) -> web.Response:
    """Ask in the chat; the reply is the AI message."""
    q = parse_query(request, Question)
    chat = await chat_for(request)
    reply = await ask_in_chat(request, chat, q.question)
    stored = next((m for m in await request.app[DISPATCHER].chats.messages(chat.id) if m.id == reply.message_id), None)
    if stored is not None:
        return json_response(message_out(stored))
    return json_response({"id": None, "role": "ai", "content": {"text": reply.text}, "end_turn": True,
                          "status": "failed" if reply.error else "done", "metadata": {"sql": reply.sql}})


@routes.get("/chats/{chat_id}/messages")
@requires("priv_visitor", query=Paging)
async def list_messages(request: web.Request) -> web.Response:
    q = parse_query(request, Paging)
    chat = await chat_for(request)
    return json_response(sliced([message_out(m) for m in await request.app[DISPATCHER].chats.messages(chat.id)], q))


@routes.get("/chats/{chat_id}/messages/{message_id}")
@requires("priv_visitor")
async def retrieve_message(request: web.Request) -> web.Response:
    chat = await chat_for(request)
    mid = request.match_info["message_id"]
    found = next((m for m in await request.app[DISPATCHER].chats.messages(chat.id) if m.id == mid), None)
    if found is None:
        raise NotFound(f"Message '{mid}' is not in chat '{chat.id}'.")
    return json_response(message_out(found))
