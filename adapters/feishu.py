"""Feishu / Lark event webhook (schema 2.0): decrypt and verify deliveries, turn
im.message.receive_v1 into IncomingMessages, reply with interactive cards through lark-oapi's async API
(its domain pointed at `domain`: feishu, lark or a base URL)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re

import httpx
import lark_oapi as lark
from aiohttp import web
from lark_oapi.api.im.v1 import (CreateImageRequest, CreateImageRequestBody, CreateMessageRequest,
                                 CreateMessageRequestBody, PatchMessageRequest,
                                 PatchMessageRequestBody, ReplyMessageRequest, ReplyMessageRequestBody)
from lark_oapi.core.utils import AESCipher

from tabletalk.adapters.delivery import deliveries, with_retries
from tabletalk.adapters.feishu_render import card, progress_card
from tabletalk.adapters.rest.app import DISPATCHER
from tabletalk.adapters.rest.http import json_response, public
from tabletalk.bot.messages import IncomingMessage
from tabletalk.core.errors import Invalid, NotFound, Unauthorized

log = logging.getLogger("tabletalk.feishu")
routes = web.RouteTableDef()
DOMAINS = {"feishu": lark.FEISHU_DOMAIN, "lark": lark.LARK_DOMAIN}
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


def _verify(channel, request: web.Request, raw: bytes) -> dict:
    """The plain event body: signature checked and decrypted when an encrypt key is set."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Invalid("Malformed JSON body.") from None
    if channel.encrypt_key:
        ts, nonce = request.headers.get("X-Lark-Request-Timestamp", ""), request.headers.get("X-Lark-Request-Nonce", "")
        signature = request.headers.get("X-Lark-Signature")
        expected = hashlib.sha256((ts + nonce + channel.encrypt_key).encode() + raw).hexdigest()
        # url_verification deliveries carry no signature headers; everything else must.
        if signature is not None and not hmac.compare_digest(signature, expected):
            raise Unauthorized("Invalid X-Lark-Signature.")
        if "encrypt" in body:
            try:
                body = json.loads(AESCipher(channel.encrypt_key).decrypt_str(body["encrypt"]))
            except (ValueError, KeyError, json.JSONDecodeError):
                raise Unauthorized("The event could not be decrypted with this bot's encrypt key.") from None
        if signature is None and body.get("type") != "url_verification":
            raise Unauthorized("Missing X-Lark-Signature.")
    token = body.get("token") or (body.get("header") or {}).get("token")
    if channel.verification_token and token != channel.verification_token:
        raise Unauthorized("Wrong verification token.")
    return body


def to_incoming(bot_id: str, event: dict, event_id: str) -> IncomingMessage | None:
    message = event.get("message") or {}
    sender = event.get("sender") or {}
    if sender.get("sender_type") not in (None, "user") or message.get("message_type") != "text":
        return None
    group = message.get("chat_type") != "p2p"
    if group and not message.get("mentions"):
        return None
    try:
        text = json.loads(message.get("content") or "{}").get("text", "")
    except json.JSONDecodeError:
        return None
    text = re.sub(r"@_user_\d+", "", text).strip()
    if not text:
        return None
    user = (sender.get("sender_id") or {}).get("open_id") or (sender.get("sender_id") or {}).get("user_id") or "unknown"
    return IncomingMessage(bot_id=bot_id, platform="feishu", user=user, chat=message.get("chat_id", ""), text=text,
                           thread=message.get("thread_id") or message.get("root_id") or None, event_id=event_id,
                           is_group=group, attachments=[{"message_id": message.get("message_id")}])


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
    header = body.get("header") or {}
    if header.get("event_type") == "im.message.receive_v1":
        event_id = str(header.get("event_id") or "")
        msg = to_incoming(bot.id, body.get("event") or {}, event_id)
        if msg is not None and event_id and await dispatcher.first_delivery("feishu", bot.id, event_id):
            deliveries(request.app).start(bot.id, answer(request.app, dispatcher, bot, msg), label=f"feishu:{event_id}")
    return json_response({"ok": True})


