"""Feishu / Lark event webhook (schema 2.0): decrypt and verify deliveries, turn
im.message.receive_v1 into IncomingMessages, reply with interactive cards through lark-oapi's async API
(its domain pointed at `domain`: feishu, lark or a base URL)."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx
from aiohttp import web

from tabletalk.adapters.delivery import (deliveries, identity, identity_source, learn_identity, parse_json,
                                         peek_identity, with_retries)
from tabletalk.adapters.feishu_message import to_incoming
from tabletalk.adapters.feishu_render import card, progress_card
from tabletalk.adapters.rest.app import DISPATCHER
from tabletalk.adapters.rest.http import json_response, public
from tabletalk.bot.messages import IncomingMessage
from tabletalk.core.errors import Invalid, NotFound, Unauthorized

if TYPE_CHECKING:
    import lark_oapi as lark

log = logging.getLogger("tabletalk.feishu")
routes = web.RouteTableDef()
# lark-oapi is imported only when a Feishu bot sends something: it is large (tens of thousands of
# objects the garbage collector would otherwise walk in every service, Feishu bots or not).
DOMAINS = {"feishu": "https://open.feishu.cn", "lark": "https://open.larksuite.com"}
RETRYABLE_CODES = {99991400, 99991401, 1000004, 1000005}  # frequency limits and transient server errors
FRIENDLY_ERROR = "Sorry, something went wrong while answering. Please try again in a moment."


class FeishuError(Exception):
    def __init__(self, what: str, code: int, msg: str, status: int | None):
        super().__init__(f"{what}: {code} {msg}")
        self.code, self.status = code, status


def _classify(exc: Exception) -> float | None:
    if isinstance(exc, FeishuError):
        if exc.status == 429 or (exc.status or 0) >= 500 or exc.code in RETRYABLE_CODES:
            return 1.0 if exc.status == 429 else 0.0
        return None
    if isinstance(exc, (httpx.HTTPError, asyncio.TimeoutError)):
        return 0.0
    return None


def _checked(what: str, resp):
    if not resp.success():
        status = getattr(getattr(resp, "raw", None), "status_code", None)
        raise FeishuError(what, resp.code, resp.msg, status)
    return resp


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


def _domain(channel) -> str:
    return DOMAINS.get(channel.domain, channel.domain.rstrip("/"))


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


def client_for(channel) -> lark.Client:
    import lark_oapi as lark

    return (lark.Client.builder().app_id(channel.app_id).app_secret(channel.app_secret).domain(_domain(channel))
            .enable_set_token(True).log_level(lark.LogLevel.WARNING).build())


async def tenant_token(app: web.Application, channel) -> str:
    """The app's tenant_access_token, cached until shortly before it expires.

    Raw HTTP on purpose: lark-oapi's async methods fetch this token with a *blocking* `requests`
    call, which would stall the whole event loop; with the token passed in, they stay async."""
    cache = deliveries(app).tokens
    key = _account(channel)
    hit = cache.get(key)
    loop = asyncio.get_running_loop()
    if hit and hit[1] > loop.time():
        return hit[0]
    token, expire = await _fetch_token(channel)
    cache[key] = (token, loop.time() + max(60, expire - 300))
    return token


async def fetch_tenant_token(channel) -> str:
    """A fresh tenant_access_token (no cache)."""
    return (await _fetch_token(channel))[0]


async def _fetch_token(channel) -> tuple[str, int]:
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(f"{_domain(channel)}/open-apis/auth/v3/tenant_access_token/internal",
                               json={"app_id": channel.app_id, "app_secret": channel.app_secret})
    data = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    if resp.status_code != 200 or data.get("code") != 0:
        raise FeishuError("tenant_access_token", data.get("code", -1), data.get("msg", resp.reason_phrase), resp.status_code)
    return data["tenant_access_token"], int(data.get("expire", 7200))


def _account(channel) -> str:
    return f"feishu:{channel.app_id}:{_domain(channel)}"


async def bot_open_id(app: web.Application, channel) -> str:
    """This app's bot open_id (bot/v3/info): how group messages that @mention it are recognised."""
    token = await tenant_token(app, channel)
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(f"{_domain(channel)}/open-apis/bot/v3/info", headers={"Authorization": f"Bearer {token}"})
    data = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    open_id = (data.get("bot") or {}).get("open_id") if isinstance(data, dict) else None
    if resp.status_code != 200 or data.get("code") != 0 or not open_id:
        raise FeishuError("bot info", data.get("code", -1), data.get("msg", resp.reason_phrase), resp.status_code)
    return open_id


identity_source("feishu", _account, bot_open_id)


class _Cards:
    """The im.v1 calls a reply needs, through lark-oapi with the tenant token passed in, each retried."""

    def __init__(self, channel, token: Callable[[], Awaitable[str]]):
        self.client, self._token = client_for(channel), token

    async def _option(self):
        import lark_oapi as lark

        return lark.RequestOption.builder().tenant_access_token(await self._token()).build()

    async def _call(self, what: str, send, req):
        async def once():
            return _checked(what, await send(req, await self._option()))
        return await with_retries(once, _classify, what=f"feishu {what}")

    async def reply(self, message_id: str, content: dict) -> str:
        from lark_oapi.api.im.v1 import ReplyMessageRequest, ReplyMessageRequestBody

        req = (ReplyMessageRequest.builder().message_id(message_id).request_body(
            ReplyMessageRequestBody.builder().msg_type("interactive").content(_json(content)).build()).build())
        return (await self._call("reply", self.client.im.v1.message.areply, req)).data.message_id

    async def patch(self, message_id: str, content: dict) -> None:
        from lark_oapi.api.im.v1 import PatchMessageRequest, PatchMessageRequestBody

        req = (PatchMessageRequest.builder().message_id(message_id).request_body(
            PatchMessageRequestBody.builder().content(_json(content)).build()).build())
        await self._call("patch", self.client.im.v1.message.apatch, req)

    async def send_to_user(self, open_id: str, content: dict) -> None:
        from lark_oapi.api.im.v1 import CreateMessageRequest, CreateMessageRequestBody

        req = (CreateMessageRequest.builder().receive_id_type("open_id").request_body(
            CreateMessageRequestBody.builder().receive_id(open_id).msg_type("interactive").content(_json(content))
            .build()).build())
        await self._call("send", self.client.im.v1.message.acreate, req)

    async def upload(self, png: bytes) -> str:
        import io

        from lark_oapi.api.im.v1 import CreateImageRequest, CreateImageRequestBody

        req = CreateImageRequest.builder().request_body(
            CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(png)).build()).build()
        return (await self._call("image upload", self.client.im.v1.image.acreate, req)).data.image_key


def _json(content: dict) -> str:
    return json.dumps(content, ensure_ascii=False)


# Patch errors after which the answer is sent as a new reply instead: the progress card is gone
# (recalled: 230011), too old (14 days: 230031), or its id is not one Feishu knows (230001).
GONE_CODES = {230001, 230011, 230031}


async def answer(app: web.Application, dispatcher, bot, msg: IncomingMessage) -> None:
    channel = bot.channels.feishu
    cards = _Cards(channel, lambda: tenant_token(app, channel))
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


async def late_reply(bot, msg: IncomingMessage, ref: dict, reply) -> None:
    """An answer given after a restart: the same reply path, patching the progress card sent before."""
    channel = bot.channels.feishu
    token: list[str] = []

    async def once() -> str:  # no app here to cache it in: one token for this one answer
        if not token:
            token.append(await fetch_tenant_token(channel))
        return token[0]

    await _deliver(_Cards(channel, once), bot, msg, ref.get("progress_message_id"), reply)


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
