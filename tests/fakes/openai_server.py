"""A local fake OpenAI-compatible server speaking the real chat-completions wire protocol.

It listens on 127.0.0.1 (an ephemeral port unless told otherwise), answers
`POST /v1/chat/completions` (JSON, or SSE chunks ending in `data: [DONE]` when `"stream": true`)
and `GET /v1/models`, and records every request so tests can assert what the prompt carried.

    from tests.fakes.openai_server import FakeOpenAI, Reply, Status, Garbage, Hang, Disconnect

    async with FakeOpenAI() as fake:
        fake.script(                                  # one behaviour per request, in order
            Status(429, headers={"Retry-After": "1"}),
            Status(500),
            Reply("```sql\\nSELECT 1\\n```", delay=0.2),
        )
        fake.default = lambda body: "I have nothing to say."   # answers once the script is used up
        client = LLMClient(fake.base_url, "sk-test", "fake-model")   # base_url: http://127.0.0.1:PORT/v1
        ...
        fake.requests[-1]["messages"]                # request bodies received, in order
        fake.headers[-1]["Authorization"]            # and their headers

Behaviours:
    Reply(text, delay=0)            a normal completion (or stream) of `text`, after `delay` seconds
    Status(code, body=None, headers={})   an HTTP error; `body` is a dict (JSON) or str; default is
                                    OpenAI's {"error": {...}} shape
    Garbage(raw=b"...", status=200) raw bytes as the body: truncated or non-JSON
    Hang(seconds=3600)              accept the request and say nothing (a stuck upstream)
    Disconnect()                    close the connection without any response

`default` may also return a behaviour instead of a string. Every request also waits the server's
`latency`. `FakeOpenAI(record=False)` keeps no requests (long benchmark runs). For benchmarks run it
standalone (every reply is a small SQL query unless `--reply` says otherwise):

    python -m tests.fakes.openai_server --port 9999 --latency 0.2
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
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
    body: dict | str | None = None
    headers: dict = field(default_factory=dict)


@dataclass
class Garbage:
    raw: bytes = b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"message": {"content": "SEL'
    status: int = 200


@dataclass
class Hang:
    seconds: float = 3600.0


@dataclass
class Disconnect:
    pass


Behaviour = Reply | Status | Garbage | Hang | Disconnect
Responder = Callable[[dict], "str | Behaviour"]
STREAM_CHUNK = 16  # characters of content per SSE chunk


class FakeOpenAI:
    def __init__(self, *, latency: float = 0.0, default: Responder | None = None, port: int = 0,
                 models: tuple[str, ...] = ("fake-model",), record: bool = True):
        self.latency = latency
        self.record = record  # off for long benchmark runs, so memory stays flat
        self.default: Responder = default or (lambda body: "I have nothing to say.")
        self.port = port
        self.models = models
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._script: deque[Behaviour] = deque()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # --- the test-facing API -------------------------------------------------------------------
    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, one each, before `default` takes over."""
        self._script.extend(behaviours)

    @property
    def pending(self) -> int:
        """Scripted behaviours not yet used."""
        return len(self._script)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self) -> None:
        self._script.clear()
        self.requests.clear()
        self.headers.clear()

    # --- serving -------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/embeddings", self._embeddings)
        return app

    async def __aenter__(self) -> "FakeOpenAI":
        # Cancel handlers of disconnected clients so a scripted Hang never delays shutdown.
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc) -> None:
        if self._runner:
            await self._runner.cleanup()

    # Deterministic embeddings: a bag of words hashed into 64 dimensions; words listed together in
    # `embedding_synonyms` share a dimension, so tests can make "clients" mean "customers".
    embedding_synonyms: tuple[tuple[str, ...], ...] = ()

    def embedding(self, text: str) -> list[float]:
        import hashlib
        import re as _re

        vector = [0.0] * 64
        for word in _re.findall(r"[a-z]+", text.lower()):
            word = word[:-1] if word.endswith("s") and len(word) > 3 else word
            word = next((group[0] for group in self.embedding_synonyms if word in group), word)
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
        return vector

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.record:
            self.requests.append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return web.json_response({"object": "list", "model": body.get("model", "fake-embed"),
                                  "data": [{"object": "embedding", "index": i, "embedding": self.embedding(t)} for i, t in enumerate(inputs)],
                                  "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "tests"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "The body is not JSON.")
        if self.record:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
        behaviour = self._script.popleft() if self._script else self.default(body)
        if isinstance(behaviour, str):
            behaviour = Reply(behaviour)
        if self.latency:
            await asyncio.sleep(self.latency)
        if isinstance(behaviour, Hang):
            await asyncio.sleep(behaviour.seconds)
            return _error(504, "The fake hung and gave up.")
        if isinstance(behaviour, Disconnect):
            request.transport.close()
            raise asyncio.CancelledError  # nothing may be written on a closed connection
        if isinstance(behaviour, Status):
            return _status(behaviour)
        if isinstance(behaviour, Garbage):
            return web.Response(body=behaviour.raw, status=behaviour.status, content_type="application/json")
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        model = body.get("model") or self.models[0]
        usage = _usage(body, behaviour.text)
        if body.get("stream"):
            return await self._stream(request, behaviour.text, model, usage if _wants_usage(body) else None)
        return web.json_response({
            "id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": behaviour.text},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage})

    async def _stream(self, request: web.Request, text: str, model: str, usage: dict | None) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        base = {"id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model}

        async def send(choices: list, **extra) -> None:
            await resp.write(f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode())

        await send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for i in range(0, len(text), STREAM_CHUNK):
            await send([{"index": 0, "delta": {"content": text[i:i + STREAM_CHUNK]}, "finish_reason": None}])
        await send([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if usage:
            await send([], usage=usage)
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "fake_error", "param": None, "code": code}},
                             status=code)


def _status(b: Status) -> web.Response:
    if b.body is None:
        resp = _error(b.code, f"fake status {b.code}")
    elif isinstance(b.body, str):
        resp = web.Response(text=b.body, status=b.code)
    else:
        resp = web.json_response(b.body, status=b.code)
    resp.headers.update(b.headers)
    return resp


def _usage(body: dict, text: str) -> dict:
    """Token counts approximated as characters / 4, so benches can sum something plausible."""
    prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1
    completion = len(text) // 4 + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _wants_usage(body: dict) -> bool:
    return bool((body.get("stream_options") or {}).get("include_usage"))


def _main() -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server for benchmarks (127.0.0.1 only).")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added to every completion")
    parser.add_argument("--reply", default="```sql\nSELECT COUNT(*) AS count FROM orders\n```",
                        help="the text every completion answers with")
    args = parser.parse_args()
    fake = FakeOpenAI(latency=args.latency, default=lambda body: args.reply, port=args.port, record=False)
    web.run_app(fake.app(), host="127.0.0.1", port=args.port, access_log=None, backlog=4096)  # never the bottleneck


if __name__ == "__main__":
    _main()
