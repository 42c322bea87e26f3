"""Feishu / Lark event webhook (schema 2.0): decrypt and verify deliveries, turn
im.message.receive_v1 into IncomingMessages, reply with interactive cards through the Open API
(adapters/feishu_api.py; its base URL from `domain`: feishu, lark or a base URL)."""
from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from tabletalk.adapters.delivery import (deliveries, identity, identity_source, learn_identity, parse_json,
                                         peek_identity, with_retries)
from tabletalk.adapters.feishu_api import TOKEN_REFUSED_CODES, FeishuError, OpenApi, OpenApis, base_url, classify
from tabletalk.adapters.feishu_message import to_incoming
from tabletalk.adapters.feishu_render import card, progress_card
from tabletalk.adapters.rest.app import DISPATCHER
from tabletalk.adapters.rest.http import json_response, public
from tabletalk.bot.messages import IncomingMessage
from tabletalk.core.errors import Invalid, NotFound, Unauthorized

log = logging.getLogger("tabletalk.feishu")
routes = web.RouteTableDef()
FRIENDLY_ERROR = "Sorry, something went wrong while answering. Please try again in a moment."
OPEN_APIS = web.AppKey("feishu_open_apis", OpenApis)  # one HTTP session per Open API base URL, per app


def install(app: web.Application) -> None:
    """The app's Open API sessions (made on first use, closed when the app is cleaned up, after its
    answers are drained), and late answers sent through them."""
    app[OPEN_APIS] = OpenApis()

    async def close(a: web.Application) -> None:
        await a[OPEN_APIS].close()

    app.on_cleanup.append(close)
    app[DISPATCHER].late_replies["feishu"] = functools.partial(late_reply, app=app)


# Signed deliveries older than this are refused. Longer than Feishu's retry schedule (15 s, 5 min,
# 1 h, 6 h: ~7.1 h, and a retry may carry its first signature) and shorter than the dispatcher's
# dedup retention, so a replay is either deduplicated or refused — never answered twice.
MAX_SIGNATURE_AGE = 8 * 3600
MAX_CLOCK_SKEW = 300


def _check_signature(channel, request: web.Request, raw: bytes) -> None:
    ts, nonce = request.headers.get("X-Lark-Request-Timestamp", ""), request.headers.get("X-Lark-Request-Nonce", "")
    expected = hashlib.sha256((ts + nonce + channel.encrypt_key).encode() + raw).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-Lark-Signature", "").encode(), expected.encode()):
        raise Unauthorized("Invalid X-Lark-Signature.")
    age = time.time() - int(ts) if ts.isdigit() else None
    if age is None or not -MAX_CLOCK_SKEW <= age <= MAX_SIGNATURE_AGE:
        raise Unauthorized("X-Lark-Request-Timestamp is missing, malformed or outside the accepted window.")


def _verify(channel, request: web.Request, raw: bytes) -> dict:
    """The plain event body: decrypted, signature and timestamp checked when an encrypt key is set,
    verification token checked when one is set. Malformed bodies are 400s."""
    if not (channel.encrypt_key or channel.verification_token):  # nothing to authenticate with: no webhook
        raise Unauthorized("This bot's Feishu channel has neither a verification token nor an encrypt key.")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise Invalid("The event body must be a JSON object.")
    if channel.encrypt_key:
        if "encrypt" in body:
            if not isinstance(body["encrypt"], str):
                raise Invalid("'encrypt' must be a base64 string.")
            try:
                plain = decrypt(channel.encrypt_key, body["encrypt"])
            except ValueError:
                raise Unauthorized("The event could not be decrypted with this bot's encrypt key.") from None
            body = parse_json(plain.encode())
            if not isinstance(body, dict):
                raise Invalid("The decrypted event must be a JSON object.")
        # url_verification deliveries carry no signature headers (and answering one again is harmless).
        if body.get("type") != "url_verification":
            if request.headers.get("X-Lark-Signature") is None:
                raise Unauthorized("Missing X-Lark-Signature.")
            _check_signature(channel, request, raw)
    header = body.get("header")
    token = body.get("token") or (header.get("token") if isinstance(header, dict) else None)
    if channel.verification_token and not (isinstance(token, str) and hmac.compare_digest(
            token.encode(), channel.verification_token.encode())):
        raise Unauthorized("Wrong verification token.")
    return body


