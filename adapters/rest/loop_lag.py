"""A tiny event-loop lag monitor: how late a 50 ms sleep wakes up, kept as per-second maxima.

A stalled loop (garbage collection, CPU-heavy work on the loop thread) delays every request; the
worst lag of the last ten seconds is shown by `GET /healthz` so a benchmark or an operator can see it,
beside the longest garbage-collection pause of the same window.
"""
from __future__ import annotations

import asyncio
import gc
import time
from collections import deque

TICK = 0.05
WINDOW = 10  # seconds of per-second maxima kept


class LoopLag:
    def __init__(self):
        self._buckets: deque[tuple[int, float]] = deque(maxlen=WINDOW)
        self._task: asyncio.Task | None = None
        self._gc_started = 0.0
        self._gc: deque[tuple[int, float]] = deque(maxlen=WINDOW)  # per-second longest collection

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        gc.callbacks.append(self._on_gc)

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _on_gc(self, phase: str, info: dict) -> None:
        """The garbage collector's pauses: one of the causes of lag worth telling apart."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            _keep_max(self._gc, time.perf_counter() - self._gc_started)

    def gc_max_ms(self) -> float:
        return _recent_max_ms(self._gc)

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(TICK)
            _keep_max(self._buckets, time.perf_counter() - t0 - TICK)

    def max_ms(self) -> float:
        return _recent_max_ms(self._buckets)


def _keep_max(buckets: deque[tuple[int, float]], value: float) -> None:
    second = int(time.monotonic())
    if buckets and buckets[-1][0] == second:
        if value > buckets[-1][1]:
            buckets[-1] = (second, value)
    else:
        buckets.append((second, value))


def _recent_max_ms(buckets: deque[tuple[int, float]]) -> float:
    now = int(time.monotonic())
    return round(max((v for second, v in buckets if now - second < WINDOW), default=0.0) * 1000, 1)
