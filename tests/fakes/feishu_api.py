"""A local fake of the Feishu/Lark Open API (enough for lark-oapi's im.v1 calls) and an event sender
that encrypts and signs deliveries exactly as Feishu does.

    async with FakeFeishu() as fs:
        channels = {"feishu": {"app_id": "cli_1", "app_secret": "s", "verification_token": "vt",
                               "encrypt_key": "ek", "domain": fs.domain}}
        await fs.send_event(service_url, fs.text_event("How many orders?"), token="vt", encrypt_key="ek")
        await fs.wait_for("patch")
"""
from __future__ import annotations

import asyncio
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

from tests.fakes.slack_api import Call


def encrypt(key: str, plain: str) -> str:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain.encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode()


class FakeFeishu:
    def __init__(self):
        self.calls: list[Call] = []
        self._failures: dict[str, list[int]] = {}
        self._ids = itertools.count(1)
        self._runner = None
        self.port = 0

    @property
    def domain(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, kind: str, status: int, times: int = 1) -> None:
        self._failures.setdefault(kind, []).extend([status] * times)

    def called(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.method == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 15.0) -> list[Call]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.called(kind)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{kind}: {len(self.called(kind))} calls, expected {count}: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.02)
        return self.called(kind)

    async def __aenter__(self) -> "FakeFeishu":
        app = web.Application()
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_post("/open-apis/im/v1/messages/{mid}/reply", self._reply)
        app.router.add_patch("/open-apis/im/v1/messages/{mid}", self._patch)
        app.router.add_post("/open-apis/im/v1/images", self._image)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()

    def _fail(self, kind: str):
        pending = self._failures.get(kind)
        if pending:
            status = pending.pop(0)
            return web.json_response({"code": 99991400 if status == 429 else 1000005, "msg": "fake failure"}, status=status)
        return None

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("token", body))
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": "t-fake", "expire": 7200})

    async def _reply(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("reply", {"message_id": request.match_info["mid"], **body,
                                         "auth": request.headers.get("Authorization")}))
        return self._fail("reply") or web.json_response({"code": 0, "msg": "success", "data": {
            "message_id": f"om_reply_{next(self._ids)}", "msg_type": body.get("msg_type"), "create_time": str(int(time.time() * 1000))}})

    async def _patch(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("patch", {"message_id": request.match_info["mid"], **body}))
        return self._fail("patch") or web.json_response({"code": 0, "msg": "success", "data": {}})

    async def _image(self, request: web.Request) -> web.Response:
        form = await request.post()
        image = form.get("image")
        size = len(image.file.read()) if hasattr(image, "file") else 0
        self.calls.append(Call("image", {"image_type": form.get("image_type"), "size": size}))
        return self._fail("image") or web.json_response({"code": 0, "msg": "success", "data": {"image_key": f"img_{next(self._ids)}"}})

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
                         sign: bool = True) -> int:
        plain = json.dumps(event)
        body = json.dumps({"encrypt": encrypt(encrypt_key, plain)}).encode() if encrypt_key else plain.encode()
        headers = {"Content-Type": "application/json"}
        if encrypt_key and sign:
            ts, nonce = str(int(time.time())), "nonce123"
            digest = hashlib.sha256((ts + nonce + (encrypt_key if not bad_signature else "x")).encode() + body).hexdigest()
            headers.update({"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": digest})
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                self.last_response = await resp.json() if resp.content_type == "application/json" else None
                return resp.status
