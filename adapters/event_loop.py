"""The service's event loop: at most MAX_EVENTS ready sockets handled per loop iteration.

When a burst of a thousand connections sends its requests together, one `select` reports them all
ready and asyncio reads, parses and starts every one of them in the same iteration — on a 2-core
machine 30-60 ms during which no timer, health check or webhook ack runs, and in which the garbage
collector pays for all their new objects at once. asyncio's selectors are level-triggered (epoll,
poll, kqueue as asyncio registers them), so a socket whose event is left for later is reported
again by the next `select`: handling only the first MAX_EVENTS spreads the burst over several short
iterations at no extra work, the kernel's ready list keeping the sockets in turn. Measured with a
1,000-request burst on one worker with a core of its own (bench/concurrency.py, together with
adapters/serve.py's GC thresholds): largest loop lag 48-126 ms before, 10-42 ms at 32, the same CPU
per request within noise; at 128 the offline burst's lag was back at 60-80 ms.
"""
from __future__ import annotations

import asyncio

MAX_EVENTS = 32


class PacedEventLoop(asyncio.SelectorEventLoop):
    def _process_events(self, event_list):
        super()._process_events(event_list[:MAX_EVENTS] if len(event_list) > MAX_EVENTS else event_list)


def run(coro):
    """asyncio.run, on a PacedEventLoop."""
    with asyncio.Runner(loop_factory=PacedEventLoop) as runner:
        return runner.run(coro)
