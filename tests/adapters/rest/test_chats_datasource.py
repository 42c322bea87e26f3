"""REST chats on one datasource (no bot), titled by their first question, answered as an admin-chosen role."""
from __future__ import annotations

from tests.conftest import ADMIN, demo_id


async def _ask(client, chat_id: str, question: str, headers=ADMIN) -> dict:
    resp = await client.post(f"/api/v1/chats/{chat_id}/messages", headers=headers, json={"question": question})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_datasource_chat_answers_follows_up_and_is_titled(client):
    ds = await demo_id(client)
    resp = await client.post("/api/v1/chats", headers=ADMIN, json={"datasource_id": ds})
    assert resp.status == 201, await resp.text()
    chat = await resp.json()
    assert chat["datasource_id"] == ds and chat["bot_id"] is None and chat["name"] == ""
    first = await _ask(client, chat["id"], "How many orders are there?")
    assert first["content"]["dataframe"]["data"][0][0] == 400, first
    second = await _ask(client, chat["id"], "split that by status")
    assert "status" in second["content"]["sql"].lower(), second
    listing = await (await client.get("/api/v1/chats", headers=ADMIN)).json()
    assert [(c["id"], c["name"]) for c in listing["items"]] == [(chat["id"], "How many orders are there?")]


async def test_chat_needs_exactly_one_of_bot_or_datasource(client):
    ds = await demo_id(client)
    await client.post("/api/v1/bots", headers=ADMIN, json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})
    for body in ({}, {"bot_id": "shop", "datasource_id": ds}):
        resp = await client.post("/api/v1/chats", headers=ADMIN, json=body)
        assert resp.status == 422 and "bot_id" in (await resp.json())["detail"]
    assert (await client.post("/api/v1/chats", headers=ADMIN, json={"datasource_id": "ds_nope"})).status == 404


async def test_admin_chosen_role_scopes_the_chat_and_others_may_not_choose(client):
    ds = await demo_id(client)
    role = await (await client.post("/api/v1/roles", headers=ADMIN, json={
        "name": "city", "variables": [{"name": "city", "type": "string", "required": True}]})).json()
    await client.post("/api/v1/policies", headers=ADMIN, json={
        "name": "by city", "role_id": role["id"], "datasource_id": ds,
        "rules": [{"table": "customers", "row_filter": "city = '{{city}}'"}]})
    everyone = await _ask(client, (await (await client.post("/api/v1/chats", headers=ADMIN, json={
        "datasource_id": ds})).json())["id"], "How many customers are there?")
    chat = await (await client.post("/api/v1/chats", headers=ADMIN, json={
        "datasource_id": ds, "role_id": "city", "role_variables": {"city": "Berlin"}})).json()
    assert chat["role_id"] == role["id"] and chat["role_variables"] == {"city": "Berlin"}
    scoped = await _ask(client, chat["id"], "How many customers are there?")
    assert "berlin" in scoped["content"]["sql"].lower(), scoped
    assert 0 < scoped["content"]["dataframe"]["data"][0][0] < everyone["content"]["dataframe"]["data"][0][0]

    key = await (await client.post("/api/v1/auth/keys", headers=ADMIN, json={"scope": "priv_asker"})).json()
    asker = {"Authorization": f"Bearer {key['key']}"}
    resp = await client.post("/api/v1/chats", headers=asker, json={"datasource_id": ds, "role_id": role["id"]})
    assert resp.status == 403
    # Without a role, an asker on a datasource with policies is refused, as in a bot's chat.
    own = await (await client.post("/api/v1/chats", headers=asker, json={"datasource_id": ds})).json()
    refused = await _ask(client, own["id"], "How many customers are there?", headers=asker)
    assert refused["status"] == "failed" and refused["content"].get("dataframe") is None, refused


async def test_visitor_may_not_chat_on_a_datasource(client):
    ds = await demo_id(client)
    key = await (await client.post("/api/v1/auth/keys", headers=ADMIN, json={"scope": "priv_visitor"})).json()
    resp = await client.post("/api/v1/chats", headers={"Authorization": f"Bearer {key['key']}"}, json={"datasource_id": ds})
    assert resp.status == 403
