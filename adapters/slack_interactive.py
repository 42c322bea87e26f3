"""Slack's form-encoded doors: the slash command (`/tabletalk <question>`, name configurable per bot)
and interactivity payloads (the buttons TableTalk puts under an answer: "Show SQL", "Download CSV").

Both are acknowledged at once (Slack allows 3 s); the work follows in the background, its answer
posted to the interaction's `response_url` — in the channel, or only to the asker when the answer
was shaped by their row filter and the bot's group privacy says so.
"""
from __future__ import annotations

import logging

from aiohttp import web

from tabletalk.adapters.delivery import deliveries, parse_json
from tabletalk.adapters.rest.http import json_response
from tabletalk.adapters.slack_client import (FRIENDLY_ERROR, attachments, caller, checked_response_url, client_for,
                                             csv_text, respond)
from tabletalk.adapters.slack_message import plain
from tabletalk.adapters.slack_render import DOWNLOAD_CSV, SHOW_SQL, render, sql_block
from tabletalk.bot.dispatcher import SHORT_HELP
from tabletalk.bot.messages import IncomingMessage
from tabletalk.core.errors import Forbidden, Invalid, NotFound

log = logging.getLogger("tabletalk.slack")


def _ephemeral(text: str) -> web.Response:
    return json_response({"response_type": "ephemeral", "text": text})


async def handle_form(app: web.Application, dispatcher, bot, form: dict) -> web.Response:
    if "payload" in form:
        return await _interaction(app, dispatcher, bot, form["payload"])
    if "command" in form:
        return await _slash_command(app, dispatcher, bot, form)
    raise Invalid("A Slack form must be a slash command ('command') or an interactivity payload ('payload').")


# --- /tabletalk <question> ----------------------------------------------------------------------
async def _slash_command(app: web.Application, dispatcher, bot, form: dict) -> web.Response:
    channel = bot.channels.slack
    name = channel.slash_command
    if form["command"].lower() != name.lower():
        return _ephemeral(f"This app answers {name} followed by a question, e.g. `{name} how many orders are there?`.")
    question = plain(form.get("text", ""))
    if not question or question.lower() in ("help", "/help"):
        return _ephemeral(f"{SHORT_HELP}\nAsk with `{name} <question>`, e.g. `{name} how many orders are there?`.")
    user, chat = form.get("user_id"), form.get("channel_id")
    if not user or not chat:
        raise Invalid("A slash command needs 'user_id' and 'channel_id'.")
    url = checked_response_url(channel, form.get("response_url"))
    trigger = form.get("trigger_id") or ""
    msg = IncomingMessage(bot_id=bot.id, platform="slack", user=user, chat=chat, text=question, thread=None,
                          event_id=f"command:{trigger}", is_group=not chat.startswith("D"), user_name=form.get("user_name"))
    first = (lambda: dispatcher.first_delivery("slack", bot.id, msg.event_id)) if trigger else None
    deliveries(app).start(bot.id, _answer_command(dispatcher, bot, msg, url), label=f"slack:{msg.event_id}", first=first)
    return _ephemeral("Working on it…")


async def _answer_command(dispatcher, bot, msg: IncomingMessage, url: str) -> None:
    try:
        reply = await dispatcher.handle(msg)
    except Exception:
        log.exception("answering Slack command %s failed", msg.event_id)
        await respond(url, response_type="ephemeral", text=FRIENDLY_ERROR)
        return
    if reply.silent:  # the asker called the bot by name: tell them what it can do, only them
        await respond(url, response_type="ephemeral", text=SHORT_HELP)
        return
    text, blocks = render(reply)
    client, call = client_for(bot.channels.slack), caller()
    if reply.private and msg.is_group and bot.group_privacy != "thread":
        if bot.group_privacy in ("private", "ephemeral"):
            await respond(url, response_type="ephemeral", text=text, blocks=blocks)
            return
        opened = await call(client.conversations_open, users=msg.user)
        await call(client.chat_postMessage, channel=opened["channel"]["id"], text=text, blocks=blocks)
        await respond(url, response_type="ephemeral", text="I sent you the answer privately.")
        await attachments(call, client, opened["channel"]["id"], None, reply)
        return
    await respond(url, response_type="in_channel", text=text, blocks=blocks)
    try:
        await attachments(call, client, msg.chat, None, reply)
    except Exception as exc:  # e.g. not_in_channel: the answer itself was delivered
        log.warning("uploading a Slack command's chart/CSV failed: %s", type(exc).__name__)


# --- buttons ------------------------------------------------------------------------------------
async def _interaction(app: web.Application, dispatcher, bot, raw: str) -> web.Response:
    payload = parse_json(raw.encode())
    if not isinstance(payload, dict):
        raise Invalid("'payload' must be a JSON object.")
    if payload.get("type") != "block_actions":
        return web.Response(status=200)  # shortcuts, views: nothing of ours
    actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
    ours = [a for a in actions if isinstance(a, dict) and a.get("action_id") in (SHOW_SQL, DOWNLOAD_CSV)]
    user = (payload.get("user") or {}).get("id") if isinstance(payload.get("user"), dict) else None
    if ours and isinstance(user, str) and isinstance(ours[0].get("value"), str):
        url = checked_response_url(bot.channels.slack, payload.get("response_url"))
        deliveries(app).start(bot.id, _button(dispatcher, bot, ours[0], user, url), label=f"slack:action:{user}")
    return web.Response(status=200)


async def _button(dispatcher, bot, action: dict, user: str, url: str) -> None:
    try:
        stored = await dispatcher.stored_answer(bot.id, action["value"], user)
    except (Forbidden, NotFound) as exc:
        await respond(url, response_type="ephemeral", replace_original=False, text=exc.detail)
        return
    if action["action_id"] == SHOW_SQL:
        sql = stored.sql or "This answer did not come from a query."
        await respond(url, response_type="ephemeral", replace_original=False, text=f"SQL: {sql}",
                      blocks=[sql_block(sql)] if stored.sql else None)
        return
    if not stored.dataframe or not stored.dataframe.get("columns"):
        await respond(url, response_type="ephemeral", replace_original=False, text="This answer has no table to download.")
        return
    # The file goes to the asker's DM: the answer may have been shown to them alone.
    client, call = client_for(bot.channels.slack), caller()
    opened = await call(client.conversations_open, users=user)
    await call(client.files_upload_v2, channel=opened["channel"]["id"], content=csv_text(stored.dataframe),
               filename="result.csv", title="Result")
    await respond(url, response_type="ephemeral", replace_original=False, text="I sent you result.csv in a direct message.")
