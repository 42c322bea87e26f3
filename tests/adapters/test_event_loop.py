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


def _late_arrival(loop: asyncio.AbstractEventLoop) -> tuple[int, int]:
    """A burst of ready sockets, and one more that becomes ready after the first iteration: (the
    iteration the late one was read in, the iteration the last of the burst was read in)."""
    pairs = [socket.socketpair() for _ in range(SOCKETS)]
    late_a, late_b = socket.socketpair()
    iteration, read_in, left = 0, {}, SOCKETS + 1
    done = loop.create_future()

    def tick():
        nonlocal iteration
        iteration += 1
        if iteration == 2:
            late_b.send(b"x")  # ready now, behind the burst's unread sockets
        if not done.done():
            loop.call_soon(tick)

    def on_ready(sock: socket.socket):
        nonlocal left
        sock.recv(16)
        loop.remove_reader(sock)
        read_in[sock] = iteration
        left -= 1
        if not left:
            done.set_result(None)

    try:
        for a, b in pairs:
            b.send(b"x")
        for a in [a for a, _ in pairs] + [late_a]:
            a.setblocking(False)
            loop.add_reader(a, on_ready, a)
        loop.call_soon(tick)
        loop.run_until_complete(asyncio.wait_for(done, 10))
        return read_in[late_a], max(read_in[a] for a, _ in pairs)
    finally:
        for a, b in pairs + [(late_a, late_b)]:
            a.close()
            b.close()


def test_a_socket_ready_behind_a_burst_is_read_at_once_not_after_the_backlog():
    loop = PacedEventLoop()
    try:
        late, backlog_done = _late_arrival(loop)
    finally:
        loop.close()
    assert late <= 3  # ready during iteration 2: read in the next one
    assert backlog_done >= late + 2  # while most of the burst was still waiting


def test_first_come_first_served_alone_reads_it_after_the_whole_backlog(monkeypatch):
    """What taking the newest few changes: with only the oldest taken, the late socket waits."""
    monkeypatch.setattr(event_loop, "NEWEST", 0)
    loop = PacedEventLoop()
    try:
        late, backlog_done = _late_arrival(loop)
    finally:
        loop.close()
    assert late >= backlog_done


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
