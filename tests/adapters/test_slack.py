"""Slack end to end: signed Events API deliveries into the real service, answers through slack_sdk to
a local fake Slack Web API."""
from __future__ import annotations

import time

import pytest

from tabletalk.adapters.delivery import DELIVERIES
from tests.conftest import ADMIN, customers_in, demo_truth, running_app
from tests.fakes.slack_api import FakeSlack

SECRET = "slack-signing-secret"


@pytest.fixture
async def service(tmp_path):
    async with FakeSlack() as slack:
        async with running_app(tmp_path / "home") as (app, http, ds):
            yield {"app": app, "http": http, "slack": slack, "ds": ds,
                   "hook": str(http.make_url("/webhooks/slack/shop"))}


async def _bot(service, **extra) -> None:
    body = {"id": "shop", "name": "Shop", "datasource_ids": [service["ds"]],
            "channels": {"slack": {"bot_token": "xoxb-test", "signing_secret": SECRET, "api_base_url": service["slack"].api_url}}}
    body.update(extra)
    async with service["http"].post("/api/v1/bots", headers=ADMIN, json=body) as resp:
        assert resp.status == 201, await resp.text()


async def _city_role(service) -> None:
    """A role 'city' whose customers rows are filtered by its `city` variable."""
    http = service["http"]
    async with http.post("/api/v1/roles", headers=ADMIN, json={"name": "city", "variables": [{"name": "city"}]}) as r:
        role = await r.json()
    async with http.post("/api/v1/policies", headers=ADMIN, json={
            "role_id": role["id"], "datasource_id": service["ds"],
            "rules": [{"table": "customers", "row_filter": "city = '{{city}}'"}]}) as r:
        assert r.status == 201


def mention(text: str, user: str = "U1", channel: str = "C1", ts: str = "1700000000.000100") -> dict:
    return {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}", "channel": channel, "ts": ts}


async def test_url_verification_answers_the_challenge(service):
    await _bot(service)
    body = b'{"type": "url_verification", "challenge": "xyz"}'
    async with service["http"].post("/webhooks/slack/shop", data=body, headers=FakeSlack.sign(SECRET, body)) as resp:
        assert resp.status == 200 and (await resp.json())["challenge"] == "xyz"


async def test_mention_is_answered_in_the_thread(service):
    await _bot(service)
    slack = service["slack"]
    resp = await slack.send_event(service["hook"], SECRET, mention("How many orders are there?"))
    assert resp.status == 200
    update = (await slack.wait_for("chat.update"))[0].data
    posted = slack.called("chat.postMessage")[0].data
    assert posted["thread_ts"] == "1700000000.000100" and posted["text"] == "Working on it…"
    assert update["text"] == "There are 400 orders."
    assert any("SQL" in str(b) for b in update["blocks"])


async def test_redelivered_event_is_answered_once(service):
    await _bot(service)
    slack = service["slack"]
    for retry in (None, 1, 2):
        await slack.send_event(service["hook"], SECRET, mention("How many customers are there?"), event_id="EvSAME", retry_num=retry)
    await slack.wait_for("chat.update")
    await service["app"][DELIVERIES].drain()
    assert len(slack.called("chat.postMessage")) == 1 and len(slack.called("chat.update")) == 1


@pytest.mark.parametrize("kind", ["bad_signature", "stale"])
async def test_bad_or_stale_signatures_are_rejected(service, kind):
    await _bot(service)
    slack = service["slack"]
    kwargs = {"bad_signature": True} if kind == "bad_signature" else {"timestamp": int(time.time()) - 600}
    resp = await slack.send_event(service["hook"], SECRET, mention("How many orders are there?"), **kwargs)
    assert resp.status == 401
    assert slack.calls == []


