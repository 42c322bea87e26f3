"""Table generation over REST against a fake OpenAI-compatible server (and offline with faker)."""
from __future__ import annotations

import base64
import json

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import create_app
from tests.conftest import ADMIN, make_settings
from tests.fakes.openai_server import FakeOpenAI, Reply, Status

CUISINES = ["Italian", "Thai", "Mexican"]


def _llm_rows(body: dict) -> str:
    """Answer a generation prompt with the requested number of rows, echoing chosen values."""
    user = body["messages"][-1]["content"] if body["messages"][-1]["role"] == "user" else ""
    first_user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    n = int(first_user.split("Write ")[1].split(" rows")[0])
    chosen = json.loads(first_user.split("(keep them consistent): ")[1].split("\nInstructions")[0])
    rows = [{"recipe_name": f"Dish {i} {c.get('cuisine', '')}".strip(), "steps": f"step {i}", "ingredients": "salt"} for i, c in enumerate(chosen)]
    del user, n
    return "```json\n" + json.dumps(rows) + "\n```"


async def _client(tmp_path, fake=None):
    env = {"TABLETALK_DEMO": False}
    if fake is not None:
        env.update(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="x")
    return TestClient(TestServer(create_app(make_settings(tmp_path / "home", **env))))


async def _dataset(client) -> str:
    form = aiohttp.FormData()
    form.add_field("name", "cuisines")
    form.add_field("type", "list")
    for c in CUISINES:
        form.add_field("data", c)
    resp = await client.post("/api/v1/datasets", headers=ADMIN, data=form)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


TABLE = {"name": "recipes", "description": "all recipes", "columns": [
    {"name": "recipe_name", "description": "Name of the recipe", "type": "string", "fill_mode": "ai"},
    {"name": "steps", "description": "How to cook it", "type": "string", "fill_mode": "ai"},
    {"name": "cuisine", "type": "string", "fill_mode": "pick", "source_id": "cuisines", "source_type": "dataset",
     "random": True, "replacement": True}]}


async def test_generate_autofill_regenerate_truncate_delete(tmp_path):
    async with FakeOpenAI(default=_llm_rows) as fake:
        fake.script(Status(500))  # the provider fails once: retried, generation still completes
        async with await _client(tmp_path, fake) as client:
            await _dataset(client)
            resp = await client.post("/api/v1/tables", headers=ADMIN, json=TABLE)
            assert resp.status == 201
            resp = await client.post("/api/v1/generate/tables/recipes", headers=ADMIN, json={"batch": 2, "count": 4})
            data = (await resp.json())["data"]
            assert len(data) == 4 and all(r["cuisine"] in CUISINES for r in data)
            assert all(r["recipe_name"].startswith("Dish") for r in data)
            rows = await (await client.get("/api/v1/tables/recipes/rows", headers=ADMIN)).json()
            assert rows["total"] == 4

            # streaming: SSE batches then [DONE]
            resp = await client.post("/api/v1/generate/tables/recipes", headers=ADMIN, json={"batch": 2, "count": 4, "stream": True})
            text = await resp.text()
            datas = [line[5:] for line in text.splitlines() if line.startswith("data:")]
            assert datas[-1] == "[DONE]" and len(datas) == 3
            assert all(len(json.loads(d)["data"]) == 2 for d in datas[:-1])

            # regenerate only the named column of the named rows
            before = (await (await client.get("/api/v1/tables/recipes/rows?limit=100", headers=ADMIN)).json())["data"]
            target = before[0]["_id"]
            fake.default = lambda body: '[{"steps": "regenerated"}]'
            resp = await client.post("/api/v1/regenerate/tables/recipes", headers=ADMIN,
                                     json={"autofill": {"columns": ["steps"], "rows": [target], "prompt": "shorter"}})
            assert resp.status == 200, await resp.text()
            after = {r["_id"]: r for r in (await (await client.get("/api/v1/tables/recipes/rows?limit=100", headers=ADMIN)).json())["data"]}
            assert after[target]["steps"] == "regenerated" and after[target]["recipe_name"] == before[0]["recipe_name"]
            assert all(after[r["_id"]] == r for r in before[1:])
            assert "shorter" in fake.requests[-1]["messages"][-1]["content"]

            # autofill fills only empty cells of the named column
            patch = {"columns": TABLE["columns"] + [{"name": "ingredients", "type": "string", "fill_mode": "ai"}]}
            assert (await client.patch("/api/v1/tables/recipes", headers=ADMIN, json=patch)).status == 200
            fake.default = lambda body: json.dumps([{"ingredients": "flour"}] * 10)
            resp = await client.post("/api/v1/autofill/tables/recipes", headers=ADMIN,
                                     json={"autofill": {"columns": ["ingredients"], "context_columns": ["recipe_name"]}})
            filled = (await resp.json())["data"]
            assert len(filled) == 8 and all(r["ingredients"] == "flour" for r in filled)
            assert all(r["steps"] == after[r["_id"]]["steps"] for r in filled)

            assert (await (await client.post("/api/v1/tables/recipes/truncate", headers=ADMIN)).json()) == {"deleted_rows": 8}
            assert (await client.delete("/api/v1/tables/recipes", headers=ADMIN)).status == 204
            assert (await client.get("/api/v1/tables/recipes", headers=ADMIN)).status == 404


