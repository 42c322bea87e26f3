"""Long table jobs are bounded and stop with their client, and never hold the metadata store."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import aiohttp
from aiohttp.test_utils import TestServer

from tabletalk.adapters.rest.app import create_app
from tests.conftest import ADMIN, make_settings

BIG = {"name": "big", "columns": [{"name": "title"}, {"name": "price", "type": "number"}, {"name": "signup_date", "type": "date"}]}


async def _rows(session, base) -> int:
    async with session.get(f"{base}/api/v1/tables/big/rows?limit=1", headers=ADMIN) as r:
        return (await r.json())["total"]


async def _drop_after(session, base, path, body, seconds: float) -> None:
    try:
        async with session.post(f"{base}{path}", headers=ADMIN, json=body, timeout=aiohttp.ClientTimeout(total=seconds)) as r:
            await r.read()
    except asyncio.TimeoutError:
        pass  # the client gives up and closes its connection


@asynccontextmanager
async def _served(tmp_path):
    """The app on a real socket (a client can really go away) with the table `big`."""
    server = TestServer(create_app(make_settings(tmp_path / "home", TABLETALK_DEMO=False)))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/api/v1/tables", headers=ADMIN, json=BIG) as r:
                assert r.status == 201
            yield s, base
    finally:
        await server.close()


async def _assert_stopped(s, base) -> None:
    """The job stopped: the row count no longer grows, far below what was asked."""
    await asyncio.sleep(1.0)
    first = await _rows(s, base)
    await asyncio.sleep(1.5)
    assert 0 < first == await _rows(s, base) < 100_000


async def test_a_dropped_generation_stops_and_never_holds_the_store(tmp_path):
    async with _served(tmp_path) as (s, base):
        await _drop_after(s, base, "/api/v1/generate/tables/big", {"count": 100_000, "batch": 10}, 2.0)
        # a metadata write right after the client left goes through at once
        form = aiohttp.FormData()
        form.add_field("name", "after-drop")
        form.add_field("data", "x")
        t0 = time.monotonic()
        async with s.post(f"{base}/api/v1/datasets", headers=ADMIN, data=form) as r:
            assert r.status == 201, await r.text()
        assert time.monotonic() - t0 < 9, "the write waited for the generation's transactions"
        await _assert_stopped(s, base)


async def test_a_dropped_streamed_workflow_stops(tmp_path):
    wf = {"name": "long", "steps": [{"type": "Generate", "payload": {"table": "big", "count": 100_000, "batch": 10}}]}
    async with _served(tmp_path) as (s, base):
        async with s.post(f"{base}/api/v1/workflows", headers=ADMIN, json=wf) as r:
            assert r.status == 201
        async with s.post(f"{base}/api/v1/workflows/long/run", headers=ADMIN, json={"variables": {}}) as r:
            async for _ in r.content.iter_any():
                if await _rows(s, base) > 0:
                    break  # leave mid-stream
        await _assert_stopped(s, base)


async def test_counts_and_batches_are_capped_for_every_caller(tmp_path):
    from aiohttp.test_utils import TestClient

    async with TestClient(TestServer(create_app(make_settings(tmp_path / "home", TABLETALK_DEMO=False)))) as client:
        await client.post("/api/v1/tables", headers=ADMIN, json=BIG)
        resp = await client.post("/api/v1/generate/tables/big", headers=ADMIN, json={"count": 50_000_000})
        assert resp.status == 422
        body = {"autofill": {"columns": ["title"]}, "count": 50_000_000}
        assert (await client.post("/api/v1/autofill/tables/big", headers=ADMIN, json=body)).status == 422
        wf = {"name": "w", "steps": [{"type": "Autofill", "payload": {"table": "big", "columns": ["title"], "batch": 100_000}}]}
        await client.post("/api/v1/workflows", headers=ADMIN, json=wf)
        text = await (await client.post("/api/v1/workflows/w/run", headers=ADMIN, json={})).text()
        assert '"type":"ERROR"' in text.replace(" ", "") and "batch" in text
