"""The Tablepilot API document's own examples, request and reply shapes as it writes them."""
from __future__ import annotations

import base64
import json

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import create_app
from tests.conftest import ADMIN, make_settings
from tests.fakes.openai_server import FakeOpenAI


def _client(tmp_path, **env):
    return TestClient(TestServer(create_app(make_settings(tmp_path / "home", TABLETALK_DEMO=False, **env))))


def _csv_form(name: str, content: bytes, **fields) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("name", name)
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field("files", content, filename=f"{name}.csv", content_type="text/csv")
    return form


async def _events(resp) -> list:
    lines = [line[5:] for line in (await resp.text()).splitlines() if line.startswith("data:")]
    assert lines[-1] == "[DONE]"
    return [json.loads(x) for x in lines[:-1]]


async def test_description_only_patch_of_a_csv_dataset_keeps_every_row(tmp_path):
    content = b"product_id,product_name,price\nP1001,Laptop,1200.00\nP1002,Mouse,25.00\nP1003,Desk,310.00\n"
    async with _client(tmp_path) as client:
        ds = await (await client.post("/api/v1/datasets", headers=ADMIN, data=_csv_form("catalog", content, type="csv"))).json()
        form = aiohttp.FormData()
        form.add_field("description", "CSV data for product information.")
        resp = await client.patch(f"/api/v1/datasets/{ds['id']}", headers=ADMIN, data=form)
        assert resp.status == 200 and (await resp.json())["id"] == ds["id"]
        got = await (await client.get(f"/api/v1/datasets/{ds['id']}", headers=ADMIN)).json()
        assert got["type"] == "csv" and got["description"] == "CSV data for product information."
        assert got["columns"] == ["product_id", "product_name", "price"] and got["column_count"] == 3
        preview = await (await client.get(f"/api/v1/datasets/{ds['id']}/preview", headers=ADMIN)).json()
        assert preview["type"] == "csv" and preview["data"] is None
        assert preview["rows"] == [{"product_id": "P1001", "product_name": "Laptop", "price": "1200.00"},
                                   {"product_id": "P1002", "product_name": "Mouse", "price": "25.00"},
                                   {"product_id": "P1003", "product_name": "Desk", "price": "310.00"}]
        # new files replace the rows; the type never changes
        resp = await client.patch(f"/api/v1/datasets/{ds['id']}", headers=ADMIN, data=_csv_form("catalog", b"a,b\n1,2\n"))
        assert (await (await client.get(f"/api/v1/datasets/{ds['id']}/preview", headers=ADMIN)).json())["rows"] == [{"a": "1", "b": "2"}]
        form = aiohttp.FormData()
        form.add_field("type", "list")
        assert (await client.patch(f"/api/v1/datasets/{ds['id']}", headers=ADMIN, data=form)).status == 400


async def test_datasets_list_and_previews_have_the_spec_shapes(tmp_path):
    async with _client(tmp_path) as client:
        form = aiohttp.FormData()
        for k, v in (("name", "Country Names"), ("description", "A list of country names."), ("type", "list"),
                     ("data", "United States"), ("data", "Canada")):
            form.add_field(k, v)
        created = await (await client.post("/api/v1/datasets", headers=ADMIN, data=form)).json()
        assert created["name"] == "Country Names" and created["id"]
        await client.post("/api/v1/datasets", headers=ADMIN, data=_csv_form("prices", b"product_id,price\nP1,2\n", type="csv"))
        listing = await (await client.get("/api/v1/datasets", headers=ADMIN)).json()
        assert listing["total"] == 2
        first, second = listing["datasets"]
        assert {k: first[k] for k in ("name", "type", "column_count", "value_count", "data", "columns")} == {
            "name": "Country Names", "type": "list", "column_count": 0, "value_count": 2,
            "data": ["United States", "Canada"], "columns": []}
        assert (second["type"], second["column_count"], second["value_count"], second["data"], second["columns"]) == (
            "csv", 2, 0, [], ["product_id", "price"])
        preview = await (await client.get(f"/api/v1/datasets/{created['id']}/preview", headers=ADMIN)).json()
        assert preview == {"type": "list", "data": ["United States", "Canada"], "rows": None}
        form = aiohttp.FormData()
        form.add_field("data", "Mexico")
        await client.patch(f"/api/v1/datasets/{created['id']}", headers=ADMIN, data=form)
        got = await (await client.get(f"/api/v1/datasets/{created['id']}", headers=ADMIN)).json()
        assert got["data"] == ["Mexico"] and got["description"] == "A list of country names."
        resp = await client.delete(f"/api/v1/datasets/{created['id']}", headers=ADMIN)
        assert resp.status == 200 and await resp.json() == ""


