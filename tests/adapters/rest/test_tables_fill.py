"""What reaches the model when filling tables (fake OpenAI server), autofill semantics, SSE."""
from __future__ import annotations

import json
import re

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import create_app
from tests.conftest import ADMIN, make_settings
from tests.fakes.openai_server import FakeOpenAI


def _client(tmp_path, fake=None):
    env = {"TABLETALK_DEMO": False}
    if fake is not None:
        env.update(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="x")
    return TestClient(TestServer(create_app(make_settings(tmp_path / "home", **env))))


def _columns(body: dict) -> list[str]:
    system = body["messages"][0]["content"]
    return re.findall(r"^- (.+?) \(", system.split("Columns to write:\n")[1], re.M)


def _count(body: dict) -> int:
    return int(re.search(r"Write (\d+) rows", body["messages"][1]["content"]).group(1))


def rows_answer(tag: str):
    """A responder writing `<column> <tag> <i>` for every column the prompt asks for."""
    return lambda body: json.dumps([{c: f"{c} {tag} {i}" for c in _columns(body)} for i in range(_count(body))])


async def _sse_datas(resp) -> list:
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    lines = [line[5:] for line in (await resp.text()).splitlines() if line.startswith("data:")]
    assert lines[-1] == "[DONE]"
    return [json.loads(x) for x in lines[:-1]]


TABLE = {"name": "recipes", "columns": [{"name": "recipe_name", "type": "string"}, {"name": "steps", "type": "string"},
                                        {"name": "ingredients", "type": "array"}]}


async def test_autofill_sends_context_values_and_a_same_named_context_column_never_overwrites(tmp_path):
    async with FakeOpenAI(default=rows_answer("first")) as fake:
        async with _client(tmp_path, fake) as client:
            assert (await client.post("/api/v1/tables", headers=ADMIN, json=TABLE)).status == 201
            before = (await (await client.post("/api/v1/generate/tables/recipes", headers=ADMIN, json={"count": 3, "batch": 3})).json())["data"]
            assert [r["steps"] for r in before] == ["steps first 0", "steps first 1", "steps first 2"]
            assert before[0]["ingredients"] == ["ingredients first 0"]  # arrays come back as JSON arrays
            fake.default = rows_answer("again")
            body = {"autofill": {"columns": ["steps"], "context_columns": ["recipe_name", "steps"]}, "batch": 3}
            resp = await client.post("/api/v1/autofill/tables/recipes", headers=ADMIN, json=body)
            assert resp.status == 200, await resp.text()
            prompt = fake.requests[-1]["messages"][1]["content"]
            assert all(f"recipe_name first {i}" in prompt for i in range(3))  # context values reach the model
            assert _columns(fake.requests[-1]) == ["steps"]
            rows = (await (await client.get("/api/v1/tables/recipes/rows", headers=ADMIN)).json())["data"]
            assert [r["steps"] for r in rows] == ["steps again 0", "steps again 1", "steps again 2"]  # not put back
            assert [r["recipe_name"] for r in rows] == [r["recipe_name"] for r in before]
            assert [r["ingredients"] for r in rows] == [r["ingredients"] for r in before]


async def test_linked_context_columns_reach_the_prompt_and_never_fill_a_same_named_column(tmp_path):
    async with FakeOpenAI(default=rows_answer("m")) as fake:
        async with _client(tmp_path, fake) as client:
            form = aiohttp.FormData()
            form.add_field("name", "customers")
            form.add_field("type", "csv")
            form.add_field("files", b"Name,Age,Taste Preference\nAlice Smith,32,Sweet\nBob Johnson,45,Savory\n",
                           filename="customers.csv", content_type="text/csv")
            assert (await client.post("/api/v1/datasets", headers=ADMIN, data=form)).status == 201
            schema = {"name": "personal", "columns": [
                {"name": "Name", "description": "recipe name", "type": "string"},
                {"name": "Customer", "fill_mode": "pick", "source_type": "dataset", "source_id": "customers",
                 "linked_column": "Name", "linked_context_columns": ["Name", "Age", "Taste Preference"]},
                {"name": "Reason", "type": "string"}]}
            assert (await client.post("/api/v1/tables", headers=ADMIN, json=schema)).status == 201
            rows = (await (await client.post("/api/v1/generate/tables/personal", headers=ADMIN, json={"count": 2, "batch": 2})).json())["data"]
            prompt = fake.requests[-1]["messages"][1]["content"]
            assert "Sweet" in prompt and "Savory" in prompt and "45" in prompt
            assert [r["Customer"] for r in rows] == ["Alice Smith", "Bob Johnson"]
            assert [r["Name"] for r in rows] == ["Name m 0", "Name m 1"]  # the recipe name, not the customer's


