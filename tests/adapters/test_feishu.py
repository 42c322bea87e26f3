"""Feishu end to end: encrypted, signed event deliveries into the real service; card replies over the
Open API (one pooled HTTP session per base URL) to a fake Open API."""
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


def _post_event(fs, paragraphs: list[list[dict]], *, mentions: list[dict], chat_type: str = "group", title: str = "") -> dict:
    event = fs.text_event("x", chat_type=chat_type, token=TOKEN)
    message = event["event"]["message"]
    message.update(message_type="post", mentions=mentions,
                   content=json.dumps({"title": title, "content": paragraphs}, ensure_ascii=False))
    return event


BOT_MENTION = {"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "TableTalk"}


async def test_rich_text_post_mentioning_the_bot_is_answered_from_every_paragraph(service):
    fs = service["fs"]
    event = _post_event(fs, [[{"tag": "at", "user_id": "@_user_1", "user_name": "TableTalk"}, {"tag": "text", "text": " How many"}],
                             [{"tag": "a", "text": "products", "href": "https://example.com"}, {"tag": "text", "text": " are there?"}],
                             [{"tag": "img", "image_key": "img_1"}]], mentions=[BOT_MENTION])
    assert await fs.send_event(service["hook"], event, encrypt_key=service["key"]) == 200
    patch = (await fs.wait_for("patch"))[0].data
    assert json.loads(patch["content"])["elements"][0]["content"] == "There are 12 products."


async def test_group_messages_for_someone_else_or_everyone_are_ignored(service):
    fs = service["fs"]
    other = {"key": "@_user_1", "id": {"open_id": "ou_bob"}, "name": "Bob"}
    everyone = {"key": "@_all", "id": {}, "name": "所有人"}
    for mentions, text in (([other], "@_user_1 How many orders are there?"), ([everyone], "@_all How many orders are there?"),
                           ([], "@_all How many orders are there?")):
        event = fs.text_event(text, chat_type="group", token=TOKEN)
        event["event"]["message"]["mentions"] = mentions
        event["event"]["message"]["content"] = json.dumps({"text": text})
        assert await fs.send_event(service["hook"], event, encrypt_key=service["key"]) == 200
    post = _post_event(fs, [[{"tag": "text", "text": "hi "}, {"tag": "at", "user_id": "@_user_1", "user_name": "Bob"}]], mentions=[other])
    assert await fs.send_event(service["hook"], post, encrypt_key=service["key"]) == 200
    # A mention of the bot together with @all is for the bot; @all is stripped from the question.
    both = fs.text_event("@_all @_user_1 How many customers are there?", chat_type="group", token=TOKEN)
    both["event"]["message"]["mentions"] = [everyone, BOT_MENTION]
    both["event"]["message"]["content"] = json.dumps({"text": "@_all @_user_1 How many customers are there?"})
    await fs.send_event(service["hook"], both, encrypt_key=service["key"])
    patch = (await fs.wait_for("patch"))[0].data
    await service["app"][DELIVERIES].drain()
    assert len(fs.called("reply")) == 1
    assert json.loads(patch["content"])["elements"][0]["content"] == "There are 60 customers."


@pytest.mark.parametrize("service", ["encrypted"], indirect=True)
async def test_a_replay_after_its_dedup_record_is_pruned_is_refused(service):
    """A captured delivery replayed a day later (its dedup record pruned after SEEN_RETENTION) is
    refused by the signature's timestamp window; a retry within the window is deduplicated."""
    import time

    from tabletalk.adapters.feishu import MAX_SIGNATURE_AGE
    from tabletalk.bot.dispatcher import SEEN_RETENTION

    fs = service["fs"]
    assert MAX_SIGNATURE_AGE < SEEN_RETENTION.total_seconds()
    day_ago = str(int(time.time() - SEEN_RETENTION.total_seconds() - 3600))
    event = fs.text_event("How many orders are there?", token=TOKEN)
    assert await fs.send_event(service["hook"], event, encrypt_key=KEY, timestamp=day_ago) == 401
    for bad in ("timestamp", "", str(int(time.time()) + 3600)):  # not a number, missing, from the future
        assert await fs.send_event(service["hook"], event, encrypt_key=KEY, timestamp=bad) == 401
    an_hour_ago = str(int(time.time() - 3600))  # Feishu retries for ~7 h
    for _ in range(2):
        assert await fs.send_event(service["hook"], event, encrypt_key=KEY, timestamp=an_hour_ago) == 200
    await fs.wait_for("patch")
    await service["app"][DELIVERIES].drain()
    assert len(fs.called("reply")) == 1


async def test_a_bot_without_token_or_key_is_refused_and_its_webhook_answers_nothing(service):
    """A forged event to a bot stored before a verification token or encrypt key was required."""
    import aiohttp as _aiohttp

    from tabletalk.adapters.rest.app import CORE
    from tabletalk.core.store.models import Bot

    fs, core = service["fs"], service["app"][CORE]
    base = service["hook"].rsplit("/webhooks", 1)[0]
    channel = {"app_id": "cli_1", "app_secret": "sec", "domain": fs.domain}
    async with _aiohttp.ClientSession() as http:
        resp = await http.post(f"{base}/api/v1/bots", headers=ADMIN, json={
            "id": "open", "name": "Open", "datasource_ids": ["Demo shop"], "channels": {"feishu": channel}})
        assert resp.status == 400 and "channels.feishu.verification_token" in (await resp.json())["detail"]
        ds = (await (await http.get(f"{base}/api/v1/datasources", headers=ADMIN)).json())["items"][0]["id"]
    await core.store.add(Bot(id="legacy", name="Legacy", datasource_ids=[ds], channels=core.box.seal({"feishu": channel})))
    forged = fs.text_event("How many orders are there?", token="")
    assert await fs.send_event(f"{base}/webhooks/feishu/legacy", forged) == 401
    await service["app"][DELIVERIES].drain()
    assert fs.called("reply") == [] and fs.called("send") == [] and fs.called("token") == []


@pytest.mark.parametrize("ref", [{}, {"progress_message_id": "om_recalled"}], ids=["no progress card", "progress card gone"])
async def test_late_answer_without_its_progress_card_is_a_reply_to_the_question(service, ref):
    from tabletalk.adapters import feishu as feishu_adapter
    from tabletalk.adapters.rest.app import DISPATCHER
    from tabletalk.bot.messages import IncomingMessage

    fs = service["fs"]
    bot = await service["app"][DISPATCHER].bot("shop")
    msg = IncomingMessage(bot_id="shop", platform="feishu", user="ou_user1", chat="oc_chat1", text="orders?",
                          attachments=[{"message_id": "om_question"}])
    await feishu_adapter.late_reply(bot, msg, ref, Reply(text="There are 400 orders."))
    replies = fs.called("reply")
    assert [r.data["message_id"] for r in replies] == ["om_question"]
    assert json.loads(replies[0].data["content"])["elements"][0]["content"] == "There are 400 orders."
    assert len(fs.called("patch")) == len(ref)  # tried the gone card first (Feishu: 400, code 230001), then replied


async def _ask_in_turn(fs, hook: str, questions: list[str], *, key: str | None = KEY) -> None:
    for i, question in enumerate(questions):
        done = len(fs.called("patch"))
        assert await fs.send_event(hook, fs.text_event(question, open_id=f"ou_user{i}", token=TOKEN), encrypt_key=key) == 200
        await fs.wait_for("patch", count=done + 1)


async def _feishu_bot(http, fs, **channel) -> str:
    channel = {"app_id": "cli_1", "app_secret": "sec", "verification_token": TOKEN, "encrypt_key": KEY,
               "domain": fs.domain, **channel}
    ds = (await (await http.get("/api/v1/datasources", headers=ADMIN)).json())["items"][0]["id"]
    async with http.post("/api/v1/bots", headers=ADMIN, json={"id": "shop", "name": "Shop", "datasource_ids": [ds],
                                                               "channels": {"feishu": channel}}) as resp:
        assert resp.status == 201, await resp.text()
    return str(http.make_url("/webhooks/feishu/shop"))


async def test_a_conversation_reuses_one_connection_to_the_open_api(tmp_path):
    """Answers share one HTTP session per base URL: the token, progress cards and patches of five
    answers in turn all travel on one kept-alive connection (lark-oapi made a client, and a
    connection, per call: ~18 ms of CPU on the loop each), and the session closes with the app."""
    from tabletalk.adapters.feishu import OPEN_APIS

    async with FakeFeishu() as fs:
        async with running_app(tmp_path / "home") as (app, http, ds):
            hook = await _feishu_bot(http, fs)
            await _ask_in_turn(fs, hook, ["How many orders are there?"] * 5)
            assert len(fs.called("reply")) == 5 and len(fs.called("token")) == 1
            assert len(fs.connections) == 1, f"{len(fs.connections)} connections for {len(fs.calls)} calls"
            apis = app[OPEN_APIS]
        assert apis._closed and all(api._session is None for api in apis._apis.values())  # closed on cleanup


async def test_a_refused_tenant_token_is_renewed_once_and_the_call_retried(service):
    """Feishu refuses a token before our cache expires it (99991663): one new token, the same call
    again with it — the answer still arrives, and the refused token is not used again."""
    fs = service["fs"]
    await _ask_in_turn(fs, service["hook"], ["How many orders are there?"], key=service["key"])
    fs.expire_tokens()
    await _ask_in_turn(fs, service["hook"], ["How many products are there?"], key=service["key"])
    assert len(fs.called("token")) == 2
    replies = [r.data["auth"] for r in fs.called("reply")]
    assert replies == ["Bearer t-fake", "Bearer t-fake", f"Bearer {fs.token}"]  # the second answer: refused, then renewed
    assert json.loads(fs.called("patch")[-1].data["content"])["elements"][0]["content"] == "There are 12 products."


async def test_feishu_conversation_logs_no_secret(tmp_path, caplog):
    """Every logger at DEBUG while Feishu answers, the token fetch and a call fail and a token is
    refused: neither the app secret nor a tenant token appears in any log line."""
    import logging

    secret, token = "feishu-app-secret-value", "t-g1045secrettenanttoken"
    caplog.set_level(logging.DEBUG)
    async with FakeFeishu(token=token) as fs:
        async with running_app(tmp_path / "home") as (app, http, ds):
            for name in ("aiohttp", "tabletalk"):
                logging.getLogger(name).setLevel(logging.DEBUG)
            hook = await _feishu_bot(http, fs, app_secret=secret)
            fs.fail_next("token", 500)  # the token fetch is retried like the call it is for
            fs.fail_next("reply", 500)
            await _ask_in_turn(fs, hook, ["How many orders are there?"])
            fs.expire_tokens()
            await _ask_in_turn(fs, hook, ["How many orders are there?"])
            await app[DELIVERIES].drain()
    for name in ("aiohttp", "tabletalk"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert len(fs.called("token")) == 3 and len(fs.called("patch")) == 2
    assert "feishu reply failed" in text and "tenant token was refused" in text, "the failures were not logged"
    leaked = [s for s in (secret, token, fs.token) if s in text]
    assert not leaked, [line for line in text.splitlines() if any(s in line for s in leaked)][:5]
