"""The q2s/q2a history is written behind the answers in batches: a burst is all there when listed,
and what is pending at shutdown is stored, not lost."""
from __future__ import annotations

import asyncio

from tabletalk.adapters.rest.app import CORE
from tests.conftest import ADMIN, running_app


async def test_a_burst_of_answers_is_listed_whole_and_survives_a_restart(tmp_path):
    home = tmp_path / "home"
    async with running_app(home) as (app, client, ds):
        body = {"datasource_id": ds, "question": "How many orders are there?"}
        replies = await asyncio.gather(*(client.post("/api/v1/single-turn/q2s", headers=ADMIN, json=body)
                                         for _ in range(30)))
        ids = {(await r.json())["id"] for r in replies}
        rows, total = await app[CORE].history.list("q2s", datasource_id=ds, size=100)
        assert total == 30 and {r.id for r in rows} == ids
        await client.post("/api/v1/single-turn/q2s", headers=ADMIN, json=body)  # pending at shutdown
    async with running_app(home) as (app, client, ds):
        _, total = await app[CORE].history.list("q2s", datasource_id=ds, size=100)
        assert total == 31
