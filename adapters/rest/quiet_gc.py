"""Full garbage collections while no request is in flight.

A full collection walks every object the process keeps (schema caches, indexes, pooled state)
and under a burst also every in-flight request's: on this project's 2-core machine that is a
50-120 ms freeze, paid in the middle of the burst because a burst is what promotes objects to the
oldest generation. `tabletalk serve` therefore leaves only the young collections automatic (small
thresholds: a few milliseconds each, see adapters/serve.py) and this monitor runs the full ones:
once no request has been in flight for QUIET seconds, or after MAX_INTERVAL whatever the load, so
what cyclic garbage holds stays bounded under traffic that never pauses.
"""
from __future__ import annotations

import asyncio
import gc
import time

from aiohttp import web

QUIET = 2.0  # seconds without a request in flight before a full collection may run
MIN_INTERVAL = 10.0  # at most one quiet full collection per this many seconds
MAX_INTERVAL = 300.0  # a full collection at least this often, busy or not
CHECK = 1.0


class QuietGC:
    def __init__(self):
        self.in_flight = 0
        self.full_collections = 0
        self._last_busy = self._last_full = time.monotonic()
        self._task: asyncio.Task | None = None

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        self.in_flight += 1
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1
            self._last_busy = time.monotonic()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def due(self, now: float) -> bool:
        if gc.get_count()[2] == 0:  # nothing reached the oldest generation since the last full collection
            return False
        if now - self._last_full >= MAX_INTERVAL:
            return True
        quiet = self.in_flight == 0 and now - self._last_busy >= QUIET
        return quiet and now - self._last_full >= MIN_INTERVAL

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(CHECK)
            now = time.monotonic()
            if self.due(now):
                gc.collect()
                self.full_collections += 1
                self._last_full = time.monotonic()
