"""Two service instances on one PostgreSQL metadata database: consistent answers, and a webhook
event delivered to both is answered once."""
from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet

from tabletalk.adapters.delivery import DELIVERIES
from tabletalk.adapters.rest.app import create_app
from tests.conftest import ADMIN, make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack

SECRET = "two-instance-signing"


async def test_two_instances_share_state_and_answer_an_event_once(tmp_path, pg_url):
    shared = {"TABLETALK_DATABASE_URL": pg_url, "TABLETALK_SECRET_KEY": Fernet.generate_key().decode()}
    apps = [create_app(make_settings(tmp_path / f"home{i}", **shared)) for i in (1, 2)]
    servers = [TestServer(app) for app in apps]
    for s in servers:
        await s.start_server()
    try:
        async with FakeSlack() as slack, aiohttp.ClientSession() as http:
            a, b = (str(s.make_url("")).rstrip("/") for s in servers)
            listing = await (await http.get(f"{b}/api/v1/datasources", headers=ADMIN)).json()
            # Each fresh home adds its demo once; both instances see the same list.
            same = await (await http.get(f"{a}/api/v1/datasources", headers=ADMIN)).json()
            assert listing["total"] == same["total"] >= 1
            ds = listing["items"][0]["id"]
            resp = await http.post(f"{a}/api/v1/bots", headers=ADMIN, json={
                "id": "shop", "name": "Shop", "datasource_ids": [ds],
                "channels": {"slack": {"bot_token": "xoxb", "signing_secret": SECRET, "api_base_url": slack.api_url}}})
            assert resp.status == 201
            assert (await http.get(f"{b}/api/v1/bots/shop", headers=ADMIN)).status == 200
            event = {"type": "app_mention", "user": "U1", "text": "<@UBOT> How many orders are there?", "channel": "C1", "ts": "9.1"}
            for base in (a, b, a, b):
                await slack.send_event(f"{base}/webhooks/slack/shop", SECRET, event, event_id="EvTWICE")
            await slack.wait_for("chat.update")
            for app in apps:
                await app[DELIVERIES].drain()
            assert len(slack.called("chat.postMessage")) == 1 and len(slack.called("chat.update")) == 1
    finally:
        for s in servers:
            await s.close()


class _Instances(dict):
    """Served instances by name, all on one metadata store."""

    def __init__(self, tmp_path, settings: dict):
        super().__init__()
        self.tmp_path, self.settings = tmp_path, settings

    async def start(self, name: str) -> TestServer:
        server = self[name] = TestServer(create_app(make_settings(self.tmp_path / name, **self.settings)))
        await server.start_server()
        return server

    async def restart(self, name: str) -> TestServer:
        await self[name].close()
        return await self.start(name)


@contextlib.asynccontextmanager
async def _two_instances(tmp_path, pg_url: str):
    """Instances A and B on one PostgreSQL store with 2 s leases, and a model that answers in 6 s."""
    async with FakeOpenAI(latency=6) as llm:
        llm.default = lambda body: "```sql\nSELECT COUNT(*) AS n FROM orders\n```"
        instances = _Instances(tmp_path, {"TABLETALK_DATABASE_URL": pg_url, "TABLETALK_SECRET_KEY": Fernet.generate_key().decode(),
                                          "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "x", "TABLETALK_TURN_LEASE": "2"})
        try:
            await instances.start("a")
            await instances.start("b")
            yield llm, instances
        finally:
            for server in instances.values():
                await server.close()


async def test_a_restarting_instance_leaves_the_other_instances_turns_alone(tmp_path, pg_url):
    """Instance B restarts while A answers a question: B reclaims only expired leases, so A's turn
    stays A's (not marked failed, not answered twice) and A's answer completes."""
    from sqlmodel import select

    from tabletalk.adapters.rest.app import CORE
    from tabletalk.core.store.models import Message

    async with _two_instances(tmp_path, pg_url) as (llm, instances), aiohttp.ClientSession(headers=ADMIN) as http:
        base_a = str(instances["a"].make_url("/api/v1"))
        ds = (await (await http.get(f"{base_a}/datasources")).json())["items"][0]["id"]
        await http.post(f"{base_a}/bots", json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})
        chat = (await (await http.post(f"{base_a}/chats", json={"bot_id": "shop"})).json())["id"]
        asking = asyncio.create_task(http.post(f"{base_a}/chats/{chat}/messages",
                                               json={"question": "Which customers churned from the zorblax segment?"}))
        while not llm.requests:  # A is answering
            await asyncio.sleep(0.05)
        b = await instances.restart("b")  # B restarts while A's lease is renewed
        await asyncio.sleep(3)  # longer than a lease: A renews, B's heartbeat reclaims nothing
        async with b.app[CORE].store.session() as s:
            (human,) = (await s.exec(select(Message).where(Message.chat_id == chat, Message.role == "human"))).all()
        assert human.status == "pending", (human.status, human.error)
        reply = await (await asking).json()
        assert reply["status"] == "success", reply
        body = await (await http.get(f"{b.make_url('/api/v1')}/chats/{chat}")).json()
    assert [(m["role"], m["status"]) for m in body["messages"]] == [("human", "success"), ("assistant", "success")]


async def test_a_restarting_instance_leaves_the_other_instances_canvas_runs_alone(tmp_path, pg_url):
    """B restarts and reads a node A is running: A's run holds a live lease, so B leaves it `running`
    (never failed under A), and A's result is stored."""
    async with _two_instances(tmp_path, pg_url) as (llm, instances), aiohttp.ClientSession(headers=ADMIN) as http:
        base_a = str(instances["a"].make_url("/api/v1"))
        ds = (await (await http.get(f"{base_a}/datasources")).json())["items"][0]["id"]
        cv = (await (await http.post(f"{base_a}/canvas", json={"name": "B", "datasource_id": ds})).json())["id"]
        node = (await (await http.post(f"{base_a}/canvas/{cv}/nodes", json={
            "type": "data", "question": "Which customers churned from the zorblax segment?"})).json())["id"]
        running = asyncio.create_task(http.post(f"{base_a}/canvas/{cv}/nodes/{node}/run"))
        while not llm.requests:  # A is running the node
            await asyncio.sleep(0.05)
        base_b = str((await instances.restart("b")).make_url("/api/v1"))
        seen = []
        for _ in range(8):  # four seconds, two leases: A renews, B's reads fail nothing
            seen.append((await (await http.get(f"{base_b}/canvas/{cv}/nodes/{node}")).json())["status"])
            await asyncio.sleep(0.5)
        await (await running).read()
        done = await (await http.get(f"{base_b}/canvas/{cv}/nodes/{node}")).json()
    assert seen == ["running"] * 8, seen
    assert done["status"] == "completed" and done["data"]["dataframe"]["data"], done