@routes.post("/webhooks/feishu/{bot_id}")
@public
async def feishu_event(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    bot = await dispatcher.bot(request.match_info["bot_id"])
    channel = bot.channels.feishu
    if channel is None:
        raise NotFound(f"Bot '{bot.id}' has no Feishu channel configured.")
    body = _verify(channel, request, await request.read())
    if body.get("type") == "url_verification":
        return json_response({"challenge": body.get("challenge")})
    header = body.get("header") if isinstance(body.get("header"), dict) else {}
    if header.get("event_type") != "im.message.receive_v1":
        return json_response({"ok": True})  # other events (bot added, card actions, v1 events): nothing to say
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("message"), dict):
        raise Invalid("im.message.receive_v1 needs an 'event' object with a 'message' object.")
    event_id = str(header.get("event_id") or "")
    known = peek_identity(request.app, "feishu", channel)
    if event["message"].get("chat_type") == "p2p" or known is not None:
        msg = to_incoming(bot.id, event, event_id, known)
        if msg is not None and event_id:
            deliveries(request.app).start(bot.id, answer(request.app, dispatcher, bot, msg), label=f"feishu:{event_id}",
                                          first=_first(dispatcher, bot, event_id))
    elif event_id:
        # Whether a group message mentions this bot needs its open_id, still being looked up: decide later.
        learn_identity(request.app, "feishu", channel)
        deliveries(request.app).start(bot.id, _when_known(request.app, dispatcher, bot, event, event_id),
                                      label=f"feishu:{event_id}", first=_first(dispatcher, bot, event_id))
    return json_response({"ok": True})


def _first(dispatcher, bot, event_id: str):
    """The dedup of an event, run after the ack (adapters/delivery.py)."""
    return lambda: dispatcher.first_delivery("feishu", bot.id, event_id)


async def _when_known(app: web.Application, dispatcher, bot, event: dict, event_id: str) -> None:
    bot_open_id = await identity(app, "feishu", bot.channels.feishu)
    if bot_open_id is None:
        log.warning("Feishu group message %s dropped: this bot's open_id is still unknown", event_id)
        return
    msg = to_incoming(bot.id, event, event_id, bot_open_id)
    if msg is not None:
        await answer(app, dispatcher, bot, msg)


def decrypt(encrypt_key: str, encrypted: str) -> str:
    """Feishu's event encryption: AES-256-CBC, key sha256(encrypt_key), IV the first 16 bytes, PKCS7."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    raw = base64.b64decode(encrypted)
    if len(raw) < 32 or len(raw) % 16:
        raise ValueError("invalid ciphertext length")
    key = hashlib.sha256(encrypt_key.encode()).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
    plain = decryptor.update(raw[16:]) + decryptor.finalize()
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise ValueError("invalid PKCS7 padding")
    return plain[:-pad].decode()


async def tenant_token(app: web.Application, channel, refused: str | None = None) -> str:
    """The app's tenant_access_token, cached until shortly before it expires; a new one when the
    cached one is `refused` (only one fetch when many answers find it refused at once)."""
    cache = deliveries(app).tokens
    key = _account(channel)
    hit = cache.get(key)
    loop = asyncio.get_running_loop()
    if hit and hit[1] > loop.time() and hit[0] != refused:
        return hit[0]
    token, expire = await _api(app, channel).tenant_token(channel.app_id, channel.app_secret)
    cache[key] = (token, loop.time() + max(60, expire - 300))
    return token


def _api(app: web.Application, channel) -> OpenApi:
    return app[OPEN_APIS](channel.domain)


def _account(channel) -> str:
    return f"feishu:{channel.app_id}:{base_url(channel.domain)}"


TokenSource = Callable[[str | None], Awaitable[str]]  # (the token just refused, if any) -> a token to use


async def _authorized(what: str, token: TokenSource, call: Callable[[str], Awaitable]):
    """`call(token)`, the token fetch included, retried on transient failures; when Feishu refuses
    the token (expired early, revoked), all that once more with a new one."""
    used: str | None = None
    refused: str | None = None

    async def once():
        nonlocal used
        used = await token(refused)
        return await call(used)

    try:
        return await with_retries(once, classify, what=f"feishu {what}")
    except FeishuError as exc:
        if exc.code not in TOKEN_REFUSED_CODES or used is None:
            raise
        log.info("feishu %s: the tenant token was refused (%s); retrying once with a new one", what, exc.code)
    refused = used
    return await with_retries(once, classify, what=f"feishu {what}")


async def bot_open_id(app: web.Application, channel) -> str:
    """This app's bot open_id (bot/v3/info): how group messages that @mention it are recognised."""
    api = _api(app, channel)
    return await _authorized("bot info", lambda refused: tenant_token(app, channel, refused), api.bot_open_id)


