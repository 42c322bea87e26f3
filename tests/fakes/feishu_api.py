"""A local fake of the Feishu/Lark Open API (the tenant token, bot info and im.v1 message calls, each
refusing a tenant_access_token it did not issue or has expired as Feishu does) and an event sender
that encrypts and signs deliveries exactly as Feishu does. It counts the TCP connections it was sent
requests on (`connections`).

    async with FakeFeishu() as fs:
        channels = {"feishu": {"app_id": "cli_1", "app_secret": "s", "verification_token": "vt",
                               "encrypt_key": "ek", "domain": fs.domain}}
        await fs.send_event(service_url, fs.text_event("How many orders?"), token="vt", encrypt_key="ek")
        await fs.wait_for("patch")
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import time

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.fakes.base import Call, RecordingServer

BOT_OPEN_ID = "ou_bot"


def encrypt(key: str, plain: str) -> str:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain.encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode()


def _card(content) -> dict:
    try:
        card = json.loads(content) if isinstance(content, str) else None
    except ValueError:
        return {}
    return card if isinstance(card, dict) else {}


def _card_text(content) -> str:
    elements = _card(content).get("elements") or [{}]
    return str(elements[0].get("content", "")) if isinstance(elements[0], dict) else ""


def _shared(content) -> bool:
    return (_card(content).get("config") or {}).get("update_multi") is True


class FakeFeishu(RecordingServer):
    def __init__(self, token: str = "t-fake"):
        super().__init__()
        self._ids = itertools.count(1)
        self._cards: dict[str, str] = {}  # id of each card the bot sent -> its content now
        self._first, self._issued = token, itertools.count(2)
        self.token = token  # the tenant_access_token the token endpoint hands out now
        self._valid = {self.token}
        self.connections: set[tuple] = set()  # (host, port) of each client connection a request came on

    def expire_tokens(self) -> None:
        """Every tenant_access_token issued so far stops working; the next one asked for is new."""
        self._valid.clear()
        self.token = f"{self._first}-{next(self._issued)}"
        self._valid.add(self.token)

    def _refused(self, request: web.Request) -> web.Response | None:
        """Feishu's answer to a call without a valid tenant token (the HTTP status varies by API; the code counts)."""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in self._valid:
            return None
        return web.json_response({"code": 99991663, "msg": "Invalid access token for authorization. "
                                  "Please make a request with token attached."}, status=400)

    @web.middleware
    async def _track(self, request: web.Request, handler):
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.connections.add(tuple(peer[:2]))
        return await handler(request)

    @property
    def domain(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        app.middlewares.append(self._track)
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_post("/open-apis/im/v1/messages/{mid}/reply", self._reply)
        app.router.add_patch("/open-apis/im/v1/messages/{mid}", self._patch)
        app.router.add_post("/open-apis/im/v1/images", self._image)
        app.router.add_post("/open-apis/im/v1/messages", self._send)
        app.router.add_get("/open-apis/bot/v3/info", self._bot_info)

    def _fail(self, kind: str):
        failure = self.pop_failure(kind)
        if failure:
            status = failure[0]
            return web.json_response({"code": 99991400 if status == 429 else 1000005, "msg": "fake failure"}, status=status)
        return None

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("token", body))
        return self._fail("token") or web.json_response({"code": 0, "msg": "ok", "tenant_access_token": self.token, "expire": 7200})

    async def _bot_info(self, request: web.Request) -> web.Response:
        self.calls.append(Call("bot_info", {"auth": request.headers.get("Authorization")}))
        await self.stalled("bot_info")
        return self._refused(request) or self._fail("bot_info") or web.json_response({"code": 0, "msg": "ok", "bot": {
            "activate_status": 2, "app_name": "TableTalk", "avatar_url": "", "ip_white_list": [], "open_id": BOT_OPEN_ID}})

    async def _reply(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("reply", {"message_id": request.match_info["mid"], **body,
                                         "auth": request.headers.get("Authorization")}))
        failed = self._refused(request) or self._fail("reply")
        if failed:
            return failed
        message_id = f"om_reply_{next(self._ids)}"
        self._sent(message_id, body)
        return web.json_response({"code": 0, "msg": "success", "data": {
            "message_id": message_id, "msg_type": body.get("msg_type"), "create_time": str(int(time.time() * 1000))}})

    def _sent(self, message_id: str, body: dict) -> None:
        """Keep what a message sent by the bot shows (a card's first text), so patches can be checked."""
        self.shown[message_id] = (body.get("receive_id"), _card_text(body.get("content")))
        if body.get("msg_type") == "interactive":
            self._cards[message_id] = body.get("content")

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("send", {"receive_id_type": request.query.get("receive_id_type"), **body}))
        failed = self._refused(request) or self._fail("send")
        if failed:
            return failed
        message_id = f"om_dm_{next(self._ids)}"
        self._sent(message_id, body)
        return web.json_response({"code": 0, "msg": "success", "data": {"message_id": message_id}})

    async def _patch(self, request: web.Request) -> web.Response:
        body = await request.json()
        mid = request.match_info["mid"]
        self.calls.append(Call("patch", {"message_id": mid, **body}))
        failed = self._refused(request) or self._fail("patch")
        if failed:
            return failed
        # As Feishu: only interactive cards this app sent can be patched, and only shared ones
        # (config.update_multi true before and after); anything else is a 400 with code 230001.
        if mid not in self._cards or not (_shared(self._cards[mid]) and _shared(body.get("content"))):
            return web.json_response({"code": 230001, "msg": "Your request contains an invalid request parameter."}, status=400)
        self.shown[mid] = (self.shown[mid][0], _card_text(body.get("content")))
        self._cards[mid] = body.get("content")
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    async def _image(self, request: web.Request) -> web.Response:
        form = await request.post()
        image = form.get("image")
        size = len(image.file.read()) if hasattr(image, "file") else 0
        self.calls.append(Call("image", {"image_type": form.get("image_type"), "size": size}))
        return self._refused(request) or self._fail("image") or web.json_response({"code": 0, "msg": "success", "data": {"image_key": f"img_{next(self._ids)}"}})

    def text_event(self, text: str, *, chat_type: str = "p2p", open_id: str = "ou_user1", mention: bool = False,
                   event_id: str | None = None, token: str = "vt") -> dict:
        content = f"@_user_1 {text}" if mention else text
        message = {"message_id": f"om_{next(self._ids)}", "chat_id": "oc_chat1", "chat_type": chat_type, "message_type": "text",
                   "content": json.dumps({"text": content}), "create_time": str(int(time.time() * 1000))}
        if mention:
            message["mentions"] = [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "TableTalk"}]
        return {"schema": "2.0", "header": {"event_id": event_id or f"ev_{next(self._ids)}", "event_type": "im.message.receive_v1",
                                            "create_time": str(int(time.time() * 1000)), "token": token, "app_id": "cli_1"},
                "event": {"sender": {"sender_id": {"open_id": open_id}, "sender_type": "user"}, "message": message}}

    async def send_event(self, url: str, event: dict, *, encrypt_key: str | None = None, bad_signature: bool = False,
                         sign: bool = True, timestamp: str | None = None, raw: bytes | None = None) -> int:
        plain = json.dumps(event)
        body = json.dumps({"encrypt": encrypt(encrypt_key, plain)}).encode() if encrypt_key else plain.encode()
        body = raw if raw is not None else body
        headers = {"Content-Type": "application/json"}
        if encrypt_key and sign:
            ts, nonce = str(int(time.time())) if timestamp is None else timestamp, "nonce123"
            digest = hashlib.sha256((ts + nonce + (encrypt_key if not bad_signature else "x")).encode() + body).hexdigest()
            headers.update({"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": digest})
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                self.last_response = await resp.json() if resp.content_type == "application/json" else None
                return resp.status
