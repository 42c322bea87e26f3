"""Feishu end to end: encrypted, signed event deliveries into the real service; card replies through
lark-oapi to a fake Open API."""
from __future__ import annotations

import json

import pytest

from tabletalk.adapters.delivery import DELIVERIES
from tabletalk.adapters.feishu_render import LIMITS, card
from tabletalk.bot.messages import Reply
from tests.conftest import ADMIN, customers_in, running_app
from tests.fakes.feishu_api import FakeFeishu

KEY, TOKEN = "encrypt-key-1", "verify-token-1"


@pytest.fixture(params=["encrypted", "plain"])
async def service(request, tmp_path):
    encrypted = request.param == "encrypted"
    async with FakeFeishu() as fs:
        async with running_app(tmp_path / "home") as (app, http, ds):
            channel = {"app_id": "cli_1", "app_secret": "sec", "verification_token": TOKEN, "domain": fs.domain}
            if encrypted:
                channel["encrypt_key"] = KEY
            async with http.post("/api/v1/bots", headers=ADMIN, json={"id": "shop", "name": "Shop", "datasource_ids": [ds],
                                                                       "channels": {"feishu": channel}}) as resp:
                assert resp.status == 201, await resp.text()
            yield {"app": app, "fs": fs, "hook": str(http.make_url("/webhooks/feishu/shop")),
                   "key": KEY if encrypted else None}


async def test_url_verification(service):
    fs = service["fs"]
    status = await fs.send_event(service["hook"], {"type": "url_verification", "challenge": "ch-1", "token": TOKEN},
                                 encrypt_key=service["key"], sign=False)
    assert status == 200 and fs.last_response == {"challenge": "ch-1"}


async def test_p2p_question_gets_a_card_reply_then_the_answer(service):
    fs = service["fs"]
    event = fs.text_event("How many orders are there?", token=TOKEN)
    assert await fs.send_event(service["hook"], event, encrypt_key=service["key"]) == 200
    patch = (await fs.wait_for("patch"))[0].data
    reply = fs.called("reply")[0].data
    assert reply["message_id"] == event["event"]["message"]["message_id"] and reply["msg_type"] == "interactive"
    assert reply["auth"] == "Bearer t-fake"
    content = json.loads(patch["content"])
    assert content["elements"][0]["content"] == "There are 400 orders."
    assert any(e["tag"] == "note" and "SQL" in e["elements"][0]["content"] for e in content["elements"])


async def test_group_needs_a_mention_and_placeholders_are_stripped(service):
    fs = service["fs"]
    await fs.send_event(service["hook"], fs.text_event("How many orders are there?", chat_type="group", token=TOKEN),
                        encrypt_key=service["key"])
    await fs.send_event(service["hook"], fs.text_event("How many products are there?", chat_type="group", mention=True,
                                                       token=TOKEN), encrypt_key=service["key"])
    patch = (await fs.wait_for("patch"))[0].data
    await service["app"][DELIVERIES].drain()
    assert len(fs.called("patch")) == 1
    assert json.loads(patch["content"])["elements"][0]["content"] == "There are 12 products."


async def test_redelivery_is_answered_once(service):
    fs = service["fs"]
    event = fs.text_event("How many customers are there?", event_id="ev-same", token=TOKEN)
    for _ in range(5):
        await fs.send_event(service["hook"], event, encrypt_key=service["key"])
    await fs.wait_for("patch")
    await service["app"][DELIVERIES].drain()
    assert len(fs.called("reply")) == 1 and len(fs.called("patch")) == 1


async def test_wrong_token_or_signature_is_rejected(service):
    fs = service["fs"]
    assert await fs.send_event(service["hook"], fs.text_event("How many orders?", token="wrong"), encrypt_key=service["key"]) == 401
    if service["key"]:
        assert await fs.send_event(service["hook"], fs.text_event("How many orders?", token=TOKEN), encrypt_key=service["key"],
                                   bad_signature=True) == 401
        assert await fs.send_event(service["hook"], fs.text_event("How many orders?", token=TOKEN), encrypt_key=service["key"],
                                   sign=False) == 401
    assert fs.called("reply") == []


async def test_chart_is_uploaded_and_server_errors_retried(service):
    fs = service["fs"]
    fs.fail_next("reply", 500)
    fs.fail_next("patch", 429)
    await fs.send_event(service["hook"], fs.text_event("revenue per month", token=TOKEN), encrypt_key=service["key"])
    patches = await fs.wait_for("patch", count=2)
    image = fs.called("image")[0].data
    assert image["size"] > 1000 and image["image_type"] == "message"
    content = json.loads(patches[-1].data["content"])
    assert any(e["tag"] == "img" for e in content["elements"]) and any(e["tag"] == "table" for e in content["elements"])


def test_cards_stay_under_the_size_limit():
    reply = Reply(text="big", dataframe={"columns": ["a", "b"], "data": [["x" * 200, i] for i in range(500)]})
    assert len(json.dumps(card(reply), ensure_ascii=False).encode()) <= LIMITS["card_bytes"]


async def test_filtered_group_answer_goes_to_the_asker_privately(service, tmp_path):
    import aiohttp as _aiohttp

    fs = service["fs"]
    base = service["hook"].rsplit("/webhooks", 1)[0]
    async with _aiohttp.ClientSession() as http:
        ds = (await (await http.get(f"{base}/api/v1/datasources", headers=ADMIN)).json())["items"][0]["id"]
        role = await (await http.post(f"{base}/api/v1/roles", headers=ADMIN, json={"name": "c", "variables": [{"name": "city"}]})).json()
        await http.post(f"{base}/api/v1/policies", headers=ADMIN, json={"role_id": role["id"], "datasource_id": ds,
                                                                         "rules": [{"table": "customers", "row_filter": "city = '{{city}}'"}]})
        resp = await http.patch(f"{base}/api/v1/bots/shop", headers=ADMIN, json={
            "group_privacy": "dm", "access": {"users": [{"platform": "feishu", "user": "ou_user1", "role": "c", "variables": {"city": "Paris"}}]}})
        assert resp.status == 200, await resp.text()
    await fs.send_event(service["hook"], fs.text_event("How many customers are there?", chat_type="group", mention=True, token=TOKEN),
                        encrypt_key=service["key"])
    sent = (await fs.wait_for("send"))[0].data
    assert sent["receive_id_type"] == "open_id" and sent["receive_id"] == "ou_user1"
    paris = customers_in(service["app"], "Paris")
    assert paris != customers_in(service["app"], "Rome")
    assert json.loads(sent["content"])["elements"][0]["content"].startswith(f"There are {paris} customers.")
    patch = json.loads(fs.called("patch")[0].data["content"])
    assert "privately" in patch["elements"][0]["content"] or "private" in patch["elements"][0]["content"]