async def test_malformed_batches_are_retried_and_never_half_written(tmp_path):
    async with FakeOpenAI() as fake:
        fake.script(Reply("not json at all"), Reply('[{"wrong": 1}]'), Reply("[]"))
        async with await _client(tmp_path, fake) as client:
            await _dataset(client)
            await client.post("/api/v1/tables", headers=ADMIN, json=TABLE)
            resp = await client.post("/api/v1/generate/tables/recipes", headers=ADMIN, json={"batch": 2, "count": 2})
            assert resp.status == 502 and "unusable" in (await resp.json())["detail"]
            rows = await (await client.get("/api/v1/tables/recipes/rows", headers=ADMIN)).json()
            assert rows["total"] == 0 and len(fake.requests) == 3


async def test_offline_fill_and_validation(tmp_path):
    async with await _client(tmp_path) as client:
        bad = {"name": "people", "columns": [{"name": "age", "type": "decimal"}]}
        resp = await client.post("/api/v1/tables", headers=ADMIN, json=bad)
        assert resp.status == 422 and "type" in (await resp.json())["detail"]
        table = {"name": "people", "columns": [{"name": "name", "type": "string"}, {"name": "email", "type": "string"},
                                               {"name": "signup_date", "type": "date"}, {"name": "price", "type": "number"}]}
        assert (await client.post("/api/v1/tables", headers=ADMIN, json=table)).status == 201
        data = (await (await client.post("/api/v1/generate/tables/people", headers=ADMIN, json={"count": 5})).json())["data"]
        assert len(data) == 5 and all("@" in r["email"] and len(r["signup_date"]) == 10 for r in data)
        assert all(isinstance(r["price"], float) for r in data)
        listing = await (await client.get("/api/v1/tables", headers=ADMIN)).json()
        assert listing["total"] == 1 and listing["tables"][0]["name"] == "people"
        schema = await (await client.get("/api/v1/tables/people/schema", headers=ADMIN)).json()
        assert schema["columns"][0]["fill_mode"] == "ai" and schema["columns"][0]["context_length"] == 0
        models = await (await client.get("/api/v1/models", headers=ADMIN)).json()
        assert models == {"default": "", "models": []}
        resp = await client.post("/api/v1/image_import/tables", headers=ADMIN, json={"image": "data:image/png;base64,AAAA"})
        assert resp.status == 400 and "vision" in (await resp.json())["detail"]


async def test_datasets_csv_preview_and_bad_uploads(tmp_path):
    async with await _client(tmp_path) as client:
        form = aiohttp.FormData()
        form.add_field("name", "cities")
        form.add_field("type", "csv")
        form.add_field("files", b"city,country\nBerlin,DE\nParis,FR\n", filename="cities.csv", content_type="text/csv")
        ds = await (await client.post("/api/v1/datasets", headers=ADMIN, data=form)).json()
        preview = await (await client.get(f"/api/v1/datasets/{ds['id']}/preview", headers=ADMIN)).json()
        assert preview == {"type": "csv", "data": None, "rows": [{"city": "Berlin", "country": "DE"}, {"city": "Paris", "country": "FR"}]}
        form = aiohttp.FormData()
        form.add_field("name", "pic")
        form.add_field("type", "csv")
        form.add_field("files", b"\x89PNG....", filename="x.png", content_type="image/png")
        resp = await client.post("/api/v1/datasets", headers=ADMIN, data=form)
        assert resp.status == 400
        form = aiohttp.FormData()
        form.add_field("name", "huge")
        form.add_field("type", "csv")
        form.add_field("files", b"a\n" + b"1\n" * 3_000_000, filename="big.csv", content_type="text/csv")
        resp = await client.post("/api/v1/datasets", headers=ADMIN, data=form)
        assert resp.status == 413 and "detail" in await resp.json()


