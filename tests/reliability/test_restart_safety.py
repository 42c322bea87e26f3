"""kill -9 the service while questions are being answered: after a restart every accepted question is
stored once and answered late through the normal reply path (REST: stored in the chat; Telegram:
the "Working on it…" message is edited), since the platform will not redeliver what we acknowledged."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.conftest import ADMIN, ADMIN_KEY
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_api import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(home: Path, port: int, llm_url: str, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "TABLETALK_HOME": str(home), "TABLETALK_ADMIN_KEY": ADMIN_KEY, "OPENAI_BASE_URL": llm_url,
           "OPENAI_API_KEY": "x", "TABLETALK_LLM_TIMEOUT": "60", "TABLETALK_LOG_LEVEL": "WARNING", **extra}
    proc = subprocess.Popen([sys.executable, "-m", "tabletalk.adapters.cli", "serve", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    async with aiohttp.ClientSession() as s:
        for _ in range(900):  # start-up is seconds on an idle machine, a minute or more on a loaded one
            if proc.poll() is not None:
                break
            try:
                async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    proc.kill()
    raise AssertionError("the service did not start")


SQL = "```sql\nSELECT COUNT(*) AS n FROM orders\n```"
LEASE = {"TABLETALK_TURN_LEASE": "2"}


async def _until(check, what: str, seconds: float = 120.0):
    for _ in range(int(seconds / 0.2)):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(what)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def test_kill_during_twenty_messages_every_question_is_answered_after_restart(tmp_path):
    port = _port()
    base = f"http://127.0.0.1:{port}/api/v1"
    async with FakeOpenAI(latency=60) as llm:  # the model never answers before the kill
        llm.default = lambda body: SQL
        proc = await _serve(tmp_path / "home", port, llm.base_url, **LEASE)
        try:
            async with aiohttp.ClientSession(headers=ADMIN) as s:
                ds = (await (await s.get(f"{base}/datasources")).json())["items"][0]["id"]
                await s.post(f"{base}/bots", json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})
                chat = (await (await s.post(f"{base}/chats", json={"bot_id": "shop"})).json())["id"]
                questions = [f"Which customers churned from zorblax segment number {i}?" for i in range(20)]
                inflight = [asyncio.create_task(s.post(f"{base}/chats/{chat}/messages", json={"question": q})) for q in questions]

                async def accepted():
                    body = await (await s.get(f"{base}/chats/{chat}")).json()
                    return len([m for m in body["messages"] if m["role"] == "human"]) == 20

                await _until(accepted, "the 20 questions were not all accepted")
                _kill(proc)
                await asyncio.gather(*inflight, return_exceptions=True)
        finally:
            if proc.poll() is None:
                proc.kill()
        llm.latency = 0
        proc = await _serve(tmp_path / "home", port, llm.base_url, **LEASE)
        try:
            async with aiohttp.ClientSession(headers=ADMIN) as s:
                async def answered():
                    body = await (await s.get(f"{base}/chats/{chat}")).json()
                    humans = [m for m in body["messages"] if m["role"] == "human"]
                    return body if all(m["status"] != "pending" for m in humans) else None

                body = await _until(answered, "questions stayed pending after the restart")
        finally:
            _stop(proc)
    humans = [m for m in body["messages"] if m["role"] == "human"]
    assert sorted(m["content"]["text"] for m in humans) == sorted(questions)  # all stored, none twice
    assert [m["status"] for m in humans] == ["success"] * 20, [m.get("error") for m in humans]
    replies = [m["content"].get("in_reply_to") for m in body["messages"] if m["role"] == "assistant"]
    assert sorted(replies) == sorted(m["id"] for m in humans)  # each answered exactly once


async def test_kill_mid_telegram_answer_the_user_hears_back_after_restart(tmp_path):
    async with FakeOpenAI(latency=60) as llm, FakeTelegram() as tg:
        llm.default = lambda body: SQL

        async def ask(root):
            hook = f"{root}/webhooks/telegram/shop"
            assert await tg.send_update(hook, "tg-s3", tg.message("Which customers churned from the zorblax segment?")) == 200

        port = await _kill_mid_answer(tmp_path, llm, {"telegram": {"token": "123:ABC", "secret_token": "tg-s3",
                                                                   "api_base_url": tg.api_url}},
                                      ask, lambda: tg.wait_for("sendMessage", timeout=60))  # "Working on it…"
        # acknowledged (200), progress shown, answer not sent
        assert tg.called("editMessageText") == []
        edit = (await _restart_until(tmp_path, port, llm, lambda: tg.wait_for("editMessageText", timeout=120)))[0].data
    assert edit["text"] != "Working on it…" and "restarted" not in edit["text"], edit
    assert [c.data["text"] for c in tg.called("sendMessage")] == ["Working on it…"]  # edited, not asked again


async def _kill_mid_answer(tmp_path, llm, channels: dict, ask, progress_shown) -> int:
    """Start the service with a bot on `channels`, ask through the platform, kill -9 once the progress
    message is out and the model is thinking; the port, for `_restart_until`."""
    port = _port()
    proc = await _serve(tmp_path / "home", port, llm.base_url, **LEASE)
    try:
        async with aiohttp.ClientSession(headers=ADMIN) as s:
            base = f"http://127.0.0.1:{port}/api/v1"
            ds = (await (await s.get(f"{base}/datasources")).json())["items"][0]["id"]
            resp = await s.post(f"{base}/bots", json={"id": "shop", "name": "Shop", "datasource_ids": [ds], "channels": channels})
            assert resp.status == 201, await resp.text()
        await ask(f"http://127.0.0.1:{port}")
        await progress_shown()
        await _until(lambda: asyncio.sleep(0, bool(llm.requests)), "the model was never asked", 60)
        _kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    return port


async def _restart_until(tmp_path, port: int, llm, answered):
    """Restart on the same home and port with a model that answers at once; wait for `answered()`."""
    llm.latency = 0
    proc = await _serve(tmp_path / "home", port, llm.base_url, **LEASE)
    try:
        return await answered()
    finally:
        _stop(proc)


async def test_kill_mid_slack_answer_the_progress_message_is_updated_after_restart(tmp_path):
    from tests.fakes.slack_api import FakeSlack

    secret = "slack-s3"
    async with FakeOpenAI(latency=60) as llm, FakeSlack() as slack:
        llm.default = lambda body: SQL
        event = {"type": "app_mention", "user": "U1", "channel": "C1", "ts": "1700000000.000100",
                 "text": "<@UBOT> Which customers churned from the zorblax segment?"}

        async def ask(root):
            assert (await slack.send_event(f"{root}/webhooks/slack/shop", secret, event)).status == 200

        port = await _kill_mid_answer(tmp_path, llm, {"slack": {"bot_token": "xoxb-1", "signing_secret": secret,
                                                                "api_base_url": slack.api_url}},
                                      ask, lambda: slack.wait_for("chat.postMessage", timeout=60))
        assert slack.called("chat.update") == []
        progress = slack.called("chat.postMessage")[0].data
        await _restart_until(tmp_path, port, llm, lambda: slack.wait_for_texts(1, timeout=120))
    update = slack.called("chat.update")[0].data
    assert progress["thread_ts"] == "1700000000.000100" and progress["text"] == "Working on it…"
    assert update["channel"] == "C1" and update["text"] != "Working on it…" and "ask again" not in update["text"], update
    assert len(slack.called("chat.postMessage")) == 1  # the progress message was updated, nothing posted anew
    assert slack.texts() == [update["text"]]


async def test_kill_mid_feishu_answer_the_progress_card_is_patched_after_restart(tmp_path):
    import json

    from tests.fakes.feishu_api import FakeFeishu

    async with FakeOpenAI(latency=60) as llm, FakeFeishu() as fs:
        llm.default = lambda body: SQL
        event = fs.text_event("Which customers churned from the zorblax segment?", token="vt")

        async def ask(root):
            assert await fs.send_event(f"{root}/webhooks/feishu/shop", event, encrypt_key="ek") == 200

        port = await _kill_mid_answer(tmp_path, llm, {"feishu": {"app_id": "cli_1", "app_secret": "sec", "verification_token": "vt",
                                                                 "encrypt_key": "ek", "domain": fs.domain}},
                                      ask, lambda: fs.wait_for("reply", timeout=60))
        assert fs.called("patch") == []
        progress = fs.called("reply")[0].data
        await _restart_until(tmp_path, port, llm, lambda: fs.wait_for_texts(1, timeout=120))
    patch = fs.called("patch")[0].data
    answer = json.loads(patch["content"])["elements"][0]["content"]
    assert progress["message_id"] == event["event"]["message"]["message_id"]
    assert patch["message_id"] in fs.shown and answer != "Working on it…" and "ask again" not in answer, answer
    assert len(fs.called("reply")) == 1 and fs.texts() == [answer]  # the progress card was patched, nothing sent anew


async def test_kill_mid_canvas_run_the_node_is_not_left_running_and_runs_again(tmp_path):
    port = _port()
    base = f"http://127.0.0.1:{port}/api/v1"
    async with FakeOpenAI(latency=60) as llm:  # the model never answers before the kill
        llm.default = lambda body: SQL
        proc = await _serve(tmp_path / "home", port, llm.base_url, **LEASE)
        try:
            async with aiohttp.ClientSession(headers=ADMIN) as s:
                ds = (await (await s.get(f"{base}/datasources")).json())["items"][0]["id"]
                cv = (await (await s.post(f"{base}/canvas", json={"name": "Board", "datasource_id": ds})).json())["id"]
                node = (await (await s.post(f"{base}/canvas/{cv}/nodes", json={
                    "type": "data", "question": "Which customers churned from the zorblax segment?"})).json())["id"]
                child = (await (await s.post(f"{base}/canvas/{cv}/nodes", json={"type": "chart", "parent_ids": [node]})).json())["id"]
                running = asyncio.create_task(s.post(f"{base}/canvas/{cv}/nodes/{node}/run"))
                await _until(lambda: asyncio.sleep(0, bool(llm.requests)), "the model was never asked", 60)
                assert (await (await s.get(f"{base}/canvas/{cv}/nodes/{node}")).json())["status"] == "running"
                _kill(proc)
                await asyncio.gather(running, return_exceptions=True)
        finally:
            if proc.poll() is None:
                proc.kill()
        llm.latency = 0
        proc = await _serve(tmp_path / "home", port, llm.base_url, **LEASE)
        try:
            async with aiohttp.ClientSession(headers=ADMIN) as s:
                async def settled():
                    body = await (await s.get(f"{base}/canvas/{cv}/nodes/{node}")).json()
                    return body if body["status"] != "running" else None

                left = await _until(settled, "the node stayed running after the restart", 30)
                refreshed = await (await s.post(f"{base}/canvas/{cv}/nodes/batch-refresh", json={"node_ids": [node]})).json()
        finally:
            _stop(proc)
    assert left["status"] == "failed" and left["error"] == "Interrupted by a restart; run it again.", left
    assert refreshed["order"] == [node, child]
    assert [n["status"] for n in refreshed["nodes"]] == ["completed", "completed"], refreshed