async def test_autofill_rewrites_every_row_and_streams_with_stream_true(tmp_path):
    async with FakeOpenAI(default=rows_answer("one")) as fake:
        async with _client(tmp_path, fake) as client:
            await client.post("/api/v1/tables", headers=ADMIN, json=TABLE)
            await client.post("/api/v1/generate/tables/recipes", headers=ADMIN, json={"count": 4, "batch": 4})
            fake.default = rows_answer("two")
            body = {"autofill": {"columns": ["steps"], "context_columns": ["recipe_name"]}, "batch": 2, "stream": True}
            datas = await _sse_datas(await client.post("/api/v1/autofill/tables/recipes", headers=ADMIN, json=body))
            assert [len(d["data"]) for d in datas] == [2, 2]
            rows = (await (await client.get("/api/v1/tables/recipes/rows", headers=ADMIN)).json())["data"]
            assert all(r["steps"].startswith("steps two") for r in rows)  # filled cells are regenerated too
            # count limits autofill to the first rows
            fake.default = rows_answer("three")
            body = {"autofill": {"columns": ["steps"], "context_columns": []}, "count": 1}
            assert len((await (await client.post("/api/v1/autofill/tables/recipes", headers=ADMIN, json=body)).json())["data"]) == 1
            rows = (await (await client.get("/api/v1/tables/recipes/rows", headers=ADMIN)).json())["data"]
            assert [r["steps"].split()[1] for r in rows] == ["three", "two", "two", "two"]
            fake.default = rows_answer("four")
            body = {"autofill": {"columns": ["steps"], "rows": [rows[2]["_id"]], "prompt": "shorter"}, "stream": True}
            datas = await _sse_datas(await client.post("/api/v1/regenerate/tables/recipes", headers=ADMIN, json=body))
            assert datas[0]["data"][0]["_id"] == rows[2]["_id"] and datas[0]["data"][0]["steps"] == "steps four 0"
            assert "shorter" in fake.requests[-1]["messages"][-1]["content"]


async def test_autofill_offline_fills_from_context(tmp_path):
    async with _client(tmp_path) as client:
        table = {"name": "feedback", "columns": [{"name": "FeedbackText"}, {"name": "Region"},
                                                 {"name": "Sentiment", "options": ["Positive", "Neutral", "Negative"]}]}
        await client.post("/api/v1/tables", headers=ADMIN, json=table)
        wf = {"name": "load", "steps": [{"type": "Import", "payload": {"table": "feedback", "file": "{{.f}}"}}]}
        await client.post("/api/v1/workflows", headers=ADMIN, json=wf)
        data = "FeedbackText,Region\nGreat product and easy to use!,europe\nVery disappointed. It broke.,USA\n"
        import base64
        url = "data:text/csv;base64," + base64.b64encode(data.encode()).decode()
        events = await _sse_datas(await client.post("/api/v1/workflows/load/run", headers=ADMIN, json={"variables": {"f": url}}))
        assert events[-1] == {"type": "WORKFLOW_DONE"}
        body = {"autofill": {"columns": ["Sentiment", "Region"], "context_columns": ["FeedbackText", "Region"]}}
        rows = (await (await client.post("/api/v1/autofill/tables/feedback", headers=ADMIN, json=body)).json())["data"]
        assert [(r["Sentiment"], r["Region"]) for r in rows] == [("Positive", "Europe"), ("Negative", "North America")]
