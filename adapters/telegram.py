"""Telegram webhook: check the secret-token header, turn Updates into IncomingMessages, answer with
python-telegram-bot's Bot (its base URL pointed at `api_base_url` when set, e.g. a local Bot API server)."""
from __future__ import annotations

import asyncio
import csv
import io
import logging

from aiohttp import web
from telegram import Bot, InputFile
from telegram.constants import ChatAction, ParseMode
from telegram.error import NetworkError, RetryAfter, TimedOut

from tabletalk.adapters.delivery import deliveries, with_retries
from tabletalk.adapters.rest.app import DISPATCHER
from tabletalk.adapters.rest.http import json_response, public, read_json
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


def make_bot(channel) -> Bot:
    api = (channel.api_base_url or DEFAULT_API).rstrip("/")
    return Bot(channel.token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")


def to_incoming(bot_id: str, update: dict, bot_username: str | None, bot_user_id: int | None) -> IncomingMessage | None:
    """Private chats: every text. Groups: commands, @mentions of the bot, and replies to the bot."""
    message = update.get("message")
    if not message or not message.get("text") or message.get("from", {}).get("is_bot"):
        return None
    text = message["text"]
    chat = message["chat"]
    private = chat.get("type") == "private"
    if not private:
        mention = bool(bot_username) and f"@{bot_username}".lower() in text.lower()
        reply_to = message.get("reply_to_message", {}).get("from", {})
        replied = bool(reply_to.get("is_bot")) and (bot_user_id is None or reply_to.get("id") == bot_user_id)
        if not (text.startswith("/") or mention or replied):
            return None
        if bot_username:
            text = text.replace(f"@{bot_username}", "").strip()
    topic = message.get("message_thread_id") if message.get("is_topic_message") else None
    return IncomingMessage(bot_id=bot_id, platform="telegram", user=str(message.get("from", {}).get("id")),
                           chat=str(chat["id"]), text=text, thread=str(topic) if topic else None,
                           event_id=str(update.get("update_id")), is_group=not private,
                           user_name=message.get("from", {}).get("username"))


@routes.post("/webhooks/telegram/{bot_id}")
@public
async def telegram_update(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    bot = await dispatcher.bot(request.match_info["bot_id"])
    channel = bot.channels.telegram
    if channel is None:
        raise NotFound(f"Bot '{bot.id}' has no Telegram channel configured.")
    if channel.secret_token and request.headers.get("X-Telegram-Bot-Api-Secret-Token") != channel.secret_token:
        raise Unauthorized("Wrong or missing X-Telegram-Bot-Api-Secret-Token.")
    update = await read_json(request)
    if not isinstance(update, dict) or "update_id" not in update:
        return json_response({"ok": True})
    username, user_id = await _identity(request.app, channel)
    msg = to_incoming(bot.id, update, username, user_id)
    if msg is not None and await dispatcher.first_delivery("telegram", bot.id, msg.event_id):
        deliveries(request.app).start(bot.id, answer(dispatcher, bot, msg, update["message"]), label=f"telegram:{msg.event_id}")
    return json_response({"ok": True})


async def _identity(app: web.Application, channel) -> tuple[str | None, int | None]:
    """The bot's @username and user id (configured, or asked once with getMe)."""
    cache = deliveries(app).identities
    if channel.token not in cache:
        if channel.bot_username:
            cache[channel.token] = (channel.bot_username, None)
        else:
            try:
                async with make_bot(channel) as tg:
                    cache[channel.token] = (tg.username, tg.id)
            except Exception as exc:  # the platform is down: group mentions cannot be recognised until it is back
                log.warning("getMe failed: %s", exc)
                return None, None
    return cache[channel.token]


async def answer(dispatcher, bot, msg: IncomingMessage, message: dict) -> None:
    call = lambda fn, **kw: with_retries(lambda: fn(**kw), _classify, what=f"telegram {fn.__name__}")  # noqa: E731
    chat_id = int(msg.chat)
    thread = int(msg.thread) if msg.thread else None
    async with make_bot(bot.channels.telegram) as tg:
        await call(tg.send_chat_action, chat_id=chat_id, action=ChatAction.TYPING, message_thread_id=thread)
        progress = await call(tg.send_message, chat_id=chat_id, text="Working on it…", message_thread_id=thread,
                              reply_to_message_id=message.get("message_id"))
        try:
            reply = await dispatcher.handle(msg)
        except Exception:
            log.exception("answering Telegram update %s failed", msg.event_id)
            await call(tg.edit_message_text, chat_id=chat_id, message_id=progress.message_id, text=FRIENDLY_ERROR)
            return
        target, edit = chat_id, True
        if reply.private and msg.is_group and bot.group_privacy != "thread":
            await call(tg.edit_message_text, chat_id=chat_id, message_id=progress.message_id,
                       text="I sent you the answer in a private message.")
            target, edit, thread = int(msg.user), False, None
        texts = render(reply)
        for i, text in enumerate(texts):
            if i == 0 and edit:
                await call(tg.edit_message_text, chat_id=chat_id, message_id=progress.message_id, text=text,
                           parse_mode=ParseMode.HTML)
            else:
                if i:
                    await asyncio.sleep(LIMITS["seconds_between_messages"])  # ~1 message/s per chat
                await call(tg.send_message, chat_id=target, text=text, parse_mode=ParseMode.HTML, message_thread_id=thread)
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
    async with make_bot(channel) as tg:
        return await tg.set_webhook(url=url, secret_token=channel.secret_token, allowed_updates=["message"])


async def poll(dispatcher, bot_id: str, *, stop: asyncio.Event | None = None) -> None:
    """Development mode without a public URL: long-poll getUpdates and answer through the dispatcher."""
    bot = await dispatcher.bot(bot_id)
    channel = bot.channels.telegram
    if channel is None:
        raise NotFound(f"Bot '{bot_id}' has no Telegram channel configured.")
    offset = None
    async with make_bot(channel) as tg:
        await tg.delete_webhook()
        while stop is None or not stop.is_set():
            updates = await tg.get_updates(offset=offset, timeout=20, allowed_updates=["message"])
            for u in updates:
                offset = u.update_id + 1
                data = u.to_dict()
                msg = to_incoming(bot.id, data, tg.username, tg.id)
                if msg is not None and await dispatcher.first_delivery("telegram", bot.id, msg.event_id):
                    await answer(dispatcher, bot, msg, data["message"])
