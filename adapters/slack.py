"""Slack webhook: verify the v0 signature, turn Events API events (JSON), slash commands and
interactivity payloads (forms) into IncomingMessages, answer through slack_sdk's AsyncWebClient.

slack-bolt's AsyncApp is not used: a bot here is configured per request (many bots, one route
with the bot id in the URL), and the dispatcher owns deduplication and ordering; slack_sdk's
SignatureVerifier and AsyncWebClient are the parts of Bolt's stack this needs.
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qs

from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from tabletalk.adapters import slack_interactive
from tabletalk.adapters.delivery import deliveries, identity, learn_identity, parse_json, peek_identity
from tabletalk.adapters.rest.app import DISPATCHER
from tabletalk.adapters.rest.http import json_response, public
from tabletalk.adapters.slack_client import FRIENDLY_ERROR, attachments, caller, client_for
from tabletalk.adapters.slack_message import needs_identity, to_incoming
from tabletalk.adapters.slack_render import render
from tabletalk.bot.messages import IncomingMessage
from tabletalk.core.errors import Invalid, NotFound, Unauthorized

log = logging.getLogger("tabletalk.slack")
routes = web.RouteTableDef()
FORM = "application/x-www-form-urlencoded"


def _verify(channel, request: web.Request, body: bytes) -> None:
    timestamp, signature = request.headers.get("X-Slack-Request-Timestamp", ""), request.headers.get("X-Slack-Signature")
    if not timestamp.isdigit() or len(timestamp) > 12:  # SignatureVerifier would int() it
        raise Unauthorized("Missing or malformed X-Slack-Request-Timestamp.")
    if signature is not None and not signature.isascii():  # compare_digest refuses non-ASCII str
        raise Unauthorized("Invalid Slack signature.")
    if not SignatureVerifier(channel.signing_secret).is_valid(body, timestamp, signature):
        raise Unauthorized("Invalid Slack signature or a timestamp older than five minutes.")


@routes.post("/webhooks/slack/{bot_id}")
@public
async def slack_webhook(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    bot = await dispatcher.bot(request.match_info["bot_id"])
    channel = bot.channels.slack
    if channel is None:
        raise NotFound(f"Bot '{bot.id}' has no Slack channel configured.")
    body = await request.read()
    _verify(channel, request, body)
    if peek_identity(request.app, "slack", channel) is None:
        learn_identity(request.app, "slack", channel)  # in the background; never awaited here
    if request.content_type == FORM:
        try:
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), strict_parsing=False).items()}
        except UnicodeDecodeError:
            raise Invalid("The form body is not UTF-8.") from None
        return await slack_interactive.handle_form(request.app, dispatcher, bot, form)
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise Invalid("A Slack event body must be a JSON object.")
    if payload.get("type") == "url_verification":
        return json_response({"challenge": payload.get("challenge")})
    if payload.get("type") == "event_callback":
        event = payload.get("event")
        if not isinstance(event, dict):
            raise Invalid("'event' must be an object.")
        event_id = str(payload.get("event_id") or "")
        me = peek_identity(request.app, "slack", channel)
        if me is None and needs_identity(event):
            # A reply in some thread: whether the bot started it needs its user id, still being looked up.
            if event_id:
                deliveries(request.app).start(bot.id, _when_known(request.app, dispatcher, bot, event, event_id),
                                              label=f"slack:{event_id}", first=_first(dispatcher, bot, event_id))
            return json_response({"ok": True})
        msg = to_incoming(bot.id, event, event_id, me)
        if msg is not None and event_id:
            deliveries(request.app).start(bot.id, answer(dispatcher, bot, msg), label=f"slack:{event_id}",
                                          first=_first(dispatcher, bot, event_id))
    return json_response({"ok": True})


def _first(dispatcher, bot, event_id: str):
    """The dedup of an event, run after the ack (adapters/delivery.py)."""
    return lambda: dispatcher.first_delivery("slack", bot.id, event_id)


async def _when_known(app: web.Application, dispatcher, bot, event: dict, event_id: str) -> None:
    msg = to_incoming(bot.id, event, event_id, await identity(app, "slack", bot.channels.slack))
    if msg is not None:
        await answer(dispatcher, bot, msg)


async def answer(dispatcher, bot, msg: IncomingMessage) -> None:
    client, call = client_for(bot.channels.slack), caller()
    progress_ts = None

    async def show_progress(text: str) -> dict:  # only questions that take a while get one
        nonlocal progress_ts
        progress_ts = (await call(client.chat_postMessage, channel=msg.chat, thread_ts=msg.thread, text=text))["ts"]
        # Recorded with the question: an answer given after a restart updates this message.
        return {"progress_ts": progress_ts}

    try:
        reply = await dispatcher.handle(msg, progress=show_progress)
    except Exception:
        log.exception("answering Slack event %s failed", msg.event_id)
        await _say(client, call, msg, progress_ts, FRIENDLY_ERROR)
        return
    await _deliver(client, call, bot, msg, progress_ts, reply)


async def late_reply(bot, msg: IncomingMessage, ref: dict, reply) -> None:
    """An answer given after a restart: the same reply path, updating the progress message posted before."""
    await _deliver(client_for(bot.channels.slack), caller(), bot, msg, ref.get("progress_ts"), reply)


# chat.update errors after which the answer is posted as a new message instead (the progress message
# was deleted, or is too old to edit).
GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}


async def _say(client, call, msg: IncomingMessage, progress_ts: str | None, text: str, blocks: list | None = None) -> None:
    """Show text where the asker looks: in place of the progress message if there is one, else in the thread."""
    if progress_ts:
        try:
            await call(client.chat_update, channel=msg.chat, ts=progress_ts, text=text, blocks=blocks or [])
            return
        except SlackApiError as exc:
            if exc.response.get("error") not in GONE:
                raise
    await call(client.chat_postMessage, channel=msg.chat, thread_ts=msg.thread, text=text, blocks=blocks)


async def _deliver(client, call, bot, msg: IncomingMessage, progress_ts: str | None, reply) -> None:
    if reply.silent:
        return
    text, blocks = render(reply)
    if reply.private and msg.is_group and bot.group_privacy != "thread":
        # Rows computed under this user's filter must not show in a shared channel.
        await _say(client, call, msg, progress_ts, "I sent you the answer privately.")
        if bot.group_privacy in ("private", "ephemeral"):
            await call(client.chat_postEphemeral, channel=msg.chat, user=msg.user, thread_ts=msg.thread, text=text, blocks=blocks)
            return
        opened = await call(client.conversations_open, users=msg.user)
        target, thread = opened["channel"]["id"], None
        await call(client.chat_postMessage, channel=target, text=text, blocks=blocks)
    else:
        target, thread = msg.chat, msg.thread
        await _say(client, call, msg, progress_ts, text, blocks)
    await attachments(call, client, target, thread, reply)
