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

Which sockets: the kernel keeps the ready list in order of readiness (a level-triggered socket
that is left ready goes back in the same order; one that becomes ready later joins at the end), so
taking only the first MAX_EVENTS serves them first come, first served — and a socket that becomes
ready behind a burst (a webhook delivery, a model's reply) waits until the whole backlog before it
has been read. Each iteration therefore takes the oldest MAX_EVENTS - NEWEST and the NEWEST most
recent ones: the backlog still drains in order, and what arrives after it is read at once while
it arrives at fewer than NEWEST sockets an iteration. Measured with bench/webhooks.py (2 workers,
runs of each setting interleaved, on a machine noisier in the second series): webhook ack p99
beside a 1,000-answer burst, taking the first 32 only: median 89 ms (79-188, 9 runs) and 120 ms
(97-138, 4 runs); with 8 newest: 65 ms (52-215, lower in 8 of 9 pairs), but the LLM-path burst's
loop lag rose from a median 43 to 49 ms (6 runs each, one worker on its own core); with 4 newest:
89 ms (88-95, lower in 4 of 4 pairs), loop lag unchanged (LLM path 30 against 35 ms, offline 38
against 36 ms).
"""
from __future__ import annotations

import asyncio

MAX_EVENTS = 32
NEWEST = 4  # of each iteration's MAX_EVENTS, taken from the end of the ready list


class PacedEventLoop(asyncio.SelectorEventLoop):
    def _process_events(self, event_list):
        if len(event_list) > MAX_EVENTS:
            event_list = event_list[:MAX_EVENTS - NEWEST] + event_list[len(event_list) - NEWEST:]
        super()._process_events(event_list)


def run(coro):
    """asyncio.run, on a PacedEventLoop."""
    with asyncio.Runner(loop_factory=PacedEventLoop) as runner:
        return runner.run(coro)
