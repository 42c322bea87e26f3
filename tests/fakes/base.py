"""What the fake platform servers share: a local aiohttp server that records every API call, can be
told to fail the next calls of one kind, and lets tests wait (bounded) for calls to arrive."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Call:
    method: str
    data: dict
    files: dict = field(default_factory=dict)


class RecordingServer:
    def __init__(self):
        self.calls: list[Call] = []
        self._failures: dict[str, list[tuple[int, float]]] = {}
        self._stalls: dict[str, float] = {}
        self.shown: dict = {}  # message id -> (chat, text it shows now), kept by fakes whose messages can be edited
        self._runner: web.AppRunner | None = None
        self.port = 0

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def fail_next(self, kind: str, status: int, times: int = 1, retry_after: float = 0) -> None:
        self._failures.setdefault(kind, []).extend([(status, retry_after)] * times)

    def stall(self, kind: str, seconds: float) -> None:
        """Answer calls of one kind only after `seconds` (0: no longer stall)."""
        self._stalls[kind] = seconds

    async def stalled(self, kind: str) -> None:
        if self._stalls.get(kind):
            await asyncio.sleep(self._stalls[kind])

    def pop_failure(self, kind: str) -> tuple[int, float] | None:
        pending = self._failures.get(kind)
        return pending.pop(0) if pending else None

    def called(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.method == kind]

    def texts(self, chat=None) -> list[str]:
        """What each message the bot sent shows now (after edits), in the order they were sent."""
        return [t for c, t in self.shown.values() if chat is None or c == chat]

    async def wait_for_texts(self, count: int, *, chat=None, timeout: float = 15.0) -> list[str]:
        """The bot's messages once `count` of them show something other than the progress note."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len([t for t in self.texts(chat) if t != "Working on it…"]) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.texts(chat)}: expected {count} answers")
            await asyncio.sleep(0.02)
        return self.texts(chat)

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 15.0) -> list[Call]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.called(kind)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{kind}: {len(self.called(kind))} calls, expected {count}: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.02)
        return self.called(kind)

    async def __aenter__(self):
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()
