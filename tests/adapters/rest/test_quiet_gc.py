"""Full garbage collections wait for a moment with no request in flight (adapters/rest/quiet_gc.py);
`serve` leaves only the young generations to the allocator's thresholds."""
from __future__ import annotations

import asyncio
import gc
import time

import pytest

from tabletalk.adapters.rest import quiet_gc
from tabletalk.adapters.rest.quiet_gc import QuietGC
from tabletalk.adapters.serve import GC_THRESHOLDS
from tests.conftest import ADMIN, running_app


def promote() -> None:
    """Make the oldest generation owe a collection (what a burst's survivors do)."""
    gc.collect()
    junk = [[i] for i in range(100)]
    gc.collect(1)
    del junk


def test_due_only_when_quiet_or_overdue():
    q = QuietGC()
    now = time.monotonic()
    gc.collect()
    assert not q.due(now + 3600)  # nothing reached the oldest generation: nothing to do, ever
    promote()
    q._last_full = now - quiet_gc.MIN_INTERVAL - 1
    q._last_busy = now - quiet_gc.QUIET - 1
    assert q.due(now)
    q.in_flight = 1
    assert not q.due(now)  # a request in flight: wait
    q._last_full = now - quiet_gc.MAX_INTERVAL - 1
    assert q.due(now)  # unless the last full collection is too long ago
    q.in_flight, q._last_busy, q._last_full = 0, now - 0.1, now - quiet_gc.MIN_INTERVAL - 1
    assert not q.due(now)  # a request just ended: not quiet yet
    q._last_busy, q._last_full = now - quiet_gc.QUIET - 1, now - 1
    assert not q.due(now)  # quiet, but one ran a moment ago


def test_serve_leaves_full_collections_to_the_monitor():
    assert GC_THRESHOLDS[0] <= 20_000 and GC_THRESHOLDS[2] >= 10**8


async def test_a_full_collection_runs_after_requests_end_and_not_during_one(tmp_path, monkeypatch):
    monkeypatch.setattr(quiet_gc, "QUIET", 0.3)
    monkeypatch.setattr(quiet_gc, "MIN_INTERVAL", 0.0)
    monkeypatch.setattr(quiet_gc, "CHECK", 0.05)
    async with running_app(tmp_path / "home") as (app, client, ds):
        q = app[quiet_gc_key()]

        async def collections() -> int:
            return (await (await client.get("/healthz")).json())["gc_full_collections"]

        resp = await client.post("/api/v1/single-turn/q2a", headers=ADMIN,
                                 json={"datasource_id": ds, "question": "How many orders are there?"})
        assert resp.status == 200
        promote()
        q.in_flight += 1  # as a request still being answered would
        before = await collections()
        await asyncio.sleep(1.0)
        assert await collections() == before
        q.in_flight -= 1
        for _ in range(20):  # each look is a request too: look less often than QUIET
            promote()
            await asyncio.sleep(0.5)
            if await collections() > before:
                break
        assert await collections() > before


def quiet_gc_key():
    from tabletalk.adapters.rest.app import QUIET_GC

    return QUIET_GC


@pytest.fixture(autouse=True)
def _thresholds_restored():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)
