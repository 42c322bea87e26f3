"""Vector indexes: tables embedded once, then linking also picks tables by meaning."""
from __future__ import annotations

import asyncio
import sqlite3

from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import create_app
from tests.conftest import ADMIN, make_settings
from tests.fakes.openai_server import FakeOpenAI


def _many_tables(path) -> None:
    db = sqlite3.connect(path)
    for i in range(20):  # noise the lexical linker may prefer
        db.execute(f"CREATE TABLE misc_{i} (id INTEGER PRIMARY KEY, client_code TEXT, note TEXT)")
    db.execute("CREATE TABLE patrons (id INTEGER PRIMARY KEY, full_name TEXT, town TEXT)")
    db.execute("INSERT INTO patrons VALUES (1, 'A', 'Oslo'), (2, 'B', 'Bergen')")
    db.commit()
    db.close()


async def test_vector_index_brings_tables_found_by_meaning_into_the_prompt(tmp_path):
    _many_tables(tmp_path / "lib.db")
    async with FakeOpenAI(default=lambda body: "```sql\nSELECT COUNT(*) AS n FROM patrons\n```") as fake:
        fake.embedding_synonyms = (("patron", "client", "customer"),)
        settings = make_settings(tmp_path / "home", OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="x",
                                 TABLETALK_EMBEDDING_MODEL="fake-embed", TABLETALK_DEMO=False)
        async with TestClient(TestServer(create_app(settings))) as client:
            ds = await (await client.post("/api/v1/datasources", headers=ADMIN, json={
                "name": "lib", "engine": "sqlite", "access_config": {"database": str(tmp_path / "lib.db")}})).json()
            for _ in range(100):
                if (await (await client.get(f"/api/v1/datasources/{ds['id']}", headers=ADMIN)).json())["meta_status"] == "success":
                    break
                await asyncio.sleep(0.05)
            resp = await client.post(f"/api/v1/datasources/{ds['id']}/indexes", headers=ADMIN, json={"kind": "vector"})
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["table_count"] == 21
            listing = await (await client.get(f"/api/v1/datasources/{ds['id']}/indexes", headers=ADMIN)).json()
            assert any(i["kind"] == "vector" for i in listing["items"])
            body = await (await client.post("/api/v1/single-turn/q2a", headers=ADMIN, json={
                "datasource_id": ds["id"], "question": "how many clients signed the guestbook?"})).json()
            assert body["status"] == "success", body
    prompt = next(r for r in fake.requests if "messages" in r)["messages"][0]["content"]
    assert "patrons" in prompt  # found by meaning: no word of the question names it


async def test_vector_index_without_an_embedding_model_is_a_clear_400(client):
    ds = (await (await client.get("/api/v1/datasources", headers=ADMIN)).json())["items"][0]["id"]
    resp = await client.post(f"/api/v1/datasources/{ds}/indexes", headers=ADMIN, json={"kind": "vector"})
    assert resp.status == 400 and "TABLETALK_EMBEDDING_MODEL" in (await resp.json())["detail"]
