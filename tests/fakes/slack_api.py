"""A local fake of Slack's Web API (enough for slack_sdk's AsyncWebClient) and a signed Events API sender.

    async with FakeSlack() as slack:
        bot_channels = {"slack": {"bot_token": "xoxb-1", "signing_secret": SECRET, "api_base_url": slack.api_url}}
        await slack.send_event(service_url, SECRET, {"type": "app_mention", ...})   # signed exactly like Slack
        await slack.wait_for("chat.update")                                            # recorded API calls
        slack.fail_next("chat.postMessage", status=429, times=1, retry_after=1)
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time

import aiohttp
from aiohttp import web

from tests.fakes.base import Call, RecordingServer

__all__ = ["Call", "FakeSlack"]


class FakeSlack(RecordingServer):
    def __init__(self):
        super().__init__()
        self._ts = itertools.count(1)
        self.uploads: dict[str, bytes] = {}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{hook}", self._response_url)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            data = await request.json()
        else:
            data = dict(await request.post())
        data = {**request.query, **data}  # slack_sdk sends some methods' arguments (conversations.open) as the query
        for key in ("blocks", "files"):
            if isinstance(data.get(key), str):
                try:
                    data[key] = json.loads(data[key])
                except json.JSONDecodeError:
                    pass
        self.calls.append(Call(method, data))
        failure = self.pop_failure(method)
        if failure:
            status, retry_after = failure
            headers = {"Retry-After": str(int(retry_after))} if retry_after else {}
            return web.json_response({"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"},
                                     status=status, headers=headers)
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        if method in ("chat.postMessage", "chat.postEphemeral"):
            self.shown[ts] = (data.get("channel"), data.get("text", ""))
        elif method == "chat.update":
            if self.shown.get(data.get("ts"), (None,))[0] != data.get("channel"):
                # Slack answers 200 with ok=false for a message it does not have in that channel.
                return web.json_response({"ok": False, "error": "message_not_found"})
            self.shown[data["ts"]] = (data.get("channel"), data.get("text", ""))
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            return web.json_response({"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id})
        if method == "files.completeUploadExternal":
            files = data.get("files") or []
            return web.json_response({"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]})
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": f"D{data.get('users', 'U')}"}})
        if method == "auth.test":
            return web.json_response({"ok": True, "user_id": "UBOT", "bot_id": "BBOT"})
        return web.json_response({"ok": True, "channel": data.get("channel"), "ts": data.get("ts") or ts,
                                  "message": {"text": data.get("text"), "ts": ts}})

    @property
    def response_url(self) -> str:
        """A response_url as Slack puts in slash commands and interactions (posts recorded as 'response_url')."""
        return f"http://127.0.0.1:{self.port}/response/{next(self._ts)}"

    async def _response_url(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.calls.append(Call("response_url", {"hook": request.match_info["hook"], **data}))
        failure = self.pop_failure("response_url")
        if failure:
            return web.Response(status=failure[0], text="rate_limited" if failure[0] == 429 else "server_error")
        return web.Response(text="ok")

    def form(self, secret: str, fields: dict) -> tuple[bytes, dict]:
        """A signed form body (slash command or interactivity) as Slack sends it."""
        from urllib.parse import urlencode

        body = urlencode(fields).encode()
        return body, self.sign(secret, body) | {"Content-Type": "application/x-www-form-urlencoded"}

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.uploads[request.match_info["file_id"]] = body
        self.calls.append(Call("upload", {"file_id": request.match_info["file_id"], "size": len(body)}))
        return web.Response(text="OK")

    @staticmethod
    def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": "application/json"}

    async def send_event(self, url: str, secret: str, event: dict, *, event_id: str | None = None,
                         timestamp: int | None = None, retry_num: int | None = None, bad_signature: bool = False) -> aiohttp.ClientResponse:
        payload = {"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event": event,
                   "event_id": event_id or f"Ev{next(self._ts)}", "event_time": int(time.time())}
        body = json.dumps(payload).encode()
        headers = self.sign("wrong-secret" if bad_signature else secret, body, timestamp)
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                return resp
