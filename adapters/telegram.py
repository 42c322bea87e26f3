"""Telegram webhook: check the secret-token header, turn Updates into IncomingMessages, answer with
python-telegram-bot's Bot (its base URL pointed at `api_base_url` when set, e.g. a local Bot API server)."""
from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import hmac
import io
import logging
import ssl

import httpx
from aiohttp import web
from telegram import Bot, InputFile
from telegram.constants import ChatAction, ParseMode
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from tabletalk.adapters.delivery import (deliveries, identity, identity_source, learn_identity, parse_json,
                                         peek_identity, with_retries)
from tabletalk.adapters.rest.app import DISPATCHER
from tabletalk.adapters.rest.http import json_response, public
from tabletalk.adapters.telegram_message import Me, message_of, needs_identity, to_incoming
from tabletalk.adapters.telegram_render import LIMITS, needs_csv, render
from tabletalk.bot.messages import IncomingMessage
from tabletalk.core.errors import NotFound, Unauthorized

log = logging.getLogger("tabletalk.telegram")
routes = web.RouteTableDef()
DEFAULT_API = "https://api.telegram.org"
FRIENDLY_ERROR = "Sorry, something went wrong while answering. Please try again in a moment."


def _classify(exc: Exception) -> float | None:
    if isinstance(exc, RetryAfter):
        ra = exc.retry_after
        return float(ra.total_seconds() if hasattr(ra, "total_seconds") else ra)
    if isinstance(exc, (TimedOut, NetworkError)):
        return 0.0
    return None


@functools.cache
def _tls() -> ssl.SSLContext:
    # httpx builds a fresh context for every client (~18 ms of CPU loading the CA bundle, on the
    # event loop, twice per answer); one verified context serves them all.
    return httpx.create_ssl_context()


@contextlib.asynccontextmanager
async def session(channel):
    """A python-telegram-bot Bot for a few calls. Not `async with Bot(...)`: its initialize() calls
    getMe every time (and names the token in the error when it is refused)."""
    api = (channel.api_base_url or DEFAULT_API).rstrip("/")
    tls = {"verify": _tls()}
    requests = (HTTPXRequest(httpx_kwargs=tls), HTTPXRequest(read_timeout=30, httpx_kwargs=tls))
    try:
        yield Bot(channel.token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot",
                  request=requests[0], get_updates_request=requests[1])
    finally:
        await asyncio.gather(*(r.shutdown() for r in requests))


def _account(channel) -> str:
    return f"telegram:{channel.token}"


async def _get_me(app: web.Application, channel) -> Me:
    async with session(channel) as tg:
        me = await tg.get_me()
        return Me(me.username, me.id)


identity_source("telegram", _account, _get_me)


def _me(app: web.Application, channel) -> Me:
    """What is known of this bot's account now: getMe's answer, else the configured bot_username."""
    return peek_identity(app, "telegram", channel) or Me(channel.bot_username, None)


