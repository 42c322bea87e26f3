"""REST chats: create, ask, follow up, survive a restart, delete; SSE streaming."""
from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import create_app
from tests.conftest import ADMIN, demo_id, make_settings


async def test_chat_survives_restart_then_delete(tmp_path):
    home = tmp_path / "home"
    async with TestClient(TestServer(create_app(make_settings(home)))) as client:
        ds = await demo_id(client)
        assert (await client.post("/api/v1/bots", headers=ADMIN, json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})).status == 201
        chat = await (await client.post("/api/v1/chats", headers=ADMIN, json={"bot_id": "shop"})).json()
        first = await (await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=ADMIN,
                                         json={"question": "How many orders are there?"})).json()
        assert first["role"] == "assistant" and first["content"]["sql"], first
        assert first["content"]["dataframe"]["data"][0][0] == 400
        second = await (await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=ADMIN,
                                          json={"question": "split that by status"})).json()
        assert "status" in second["content"]["sql"].lower(), second
    async with TestClient(TestServer(create_app(make_settings(home)))) as client:
        body = await (await client.get(f"/api/v1/chats/{chat['id']}", headers=ADMIN)).json()
        assert [m["role"] for m in body["messages"]] == ["human", "assistant", "human", "assistant"]
        assert first["status"] == "success"  # the history speaks the reply's vocabulary
        assert [m["status"] for m in body["messages"]] == ["success"] * 4
        assert body["messages"][0]["content"]["text"] == "How many orders are there?"
        listing = await (await client.get("/api/v1/chats?page=1&size=10", headers=ADMIN)).json()
        assert listing["total"] == 1
        assert (await client.delete(f"/api/v1/chats/{chat['id']}", headers=ADMIN)).status == 204
        assert (await client.get(f"/api/v1/chats/{chat['id']}", headers=ADMIN)).status == 404


async def test_streaming_answer_sends_progress_events(client):
    ds = await demo_id(client)
    await client.post("/api/v1/bots", headers=ADMIN, json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})
    chat = await (await client.post("/api/v1/chats", headers=ADMIN, json={"bot_id": "shop"})).json()
    resp = await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=ADMIN,
                             json={"question": "How many customers are there?", "stream": True})
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    text = await resp.text()
    events = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event: ")]
    assert events == ["linking", "sql", "rows", "answer", "message", "done"], events


async def test_visitor_key_only_uses_its_bots(client):
    ds = await demo_id(client)
    for bot in ("open", "other"):
        await client.post("/api/v1/bots", headers=ADMIN, json={"id": bot, "name": bot, "datasource_ids": [ds]})
    key = await (await client.post("/api/v1/auth/keys", headers=ADMIN, json={"scope": "priv_visitor", "bot_ids": ["open"]})).json()
    visitor = {"Authorization": f"Bearer {key['key']}"}
    bots = await (await client.get("/api/v1/bots", headers=visitor)).json()
    assert [b["id"] for b in bots["items"]] == ["open"]
    assert (await client.post("/api/v1/chats", headers=visitor, json={"bot_id": "other"})).status == 403
    chat = await (await client.post("/api/v1/chats", headers=visitor, json={"bot_id": "open"})).json()
    assert (await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=visitor, json={"question": "/help"})).status == 200
    admin_chat = await (await client.post("/api/v1/chats", headers=ADMIN, json={"bot_id": "open"})).json()
    assert (await client.get(f"/api/v1/chats/{admin_chat['id']}", headers=visitor)).status == 404


async def test_rest_access_rules_by_key_admin_unscoped_asker_refused(client):
    ds = await demo_id(client)
    role = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "r"})).json()
    await client.post("/api/v1/policies", headers=ADMIN, json={"role_id": role["id"], "datasource_id": ds,
                                                                "rules": [{"table": "products"}]})
    await client.post("/api/v1/bots", headers=ADMIN, json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})
    asker = await (await client.post("/api/v1/auth/keys", headers=ADMIN, json={"scope": "priv_asker", "name": "analyst"})).json()
    asker_h = {"Authorization": f"Bearer {asker['key']}"}

    async def ask(headers, question):
        chat = await (await client.post("/api/v1/chats", headers=headers, json={"bot_id": "shop"})).json()
        return (await (await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=headers, json={"question": question})).json())["content"]

    assert (await ask(ADMIN, "How many orders are there?"))["dataframe"]["data"] == [[400]]
    assert "don't have access" in (await ask(asker_h, "How many orders are there?"))["text"]
    # A rule naming the key (by name) gives that key the role: products only.
    await client.patch("/api/v1/bots/shop", headers=ADMIN, json={"access": {"users": [{"platform": "rest", "user": "analyst", "role": role["id"]}]}})
    assert (await ask(asker_h, "How many products are there?"))["dataframe"]["data"] == [[12]]
    assert "not permitted" in (await ask(asker_h, "How many orders are there?"))["text"]
