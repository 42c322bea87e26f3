"""The Feishu / Lark Open API calls TableTalk makes, as plain HTTP over one pooled aiohttp session
per base URL: the tenant_access_token, bot info, and the im.v1 message calls (reply, send, patch a
card, upload an image).

Not lark-oapi: its async methods build a new httpx client for every call (~18 ms of CPU on the
event loop, two or three calls per answer) and take no shared one. The wire format is lark-oapi
1.7's and the Open API documentation's: JSON bodies, `Authorization: Bearer <tenant_access_token>`,
message ids percent-encoded in the path, and Feishu's `code` / `msg` in every answer, whatever its
HTTP status (0 is success)."""
from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import aiohttp

DOMAINS = {"feishu": "https://open.feishu.cn", "lark": "https://open.larksuite.com"}
RETRYABLE_CODES = {99991400, 99991401, 1000004, 1000005}  # frequency limits and transient server errors
# The tenant_access_token was refused (expired or revoked before our cache thought): fetch a new one
# and try once more. The codes lark-oapi itself treats as an invalid token.
TOKEN_REFUSED_CODES = {99991663, 99991664, 99991665, 99991666, 99991668}
# lark-oapi's: 30 s for each of connect and read; the token and bot-info calls had 10 s.
API_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=30, sock_read=30)
AUTH_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=10)


class FeishuError(Exception):
    def __init__(self, what: str, code: int, msg: str, status: int | None):
        super().__init__(f"{what}: {code} {msg}")
        self.code, self.status = code, status


def classify(exc: Exception) -> float | None:
    """The delay before retrying a failed call (0: our backoff), or None when retrying is pointless."""
    if isinstance(exc, FeishuError):
        if exc.status == 429 or (exc.status or 0) >= 500 or exc.code in RETRYABLE_CODES:
            return 1.0 if exc.status == 429 else 0.0
        return None
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
        return 0.0
    return None


def base_url(domain: str) -> str:
    return DOMAINS.get(domain, domain.rstrip("/"))


class OpenApi:
    """One Open API base URL and its one HTTP session, made on first use inside the running loop
    (connections kept alive across calls and answers) and closed with `close()`."""

    def __init__(self, base: str):
        self.base = base
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if self._closed:
                raise RuntimeError("the Feishu API client is closed (the service is shutting down)")
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ttl_dns_cache=300))
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, what: str, method: str, path: str, *, token: str | None = None, body: dict | None = None,
                   form: aiohttp.FormData | None = None, params: dict | None = None,
                   timeout: aiohttp.ClientTimeout = API_TIMEOUT) -> dict:
        """Feishu's answer as a dict, or FeishuError with its code, msg and HTTP status."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        data = form
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        async with self._http().request(method, self.base + path, params=params, data=data, headers=headers,
                                        timeout=timeout) as resp:
            raw, status, reason = await resp.read(), resp.status, resp.reason or ""
        try:
            answer = json.loads(raw)
        except ValueError:  # a proxy's HTML error page, say
            answer = None
        if not isinstance(answer, dict):
            raise FeishuError(what, -1, reason or "not a JSON answer", status)
        code = answer.get("code", -1)
        if code != 0 or status >= 400:
            raise FeishuError(what, code if isinstance(code, int) else -1, str(answer.get("msg") or reason), status)
        return answer

    # ---- the calls ----

    async def tenant_token(self, app_id: str, app_secret: str) -> tuple[str, int]:
        """A tenant_access_token of a self-built app and its lifetime in seconds."""
        answer = await self.call("tenant_access_token", "POST", "/open-apis/auth/v3/tenant_access_token/internal",
                                 body={"app_id": app_id, "app_secret": app_secret}, timeout=AUTH_TIMEOUT)
        token = answer.get("tenant_access_token")
        if not isinstance(token, str) or not token:
            raise FeishuError("tenant_access_token", -1, "no token in the answer", 200)
        return token, int(answer.get("expire") or 7200)

    async def bot_open_id(self, token: str) -> str:
        answer = await self.call("bot info", "GET", "/open-apis/bot/v3/info", token=token, timeout=AUTH_TIMEOUT)
        open_id = (answer.get("bot") or {}).get("open_id") if isinstance(answer.get("bot"), dict) else None
        if not open_id:
            raise FeishuError("bot info", -1, "no open_id in the answer", 200)
        return open_id

    async def reply(self, token: str, message_id: str, content: dict) -> str:
        """Reply to a message with an interactive card; the new message's id."""
        answer = await self.call("reply", "POST", f"/open-apis/im/v1/messages/{_path(message_id)}/reply", token=token,
                                 body={"content": _card(content), "msg_type": "interactive"})
        return (answer.get("data") or {}).get("message_id")

    async def patch(self, token: str, message_id: str, content: dict) -> None:
        """Replace a shared card's content (Feishu: 230001 for a message that is not one)."""
        await self.call("patch", "PATCH", f"/open-apis/im/v1/messages/{_path(message_id)}", token=token,
                        body={"content": _card(content)})

    async def send(self, token: str, receive_id_type: str, receive_id: str, content: dict) -> str:
        """Send an interactive card to a user (open_id) or a chat (chat_id); the new message's id."""
        answer = await self.call("send", "POST", "/open-apis/im/v1/messages", token=token,
                                 params={"receive_id_type": receive_id_type},
                                 body={"receive_id": receive_id, "msg_type": "interactive", "content": _card(content)})
        return (answer.get("data") or {}).get("message_id")

    async def upload_image(self, token: str, png: bytes) -> str:
        """Upload an image to show in messages; its image_key."""
        form = aiohttp.FormData()
        form.add_field("image_type", "message")
        form.add_field("image", png, filename="upload", content_type="application/octet-stream")
        answer = await self.call("image upload", "POST", "/open-apis/im/v1/images", token=token, form=form)
        return (answer.get("data") or {}).get("image_key")


class OpenApis:
    """The OpenApi of each base URL one app talks to (every bot on open.feishu.cn shares one)."""

    def __init__(self):
        self._apis: dict[str, OpenApi] = {}
        self._closed = False

    def __call__(self, domain: str) -> OpenApi:
        base = base_url(domain)
        api = self._apis.get(base)
        if api is None:
            api = self._apis[base] = OpenApi(base)
            api._closed = self._closed  # one made during shutdown opens nothing
        return api

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(api.close() for api in self._apis.values()))


def _card(content: dict) -> str:
    return json.dumps(content, ensure_ascii=False)


def _path(message_id: str) -> str:
    return quote(str(message_id), safe="")
