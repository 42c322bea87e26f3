"""Access control on every REST path: fail closed without a role, keys and tokens bound to a role,
askers confined to their own chats and canvases, bots shown to non-admins without their rules."""
from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from tabletalk.adapters.rest.app import CORE
from tests.conftest import ADMIN, ADMIN_KEY, running_app

COUNT = "How many customers are there?"


@pytest.fixture
async def shop(tmp_path):
    """The demo shop with a `city` role filtering customers, a role seeing everything, and a bot."""
    async with running_app(tmp_path / "home") as (app, client, ds):
        city = await (await client.post("/api/v1/roles", headers=ADMIN, json={
            "name": "city", "variables": [{"name": "city"}]})).json()
        resp = await client.post("/api/v1/policies", headers=ADMIN, json={
            "role_id": city["id"], "datasource_id": ds, "rules": [{"table": "customers", "row_filter": "city = '{{city}}'"}]})
        assert resp.status == 201, await resp.text()
        everything = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "everything"})).json()
        await client.post("/api/v1/policies", headers=ADMIN, json={"role_id": everything["id"], "datasource_id": ds,
                                                                    "rules": [{"table": "*"}]})
        resp = await client.post("/api/v1/bots", headers=ADMIN, json={
            "id": "shop", "name": "Shop", "datasource_ids": [ds], "welcome_message": "Hi there",
            "access": {"default": {"role": "everything"},
                       "users": [{"platform": "telegram", "user": "1001", "role": "city", "variables": {"city": "Rome"}}]}})
        assert resp.status == 201, await resp.text()
        db = sqlite3.connect(app[CORE].home / "demo" / "shop.db")
        truth = dict(db.execute("SELECT city, COUNT(*) FROM customers GROUP BY city"))
        truth["*"] = db.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
        db.close()
        yield {"client": client, "ds": ds, "city": city, "everything": everything, "truth": truth}


