"""A fake OpenAI-compatible model for benchmarks that costs next to no CPU: an asyncio protocol
answering each `POST …/chat/completions` with the same prepared completion after `--latency`
seconds, and `GET …/models` at once. HTTP/1.1 keep-alive, requests framed by Content-Length.

tests/fakes/openai_server.py is the fake the tests script (errors, streams, recorded prompts); it
runs on aiohttp and spends about as much CPU per call as the service does, which on a 2-core machine
is CPU the service under test does not get. This one spends tens of microseconds a call, so a
burst's wall time is the service's and the model's latency, not the fake's.

    python -m bench.lean_model --port 9999 --latency 0.2
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket

REPLY = "```sql\nSELECT COUNT(*) AS count FROM orders\n```"


def _answer(status: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode("latin-1") + data


def completion(text: str = REPLY) -> bytes:
    return _answer("200 OK", {
        "id": "chatcmpl-lean", "object": "chat.completion", "created": 0, "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010}})


MODELS = _answer("200 OK", {"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0,
                                                          "owned_by": "bench"}]})
NOT_FOUND = _answer("404 Not Found", {"error": {"message": "not found", "type": "fake_error"}})


class _Model(asyncio.Protocol):
    def __init__(self, latency: float, reply: bytes):
        self.latency, self.reply = latency, reply
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return  # the body is still coming
            self.buffer = self.buffer[end + 4 + length:]
            method, path = head.split(" ", 2)[:2]
            if method == "POST" and path.endswith("/chat/completions"):
                asyncio.get_running_loop().call_later(self.latency, self._write, self.reply)
            else:
                self._write(MODELS if path.endswith("/models") else NOT_FOUND)

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)


async def serve(port: int, latency: float, reply: bytes) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = await asyncio.get_running_loop().create_server(lambda: _Model(latency, reply), sock=sock,
                                                            backlog=4096)  # a burst never overflows it
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds before each completion")
    parser.add_argument("--reply", default=REPLY, help="the text every completion answers with")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.latency, completion(args.reply)))
    except KeyboardInterrupt:
        pass