async def test_bot_messages_edits_and_plain_channel_messages_are_ignored(service):
    await _bot(service)
    slack = service["slack"]
    await slack.send_event(service["hook"], SECRET, {**mention("hi"), "bot_id": "B9"})
    await slack.send_event(service["hook"], SECRET, {"type": "message", "subtype": "message_changed", "channel": "C1", "user": "U1", "text": "x"})
    await slack.send_event(service["hook"], SECRET, {"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1", "text": "How many orders?"})
    await slack.send_event(service["hook"], SECRET, {"type": "message", "channel": "D1", "channel_type": "im", "user": "U1",
                                                     "text": "How many products are there?", "ts": "1.2"})
    update = (await slack.wait_for("chat.update"))[0].data
    assert update["text"] == "There are 12 products."
    assert len(slack.called("chat.postMessage")) == 1


async def test_rate_limits_and_errors_from_slack_are_retried(service):
    await _bot(service)
    slack = service["slack"]
    slack.fail_next("chat.postMessage", 429, retry_after=1)
    slack.fail_next("chat.update", 500)
    await slack.send_event(service["hook"], SECRET, mention("How many orders are there?"))
    update = await slack.wait_for("chat.update", count=2)
    assert update[-1].data["text"] == "There are 400 orders."
    assert len(slack.called("chat.postMessage")) == 2


async def test_chart_and_csv_are_uploaded(service):
    await _bot(service)
    slack = service["slack"]
    await slack.send_event(service["hook"], SECRET, mention("revenue per month"))
    await slack.wait_for("files.completeUploadExternal", count=2)
    sizes = [c.data["size"] for c in slack.called("upload")]
    assert len(sizes) == 2 and all(s > 0 for s in sizes)
    png = next(b for b in slack.uploads.values() if b.startswith(b"\x89PNG"))
    assert len(png) > 1000


async def test_two_users_in_one_channel_get_their_own_rows(service):
    slack = service["slack"]
    await _city_role(service)
    await _bot(service, group_privacy="thread", access={"users": [  # answers in the thread, by choice
        {"platform": "slack", "user": "UBERLIN", "role": "city", "variables": {"city": "Berlin"}},
        {"platform": "slack", "user": "UPARIS", "role": "city", "variables": {"city": "Paris"}}]})
    await slack.send_event(service["hook"], SECRET, mention("How many customers are there?", user="UBERLIN", ts="1.1"))
    await slack.wait_for_texts(1)
    await slack.send_event(service["hook"], SECRET, mention("How many customers are there?", user="UPARIS", ts="2.2"))
    await slack.send_event(service["hook"], SECRET, mention("How many customers are there?", user="USTRANGER", ts="3.3"))
    updates = await slack.wait_for_texts(3)
    truth = dict(demo_truth(service["app"], "SELECT city, COUNT(*) FROM customers GROUP BY city"))
    assert updates[0] == f"There are {truth['Berlin']} customers."
    assert f"There are {truth['Paris']} customers." in updates[1:]
    assert truth["Berlin"] != truth["Paris"]
    assert any("don't have access" in u for u in updates)


@pytest.mark.parametrize("privacy,method", [("ephemeral", "chat.postEphemeral"), ("dm", "conversations.open")])
async def test_filtered_answers_stay_private_in_channels(service, privacy, method):
    slack = service["slack"]
    await _city_role(service)
    await _bot(service, group_privacy=privacy, access={"users": [
        {"platform": "slack", "user": "UBERLIN", "role": "city", "variables": {"city": "Berlin"}}]})
    await slack.send_event(service["hook"], SECRET, mention("How many customers are there?", user="UBERLIN"))
    await slack.wait_for(method)
    await service["app"][DELIVERIES].drain()
    assert [c.data["text"] for c in slack.called("chat.update")] == ["I sent you the answer privately."]
    private = slack.called("chat.postEphemeral") or [c for c in slack.called("chat.postMessage") if c.data["channel"].startswith("D")]
    assert private and private[0].data["text"].startswith(f"There are {customers_in(service['app'], 'Berlin')} customers.")