async def _key(client, **body) -> dict:
    resp = await client.post("/api/v1/auth/keys", headers=ADMIN, json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


def _auth(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


async def _q2a(client, headers, **body) -> tuple[int, dict]:
    resp = await client.post("/api/v1/single-turn/q2a", headers=headers, json=body)
    return resp.status, await resp.json()


async def test_an_asker_without_a_role_is_refused_on_a_policied_datasource(shop):
    client, ds = shop["client"], shop["ds"]
    asker = _auth((await _key(client, scope="priv_asker"))["key"])
    for kind in ("q2s", "q2a", "q2w"):
        resp = await client.post(f"/api/v1/single-turn/{kind}", headers=asker, json={"datasource_id": ds, "question": COUNT})
        body = await resp.json()
        assert resp.status == 403 and "role" in body["detail"] and "sql" not in body, (kind, body)
    status, _ = await _q2a(client, asker, datasource_id=ds, question=COUNT, role_id=shop["city"]["id"],
                           role_variables={"city": "Berlin"})
    assert status == 200  # an asker key may still name the role of the user it serves


@pytest.mark.parametrize("headers", ["asker", "admin"])
async def test_an_empty_role_is_a_refusal_not_no_filter(shop, headers):
    client, ds = shop["client"], shop["ds"]
    auth = ADMIN if headers == "admin" else _auth((await _key(client, scope="priv_asker"))["key"])
    status, body = await _q2a(client, auth, datasource_id=ds, question=COUNT, role_id="")
    assert status == 403 and body.get("dataframe") is None and "empty role" in body["detail"]
    status, body = await _q2a(client, auth, datasource_id=ds, question=COUNT, role_id="no-such-role")
    assert status == 404 and body.get("dataframe") is None


async def test_a_role_bound_key_answers_the_filtered_truth_whatever_the_body_says(shop):
    client, ds, truth = shop["client"], shop["ds"], shop["truth"]
    key = await _key(client, scope="priv_asker", role_id="city", role_variables={"city": "Berlin"})
    assert key["role_id"] == shop["city"]["id"] and key["role_variables"] == {"city": "Berlin"}
    bound = _auth(key["key"])
    for body in ({}, {"role_id": shop["everything"]["id"]}, {"role_id": "city", "role_variables": {"city": "Paris"}},
                 {"role_id": ""}):
        status, answer = await _q2a(client, bound, datasource_id=ds, question=COUNT, **body)
        assert status == 200 and answer["dataframe"]["data"] == [[truth["Berlin"]]], (body, answer)
    assert truth["Berlin"] != truth["*"]
    # ... in chats, over the bot's own access rules (its default would see everything) ...
    chat = await (await client.post("/api/v1/chats", headers=bound, json={"bot_id": "shop"})).json()
    reply = await (await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=bound, json={"question": COUNT})).json()
    assert reply["content"]["dataframe"]["data"] == [[truth["Berlin"]]], reply
    # ... and in canvases, whatever role the canvas names.
    canvas = await (await client.post("/api/v1/canvas", headers=bound, json={
        "name": "c", "datasource_id": ds, "role_id": shop["everything"]["id"]})).json()
    node = await (await client.post(f"/api/v1/canvas/{canvas['id']}/nodes", headers=bound,
                                    json={"type": "data", "question": COUNT})).json()
    await (await client.post(f"/api/v1/canvas/{canvas['id']}/nodes/{node['id']}/run", headers=bound)).read()
    ran = await (await client.get(f"/api/v1/canvas/{canvas['id']}/nodes/{node['id']}", headers=bound)).json()
    assert ran["data"]["dataframe"]["data"] == [[truth["Berlin"]]], ran


async def test_tokens_carry_a_role_and_expire(shop):
    client, ds, truth = shop["client"], shop["ds"], shop["truth"]
    resp = await client.post("/api/v1/auth/tokens", headers=ADMIN, json={
        "ak_role": "priv_asker", "role_id": shop["city"]["id"], "role_variables": {"city": "Paris"},
        "user_profile": {"name": "Pat"}, "token_ttl": 1})
    assert resp.status == 201, await resp.text()
    token = await resp.json()
    assert token["kind"] == "token" and token["expires_at"] and len(token["prefix"]) <= 4
    status, answer = await _q2a(client, _auth(token["token"]), datasource_id=ds, question=COUNT, role_id=shop["everything"]["id"])
    assert answer["dataframe"]["data"] == [[truth["Paris"]]]
    me = await (await client.get("/api/v1/auth/me", headers=_auth(token["token"]))).json()
    assert me["role_id"] == shop["city"]["id"] and me["user_profile"] == {"name": "Pat"}
    await asyncio.sleep(1.2)
    resp = await client.get("/api/v1/auth/me", headers=_auth(token["token"]))
    assert resp.status == 401 and "expired" in (await resp.json())["detail"]


@pytest.mark.parametrize("body,status,word", [
    ({"role_id": "no-such-role"}, 404, "no-such-role"),
    ({"role_id": "city"}, 400, "city"),                       # its required variable is missing
    ({"role_variables": {"city": "Rome"}}, 400, "role_id"),    # variables bound to nothing
    ({"role_id": ""}, 400, "role_id"),
])
async def test_a_token_for_a_role_that_cannot_work_is_refused_when_minted(shop, body, status, word):
    resp = await shop["client"].post("/api/v1/auth/tokens", headers=ADMIN, json=body)
    assert resp.status == status and word in (await resp.json())["detail"]


async def test_key_listings_reveal_at_most_four_characters(shop):
    client = shop["client"]
    await _key(client, scope="priv_visitor", name="v")
    listing = await (await client.get("/api/v1/auth/keys", headers=ADMIN)).json()
    assert listing["items"] and all(len(k["prefix"]) <= 4 for k in listing["items"])
    assert ADMIN_KEY[:5] not in json.dumps(listing)


async def test_askers_see_only_their_own_chats_and_canvases(shop):
    client, ds = shop["client"], shop["ds"]
    alice = _auth((await _key(client, scope="priv_asker", name="alice"))["key"])
    bob = _auth((await _key(client, scope="priv_asker", name="bob"))["key"])
    chat = await (await client.post("/api/v1/chats", headers=alice, json={"bot_id": "shop"})).json()
    canvas = await (await client.post("/api/v1/canvas", headers=alice, json={"name": "mine", "datasource_id": ds,
                                                                             "role_id": "everything"})).json()
    platform = await shop_platform_chat(client)
    assert (await client.get(f"/api/v1/chats/{chat['id']}", headers=alice)).status == 200
    for path in (f"/api/v1/chats/{chat['id']}", f"/api/v1/chats/{platform}", f"/api/v1/canvas/{canvas['id']}",
                 f"/api/v1/canvas/{canvas['id']}/nodes", f"/api/v1/canvas/{canvas['id']}/export.html"):
        assert (await client.get(path, headers=bob)).status == 404, path
    assert (await client.get(f"/api/v1/chats/{platform}", headers=alice)).status == 404
    assert (await client.delete(f"/api/v1/canvas/{canvas['id']}", headers=bob)).status == 404
    assert (await (await client.get("/api/v1/chats", headers=bob)).json())["total"] == 0
    assert (await (await client.get("/api/v1/canvas", headers=bob)).json())["total"] == 0
    assert [c["id"] for c in (await (await client.get("/api/v1/canvas", headers=alice)).json())["items"]] == [canvas["id"]]
    admin_chats = await (await client.get("/api/v1/chats", headers=ADMIN)).json()
    assert {c["id"] for c in admin_chats["items"]} == {chat["id"], platform}


async def shop_platform_chat(client) -> str:
    """A chat platform conversation (Telegram user 1001), stored as the dispatcher stores it."""
    from tabletalk.adapters.rest.app import DISPATCHER

    chats = client.app[DISPATCHER].chats
    chat = await chats.for_conversation("shop", "telegram:shop:9999", "1001")
    await chats.add(chat.id, "human", {"text": COUNT, "user": "1001"})
    return chat.id


async def test_visitors_see_a_bots_name_welcome_and_samples_never_its_access_rules(shop):
    client = shop["client"]
    visitor = _auth((await _key(client, scope="priv_visitor", bot_ids=["shop"]))["key"])
    for path in ("/api/v1/bots/shop", "/api/v1/bots"):
        text = await (await client.get(path, headers=visitor)).text()
        assert "Hi there" in text and "1001" not in text and "access" not in text and "Rome" not in text, text
    assert "1001" in await (await client.get("/api/v1/bots/shop", headers=ADMIN)).text()


async def test_a_q2w_chart_png_is_served_to_its_asker_and_administrators_only(shop):
    client, ds = shop["client"], shop["ds"]
    alice = _auth((await _key(client, scope="priv_asker", name="alice"))["key"])
    bob = _auth((await _key(client, scope="priv_asker", name="bob"))["key"])
    resp = await client.post("/api/v1/single-turn/q2w", headers=alice, json={
        "datasource_id": ds, "question": "orders per month", "role_id": "everything"})
    body = await resp.json()
    assert resp.status == 200 and body.get("chart_png_url"), body
    for headers in (alice, ADMIN):
        resp = await client.get(body["chart_png_url"], headers=headers)
        assert resp.status == 200 and (await resp.read())[:4] == b"\x89PNG"
    resp = await client.get(body["chart_png_url"], headers=bob)  # the id alone is not enough
    assert resp.status == 404 and body["id"] in (await resp.json())["detail"]
