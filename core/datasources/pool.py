"""A small, bounded, thread-safe pool of blocking database connections (SQLite's), used from worker
threads. A connection serves one query at a time; one whose use raised (a timeout, an interrupt, an
out-of-memory stop, any error) is closed rather than returned, so no half-finished state is reused.
Connections opened for an older version of the source (`identity` changed: the file was replaced)
are closed instead of reused. After `close()` each use gets a connection of its own, closed after it
(a query that raced an update of its datasource still runs, and nothing is kept open)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Generic, Hashable, Iterator, Protocol, TypeVar

from tabletalk.core.errors import Upstream


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


class ConnectionPool(Generic[C]):
    """At most `size` connections open at once; idle ones are reused, most recently used first."""

    def __init__(self, open_conn: Callable[[], C], size: int, identity: Callable[[], Hashable] = lambda: None):
        self._open = open_conn
        self._identity = identity
        self.size = size
        self._idle: list[tuple[Hashable, C]] = []
        self._open_count = 0
        self._cond = threading.Condition()
        self._closed = False

    @property
    def open_count(self) -> int:
        return self._open_count

    @contextmanager
    def connection(self, wait: float = 30.0) -> Iterator[C]:
        """A connection for one use; waits up to `wait` seconds for one to be free."""
        ident = self._identity()  # outside the lock: it may touch the file system
        conn, pooled = self._take(ident, wait)
        try:
            yield conn
        except BaseException:
            self._discard(conn, pooled)
            raise
        if pooled:
            self._give_back(ident, conn)
        else:
            conn.close()

    def take_idle(self) -> tuple[Hashable, C] | None:
        """An idle connection to the source as it is now, with its identity — never a wait and
        never a new connection (None when none is idle). Return it with `give_back` or `discard`."""
        ident = self._identity()
        stale: list[C] = []
        try:
            with self._cond:
                conn = None if self._closed else self._pop_idle(ident, stale)
        finally:
            _close_all(stale)
        return None if conn is None else (ident, conn)

    def give_back(self, ident: Hashable, conn: C) -> None:
        self._give_back(ident, conn)

    def discard(self, conn: C) -> None:
        self._discard(conn, True)

    def _take(self, ident: Hashable, wait: float) -> tuple[C, bool]:
        """A connection, and whether it counts against (and goes back to) the pool."""
        stale: list[C] = []
        try:
            with self._cond:
                conn, pooled = self._reserve(ident, wait, stale)
        finally:
            _close_all(stale)
        if conn is not None:
            return conn, True
        try:
            return self._open(), pooled  # opened outside the lock: it may take a while
        except BaseException:
            if pooled:
                self._release_slot()
            raise

    def _reserve(self, ident: Hashable, wait: float, stale: list[C]) -> tuple[C | None, bool]:
        """Under the lock: an idle connection to `ident`, else a slot reserved for a new one
        (None, True), else (None, False) once the pool is closed. Stale idle ones go to `stale`."""
        deadline = time.monotonic() + wait
        while not self._closed:
            conn = self._pop_idle(ident, stale)
            if conn is not None:
                return conn, True
            if self._open_count < self.size:
                self._open_count += 1
                return None, True
            left = deadline - time.monotonic()
            if left <= 0:
                raise Upstream(f"All {self.size} connections to the database stayed busy for {wait:g} s.")
            self._cond.wait(left)
        return None, False

    def _pop_idle(self, ident: Hashable, stale: list[C]) -> C | None:
        """Under the lock: the most recently used idle connection to `ident`; the idle ones to an
        older version of the source go to `stale` (closed by the caller, outside the lock)."""
        while self._idle:
            held, conn = self._idle.pop()
            if held == ident:
                return conn
            stale.append(conn)
            self._open_count -= 1
            self._cond.notify()
        return None

    def _release_slot(self) -> None:
        with self._cond:
            self._open_count -= 1
            self._cond.notify()

    def _give_back(self, ident: Hashable, conn: C) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append((ident, conn))
                self._cond.notify()
                return
            self._open_count -= 1
        conn.close()

    def _discard(self, conn: C, pooled: bool) -> None:
        if pooled:
            self._release_slot()
        conn.close()

    def close(self) -> None:
        """Close idle connections now and busy ones when their query ends."""
        with self._cond:
            self._closed = True
            idle, self._idle = [c for _, c in self._idle], []
            self._open_count -= len(idle)
            self._cond.notify_all()
        _close_all(idle)


def _close_all(conns: list[Closable]) -> None:
    for conn in conns:
        conn.close()