async def test_providers_keys_are_write_only_and_registry_shared(tmp_path):
    async with await _client(tmp_path) as client:
        body = {"name": "local", "key": "sk-very-secret", "base_url": "http://127.0.0.1:9/v1",
                "models": [{"model": "m1", "alias": "fast", "rpm": 60, "default": True}]}
        assert (await client.post("/api/v1/providers", headers=ADMIN, json=body)).status == 200
        listing = await (await client.get("/api/v1/providers", headers=ADMIN)).text()
        assert "sk-very-secret" not in listing and "***" in listing
        models = await (await client.get("/api/v1/models", headers=ADMIN)).json()
        assert models == {"default": "fast", "models": ["fast"]}
        pid = json.loads(listing)[0]["id"]
        assert (await client.patch(f"/api/v1/providers/{pid}", headers=ADMIN, json={"enabled": False})).status == 200
        assert (await (await client.get("/api/v1/models", headers=ADMIN)).json())["models"] == []


async def test_workflow_runs_as_sse(tmp_path):
    csv_url = "data:text/csv;base64," + base64.b64encode(b"name,city\nAda,London\nLin,Taipei\n").decode()
    async with await _client(tmp_path) as client:
        wf = {"name": "people-flow", "variables": [{"name": "count", "default_value": 3}, {"name": "file"}], "steps": [
            {"type": "create_table", "on_exists": "recreate", "table": {"name": "people", "columns": [
                {"name": "name", "type": "string"}, {"name": "city", "type": "string"}]}},
            {"type": "import", "table": "people", "file": "{{.file}}", "truncate": True},
            {"type": "generate", "table": "people", "count": "{{.count}}", "batch": 2},
            {"type": "export", "table": "people"}]}
        assert (await client.post("/api/v1/workflows", headers=ADMIN, json=wf)).status == 201
        resp = await client.post("/api/v1/workflows/people-flow/run", headers=ADMIN, json={"variables": {"file": csv_url}})
        lines = [line[5:] for line in (await resp.text()).splitlines() if line.startswith("data:")]
        assert lines[-1] == "[DONE]"
        events = [json.loads(x) for x in lines[:-1]]
        kinds = [e["type"] for e in events]
        assert kinds.count("STEP_DONE") == 4 and kinds[-1] == "WORKFLOW_DONE" and "ROWS" in kinds
        export = next(e for e in events if e["type"] == "EXPORT")
        assert export["data"].count("\n") == 1 + 2 + 3 and "Ada,London" in export["data"]


async def test_image_import_with_a_vision_model(tmp_path):
    table = {"name": "menu", "description": "a menu", "columns": [{"name": "dish", "type": "string"}, {"name": "price", "type": "number"}],
             "rows": [{"dish": "Soup", "price": "4.5"}, {"dish": "Pie", "price": 6}]}
    async with FakeOpenAI(default=lambda body: "```json\n" + json.dumps(table) + "\n```") as fake:
        async with await _client(tmp_path) as client:
            await client.post("/api/v1/providers", headers=ADMIN, json={
                "name": "vision", "base_url": fake.base_url, "models": [{"model": "v1", "image": True, "default": True}]})
            form = aiohttp.FormData()
            form.add_field("image", b"\x89PNG fake bytes", filename="menu.png", content_type="image/png")
            resp = await client.post("/api/v1/image_import/tables", headers=ADMIN, data=form)
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["rows"] == 2
            rows = (await (await client.get("/api/v1/tables/menu/rows", headers=ADMIN)).json())["data"]
            assert [(r["dish"], r["price"]) for r in rows] == [("Soup", 4.5), ("Pie", 6.0)]
    content = fake.requests[0]["messages"][0]["content"]
    assert content[1]["type"] == "image_url" and content[1]["image_url"]["url"].startswith("data:image/png;base64,")
