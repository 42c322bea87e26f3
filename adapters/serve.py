"""`tabletalk serve`: one process, or N worker processes sharing one port (SO_REUSEPORT).

Everything workers must agree on lives in the metadata store (keys, datasources, chats and their
turns, webhook dedup), so any worker may answer any request. What each worker keeps in memory is
a cache with a short lifetime (API keys 5 s, datasources 5 s, schemas and training pairs 30 s, bot
configs 10 s) or per-process state that needs no agreement (open SSE streams, the model clients'
connection pools, rpm limiters — the budget is per worker).

"Listening" is printed once every worker listens; a port already taken is one line naming it.
"""
from __future__ import annotations

import asyncio
import errno
import gc
import os
import signal
import socket
import sys
import time

from tabletalk.adapters import event_loop
from tabletalk.config.settings import Settings

BACKLOG = 2048  # connections the kernel queues per listening socket while a burst is accepted
# Connections accepted per loop iteration. asyncio accepts up to its `backlog` argument in one
# callback, and aiohttp passes the listen backlog: a burst of a thousand connections was accepted
# (transports, protocols) in one stretch that held the loop for tens of milliseconds. The kernel
# queue stays BACKLOG deep (_deepen); the loop takes ACCEPT_BATCH at a time, between other work.
ACCEPT_BATCH = 32
RESPAWN_LIMIT = 5  # a worker dying more often than this per minute stops the service


class PortError(Exception):
    """The port cannot be listened on: a one-line reason for the user."""


def _bind_error(host: str, port: int, exc: OSError) -> PortError:
    if exc.errno == errno.EADDRINUSE:
        return PortError(f"port {port} on {host} is already in use; stop the other process or pick another --port")
    return PortError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


GC_THRESHOLDS = (3_000, 3, 1_000_000_000)  # young pauses ≤ ~30 ms on a slow 2-core machine; full ones: rest/quiet_gc.py


def tune_gc() -> None:
    """After start-up: move the loaded modules' objects out of the collector's sight; keep young
    collections small (each pause short) and leave full ones to quiet moments (rest/quiet_gc.py),
    so no collection freezes the loop for long under a burst."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _deepen(site) -> None:
    """Give the site's listening sockets a BACKLOG-deep kernel queue; asyncio keeps accepting
    ACCEPT_BATCH per iteration (listen() on a duplicate descriptor changes the shared socket)."""
    for sock in site._server.sockets:  # noqa: SLF001 — aiohttp keeps its asyncio Server there
        with socket.socket(fileno=os.dup(sock.fileno())) as listening:
            listening.listen(BACKLOG)


async def serve_once(settings: Settings, host: str, port: int, *, reuse_port: bool = False, on_ready=None) -> None:
    """Start the app, bind the port, report readiness, and run until SIGINT/SIGTERM."""
    from aiohttp import web

    from tabletalk.adapters.rest.app import create_app

    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=ACCEPT_BATCH, reuse_port=reuse_port or None)
        try:
            await site.start()
        except OSError as exc:
            raise _bind_error(host, port, exc) from None
        _deepen(site)
        tune_gc()
        (on_ready or (lambda: print(f"TableTalk listening on http://{host}:{port} (home: {settings.home.resolve()})",
                                    flush=True)))()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    if workers <= 1:
        event_loop.run(serve_once(settings, host, port))
        return
    _check_port(host, port)
    from tabletalk.adapters.rest.app import route_modules

    route_modules()  # imported once here, shared by the forked workers

    asyncio.run(_prepare(settings))
    gc.collect()
    gc.freeze()  # objects made before the fork stay untouched: the workers share their pages
    _Supervisor(settings, host, port, workers).run()


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise _bind_error(host, port, exc) from None


async def _prepare(settings: Settings) -> None:
    """Once, before the workers start: migrations, the demo, the generated admin key (printed once)."""
    from tabletalk.core.runtime import Core

    core = Core(settings)
    await core.start()
    await core.close()
    if core.generated_admin_key:
        print(f"Generated admin API key (shown only once, store it now): {core.generated_admin_key}", flush=True)


class _Supervisor:
    def __init__(self, settings: Settings, host: str, port: int, workers: int):
        self.settings, self.host, self.port, self.workers = settings, host, port, workers
        self.children: dict[int, int] = {}  # pid -> worker number
        self.stopping = False
        self.deaths: list[float] = []

    def run(self) -> None:
        ready_r, ready_w = os.pipe()
        for n in range(self.workers):
            self._spawn(n, ready_w)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        ready = 0
        deadline = time.monotonic() + 300
        os.set_blocking(ready_r, False)
        while ready < self.workers and not self.stopping:
            try:
                ready += len(os.read(ready_r, 64))
            except BlockingIOError:
                pass
            self._reap(ready_w, starting=True)
            if time.monotonic() > deadline:
                self._stop()
                raise PortError("the workers did not start within 300 s")
            time.sleep(0.05)
        if not self.stopping:
            print(f"TableTalk listening on http://{self.host}:{self.port} with {self.workers} workers "
                  f"(home: {self.settings.home.resolve()})", flush=True)
        while self.children:
            self._reap(ready_w)
            time.sleep(0.2)

    def _spawn(self, n: int, ready_w: int) -> None:
        pid = os.fork()
        if pid:
            self.children[pid] = n
            return
        code = 0
        try:
            _die_with_parent()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            event_loop.run(serve_once(self.settings, self.host, self.port, reuse_port=True,
                                        on_ready=lambda: os.write(ready_w, b"1")))
        except PortError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            code = 3
        except KeyboardInterrupt:
            pass
        except BaseException:  # noqa: BLE001 - a worker reports and exits; the supervisor decides
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)

    def _reap(self, ready_w: int, starting: bool = False) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            n = self.children.pop(pid, None)
            if n is None or self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            if starting or code == 3:
                self._stop()
                raise PortError(f"worker {n} could not start (exit {code})")
            now = time.monotonic()
            self.deaths = [t for t in self.deaths if now - t < 60] + [now]
            if len(self.deaths) > RESPAWN_LIMIT:
                self._stop()
                raise PortError(f"workers keep dying ({len(self.deaths)} in a minute); stopping")
            print(f"worker {n} exited ({code}); starting it again", file=sys.stderr, flush=True)
            self._spawn(n, ready_w)

    def _stop(self, *_args) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _die_with_parent() -> None:
    """A worker never outlives its supervisor (kill -9 of the service stops everything)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        os._exit(0)
