"""A local fake of the Telegram Bot API (enough for python-telegram-bot) and an Update sender.

    async with FakeTelegram() as tg:
        channels = {"telegram": {"token": "123:ABC", "secret_token": "s3", "api_base_url": tg.api_url}}
        await tg.send_update(service_url, "s3", tg.private_message("How many orders?"))
        await tg.wait_for("editMessageText")
        tg.fail_next("sendMessage", 429, retry_after=1)
"""
from __future__ import annotations

import itertools
import json
import time

import aiohttp
from aiohttp import web

from tests.fakes.base import Call, RecordingServer

BOT_ID, BOT_USERNAME = 777, "tabletalk_bot"


class FakeTelegram(RecordingServer):
    def __init__(self, bot_id: int = BOT_ID, username: str = BOT_USERNAME):
        super().__init__()
        self._ids = itertools.count(100)
        self.bot_id, self.username = bot_id, username

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/bot{token}/{method}", self._api)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            data = await request.json()
        else:
            form = await request.post()
            data = {k: (v if isinstance(v, str) else f"<file {getattr(v, 'filename', '')}>") for k, v in form.items()}
        self.calls.append(Call(method, data))
        await self.stalled(method)
        failure = self.pop_failure(method)
        if failure:
            status, retry_after = failure
            body = {"ok": False, "error_code": status, "description": "Too Many Requests" if status == 429 else "Internal Server Error"}
            if status == 429:
                body["parameters"] = {"retry_after": int(retry_after)}
            return web.json_response(body, status=status)
        if method == "getMe":
            result = {"id": self.bot_id, "is_bot": True, "first_name": "TableTalk", "username": self.username,
                      "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        elif method in ("sendMessage", "editMessageText", "sendPhoto", "sendDocument"):
            chat_id = int(data.get("chat_id", 0))
            mid = int(data["message_id"]) if method == "editMessageText" else next(self._ids)
            if method in ("sendMessage", "editMessageText"):
                self.shown[mid] = (chat_id, data.get("text", ""))
            result = {"message_id": mid, "date": int(time.time()), "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                      "text": data.get("text", "")}
        elif method == "getUpdates":
            result = []
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    def message(self, text: str, *, chat_id: int = 42, chat_type: str = "private", user_id: int = 42,
                update_id: int | None = None, reply_to_bot: bool = False) -> dict:
        msg = {"message_id": next(self._ids), "date": int(time.time()), "text": text,
               "chat": {"id": chat_id, "type": chat_type}, "from": {"id": user_id, "is_bot": False, "first_name": "U"}}
        if reply_to_bot:
            msg["reply_to_message"] = {"message_id": 1, "date": 0, "chat": msg["chat"],
                                       "from": {"id": self.bot_id, "is_bot": True, "first_name": "TableTalk",
                                                "username": self.username}}
        return {"update_id": update_id if update_id is not None else next(self._ids), "message": msg}

    async def send_update(self, url: str, secret: str | None, update: dict) -> int:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=json.dumps(update), headers=headers) as resp:
                await resp.read()
                return resp.status
