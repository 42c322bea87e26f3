"""A load generator that costs next to no CPU: N prepared HTTP/1.1 requests, each from a fresh
connection, all opened at once and driven by one epoll loop in the calling thread.

On a 2-core machine whatever CPU the load generator spends is CPU the service under test does not
get. An aiohttp client spends about as much per request as the service itself (0.6 ms); asyncio
with a lean protocol still about 0.25 ms. Here a request is a socket, a send, a few receives and
the service's own answer reader (core/llm/http.py): tens of microseconds of Python, the rest the
kernel's loopback TCP.
"""
from __future__ import annotations

import json
import select
import socket
import time

from tabletalk.core.llm.http import _Parser  # the service's own HTTP/1.x answer reader


def request(port: int, path: str, headers: dict[str, str], body: dict) -> bytes:
    """One POST of `body` as JSON, as a client sends it."""
    data = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json", "Accept: */*",
            "User-Agent: bench/lean", f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data


def burst(port: int, requests: list[bytes], ok, timeout: float = 900) -> tuple[float, int]:
    """Send each request on its own new connection to 127.0.0.1:port, all at once; (wall seconds,
    errors), where an answer is an error unless `ok(status, body)`. Each connection is closed as soon
    as its answer has arrived."""
    poll = select.epoll()
    conns: dict[int, list] = {}  # fd -> [socket, bytes still to send, the answer's parser]
    errors = 0
    t0 = time.perf_counter()
    for data in requests:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))  # EINPROGRESS: writable once connected
        conns[s.fileno()] = [s, data, _Parser()]
        poll.register(s.fileno(), select.EPOLLOUT)
    deadline = t0 + timeout
    try:
        while conns and time.perf_counter() < deadline:
            for fd, events in poll.poll(max(0.0, deadline - time.perf_counter())):
                conn = conns[fd]
                s, pending, answer = conn
                try:
                    if pending:
                        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                            raise ConnectionRefusedError
                        conn[1] = pending[s.send(pending):]
                        if not conn[1]:
                            poll.modify(fd, select.EPOLLIN)
                        continue
                    chunk = s.recv(65536)
                    if chunk:
                        if not answer.feed(chunk):
                            continue
                        errors += not ok(answer.status, answer.response().body)
                    else:
                        errors += 1  # closed before the whole answer came
                except (OSError, ValueError):
                    errors += 1
                poll.unregister(fd)
                s.close()
                del conns[fd]
    finally:
        errors += len(conns)  # still unanswered at the deadline
        for s, _, _ in conns.values():
            s.close()
        poll.close()
    return time.perf_counter() - t0, errors
