"""A local fake OpenAI-compatible server speaking the real chat-completions wire protocol.

    async with FakeOpenAI() as fake:                 # 127.0.0.1, ephemeral port
        fake.script(Reply("```sql\\nSELECT 1\\n```"), Status(500), Reply("done", delay=0.2))
        fake.default = lambda body: "```sql\\nSELECT 1\\n```"   # when the script is empty
        ... OPENAI_BASE_URL=fake.base_url ...
        fake.requests                                # every request body received, in order

Behaviours: `Reply(text, delay=0)`, `Status(code, body=None, headers=None)` (e.g. 429 with
Retry-After), `Garbage(raw_bytes)` (a truncated or non-JSON body), `Hang(seconds)`.
Standalone for benchmarks: `python -m tests.fakes.openai_server --port 9999 --latency 0.2`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Reply:
    text: str
    delay: float = 0.0


@dataclass
class Status:
    code: int
    body: dict | None = None
    headers: dict = field(default_factory=dict)


@dataclass
class Garbage:
    raw: bytes = b'{"id": "chatcmpl-1", "choices": [{"message": {"content": "SEL'


@dataclass
class Hang:
    seconds: float = 3600.0


class FakeOpenAI:
    def __init__(self, *, latency: float = 0.0, default: Callable[[dict], str] | None = None):
        self.latency = latency
        self.default = default or (lambda body: "I have nothing to say.")
        self.requests: list[dict] = []
        self._script: deque = deque()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def script(self, *behaviours) -> None:
        self._script.extend(behaviours)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        return app

    async def __aenter__(self) -> "FakeOpenAI":
        # Cancel handlers of disconnected clients so a scripted Hang never delays shutdown.
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
        return self

    async def __aexit__(self, *exc) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "tests"}]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        behaviour = self._script.popleft() if self._script else Reply(self.default(body))
        if self.latency:
            await asyncio.sleep(self.latency)
        if isinstance(behaviour, Hang):
            await asyncio.sleep(behaviour.seconds)
        if isinstance(behaviour, Status):
            payload = behaviour.body or {"error": {"message": f"fake status {behaviour.code}", "type": "fake", "code": behaviour.code}}
            return web.json_response(payload, status=behaviour.code, headers=behaviour.headers)
        if isinstance(behaviour, Garbage):
            return web.Response(body=behaviour.raw, content_type="application/json")
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        model = body.get("model", "fake-model")
        if body.get("stream"):
            return await self._stream(request, behaviour.text, model)
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": behaviour.text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})

    async def _stream(self, request: web.Request, text: str, model: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(0, len(text), 16):
            chunk = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                     "choices": [{"index": 0, "delta": {"content": text[i:i + 16]}, "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    fake = FakeOpenAI(latency=args.latency, default=lambda body: "```sql\nSELECT COUNT(*) AS count FROM orders\n```")
    fake.port = args.port
    web.run_app(fake.app(), host="127.0.0.1", port=args.port, access_log=None)


if __name__ == "__main__":
    _main()
