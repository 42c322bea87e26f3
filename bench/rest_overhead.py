"""REST overhead: authenticated GET /api/v1/datasources vs a raw aiohttp hello-world, same machine,
same client; plus GET /healthz p99. Goal: >= 0.5x the hello-world's req/s."""
from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ADMIN_KEY = "bench-admin-key-0123456789"
DURATION = 5.0
CONCURRENCY = 32


async def _load(url: str, headers: dict, duration: float = DURATION) -> tuple[float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker():
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                latencies.append(time.perf_counter() - t0)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        wall = time.perf_counter() - start
    return len(latencies) / wall, latencies


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    return runner, f"http://127.0.0.1:{port}"


async def _main() -> dict:
    from tabletalk.adapters.rest.app import create_app
    from tabletalk.config.settings import Settings

    hello = web.Application()

    async def handler(_request):
        return web.json_response({"hello": "world"})

    hello.router.add_get("/", handler)
    runner, base = await _serve(hello)
    await _load(base + "/", {}, 1.0)  # warm-up
    base_rps, _ = await _load(base + "/", {})
    await runner.cleanup()

    home = Path(tempfile.mkdtemp(prefix="tt-bench-"))
    app = create_app(Settings(TABLETALK_HOME=str(home), TABLETALK_ADMIN_KEY=ADMIN_KEY))
    runner, base = await _serve(app)
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    await _load(base + "/api/v1/datasources", auth, 1.0)
    rps, lat = await _load(base + "/api/v1/datasources", auth)
    _, health = await _load(base + "/healthz", {}, 3.0)
    await runner.cleanup()
    ratio = rps / base_rps
    return {"rows": [
        {"metric": "GET /api/v1/datasources (auth) req/s", "value": round(rps), "unit": "req/s",
         "baseline": f"{round(base_rps)} req/s (raw aiohttp)", "ratio": round(ratio, 2), "goal": ">= 0.5x", "met": ratio >= 0.5},
        {"metric": "GET /api/v1/datasources p50", "value": round(statistics.median(lat) * 1000, 2), "unit": "ms"},
        {"metric": "GET /healthz p99", "value": round(_p(health, 0.99), 2), "unit": "ms"},
    ]}


def run() -> dict:
    return asyncio.run(_main())


if __name__ == "__main__":
    for row in run()["rows"]:
        print(row)
