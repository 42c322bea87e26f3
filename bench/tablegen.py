"""Table generation: 10,000 rows against a fake OpenAI-compatible provider limited to 600 rpm that
answers in 200 ms. Ideal wall = calls / (rpm / 60) + one latency: the rpm budget, fully used.
Goal: <= 1.2x the ideal."""
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


def run() -> dict:
    return asyncio.run(_main())


if __name__ == "__main__":
    for row in run()["rows"]:
        print(row)