@routes.post("/webhooks/telegram/{bot_id}")
@public
async def telegram_update(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    bot = await dispatcher.bot(request.match_info["bot_id"])
    channel = bot.channels.telegram
    if channel is None:
        raise NotFound(f"Bot '{bot.id}' has no Telegram channel configured.")
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token") or ""
    # No secret configured (a bot stored before it was required) means no webhook: fail closed.
    if not channel.secret_token or not hmac.compare_digest(given.encode(), channel.secret_token.encode()):
        raise Unauthorized("Wrong or missing X-Telegram-Bot-Api-Secret-Token.")
    update = parse_json(await request.read())
    message = message_of(update)
    if message is None:
        return json_response({"ok": True})
    update_id = update["update_id"]
    me = _me(request.app, channel)
    if peek_identity(request.app, "telegram", channel) is None:
        learn_identity(request.app, "telegram", channel)  # in the background; never awaited here
    if needs_identity(message, me):
        # Whether a group message is for this bot needs its @username, still being looked up: decide later.
        deliveries(request.app).start(bot.id, _when_known(request.app, dispatcher, bot, update_id, message),
                                      label=f"telegram:{update_id}", first=_first(dispatcher, bot, str(update_id)))
        return json_response({"ok": True})
    msg = to_incoming(bot.id, update_id, message, me)
    if msg is not None:
        deliveries(request.app).start(bot.id, answer(dispatcher, bot, msg, message), label=f"telegram:{msg.event_id}",
                                      first=_first(dispatcher, bot, msg.event_id))
    return json_response({"ok": True})


def _first(dispatcher, bot, event_id: str):
    """The dedup of an update, run after the ack (adapters/delivery.py)."""
    return lambda: dispatcher.first_delivery("telegram", bot.id, event_id)


async def _when_known(app: web.Application, dispatcher, bot, update_id: int, message: dict) -> None:
    me = await identity(app, "telegram", bot.channels.telegram)
    if me is None:
        log.warning("Telegram group message %s dropped: this bot's username is still unknown (getMe failing)", update_id)
        return
    msg = to_incoming(bot.id, update_id, message, me)
    if msg is not None:
        await answer(dispatcher, bot, msg, message)


def _caller():
    return lambda fn, **kw: with_retries(lambda: fn(**kw), _classify, what=f"telegram {fn.__name__}")  # noqa: E731


async def answer(dispatcher, bot, msg: IncomingMessage, message: dict) -> None:
    call = _caller()
    chat_id = int(msg.chat)
    thread = int(msg.thread) if msg.thread else None
    asked = message.get("message_id")
    async with session(bot.channels.telegram) as tg:
        progress = None

        async def show_progress(text: str) -> dict:  # only questions that take a while get one
            nonlocal progress
            await call(tg.send_chat_action, chat_id=chat_id, action=ChatAction.TYPING, message_thread_id=thread)
            progress = await call(tg.send_message, chat_id=chat_id, text=text, message_thread_id=thread,
                                  reply_to_message_id=asked)
            # Recorded with the question: an answer given after a restart edits this message.
            return {"progress_message_id": progress.message_id, "asked": asked}

        try:
            reply = await dispatcher.handle(msg, progress=show_progress)
        except Exception:
            log.exception("answering Telegram update %s failed", msg.event_id)
            if progress is not None:
                await call(tg.edit_message_text, chat_id=chat_id, message_id=progress.message_id, text=FRIENDLY_ERROR)
            else:
                await call(tg.send_message, chat_id=chat_id, text=FRIENDLY_ERROR, message_thread_id=thread,
                           reply_to_message_id=asked)
            return
        await _deliver(tg, bot, msg, progress.message_id if progress is not None else None, asked, reply)


async def late_reply(bot, msg: IncomingMessage, ref: dict, reply) -> None:
    """An answer given after a restart: the same reply path, editing the progress message sent before."""
    async with session(bot.channels.telegram) as tg:
        await _deliver(tg, bot, msg, ref.get("progress_message_id"), ref.get("asked"), reply)


async def _deliver(tg, bot, msg: IncomingMessage, progress_id: int | None, asked: int | None, reply) -> None:
    """Show a reply: the first part replaces the progress message (if one was shown)."""
    call = _caller()
    chat_id = int(msg.chat)
    thread = int(msg.thread) if msg.thread else None
    if reply.silent:
        return
    target = chat_id
    if reply.private and msg.is_group and bot.group_privacy != "thread":
        notice = "I sent you the answer in a private message."
        if progress_id is not None:
            await call(tg.edit_message_text, chat_id=chat_id, message_id=progress_id, text=notice)
        else:
            await call(tg.send_message, chat_id=chat_id, text=notice, message_thread_id=thread, reply_to_message_id=asked)
        target, thread, progress_id, asked = int(msg.user), None, None, None
    for i, text in enumerate(render(reply)):
        if i == 0 and progress_id is not None:
            await call(tg.edit_message_text, chat_id=chat_id, message_id=progress_id, text=text,
                       parse_mode=ParseMode.HTML)
            continue
        if i:
            await asyncio.sleep(LIMITS["seconds_between_messages"])  # ~1 message/s per chat
        await call(tg.send_message, chat_id=target, text=text, parse_mode=ParseMode.HTML, message_thread_id=thread,
                   reply_to_message_id=asked if i == 0 else None)
    if reply.chart_png:
        await call(tg.send_photo, chat_id=target, photo=InputFile(reply.chart_png, filename="chart.png"),
                   message_thread_id=thread)
    if needs_csv(reply):
        buf = io.StringIO()
        csv.writer(buf).writerows([reply.dataframe["columns"], *reply.dataframe["data"]])
        await call(tg.send_document, chat_id=target, document=InputFile(buf.getvalue().encode(), filename="result.csv"),
                   message_thread_id=thread)


async def set_webhook(channel, url: str) -> bool:
    """Register the service's webhook URL (with the secret token) with Telegram."""
    async with session(channel) as tg:
        return await tg.set_webhook(url=url, secret_token=channel.secret_token, allowed_updates=["message"])


async def poll(dispatcher, bot_id: str, *, stop: asyncio.Event | None = None) -> None:
    """Development mode without a public URL: long-poll getUpdates and answer through the dispatcher."""
    bot = await dispatcher.bot(bot_id)
    channel = bot.channels.telegram
    if channel is None:
        raise NotFound(f"Bot '{bot_id}' has no Telegram channel configured.")
    offset = None
    async with session(channel) as tg:
        me = await tg.get_me()
        await tg.delete_webhook()
        while stop is None or not stop.is_set():
            updates = await tg.get_updates(offset=offset, timeout=20, allowed_updates=["message"])
            for u in updates:
                offset = u.update_id + 1
                data = u.to_dict()
                message = message_of(data)
                msg = to_incoming(bot.id, u.update_id, message, Me(me.username, me.id)) if message else None
                if msg is not None and await dispatcher.first_delivery("telegram", bot.id, msg.event_id):
                    await answer(dispatcher, bot, msg, message)
