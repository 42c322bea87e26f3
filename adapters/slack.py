"""Slack Events API webhook: verify the v0 signature, turn the event into an IncomingMessage, answer
in the thread through slack_sdk's AsyncWebClient (pointed at `api_base_url` when set).

slack-bolt's AsyncApp is not used: a bot here is configured per request (many bots, one route
with the bot id in the URL), and the dispatcher owns deduplication and ordering; slack_sdk's
SignatureVerifier and AsyncWebClient are the parts of Bolt's stack this needs.
"""
from __future__ import annotations

import asyncio
import csv
import io

import logging
import re

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tabletalk.adapters.delivery import deliveries, with_retries
from tabletalk.adapters.rest.app import DISPATCHER
from tabletalk.adapters.rest.http import json_response, public, read_json
from tabletalk.adapters.slack_render import needs_csv, render
from tabletalk.bot.messages import IncomingMessage, Reply
from tabletalk.core.errors import NotFound, Unauthorized

log = logging.getLogger("tabletalk.slack")
routes = web.RouteTableDef()
IGNORED_SUBTYPES = {"bot_message", "message_changed", "message_deleted", "channel_join", "channel_leave",
                    "thread_broadcast", "message_replied"}
FRIENDLY_ERROR = "Sorry, something went wrong while answering. Please try again in a moment."


def _classify(exc: Exception) -> float | None:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429:
            return float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
        return 0.0 if status >= 500 else None
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
        return 0.0
    return None


def to_incoming(bot_id: str, event: dict, event_id: str) -> IncomingMessage | None:
    """The neutral message for an app_mention in a channel or a message in a DM; None to ignore."""
    kind = event.get("type")
    if event.get("bot_id") or event.get("subtype") in IGNORED_SUBTYPES or not event.get("user"):
        return None
    if kind == "app_mention":
        is_group = True
    elif kind == "message" and event.get("channel_type") == "im" and not event.get("subtype"):
        is_group = False
    else:
        return None
    text = re.sub(r"<@[A-Z0-9]+>", "", event.get("text", "")).strip()
    if not text:
        return None
    return IncomingMessage(bot_id=bot_id, platform="slack", user=event["user"], chat=event["channel"], text=text,
                           thread=event.get("thread_ts") or event.get("ts"), event_id=event_id, is_group=is_group)


@routes.post("/webhooks/slack/{bot_id}")
@public
async def slack_events(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    bot = await dispatcher.bot(request.match_info["bot_id"])
    channel = bot.channels.slack
    if channel is None:
        raise NotFound(f"Bot '{bot.id}' has no Slack channel configured.")
    body = await request.read()
    verifier = SignatureVerifier(channel.signing_secret)
    if not verifier.is_valid(body, request.headers.get("X-Slack-Request-Timestamp"), request.headers.get("X-Slack-Signature")):
        raise Unauthorized("Invalid Slack signature or a timestamp older than five minutes.")
    payload = await read_json(request)
    if payload.get("type") == "url_verification":
        return json_response({"challenge": payload.get("challenge")})
    if payload.get("type") == "event_callback":
        event_id = str(payload.get("event_id") or "")
        msg = to_incoming(bot.id, payload.get("event") or {}, event_id)
        if msg is not None and event_id and await dispatcher.first_delivery("slack", bot.id, event_id):
            deliveries(request.app).start(bot.id, answer(dispatcher, bot, msg), label=f"slack:{event_id}")
    return json_response({"ok": True})


def client_for(channel) -> AsyncWebClient:
    base = channel.api_base_url or AsyncWebClient.BASE_URL
    return AsyncWebClient(token=channel.bot_token, base_url=base if base.endswith("/") else base + "/")


async def answer(dispatcher, bot, msg: IncomingMessage) -> None:
    client = client_for(bot.channels.slack)
    call = lambda fn, **kw: with_retries(lambda: fn(**kw), _classify, what=f"slack {fn.__name__}")  # noqa: E731
    progress = await call(client.chat_postMessage, channel=msg.chat, thread_ts=msg.thread, text="Working on it…")
    progress_ts = progress["ts"]
    try:
        reply = await dispatcher.handle(msg)
    except Exception:
        log.exception("answering Slack event %s failed", msg.event_id)
        await call(client.chat_update, channel=msg.chat, ts=progress_ts, text=FRIENDLY_ERROR)
        return
    text, blocks = render(reply)
    if reply.private and msg.is_group and bot.group_privacy != "thread":
        # Rows computed under this user's filter must not show in a shared channel.
        await call(client.chat_update, channel=msg.chat, ts=progress_ts, text="I sent you the answer privately.")
        if bot.group_privacy in ("private", "ephemeral"):
            await call(client.chat_postEphemeral, channel=msg.chat, user=msg.user, thread_ts=msg.thread, text=text, blocks=blocks)
            return
        opened = await call(client.conversations_open, users=msg.user)
        target, thread = opened["channel"]["id"], None
        await call(client.chat_postMessage, channel=target, text=text, blocks=blocks)
    else:
        target, thread = msg.chat, msg.thread
        await call(client.chat_update, channel=msg.chat, ts=progress_ts, text=text, blocks=blocks)
    await _attachments(call, client, target, thread, reply)


async def _attachments(call, client: AsyncWebClient, channel: str, thread: str | None, reply: Reply) -> None:
    if reply.chart_png:
        await call(client.files_upload_v2, channel=channel, thread_ts=thread, file=reply.chart_png,
                   filename="chart.png", title="Chart")
    if needs_csv(reply):
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(reply.dataframe["columns"])
        writer.writerows(reply.dataframe["data"])
        await call(client.files_upload_v2, channel=channel, thread_ts=thread, content=buf.getvalue(),
                   filename="result.csv", title="Full result")