async def test_filtered_answer_in_a_channel_is_not_posted_publicly_by_default(service):
    slack = service["slack"]
    await _city_role(service)
    await _bot(service, access={"users": [  # no group_privacy: the default
        {"platform": "slack", "user": "UBERLIN", "role": "city", "variables": {"city": "Berlin"}}]})
    await slack.send_event(service["hook"], SECRET, mention("How many customers are there?", user="UBERLIN"))
    ephemeral = (await slack.wait_for("chat.postEphemeral"))[0].data
    await service["app"][DELIVERIES].drain()
    assert ephemeral["user"] == "UBERLIN" and ephemeral["text"].startswith("There are ")
    public = [c.data.get("text", "") for c in slack.called("chat.update") + slack.called("chat.postMessage")]
    assert public and not any(t.startswith("There are ") for t in public), public


async def test_replies_in_the_bots_own_thread_are_answered_without_a_mention(service):
    await _bot(service)
    slack = service["slack"]
    reply = {"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1", "ts": "5.2", "thread_ts": "5.1"}
    await slack.send_event(service["hook"], SECRET, {**reply, "parent_user_id": "UOTHER", "text": "How many orders are there?"})
    await slack.send_event(service["hook"], SECRET, {**reply, "parent_user_id": "UBOT", "text": "How many products are there?"})
    # With a mention the same reply also arrives as app_mention: answered once, from that event.
    await slack.send_event(service["hook"], SECRET, {**reply, "parent_user_id": "UBOT", "text": "<@UBOT> How many customers?"})
    [text] = await slack.wait_for_texts(1)
    await service["app"][DELIVERIES].drain()
    assert text == "There are 12 products." and len(slack.texts()) == 1
    assert slack.called("chat.postMessage")[0].data["thread_ts"] == "5.1"


@pytest.mark.parametrize("ref", [{}, {"progress_ts": "1.999999"}], ids=["no progress message", "progress message gone"])
async def test_late_answer_without_its_progress_message_is_posted_in_the_thread(service, ref):
    from tabletalk.adapters import slack as slack_adapter
    from tabletalk.adapters.rest.app import DISPATCHER
    from tabletalk.bot.messages import IncomingMessage, Reply

    await _bot(service)
    slack = service["slack"]
    bot = await service["app"][DISPATCHER].bot("shop")
    msg = IncomingMessage(bot_id="shop", platform="slack", user="U1", chat="C1", text="orders?", thread="7.1", is_group=True)
    await slack_adapter.late_reply(bot, msg, ref, Reply(text="There are 400 orders."))
    posted = slack.called("chat.postMessage")
    assert [(c.data["channel"], c.data["thread_ts"], c.data["text"]) for c in posted] == [("C1", "7.1", "There are 400 orders.")]
    assert len(slack.called("chat.update")) == len(ref)  # tried the gone message first, then posted


async def test_late_filtered_answer_in_a_channel_stays_private(service):
    from tabletalk.adapters import slack as slack_adapter
    from tabletalk.adapters.rest.app import DISPATCHER
    from tabletalk.bot.messages import IncomingMessage, Reply

    await _bot(service, group_privacy="dm")
    slack = service["slack"]
    bot = await service["app"][DISPATCHER].bot("shop")
    client = slack_adapter.client_for(bot.channels.slack)
    progress = (await client.chat_postMessage(channel="C1", thread_ts="7.1", text="Working on it…"))["ts"]
    msg = IncomingMessage(bot_id="shop", platform="slack", user="UBERLIN", chat="C1", text="customers?", thread="7.1", is_group=True)
    await slack_adapter.late_reply(bot, msg, {"progress_ts": progress}, Reply(text="There are 3 customers.", private=True))
    assert [c.data["text"] for c in slack.called("chat.update")] == ["I sent you the answer privately."]
    dm = [c.data for c in slack.called("chat.postMessage") if c.data["channel"].startswith("D")]
    assert [d["text"] for d in dm] == ["There are 3 customers."] and slack.called("conversations.open")[0].data["users"] == "UBERLIN"
