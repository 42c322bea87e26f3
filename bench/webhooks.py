"""Webhook acknowledgement latency: signed Slack events posted while 50 answers are in flight
(each waits on a 2 s fake LLM), measured against the same service's /healthz in the same run.
Goal: p99 ack < 100 ms."""
from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402

from tabletalk.adapters.rest.app import create_app  # noqa: E402
from tabletalk.config.settings import Settings  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402

KEY, SECRET = "bench-admin-key-0123456789", "bench-signing"


async def _main() -> dict:
    async with FakeOpenAI(latency=2.0, default=lambda b: "```sql\nSELECT COUNT(*) FROM orders\n```") as llm, FakeSlack() as slack:
        app = create_app(Settings(TABLETALK_HOME=tempfile.mkdtemp(), TABLETALK_ADMIN_KEY=KEY, OPENAI_BASE_URL=llm.base_url,
                                  OPENAI_API_KEY="x", TABLETALK_LOG_LEVEL="WARNING"))
        server = TestServer(app)
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        headers = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession() as http:
            ds = (await (await http.get(f"{base}/api/v1/datasources", headers=headers)).json())["items"][0]["id"]
            await http.post(f"{base}/api/v1/bots", headers=headers, json={
                "id": "b", "name": "B", "datasource_ids": [ds],
                "channels": {"slack": {"bot_token": "x", "signing_secret": SECRET, "api_base_url": slack.api_url}}})
            hook = f"{base}/webhooks/slack/b"
            # 50 slow answers in flight (the model takes 2 s each)
            for i in range(50):
                await slack.send_event(hook, SECRET, {"type": "app_mention", "user": "U1", "text": f"<@U> zorblax {i}?",
                                                      "channel": f"C{i}", "ts": f"{i}.1"})
            acks, health = [], []
            for i in range(200):
                body_event = {"type": "app_mention", "user": "U2", "text": "<@U> /help", "channel": "CX", "ts": f"{1000 + i}.1"}
                t0 = time.perf_counter()
                resp = await slack.send_event(hook, SECRET, body_event)
                acks.append((time.perf_counter() - t0) * 1000)
                assert resp.status == 200
                t0 = time.perf_counter()
                async with http.get(f"{base}/healthz") as r:
                    await r.read()
                health.append((time.perf_counter() - t0) * 1000)
            in_flight = len(app[__import__("tabletalk.adapters.delivery", fromlist=["DELIVERIES"]).DELIVERIES].tasks)
        await server.close()
    p99 = sorted(acks)[int(0.99 * len(acks)) - 1]
    h99 = sorted(health)[int(0.99 * len(health)) - 1]
    return {"rows": [
        {"metric": "Slack event ack p99 (50 answers in flight)", "value": round(p99, 2), "unit": "ms",
         "baseline": f"{h99:.2f} ms (GET /healthz p99, same run)", "ratio": round(p99 / h99, 2), "goal": "< 100 ms", "met": p99 < 100},
        {"metric": "Slack event ack p50", "value": round(statistics.median(acks), 2), "unit": "ms"},
        {"metric": "answers still in flight at the end", "value": in_flight, "unit": "tasks"},
    ]}


def run() -> dict:
    return asyncio.run(_main())


if __name__ == "__main__":
    for row in run()["rows"]:
        print(row)
