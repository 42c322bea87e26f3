"""kill -9 the service while 20 chat messages are in flight: after a restart every accepted question is
stored once, and the unanswered ones are marked failed with a reason."""
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


async def test_kill_during_twenty_messages_loses_no_question(tmp_path):
    port = _port()
    base = f"http://127.0.0.1:{port}/api/v1"
    async with FakeOpenAI(latency=60) as llm:  # the model never answers before the kill
        proc = await _serve(tmp_path / "home", port, llm.base_url)
        try:
            async with aiohttp.ClientSession(headers=ADMIN) as s:
                ds = (await (await s.get(f"{base}/datasources")).json())["items"][0]["id"]
                await s.post(f"{base}/bots", json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})
                chat = (await (await s.post(f"{base}/chats", json={"bot_id": "shop"})).json())["id"]
                questions = [f"Which zorblax segment number {i} churned?" for i in range(20)]
                inflight = [asyncio.create_task(s.post(f"{base}/chats/{chat}/messages", json={"question": q})) for q in questions]
                for _ in range(200):  # until all 20 are accepted (stored)
                    body = await (await s.get(f"{base}/chats/{chat}")).json()
                    if len([m for m in body["messages"] if m["role"] == "human"]) == 20:
                        break
                    await asyncio.sleep(0.05)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                await asyncio.gather(*inflight, return_exceptions=True)
        finally:
            if proc.poll() is None:
                proc.kill()
        proc = await _serve(tmp_path / "home", port, llm.base_url)
        try:
            async with aiohttp.ClientSession(headers=ADMIN) as s:
                body = await (await s.get(f"{base}/chats/{chat}")).json()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(10)
    humans = [m for m in body["messages"] if m["role"] == "human"]
    assert sorted(m["content"]["text"] for m in humans) == sorted(questions)  # all stored, none twice
    assert all(m["status"] == "failed" and "restarted" in m["error"] for m in humans)