identity_source("feishu", _account, bot_open_id)


class _Cards:
    """The im.v1 calls a reply needs, over one Open API session, each retried (adapters/feishu_api.py)."""

    def __init__(self, api: OpenApi, token: TokenSource):
        self.api, self._token = api, token

    async def reply(self, message_id: str, content: dict) -> str:
        return await _authorized("reply", self._token, lambda t: self.api.reply(t, message_id, content))

    async def patch(self, message_id: str, content: dict) -> None:
        await _authorized("patch", self._token, lambda t: self.api.patch(t, message_id, content))

    async def send_to_user(self, open_id: str, content: dict) -> None:
        await _authorized("send", self._token, lambda t: self.api.send(t, "open_id", open_id, content))

    async def upload(self, png: bytes) -> str:
        return await _authorized("image upload", self._token, lambda t: self.api.upload_image(t, png))


# Patch errors after which the answer is sent as a new reply instead: the progress card is gone
# (recalled: 230011), too old (14 days: 230031), or its id is not one Feishu knows (230001).
GONE_CODES = {230001, 230011, 230031}


async def answer(app: web.Application, dispatcher, bot, msg: IncomingMessage) -> None:
    channel = bot.channels.feishu
    cards = _Cards(_api(app, channel), lambda refused: tenant_token(app, channel, refused))
    progress = None

    async def show_progress(text: str) -> dict:  # only questions that take a while get one
        nonlocal progress
        progress = await cards.reply(_asked(msg), progress_card(text))
        # Recorded with the question: an answer given after a restart patches this card.
        return {"progress_message_id": progress}

    try:
        reply = await dispatcher.handle(msg, progress=show_progress)
    except Exception:
        log.exception("answering Feishu event %s failed", msg.event_id)
        await _say(cards, msg, progress, progress_card(FRIENDLY_ERROR))
        return
    await _deliver(cards, bot, msg, progress, reply)


async def late_reply(bot, msg: IncomingMessage, ref: dict, reply, *, app: web.Application | None = None) -> None:
    """An answer given after a restart: the same reply path, patching the progress card sent before
    (through the app's sessions and token cache; without an app, a session of its own for this one)."""
    channel = bot.channels.feishu
    if app is not None:
        cards = _Cards(_api(app, channel), lambda refused: tenant_token(app, channel, refused))
        await _deliver(cards, bot, msg, ref.get("progress_message_id"), reply)
        return
    api = OpenApi(base_url(channel.domain))
    token: list[str] = []

    async def own(refused: str | None) -> str:  # one token for this one answer, renewed if refused
        if not token or token[0] == refused:
            token[:] = [(await api.tenant_token(channel.app_id, channel.app_secret))[0]]
        return token[0]

    try:
        await _deliver(_Cards(api, own), bot, msg, ref.get("progress_message_id"), reply)
    finally:
        await api.close()


def _asked(msg: IncomingMessage) -> str:
    return msg.attachments[0]["message_id"]


async def _say(cards: _Cards, msg: IncomingMessage, progress: str | None, content: dict) -> None:
    """Show a card where the asker looks: in place of the progress card if there is one, else as a reply."""
    if progress:
        try:
            await cards.patch(progress, content)
            return
        except FeishuError as exc:
            if exc.code not in GONE_CODES:
                raise
    await cards.reply(_asked(msg), content)


async def _deliver(cards: _Cards, bot, msg: IncomingMessage, progress: str | None, reply) -> None:
    if reply.silent:
        return
    image_key = await cards.upload(reply.chart_png) if reply.chart_png else None
    if reply.private and msg.is_group and bot.group_privacy != "thread":
        # Rows computed under this user's filter go to the user alone, not to the group.
        await _say(cards, msg, progress, progress_card("I sent you the answer in a private message."))
        await cards.send_to_user(msg.user, card(reply, image_key))
        return
    await _say(cards, msg, progress, card(reply, image_key))
