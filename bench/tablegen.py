"""Table generation: 10,000 rows against a fake OpenAI-compatible provider limited to 600 rpm that
answers in 200 ms. Ideal wall = calls / (rpm / 60) + one latency: the rpm budget, fully used.
Goal: <= 1.2x the ideal. Also: Tablepilot's 28 example schemas replayed over REST (accepted and
generated offline), and a metadata write while a 100,000-row generation runs, against the same
write on an idle store (goal: under a second: the generation never holds the store)."""
from __future__ import annotations

import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tabletalk.config.settings import Settings  # noqa: E402
from tabletalk.core.runtime import Core  # noqa: E402
from tabletalk.core.tables.schema import TableSpec  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

ROWS, BATCH, RPM, LATENCY = 10_000, 100, 600, 0.2


def _rows(body: dict) -> str:
    prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
    n = int(prompt.split("Write ")[1].split(" rows")[0])
    return json.dumps([{"title": f"Item {i}", "price": i * 1.5} for i in range(n)])


async def _main() -> dict:
    async with FakeOpenAI(latency=LATENCY, default=_rows) as fake:
        core = Core(Settings(TABLETALK_HOME=tempfile.mkdtemp(), TABLETALK_ADMIN_KEY="k", TABLETALK_DEMO=False))
        await core.start()
        await core.providers.create({"name": "bench", "base_url": fake.base_url, "key": "x",
                                     "models": [{"model": "m", "rpm": RPM, "default": True}]})
        await core.tables.create(TableSpec(name="items", columns=[{"name": "title"}, {"name": "price", "type": "number"}]))
        t0 = time.perf_counter()
        total = 0
        async for batch in core.tables.generate("items", count=ROWS, batch=BATCH):
            total += len(batch)
        wall = time.perf_counter() - t0
        stored = (await core.tables.rows("items", 0, 1))[1]
        await core.close()
    calls = math.ceil(ROWS / BATCH)
    ideal = (calls - 1) / (RPM / 60) + LATENCY
    return {"rows": [
        {"metric": f"{ROWS} rows at {RPM} rpm / {int(LATENCY * 1000)} ms", "value": round(wall, 2), "unit": "s",
         "baseline": f"{ideal:.2f} s rpm-ideal ({calls} calls)", "ratio": round(wall / ideal, 2), "goal": "<= 1.2x", "met": wall <= 1.2 * ideal},
        {"metric": "rows stored", "value": stored, "unit": "rows", "goal": str(ROWS), "met": stored == total == ROWS},
    ]}


async def _examples() -> dict:
    from aiohttp.test_utils import TestClient, TestServer

    from tabletalk.adapters.rest.app import create_app
    from tests.adapters.rest.examples_replay import replay
    from tests.conftest import ADMIN, make_settings

    home = Path(tempfile.mkdtemp()) / "home"
    async with TestClient(TestServer(create_app(make_settings(home, TABLETALK_DEMO=False)))) as client:
        results = await replay(client, ADMIN, home / "data")
    ok = sum(v == "ok" for v in results.values())
    return {"metric": "Tablepilot example schemas accepted + generated", "value": ok, "unit": f"of {len(results)}",
            "baseline": "issue: 2 of 28 before", "goal": "all", "met": ok == len(results)}


async def _write_during_generation() -> dict:
    from tabletalk.core.tables.datasets import DatasetService

    core = Core(Settings(TABLETALK_HOME=tempfile.mkdtemp(), TABLETALK_ADMIN_KEY="k", TABLETALK_DEMO=False))
    await core.start()
    datasets = DatasetService(core.store)
    await core.tables.create(TableSpec(name="big", columns=[{"name": "title"}, {"name": "price", "type": "number"}]))

    async def timed_write(name: str) -> float:
        t0 = time.perf_counter()
        await datasets.create(name=name, values=["x"])
        return time.perf_counter() - t0

    idle = min([await timed_write(f"idle{i}") for i in range(5)])
    events = core.tables.generate("big", count=100_000, batch=10)
    consumer = asyncio.create_task(_drain(events))
    await asyncio.sleep(1.0)
    busy = max([await timed_write(f"busy{i}") for i in range(5)])
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    await events.aclose()
    await core.close()
    return {"metric": "metadata write while generating 100,000 rows (worst of 5)", "value": round(busy * 1000, 1), "unit": "ms",
            "baseline": f"{idle * 1000:.1f} ms idle", "ratio": round(busy / idle, 1), "goal": "< 1 s (SQLite waits 10 s, then fails)", "met": busy < 1.0}


async def _drain(events) -> None:
    async for _ in events:
        pass


def run() -> dict:
    rows = asyncio.run(_main())["rows"]
    rows.append(asyncio.run(_examples()))
    rows.append(asyncio.run(_write_during_generation()))
    return {"rows": rows}


if __name__ == "__main__":
    for row in run()["rows"]:
        print(row)
