"""What every chat adapter shares: answering in tracked background tasks (bounded per bot, cancelled
on shutdown) so webhooks acknowledge at once, and retrying platform API calls with backoff."""
from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

log = logging.getLogger("tabletalk.delivery")
T = TypeVar("T")
PER_BOT_CONCURRENCY = 8
MAX_RETRY_AFTER = 30.0


class Deliveries:
    """Background answering work of one app."""

    def __init__(self):
        self.tasks: set[asyncio.Task] = set()
        self._limits: dict[str, asyncio.Semaphore] = {}
        self.identities: dict[str, tuple] = {}  # per platform token: the bot's own identity (e.g. Telegram getMe)

    def start(self, bot_id: str, work: Awaitable[None], *, label: str) -> asyncio.Task:
        limit = self._limits.setdefault(bot_id, asyncio.Semaphore(PER_BOT_CONCURRENCY))

        async def run():
            try:
                async with limit:
                    await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery %s failed", label)
            finally:
                if inspect.iscoroutine(work) and work.cr_frame is not None and not work.cr_running:
                    work.close()  # cancelled before it started: close it quietly

        task = asyncio.create_task(run(), name=label)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for in-flight answers (tests, graceful shutdown), then cancel what is left."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


DELIVERIES = web.AppKey("deliveries", Deliveries)


def install(app: web.Application) -> None:
    """Give the app its runner, drained (then cancelled) on shutdown."""
    app[DELIVERIES] = Deliveries()

    async def drain(a: web.Application) -> None:
        await a[DELIVERIES].drain(5.0)

    app.on_shutdown.append(drain)


def deliveries(app: web.Application) -> Deliveries:
    return app[DELIVERIES]


async def with_retries(call: Callable[[], Awaitable[T]], classify: Callable[[Exception], float | None], *,
                       attempts: int = 4, base: float = 0.3, what: str = "platform call") -> T:
    """Run `call`, retrying when `classify(exc)` returns a delay (seconds; honour Retry-After there),
    giving up on errors it classifies as final (None)."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as exc:
            hint = classify(exc)
            if hint is None or attempt == attempts:
                raise
            delay = max(hint, base * 2 ** (attempt - 1) * (0.8 + 0.4 * random.random()))
            log.info("%s failed (%s); retry %d in %.1fs", what, type(exc).__name__, attempt, delay)
            await asyncio.sleep(min(delay, MAX_RETRY_AFTER))
    raise AssertionError("unreachable")
