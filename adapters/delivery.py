"""What every chat adapter shares: answering in tracked background tasks (bounded per bot, cancelled
on shutdown) so webhooks acknowledge at once, retrying platform API calls with backoff, learning each
bot account's own identity in the background, and reading webhook JSON safely."""
from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from tabletalk.adapters.rest.http import loads_bounded
from tabletalk.core.errors import Invalid

log = logging.getLogger("tabletalk.delivery")
T = TypeVar("T")
PER_BOT_CONCURRENCY = 8
MAX_RETRY_AFTER = 30.0


class Deliveries:
    """Background answering work of one app."""

    def __init__(self):
        self.tasks: set[asyncio.Task] = set()
        self._limits: dict[str, asyncio.Semaphore] = {}
        self.identities = Identities(self)
        self.tokens: dict[str, tuple] = {}  # cached platform access tokens (Feishu tenant_access_token)

    def start(self, bot_id: str, work: Awaitable[None], *, label: str,
              first: Callable[[], Awaitable[bool]] | None = None) -> asyncio.Task:
        """Run `work` in the background. With `first` (the dispatcher's dedup of the event id), it
        runs only for the first delivery: the dedup write happens here, after the webhook has
        acknowledged, because under load it queues behind the answers' own writes to the store."""
        limit = self._limits.setdefault(bot_id, asyncio.Semaphore(PER_BOT_CONCURRENCY))

        async def run():
            try:
                if first is not None and not await first():
                    return  # a redelivery: already answered or being answered
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

    def keep(self, work: Awaitable[T]) -> asyncio.Future[T]:
        """Run `work` to its end whatever happens to the request that started it (tracked, drained
        on shutdown); await the returned future shielded to get its result."""
        task = asyncio.ensure_future(work)
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


class Identities:
    """Each platform account's own identity (Telegram getMe, Slack auth.test, Feishu bot info),
    looked up once in the background and cached; never fetched on a webhook's path. A failed lookup
    is retried in the background with a growing delay until it succeeds."""

    RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

    def __init__(self, deliveries: "Deliveries"):
        self._deliveries = deliveries
        self._known: dict[str, object] = {}
        self._learning: dict[str, asyncio.Task] = {}
        self.failures: dict[str, str] = {}  # key -> last error, while unknown

    def peek(self, key: str):
        return self._known.get(key)

    def learn(self, key: str, fetch: Callable[[], Awaitable[object]]) -> asyncio.Task | None:
        """Start looking `key` up in the background (once); None when already known."""
        if key in self._known:
            return None
        task = self._learning.get(key)
        if task is None or task.done():
            task = self._learning[key] = asyncio.create_task(self._run(key, fetch), name=f"identity:{key.split(':')[0]}")
            self._deliveries.tasks.add(task)
            task.add_done_callback(self._deliveries.tasks.discard)
        return task

    async def wait(self, key: str, fetch: Callable[[], Awaitable[object]], timeout: float):
        """The identity, learning it if needed and waiting at most `timeout` s (background work only)."""
        task = self.learn(key, fetch)
        if task is not None:
            await asyncio.wait([task], timeout=timeout)
        return self._known.get(key)

    async def _run(self, key: str, fetch) -> None:
        for attempt in itertools.count():
            try:
                self._known[key] = await fetch()
                self.failures.pop(key, None)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the platform is down or slow: keep trying, quietly
                self.failures[key] = f"{type(exc).__name__}: {exc}"[:200]
                delay = self.RETRY_DELAYS[min(attempt, len(self.RETRY_DELAYS) - 1)]
                log.warning("identity lookup for %s failed (%s); retrying in %.0fs", key.split(":")[0],
                            type(exc).__name__, delay)
                await asyncio.sleep(delay)


DELIVERIES = web.AppKey("deliveries", Deliveries)
# Per platform: (channel attribute on a bot's channels, key of its identity, fetch(app, channel)).
IDENTITY_SOURCES: dict[str, tuple[Callable, Callable]] = {}


def identity_source(platform: str, key: Callable, fetch: Callable) -> None:
    """Adapters register how their account identity is keyed and fetched (looked up at start-up)."""
    IDENTITY_SOURCES[platform] = (key, fetch)


def learn_identity(app: web.Application, platform: str, channel) -> asyncio.Task | None:
    key, fetch = IDENTITY_SOURCES[platform]
    return app[DELIVERIES].identities.learn(key(channel), lambda: fetch(app, channel))


def peek_identity(app: web.Application, platform: str, channel):
    """The account's identity if already known (what a webhook handler may use); None otherwise."""
    return app[DELIVERIES].identities.peek(IDENTITY_SOURCES[platform][0](channel))


async def identity(app: web.Application, platform: str, channel, timeout: float = 30.0):
    """The account's identity for background work: waits (bounded) while a lookup is under way."""
    key, fetch = IDENTITY_SOURCES[platform]
    return await app[DELIVERIES].identities.wait(key(channel), lambda: fetch(app, channel), timeout)


def install(app: web.Application) -> None:
    """Give the app its runner, drained (then cancelled) on shutdown; look up every configured bot
    account's identity in the background once the bots are loaded."""
    app[DELIVERIES] = Deliveries()

    async def learn_all(a: web.Application) -> None:
        from tabletalk.adapters.rest.app import DISPATCHER

        dispatcher = a[DISPATCHER]
        for row in await dispatcher.bots.list():
            try:
                bot = await dispatcher.bot(row.id)
            except Exception:  # a bot that no longer validates is reported by `tabletalk bots check`
                continue
            for platform in IDENTITY_SOURCES:
                channel = getattr(bot.channels, platform, None)
                if channel is not None:
                    learn_identity(a, platform, channel)

    async def drain(a: web.Application) -> None:
        await a[DELIVERIES].drain(5.0)

    app.on_startup.append(learn_all)
    app.on_shutdown.append(drain)


def deliveries(app: web.Application) -> Deliveries:
    return app[DELIVERIES]


def parse_json(raw: bytes):
    """A webhook body as JSON: a 400 for malformed, non-UTF-8 or too deeply nested bodies, never a
    500 — the same nesting bound as every REST route (`loads_bounded`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("The body is not UTF-8 JSON.") from None
    return loads_bounded(text)


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