def _domain(channel) -> str:
    return DOMAINS.get(channel.domain, channel.domain.rstrip("/"))


def client_for(channel) -> lark.Client:
    return (lark.Client.builder().app_id(channel.app_id).app_secret(channel.app_secret).domain(_domain(channel))
            .enable_set_token(True).log_level(lark.LogLevel.WARNING).build())


async def tenant_token(app: web.Application, channel) -> str:
    """The app's tenant_access_token, cached until shortly before it expires.

    Raw HTTP on purpose: lark-oapi's async methods fetch this token with a *blocking* `requests`
    call, which would stall the whole event loop; with the token passed in, they stay async."""
    cache = deliveries(app).identities
    key = f"feishu:{channel.app_id}:{_domain(channel)}"
    hit = cache.get(key)
    loop = asyncio.get_running_loop()
    if hit and hit[1] > loop.time():
        return hit[0]
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(f"{_domain(channel)}/open-apis/auth/v3/tenant_access_token/internal",
                               json={"app_id": channel.app_id, "app_secret": channel.app_secret})
    data = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    if resp.status_code != 200 or data.get("code") != 0:
        raise FeishuError("tenant_access_token", data.get("code", -1), data.get("msg", resp.reason_phrase), resp.status_code)
    cache[key] = (data["tenant_access_token"], loop.time() + max(60, int(data.get("expire", 7200)) - 300))
    return data["tenant_access_token"]


async def answer(app: web.Application, dispatcher, bot, msg: IncomingMessage) -> None:
    channel = bot.channels.feishu
    client = client_for(channel)
    message_id = msg.attachments[0]["message_id"]

    async def option() -> lark.RequestOption:
        return lark.RequestOption.builder().tenant_access_token(await tenant_token(app, channel)).build()

    async def reply_card(content: dict) -> str:
        req = (ReplyMessageRequest.builder().message_id(message_id).request_body(
            ReplyMessageRequestBody.builder().msg_type("interactive").content(json.dumps(content, ensure_ascii=False)).build()).build())
        resp = _checked("reply", await client.im.v1.message.areply(req, await option()))
        return resp.data.message_id

    async def patch_card(target: str, content: dict) -> None:
        req = (PatchMessageRequest.builder().message_id(target).request_body(
            PatchMessageRequestBody.builder().content(json.dumps(content, ensure_ascii=False)).build()).build())
        _checked("patch", await client.im.v1.message.apatch(req, await option()))

    async def send_to_user(open_id: str, content: dict) -> None:
        req = (CreateMessageRequest.builder().receive_id_type("open_id").request_body(
            CreateMessageRequestBody.builder().receive_id(open_id).msg_type("interactive")
            .content(json.dumps(content, ensure_ascii=False)).build()).build())
        _checked("send", await client.im.v1.message.acreate(req, await option()))

    async def upload(png: bytes) -> str:
        import io

        req = CreateImageRequest.builder().request_body(
            CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(png)).build()).build()
        return _checked("image upload", await client.im.v1.image.acreate(req, await option())).data.image_key

    retry = lambda fn, *a: with_retries(lambda: fn(*a), _classify, what=f"feishu {fn.__name__}")  # noqa: E731
    progress = await retry(reply_card, progress_card("Working on it…"))
    try:
        reply = await dispatcher.handle(msg)
    except Exception:
        log.exception("answering Feishu event %s failed", msg.event_id)
        await retry(patch_card, progress, progress_card(FRIENDLY_ERROR))
        return
    image_key = await retry(upload, reply.chart_png) if reply.chart_png else None
    if reply.private and msg.is_group and bot.group_privacy != "thread":
        # Rows computed under this user's filter go to the user alone, not to the group.
        await retry(patch_card, progress, progress_card("I sent you the answer in a private message."))
        await retry(send_to_user, msg.user, card(reply, image_key))
        return
    await retry(patch_card, progress, card(reply, image_key))
