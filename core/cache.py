"""A small async TTL cache that never stampedes.

On a miss, concurrent callers share one load. Once an entry is older than its TTL, callers keep
getting the old value while one background refresh runs (stale-while-revalidate); a refresh that
fails drops the entry, so the next caller loads again and sees the error. Used on the request hot
path for API keys, datasources, schemas and training pairs: a burst arriving just after expiry
costs one metadata query, not one per request.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, ttl: float, *, max_items: int = 10_000):
        self.ttl = ttl
        self.max_items = max_items
        self._values: dict[Hashable, tuple[float, V]] = {}
        self._loads: dict[Hashable, asyncio.Future] = {}
        self._refreshing: dict[Hashable, asyncio.Task] = {}

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        hit = self._values.get(key)
        if hit is not None:
            if hit[0] <= time.monotonic() and key not in self._refreshing:
                task = asyncio.get_running_loop().create_task(self._refresh(key, load))
                self._refreshing[key] = task
            return hit[1]
        pending = self._loads.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._loads[key] = pending
            pending.add_done_callback(lambda fut, k=key: self._loaded(k, fut))
        return await asyncio.shield(pending)

    def _loaded(self, key: Hashable, fut: asyncio.Future) -> None:
        if self._loads.get(key) is fut:
            del self._loads[key]
        if not fut.cancelled() and fut.exception() is None:
            self.put(key, fut.result())

    async def _refresh(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> None:
        try:
            self.put(key, await load())
        except Exception as exc:  # noqa: BLE001 - the next caller loads again and sees the error
            log.debug("cache refresh of %r failed: %s", key, exc)
            self._values.pop(key, None)
        finally:
            self._refreshing.pop(key, None)

    def put(self, key: Hashable, value: V) -> None:
        if len(self._values) >= self.max_items and key not in self._values:
            self._values.clear()
        self._values[key] = (time.monotonic() + self.ttl, value)

    def pop(self, key: Hashable) -> None:
        self._values.pop(key, None)

    def drop_where(self, predicate: Callable[[V], bool]) -> None:
        self._values = {k: v for k, v in self._values.items() if not predicate(v[1])}

    def clear(self) -> None:
        self._values.clear()


class IdentityMemo:
    """Values derived from an object that is not hashable (a schema, a table, a list of values),
    kept while the memo holds it: bounded (oldest first out), keyed by `id()` and holding each object, so an id
    cannot be reused by another object while its entry lives. For pure derivations from objects
    nobody mutates after building them (cached schemas, their tables and value lists)."""

    def __init__(self, derive: Callable, *, max_items: int = 4096):
        self.derive = derive
        self.max_items = max_items
        self._items: dict[int, tuple[object, object]] = {}

    def __call__(self, obj, *args):
        key = (id(obj), *args) if args else id(obj)
        hit = self._items.get(key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        value = self.derive(obj, *args)
        keep(self._items, key, (obj, value), self.max_items)
        return value

    def clear(self) -> None:
        self._items.clear()


def keep(memo: dict, key: Hashable, value, max_items: int) -> None:
    """Store `value` under `key` in a bounded memo: at `max_items`, the oldest entry goes first."""
    if len(memo) >= max_items and key not in memo:
        memo.pop(next(iter(memo)))
    memo[key] = value
