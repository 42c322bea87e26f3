"""Telegram end to end: Updates into the real service, answers through python-telegram-bot to a fake Bot API."""
from __future__ import annotations

import aiohttp
import pytest

from tabletalk.adapters.delivery import DELIVERIES
from tabletalk.adapters.telegram_render import render
from tabletalk.bot.messages import Reply
from tests.conftest import ADMIN, customers_in, running_app
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram

SECRET = "tg-secret"


@pytest.fixture
async def service(tmp_path):
    async with FakeTelegram() as tg:
        async with running_app(tmp_path / "home") as (app, http, ds):
            body = {"id": "shop", "name": "Shop", "datasource_ids": [ds], "welcome_message": "Hello from the shop!",
                    "sample_questions": ["How many orders are there?"],
                    "channels": {"telegram": {"token": "123:ABC", "secret_token": SECRET, "api_base_url": tg.api_url}}}
            async with http.post("/api/v1/bots", headers=ADMIN, json=body) as resp:
                assert resp.status == 201, await resp.text()
            yield {"app": app, "tg": tg, "hook": str(http.make_url("/webhooks/telegram/shop"))}


async def test_private_question_is_answered_by_editing_the_progress_message(service):
    tg = service["tg"]
    assert await tg.send_update(service["hook"], SECRET, tg.message("How many orders are there?")) == 200
    edit = (await tg.wait_for("editMessageText"))[0].data
    assert tg.called("sendChatAction")[0].data["action"] == "typing"
    assert tg.called("sendMessage")[0].data["text"] == "Working on it…"
    assert edit["text"].startswith("There are 400 orders.") and edit["parse_mode"] == "HTML"


async def test_start_sends_welcome_and_samples_at_once(service):
    tg = service["tg"]
    await tg.send_update(service["hook"], SECRET, tg.message("/start"))
    [text] = await tg.wait_for_texts(1)
    assert "Hello from the shop!" in text and "How many orders are there?" in text
    assert tg.called("editMessageText") == []  # a command needs no "Working on it…" first


async def test_wrong_secret_token_is_rejected(service):
    tg = service["tg"]
    assert await tg.send_update(service["hook"], "nope", tg.message("How many orders are there?")) == 401
    assert await tg.send_update(service["hook"], None, tg.message("How many orders are there?")) == 401
    assert tg.calls == []


async def test_same_update_is_answered_once(service):
    tg = service["tg"]
    update = tg.message("How many customers are there?", update_id=5555)
    for _ in range(5):
        await tg.send_update(service["hook"], SECRET, update)
    await tg.wait_for("editMessageText")
    await service["app"][DELIVERIES].drain()
    assert len(tg.called("editMessageText")) == 1


async def test_group_rules(service):
    tg = service["tg"]
    group = {"chat_id": -100, "chat_type": "supergroup"}
    await tg.send_update(service["hook"], SECRET, tg.message("How many orders are there?", **group))  # ignored
    await tg.send_update(service["hook"], SECRET, tg.message(f"@{BOT_USERNAME} How many products are there?", **group))
    await tg.send_update(service["hook"], SECRET, tg.message("How many customers are there?", reply_to_bot=True, **group))
    await tg.send_update(service["hook"], SECRET, tg.message("/help", **group))
    await tg.wait_for_texts(3)
    await service["app"][DELIVERIES].drain()
    texts = tg.texts()
    assert len(texts) == 3
    assert any(t.startswith("There are 12 products.") for t in texts)
    assert any(t.startswith("There are 60 customers.") for t in texts)
    assert any("/help" in t for t in texts) and not any("400 orders" in t for t in texts)


async def test_rate_limit_is_retried(service):
    tg = service["tg"]
    tg.fail_next("sendMessage", 429, retry_after=1)
    await tg.send_update(service["hook"], SECRET, tg.message("How many orders are there?"))
    edit = (await tg.wait_for("editMessageText"))[0].data
    assert edit["text"].startswith("There are 400 orders.")
    assert len(tg.called("sendMessage")) == 2


