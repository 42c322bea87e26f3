"""The service's loop handles a burst of ready sockets a few per iteration, and every one of them."""
from __future__ import annotations

import asyncio
import socket

from tabletalk.adapters import event_loop
from tabletalk.adapters.event_loop import MAX_EVENTS, PacedEventLoop

SOCKETS = 5 * MAX_EVENTS


def _burst(loop: asyncio.AbstractEventLoop) -> list[int]:
    """How many sockets were read in each loop iteration, when all were ready at once."""
    pairs = [socket.socketpair() for _ in range(SOCKETS)]
    per_tick: list[int] = [0]
    done = loop.create_future()
    read = 0

    def tick():  # a callback scheduled from a callback runs in the next iteration: one per iteration
        if not done.done():
            per_tick.append(0)
            loop.call_soon(tick)

    def on_ready(sock: socket.socket):
        nonlocal read
        sock.recv(16)
        loop.remove_reader(sock)
        per_tick[-1] += 1
        read += 1
        if read == SOCKETS:
            done.set_result(None)

    try:
        for a, b in pairs:
            b.send(b"x")
            a.setblocking(False)
            loop.add_reader(a, on_ready, a)
        loop.call_soon(tick)
        loop.run_until_complete(asyncio.wait_for(done, 10))
    finally:
        for a, b in pairs:
            a.close()
            b.close()
    return per_tick


def test_a_burst_of_ready_sockets_is_spread_over_iterations_and_none_is_lost():
    loop = PacedEventLoop()
    try:
        per_tick = _burst(loop)
    finally:
        loop.close()
    assert sum(per_tick) == SOCKETS
    assert max(per_tick) <= MAX_EVENTS
    assert len([n for n in per_tick if n]) >= SOCKETS // MAX_EVENTS


def test_the_plain_loop_reads_them_all_in_one_iteration():
    """What the paced loop changes: asyncio's own loop takes the whole burst in one go."""
    loop = asyncio.SelectorEventLoop()
    try:
        per_tick = _burst(loop)
    finally:
        loop.close()
    assert max(per_tick) > MAX_EVENTS


def test_run_returns_the_coroutines_result_on_a_paced_loop():
    async def which():
        return type(asyncio.get_running_loop())

    assert event_loop.run(which()) is PacedEventLoop
