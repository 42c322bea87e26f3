"""The LLM path over REST against a local fake OpenAI-compatible server."""
from __future__ import annotations

import asyncio
import socket

from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import create_app
from tests.conftest import ADMIN, demo_id, make_settings
from tests.fakes.openai_server import FakeOpenAI, Reply

ODD = "Which zorblax segments churned?"  # nothing the built-in engine can map


async def test_broken_sql_is_corrected_on_the_second_attempt(tmp_path):
    async with FakeOpenAI() as fake:
        fake.script(Reply("```sql\nSELEC nonsense FROM\n```"), Reply("```sql\nSELECT COUNT(*) AS n FROM orders\n```"),
                    Reply("There are 400 orders."))
        app = create_app(make_settings(tmp_path, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test"))
        async with TestClient(TestServer(app)) as client:
            ds = await demo_id(client)
            resp = await client.post("/api/v1/single-turn/q2a", headers=ADMIN, json={"datasource_id": ds, "question": ODD})
            body = await resp.json()
    assert resp.status == 200 and body["status"] == "success", body
    assert body["engine"] == "llm" and body["dataframe"]["data"] == [[400]]
    assert body["timing"]["llm_duration"] > 0
    assert body["answer"] == "There are 400 orders."
    second = fake.requests[1]["messages"]
    assert "SELEC nonsense" in second[-2]["content"] and "failed" in second[-1]["content"]
    assert "orders" in fake.requests[0]["messages"][0]["content"]  # the schema is in the prompt


async def test_dead_llm_gives_a_clear_error_quickly(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(make_settings(tmp_path, OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1", OPENAI_API_KEY="x",
                                   TABLETALK_LLM_TIMEOUT=2, TABLETALK_LLM_RETRIES=2))
    async with TestClient(TestServer(app)) as client:
        ds = await demo_id(client)
        resp = await asyncio.wait_for(client.post("/api/v1/single-turn/q2a", headers=ADMIN,
                                                  json={"datasource_id": ds, "question": ODD}), 30)
        body = await resp.json()
        assert resp.status == 502 and "did not answer" in body["detail"]
        # The built-in engine still answers what it can, with no LLM call.
        resp = await client.post("/api/v1/single-turn/q2a", headers=ADMIN,
                                 json={"datasource_id": ds, "question": "How many orders are there?"})
        assert (await resp.json())["dataframe"]["data"] == [[400]]


async def test_follow_up_sends_the_first_turn_to_the_llm(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "hr.db")
    db.executescript("CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT, office TEXT);"
                     "INSERT INTO employees VALUES (1,'a','Berlin'),(2,'b','Berlin'),(3,'c','Paris');")
    db.commit()
    db.close()
    async with FakeOpenAI() as fake:
        fake.default = lambda body: ("```sql\nSELECT office, COUNT(*) AS people FROM employees GROUP BY office ORDER BY office\n```"
                                     if "split" in body["messages"][-1]["content"] else "Two offices.")
        app = create_app(make_settings(tmp_path / "home", OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="x", TABLETALK_DEMO=False))
        async with TestClient(TestServer(app)) as client:
            ds = await (await client.post("/api/v1/datasources", headers=ADMIN, json={
                "name": "hr", "engine": "sqlite", "access_config": {"database": str(tmp_path / "hr.db")}})).json()
            for _ in range(100):
                if (await (await client.get(f"/api/v1/datasources/{ds['id']}", headers=ADMIN)).json())["meta_status"] == "success":
                    break
                await asyncio.sleep(0.05)
            await client.post("/api/v1/bots", headers=ADMIN, json={"id": "hr", "name": "HR", "datasource_ids": [ds["id"]]})
            chat = await (await client.post("/api/v1/chats", headers=ADMIN, json={"bot_id": "hr"})).json()
            first = await (await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=ADMIN,
                                             json={"question": "how many people work here"})).json()
            assert first["content"]["dataframe"]["data"] == [[3]], first
            second = await (await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=ADMIN,
                                              json={"question": "split that by office"})).json()
    assert second["content"]["dataframe"]["data"] == [["Berlin", 2], ["Paris", 1]], second
    sql_request = next(r for r in fake.requests if r["messages"][-1]["content"] == "split that by office")
    assert any(m["content"] == "how many people work here" for m in sql_request["messages"])


async def test_hostile_llm_sql_never_leaks_or_writes(tmp_path):
    """The model is scripted to be hostile; the role's filter and read-only rule hold anyway."""
    hostile = iter(["```sql\nDELETE FROM customers\n```", "```sql\nSELECT * FROM customers; DROP TABLE orders\n```",
                    "```sql\nSELECT COUNT(*) FROM customers WHERE 1=1 OR city <> 'Berlin'\n```"])
    async with FakeOpenAI(default=lambda body: next(hostile, "Berlin customers counted.")) as fake:
        app = create_app(make_settings(tmp_path, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="x"))
        async with TestClient(TestServer(app)) as client:
            ds = await demo_id(client)
            role = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "b", "variables": [{"name": "city"}]})).json()
            await client.post("/api/v1/policies", headers=ADMIN, json={"role_id": role["id"], "datasource_id": ds,
                                                                        "rules": [{"table": "customers", "row_filter": "city = '{{city}}'"}]})
            scoped = {"datasource_id": ds, "role_id": role["id"], "role_variables": {"city": "Berlin"}}
            body = await (await client.post("/api/v1/single-turn/q2a", headers=ADMIN, json={**scoped, "question": ODD})).json()
            truth = await (await client.post("/api/v1/single-turn/q2a", headers=ADMIN, json={**scoped, "question": "How many customers are there?"})).json()
            assert body["status"] == "success" and "Berlin" in body["sql"], body
            df = body["dataframe"]
            if "city" in df["columns"]:  # rows: every one inside the filter, as many as the truth
                city = df["columns"].index("city")
                assert {row[city] for row in df["data"]} == {"Berlin"} and len(df["data"]) == truth["dataframe"]["data"][0][0]
            else:  # a count: the filtered truth
                assert df["data"] == truth["dataframe"]["data"]
            assert len(fake.requests) >= 2
            calls = len(fake.requests)
            # A question about a table the role cannot see is "not permitted" without asking the model.
            denied = await (await client.post("/api/v1/single-turn/q2a", headers=ADMIN, json={**scoped, "question": "list all orders"})).json()
            assert denied["status"] == "failed" and "not permitted" in denied["message"] and len(fake.requests) == calls
            count = await (await client.post("/api/v1/single-turn/q2a", headers=ADMIN, json={"datasource_id": ds, "question": "How many orders are there?"})).json()
            assert count["dataframe"]["data"] == [[400]]  # nothing was written