SPEC_WORKFLOW = {
    "name": "New User Onboarding Workflow", "description": "Prepares tables and initial data for new users.",
    "variables": [{"name": "username", "description": "The name of the new user.", "type": "string", "default_value": "guest"},
                  {"name": "user_data_file", "description": "CSV file containing user details.", "type": "file"}],
    "steps": [
        {"name": "Create User Table", "type": "create_table", "description": "Creates a table specific for the user {{.username}}.",
         "payload": {"request": {"name": "user_{{.username}}_details", "description": "Details for user {{.username}}",
                                 "columns": [{"name": "email", "type": "string", "fill_mode": "ai"},
                                             {"name": "registration_date", "type": "date", "fill_mode": "ai"}]},
                     "on_exists": "skip"}},
        {"name": "Import User Data", "type": "import", "description": "Imports data from the provided CSV.",
         "payload": {"table": "user_{{.username}}_details", "file": "{{.user_data_file}}", "truncate": True}}]}


async def test_the_spec_workflow_example_runs_to_workflow_done(tmp_path):
    csv_text = b"email,registration_date\njohn.doe@example.com,2023-10-26\n"
    async with _client(tmp_path) as client:
        resp = await client.post("/api/v1/workflows", headers=ADMIN, json=SPEC_WORKFLOW)
        assert resp.status == 201, await resp.text()
        wf_id = (await resp.json())["id"]
        listing = await (await client.get("/api/v1/workflows", headers=ADMIN)).json()
        assert listing == {"total": 1, "workflows": [{"id": wf_id, "name": SPEC_WORKFLOW["name"], "description": SPEC_WORKFLOW["description"]}]}
        got = await (await client.get(f"/api/v1/workflows/{wf_id}", headers=ADMIN)).json()
        assert got["steps"][0]["payload"]["request"]["name"] == "user_{{.username}}_details"
        run = {"variables": {"username": "john_doe", "notification_email": "john.doe@example.com",
                             "user_data_file": {"name": "john_doe_details.csv",
                                                "data": "data:text/csv;base64," + base64.b64encode(csv_text).decode()}},
               "model": None, "temperature": 0.7}
        events = await _events(await client.post(f"/api/v1/workflows/{wf_id}/run", headers=ADMIN, json=run))
        assert [e["type"] for e in events] == ["MESSAGE", "MESSAGE", "STEP_DONE", "MESSAGE", "MESSAGE", "STEP_DONE", "WORKFLOW_DONE"]
        assert events[0] == {"type": "MESSAGE", "data": "Starting step: Create User Table..."}
        assert events[3] == {"type": "MESSAGE", "data": "Starting step: Import User Data..."}
        assert all(set(e) <= {"type", "data"} for e in events)
        rows = (await (await client.get("/api/v1/tables/user_john_doe_details/rows", headers=ADMIN)).json())["data"]
        assert [(r["email"], r["registration_date"]) for r in rows] == [("john.doe@example.com", "2023-10-26")]
        # on_exists "skip": a second run leaves the table and imports again (truncate: true)
        events = await _events(await client.post(f"/api/v1/workflows/{wf_id}/run", headers=ADMIN, json=run))
        assert events[-1]["type"] == "WORKFLOW_DONE" and "skip" in events[1]["data"]
        # generate steps stream ROWS whose cells are {value, type}; export carries CSV in data
        patch = {**SPEC_WORKFLOW, "steps": SPEC_WORKFLOW["steps"] + [
            {"name": "More", "type": "generate", "payload": {"table": "user_{{.username}}_details", "count": 2}},
            {"name": "Save", "type": "export", "payload": {"table": "user_{{.username}}_details", "path": "out.csv"}}]}
        assert (await (await client.patch(f"/api/v1/workflows/{wf_id}", headers=ADMIN, json=patch)).json()) == {"id": wf_id}
        events = await _events(await client.post(f"/api/v1/workflows/{wf_id}/run", headers=ADMIN, json=run))
        rows_event = next(e for e in events if e["type"] == "ROWS")
        cell = rows_event["data"][0]["registration_date"]
        assert set(cell) == {"value", "type"} and cell["type"] == "date" and len(cell["value"]) == 10
        export = next(e for e in events if e["type"] == "EXPORT")
        assert export["path"] == "out.csv" and export["data"].startswith("email,registration_date\n")
        assert export["data"].count("\n") == 1 + 1 + 2 and events[-1] == {"type": "WORKFLOW_DONE"}
        resp = await client.delete(f"/api/v1/workflows/{wf_id}", headers=ADMIN)
        assert resp.status == 200 and await resp.json() == ""