async def test_chart_is_sent_as_photo(service):
    tg = service["tg"]
    await tg.send_update(service["hook"], SECRET, tg.message("revenue per month"))
    await tg.wait_for("sendPhoto")
    await tg.wait_for("sendDocument")


def test_long_answers_are_split_and_escaped():
    reply = Reply(text="<b>" + "x" * 5000, sql="SELECT 1 WHERE a < b",
                  dataframe={"columns": ["a", "b"], "data": [[i, "<tag>"] for i in range(10)]})
    parts = render(reply)
    assert all(len(p) <= 4096 for p in parts) and len(parts) >= 2
    joined = "".join(parts)
    assert "&lt;b&gt;" in joined and "<pre>" in joined and "a &lt; b" in joined


async def test_filtered_group_answer_goes_to_the_asker_privately(service):
    tg = service["tg"]
    base = service["hook"].rsplit("/webhooks", 1)[0]
    async with aiohttp.ClientSession() as http:
        ds = (await (await http.get(f"{base}/api/v1/datasources", headers=ADMIN)).json())["items"][0]["id"]
        role = await (await http.post(f"{base}/api/v1/roles", headers=ADMIN, json={"name": "c", "variables": [{"name": "city"}]})).json()
        await http.post(f"{base}/api/v1/policies", headers=ADMIN, json={"role_id": role["id"], "datasource_id": ds,
                                                                         "rules": [{"table": "customers", "row_filter": "city = '{{city}}'"}]})
        resp = await http.patch(f"{base}/api/v1/bots/shop", headers=ADMIN, json={
            "group_privacy": "dm", "access": {"users": [{"platform": "telegram", "user": "42", "role": "c", "variables": {"city": "Rome"}}]}})
        assert resp.status == 200, await resp.text()
    await tg.send_update(service["hook"], SECRET, tg.message("/help", chat_id=-100, chat_type="group"))  # a command: answered in the group
    await tg.send_update(service["hook"], SECRET, tg.message(f"@{BOT_USERNAME} How many customers are there?", chat_id=-100, chat_type="group"))
    await tg.wait_for_texts(1, chat=42)
    await tg.wait_for_texts(2, chat=-100)
    await service["app"][DELIVERIES].drain()
    rome = customers_in(service["app"], "Rome")
    assert rome != customers_in(service["app"], "Berlin")
    assert tg.texts(42)[0].startswith(f"There are {rome} customers.")
    group = tg.texts(-100)
    assert any("private message" in t for t in group) and not any(t.startswith("There are ") for t in group)


async def test_a_bot_without_secret_token_is_refused_and_its_webhook_answers_nothing(service):
    """A forged update (user 42, any chat) to a bot stored before secret tokens were required."""
    from tabletalk.adapters.rest.app import CORE
    from tabletalk.core.store.models import Bot

    tg, core = service["tg"], service["app"][CORE]
    base = service["hook"].rsplit("/webhooks", 1)[0]
    channel = {"token": "123:ABC", "api_base_url": tg.api_url}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{base}/api/v1/bots", headers=ADMIN, json={
            "id": "open", "name": "Open", "datasource_ids": ["Demo shop"], "channels": {"telegram": channel}})
        assert resp.status == 400 and "channels.telegram.secret_token" in (await resp.json())["detail"]
        ds = (await (await http.get(f"{base}/api/v1/datasources", headers=ADMIN)).json())["items"][0]["id"]
    await core.store.add(Bot(id="legacy", name="Legacy", datasource_ids=[ds], channels=core.box.seal({"telegram": channel})))
    hook = f"{base}/webhooks/telegram/legacy"
    assert await tg.send_update(hook, None, tg.message("How many orders are there?", chat_id=9999)) == 401
    assert await tg.send_update(hook, "", tg.message("How many orders are there?", chat_id=9999)) == 401
    await service["app"][DELIVERIES].drain()
    assert tg.calls == []
