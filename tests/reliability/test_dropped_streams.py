"""A client that leaves a stream takes nothing with it: a streamed chat question queued behind
another is still answered and stored, and a canvas node whose /run client drops still finishes."""
from __future__ import annotations

from tests.conftest import ADMIN, running_app
from tests.fakes.openai_server import FakeOpenAI
from tests.reliability.test_restart_safety import _until

SQL = "```sql\nSELECT COUNT(*) AS n FROM orders\n```"
UNMAPPABLE = "Which customers churned from the zorblax segment?"  # the built-in engine passes it to the model


async def test_a_queued_streamed_question_whose_client_left_is_answered_and_stored(tmp_path):
    async with FakeOpenAI(latency=1.5) as llm:
        llm.default = lambda body: SQL
        async with running_app(tmp_path / "home", OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="x") as (app, client, ds):
            await client.post("/api/v1/bots", headers=ADMIN, json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})
            chat = (await (await client.post("/api/v1/chats", headers=ADMIN, json={"bot_id": "shop"})).json())["id"]
            url = f"/api/v1/chats/{chat}/messages"
            first = await client.post(url, headers=ADMIN, json={"question": UNMAPPABLE, "stream": True})
            second = await client.post(url, headers=ADMIN, json={"question": UNMAPPABLE + " (again)", "stream": True})
            assert second.status == 200
            second.close()  # leaves while its question waits behind the first
            assert "event: done" in await first.text()

            async def answered():
                body = await (await client.get(f"/api/v1/chats/{chat}", headers=ADMIN)).json()
                humans = [m for m in body["messages"] if m["role"] == "human"]
                replies = {m["content"].get("in_reply_to") for m in body["messages"] if m["role"] == "assistant"}
                done = len(humans) == 2 and all(h["status"] != "pending" for h in humans)
                return (humans, replies) if done else None

            humans, replies = await _until(answered, "the second question was never finished")
    assert [h["status"] for h in humans] == ["success", "success"], humans
    assert {h["id"] for h in humans} <= replies


async def test_a_canvas_node_whose_run_client_dropped_still_finishes(tmp_path):
    async with FakeOpenAI(latency=1.5) as llm:
        llm.default = lambda body: SQL
        async with running_app(tmp_path / "home", OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="x") as (app, client, ds):
            canvas = (await (await client.post("/api/v1/canvas", headers=ADMIN,
                                               json={"name": "c", "datasource_id": ds})).json())["id"]
            node = (await (await client.post(f"/api/v1/canvas/{canvas}/nodes", headers=ADMIN,
                                             json={"type": "data", "question": UNMAPPABLE})).json())["id"]
            child = (await (await client.post(f"/api/v1/canvas/{canvas}/nodes", headers=ADMIN,
                                              json={"type": "chart", "parent_ids": [node]})).json())["id"]
            run = await client.post(f"/api/v1/canvas/{canvas}/nodes/{node}/run", headers=ADMIN)
            await run.content.readline()  # the first event arrives, then the client is gone
            run.close()

            async def finished():
                view = await (await client.get(f"/api/v1/canvas/{canvas}/nodes/{node}", headers=ADMIN)).json()
                return view if view["status"] not in ("pending", "running") else None

            view = await _until(finished, "the node stayed running after its client left")
            assert view["status"] == "completed" and view["data"]["dataframe"]["data"] == [[400]], view
            text = await (await client.post(f"/api/v1/canvas/{canvas}/nodes/{child}/run", headers=ADMIN)).text()
            assert '"type": "complete"' in text  # the child is not blocked by its parent