async def test_a_failing_step_ends_the_run_with_an_error_event(tmp_path):
    async with _client(tmp_path) as client:
        wf = {"name": "big", "steps": [
            {"type": "CreateTable", "payload": {"request": {"name": "t", "columns": [{"name": "a"}]}}},
            {"type": "Generate", "payload": {"table": "t", "count": 50_000_000, "batch": 10}}]}
        assert (await client.post("/api/v1/workflows", headers=ADMIN, json=wf)).status == 201
        events = await _events(await client.post("/api/v1/workflows/big/run", headers=ADMIN, json={}))
        assert events[-1]["type"] == "ERROR" and "100,000" in events[-1]["data"]
        assert "WORKFLOW_DONE" not in [e["type"] for e in events]
        assert (await (await client.get("/api/v1/tables/t/rows", headers=ADMIN)).json())["total"] == 0


async def test_list_gen_and_image_import_take_the_spec_bodies(tmp_path):
    async with _client(tmp_path) as client:
        items = await (await client.post("/api/v1/ai/list_gen", headers=ADMIN, json={
            "prompt": "Generate a list of common fruits.", "options": ["apple", "banana"]})).json()
        assert isinstance(items, list) and items and "apple" not in items and "banana" not in items
        assert (await client.post("/api/v1/ai/list_gen", headers=ADMIN, json={"options": []})).status == 422
    table = {"name": "menu", "columns": [{"name": "dish", "type": "string"}], "rows": [{"dish": "Soup"}]}
    async with FakeOpenAI(default=lambda body: json.dumps(table)) as fake:
        async with _client(tmp_path / "b") as client:
            await client.post("/api/v1/providers", headers=ADMIN, json={
                "name": "vision", "base_url": fake.base_url, "models": [{"model": "v1", "image": True, "default": True}]})
            items = await (await client.post("/api/v1/ai/list_gen", headers=ADMIN, json={
                "model": "v1", "prompt": "Generate a list of common fruits.", "options": ["apple"]})).json()
            assert "Generate a list of common fruits." in fake.requests[-1]["messages"][-1]["content"]
            fake.default = lambda body: json.dumps(table)
            png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
            resp = await client.post("/api/v1/image_import/tables", headers=ADMIN, json={"data": png, "model": "v1", "prompt": "create a table"})
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["id"]
            url = fake.requests[-1]["messages"][0]["content"][1]["image_url"]["url"]
            assert url == f"data:image/png;base64,{png}"
            assert (await client.post("/api/v1/image_import/tables", headers=ADMIN, json={"data": "not base64!"})).status == 400
