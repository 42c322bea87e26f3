"""The TTL cache on the request hot path: one load per key however many callers, stale values
served while one refresh runs, failed refreshes forgotten."""
from __future__ import annotations

import asyncio

import pytest

from tabletalk.core.cache import TtlCache


async def test_concurrent_misses_share_one_load():
    cache: TtlCache[int] = TtlCache(10)
    calls = 0

    async def load():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 7

    assert await asyncio.gather(*(cache.get("k", load) for _ in range(200))) == [7] * 200
    assert calls == 1


async def test_expired_values_are_served_while_one_refresh_runs():
    cache: TtlCache[int] = TtlCache(0.01)
    calls = 0
    release = asyncio.Event()

    async def load():
        nonlocal calls
        calls += 1
        if calls > 1:
            await release.wait()
        return calls

    assert await cache.get("k", load) == 1
    await asyncio.sleep(0.02)
    assert await asyncio.gather(*(cache.get("k", load) for _ in range(50))) == [1] * 50  # old value, no waiting
    assert calls == 2  # one refresh for all fifty
    release.set()
    await asyncio.sleep(0.01)
    assert await cache.get("k", load) == 2


async def test_a_failed_load_is_not_cached_and_every_waiter_sees_it():
    cache: TtlCache[int] = TtlCache(10)

    async def broken():
        await asyncio.sleep(0.01)
        raise LookupError("gone")

    results = await asyncio.gather(*(cache.get("k", broken) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)

    async def fine():
        return 3

    assert await cache.get("k", fine) == 3


async def test_a_failed_refresh_drops_the_entry():
    cache: TtlCache[int] = TtlCache(0.01)

    async def first():
        return 1

    async def broken():
        raise LookupError("revoked")

    assert await cache.get("k", first) == 1
    await asyncio.sleep(0.02)
    assert await cache.get("k", broken) == 1  # stale while the refresh runs
    await asyncio.sleep(0.01)
    with pytest.raises(LookupError):
        await cache.get("k", broken)
