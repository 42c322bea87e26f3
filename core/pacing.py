"""Pacing CPU work on the event loop: a burst is spread over many short loop iterations.

asyncio runs every callback that became ready in one iteration before it looks at timers or new
I/O again. When a thousand requests (or a thousand model answers) arrive together, each one's next
stretch of CPU work — reading the question, the built-in engine, the prompt, the policy rewrite —
runs back to back in one iteration, and every other request, heartbeat and webhook ack waits
hundreds of milliseconds behind it.

`await turn()` before such a stretch lets at most PER_TICK tasks start one per loop iteration; the
others wait, in arrival order, for the following iterations. The total CPU is the same (a waiting
task costs one future); what changes is that no single iteration holds the loop for long, so the
loop keeps answering timers, health checks and webhooks in between. A task that finds the gate
free passes without yielding.
"""
from __future__ import annotations

import asyncio
from collections import deque

PER_TICK = 4  # tasks that may start a CPU stretch per loop iteration (each ~0.1–0.5 ms; 4 kept webhook acks
# under 100 ms at p99 beside a 1,000-answer burst where 8 did not, at the same CPU per answer: bench/webhooks.py)


class Turnstile:
    def __init__(self, loop: asyncio.AbstractEventLoop, per_tick: int = PER_TICK):
        self.loop = loop
        self.per_tick = per_tick
        self.passed = 0  # tasks let through in the current iteration
        self.waiting: deque[asyncio.Future] = deque()
        self._tick_pending = False

    async def turn(self) -> None:
        if self.passed < self.per_tick and not self.waiting:
            self.passed += 1
            self._schedule()
            return
        fut = self.loop.create_future()
        self.waiting.append(fut)
        self._schedule()
        await fut

    def _schedule(self) -> None:
        if not self._tick_pending:
            self._tick_pending = True
            self.loop.call_soon(self._tick)  # runs in the next iteration

    def _tick(self) -> None:
        self._tick_pending = False
        self.passed = 0
        while self.waiting and self.passed < self.per_tick:
            fut = self.waiting.popleft()
            if not fut.done():  # a cancelled waiter gives its place away
                fut.set_result(None)
                self.passed += 1
        if self.waiting or self.passed:
            self._schedule()


_gates: dict[asyncio.AbstractEventLoop, Turnstile] = {}


async def turn() -> None:
    """Wait (if need be) for this loop iteration's share of CPU work; see the module docstring."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None or gate.loop.is_closed():
        for old in [lp for lp in _gates if lp.is_closed()]:
            del _gates[old]
        gate = _gates[loop] = Turnstile(loop)
    await gate.turn()
