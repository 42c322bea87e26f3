"""A tiny event-loop lag monitor: how late a 50 ms sleep wakes up, kept as per-second maxima.

A stalled loop (garbage collection, CPU-heavy work on the loop thread) delays every request; the
worst lag of the last ten seconds is shown by `GET /healthz` so a benchmark or an operator can see it.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque

TICK = 0.05
WINDOW = 10  # seconds of per-second maxima kept


class LoopLag:
    def __init__(self):
        self._buckets: deque[tuple[int, float]] = deque(maxlen=WINDOW)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(TICK)
            lag = time.perf_counter() - t0 - TICK
            second = int(time.monotonic())
            if self._buckets and self._buckets[-1][0] == second:
                if lag > self._buckets[-1][1]:
                    self._buckets[-1] = (second, lag)
            else:
                self._buckets.append((second, lag))

    def max_ms(self) -> float:
        now = int(time.monotonic())
        recent = [lag for second, lag in self._buckets if now - second < WINDOW]
        return round(max(recent, default=0.0) * 1000, 1)
