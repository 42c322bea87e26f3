"""Slack slash commands and buttons: signed forms into the real service, acked at once, answers
posted to the response_url on the local fake Slack."""
from __future__ import annotations

import json
import time

from tabletalk.adapters.delivery import DELIVERIES
from tabletalk.adapters.slack_render import DOWNLOAD_CSV, SHOW_SQL
from tests.adapters.test_slack import SECRET, _bot, _city_role, mention, service  # noqa: F401 (fixture)
from tests.conftest import demo_truth


async def _command(service, text: str, *, command: str = "/tabletalk", user: str = "U1", channel: str = "C1",
                   response_url: str | None = None):
    slack = service["slack"]
    body, headers = slack.form(SECRET, {
        "token": "legacy", "team_id": "T1", "channel_id": channel, "channel_name": "general", "user_id": user,
        "user_name": "ann", "command": command, "text": text, "trigger_id": f"trig.{time.monotonic_ns()}",
        "response_url": response_url or slack.response_url})
    started = time.monotonic()
    async with service["http"].post("/webhooks/slack/shop", data=body, headers=headers) as resp:
        return resp.status, await resp.json() if resp.content_type == "application/json" else None, time.monotonic() - started


async def test_slash_command_round_trip(service):
    await _bot(service)
    slack = service["slack"]
    status, ack, seconds = await _command(service, "How many orders are there?")
    assert status == 200 and ack == {"response_type": "ephemeral", "text": "Working on it…"}
    assert seconds < 3, f"Slack needs the ack within 3 s; took {seconds:.2f}s"  # generous: it is immediate
    posted = (await slack.wait_for("response_url"))[0].data
    assert posted["response_type"] == "in_channel" and posted["text"] == "There are 400 orders."
    buttons = next(b for b in posted["blocks"] if b["type"] == "actions")["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Show SQL"]


async def test_slash_command_help_and_other_commands_answer_in_the_ack(service):
    await _bot(service, channels={"slack": {"bot_token": "xoxb-test", "signing_secret": SECRET, "slash_command": "/ask",
                                            "api_base_url": service["slack"].api_url}})
    status, ack, _ = await _command(service, "", command="/ask")
    assert status == 200 and "/ask <question>" in ack["text"]
    status, ack, _ = await _command(service, "How many orders are there?", command="/tabletalk")
    assert status == 200 and ack["response_type"] == "ephemeral" and "/ask" in ack["text"]
    status, ack, _ = await _command(service, "hi", command="/ask")  # nothing a dataset could answer
    assert (await service["slack"].wait_for("response_url"))[0].data["response_type"] == "ephemeral"
    await service["app"][DELIVERIES].drain()
    assert service["slack"].called("chat.postMessage") == []


async def test_slash_command_answer_shaped_by_a_row_filter_is_shown_to_the_asker_only(service):
    await _city_role(service)
    await _bot(service, group_privacy="ephemeral", access={"users": [
        {"platform": "slack", "user": "UBERLIN", "role": "city", "variables": {"city": "Berlin"}}]})
    await _command(service, "How many customers are there?", user="UBERLIN")
    posted = (await service["slack"].wait_for("response_url"))[0].data
    berlin = dict(demo_truth(service["app"], "SELECT city, COUNT(*) FROM customers GROUP BY city"))["Berlin"]
    assert posted["response_type"] == "ephemeral" and posted["text"] == f"There are {berlin} customers."


async def test_a_response_url_off_slack_is_refused(service):
    await _bot(service)
    status, body, _ = await _command(service, "How many orders are there?", response_url="https://attacker.example/x")
    assert status == 400 and "response_url" in body["detail"]


async def _click(service, action_id: str, value: str, user: str = "U1"):
    slack = service["slack"]
    payload = {"type": "block_actions", "user": {"id": user}, "api_app_id": "A1", "response_url": slack.response_url,
               "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1"}, "channel": {"id": "C1"},
               "actions": [{"action_id": action_id, "block_id": "tabletalk_answer", "value": value, "type": "button"}]}
    body, headers = slack.form(SECRET, {"payload": json.dumps(payload)})
    async with service["http"].post("/webhooks/slack/shop", data=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def test_show_sql_and_download_csv_buttons_serve_the_asker(service):
    await _bot(service)
    slack = service["slack"]
    await slack.send_event(service["hook"], SECRET, mention("How many customers are there per city?", user="U1"))
    answer = (await slack.wait_for("chat.update"))[0]
    buttons = {b["action_id"]: b["value"] for blk in answer.data["blocks"] if blk["type"] == "actions" for b in blk["elements"]}
    assert set(buttons) == {SHOW_SQL, DOWNLOAD_CSV} and "SELECT" not in json.dumps(answer.data["blocks"])
    await _click(service, SHOW_SQL, buttons[SHOW_SQL])
    shown = (await slack.wait_for("response_url"))[-1].data
    assert shown["response_type"] == "ephemeral" and "SELECT" in shown["text"]
    uploads = len(slack.called("upload"))  # the chart came with the answer
    await _click(service, DOWNLOAD_CSV, buttons[DOWNLOAD_CSV])
    await slack.wait_for("upload", count=uploads + 1)
    upload = slack.uploads[slack.called("upload")[-1].data["file_id"]]
    assert upload.decode().splitlines()[0].lower().startswith("city")
    await _click(service, SHOW_SQL, buttons[SHOW_SQL], user="USOMEONE_ELSE")
    refused = (await slack.wait_for("response_url", count=3))[-1].data
    assert "Only the person who asked" in refused["text"]
    await _click(service, SHOW_SQL, "msg_does_not_exist")
    gone = (await slack.wait_for("response_url", count=4))[-1].data
    assert "no longer available" in gone["text"]


async def test_buttons_nobody_sent_are_acknowledged(service):
    await _bot(service)
    await _click(service, "somebody_elses_button", "x")
    await service["app"][DELIVERIES].drain()
    assert service["slack"].called("response_url") == []
