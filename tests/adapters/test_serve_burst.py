"""`tabletalk serve` under a burst of connections: the kernel queues a thousand at once.

The service is stopped (SIGSTOP) while a thousand clients connect, so nothing is accepted and the
listen queue alone must hold them all; the kernel counts every connection it had to drop
(TcpExt ListenOverflows). Once resumed, every one of them is answered.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

NETSTAT = Path("/proc/net/netstat")
CLIENTS = 1000


def _listen_overflows() -> int:
    lines = NETSTAT.read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split()[1:], values.split()[1:]))["ListenOverflows"])
    raise AssertionError("no TcpExt line in /proc/net/netstat")


def _somaxconn() -> int:
    return int(Path("/proc/sys/net/core/somaxconn").read_text())


@pytest.mark.skipif(not NETSTAT.exists(), reason="needs Linux's /proc/net/netstat to count dropped connections")
def test_a_thousand_connections_wait_in_the_listen_queue_and_all_are_answered(tmp_path):
    assert _somaxconn() >= CLIENTS, "the kernel caps every listen queue below the burst (net.core.somaxconn)"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tabletalk.adapters.cli", "serve", "--port", str(port),
                             "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TABLETALK_HOME": str(tmp_path / "home"), "TABLETALK_ADMIN_KEY": "k"})
    clients: list[socket.socket] = []
    try:
        assert proc.stdout.readline().startswith("TableTalk listening")
        before = _listen_overflows()
        proc.send_signal(signal.SIGSTOP)  # accepts nothing until SIGCONT: the queue holds the burst
        try:
            for _ in range(CLIENTS):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex(("127.0.0.1", port))
                clients.append(c)
            time.sleep(0.5)  # the handshakes complete in the kernel (loopback) while the service is stopped
            dropped = _listen_overflows() - before
        finally:
            proc.send_signal(signal.SIGCONT)
        assert dropped == 0, f"the kernel dropped {dropped} connections: the listen queue is too short"
        assert _all_answered(clients) == CLIENTS
    finally:
        for c in clients:
            c.close()
        proc.terminate()
        assert proc.wait(30) == 0


def _all_answered(clients: list[socket.socket]) -> int:
    """Send GET /healthz on every connection and count the 200 answers (each read to its end)."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    sel = selectors.DefaultSelector()
    replies: dict[socket.socket, bytes] = {}
    for c in clients:
        sel.register(c, selectors.EVENT_WRITE)
    deadline = time.monotonic() + 60  # a hang fails the test instead of blocking the suite
    ok = 0
    while sel.get_map() and time.monotonic() < deadline:
        for key, events in sel.select(timeout=1):
            c = key.fileobj
            if events & selectors.EVENT_WRITE:
                c.sendall(request)
                replies[c] = b""
                sel.modify(c, selectors.EVENT_READ)
                continue
            chunk = c.recv(65536)
            if chunk:
                replies[c] += chunk
                continue
            sel.unregister(c)
            ok += replies[c].startswith(b"HTTP/1.1 200")
    sel.close()
    return ok
