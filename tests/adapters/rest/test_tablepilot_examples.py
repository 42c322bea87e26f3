"""Tablepilot's own example schemas and workflows, unchanged, through the REST API (offline fill)."""
from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import create_app
from tests.adapters.rest.examples_replay import EXAMPLES, make_stand_ins, replay, schema_files
from tests.conftest import ADMIN, make_settings

pytestmark = pytest.mark.skipif(not EXAMPLES.exists(), reason="shared/tablepilot/examples is not laid out")


def _client(tmp_path):
    return TestClient(TestServer(create_app(make_settings(tmp_path / "home", TABLETALK_DEMO=False))))


async def test_every_example_schema_is_accepted_and_generates_typed_rows(tmp_path):
    async with _client(tmp_path) as client:
        results = await replay(client, ADMIN, tmp_path / "home" / "data")
    accepted = sum(v == "ok" for v in results.values())
    print(f"\nTablepilot example schemas accepted and generated: {accepted}/{len(results)}")
    assert len(results) == len(schema_files()) == 28
    assert {k: v for k, v in results.items() if v != "ok"} == {}


async def test_array_columns_are_json_arrays_and_sources_are_honoured(tmp_path):
    async with _client(tmp_path) as client:
        make_stand_ins(tmp_path / "home" / "data")
        schema = json.loads((EXAMPLES / "recipes_by_country" / "recipes.json").read_text())
        assert (await client.post("/api/v1/tables", headers=ADMIN, json=schema)).status == 201
        rows = (await (await client.post("/api/v1/generate/tables/recipes", headers=ADMIN, json={"count": 12, "seed": 3})).json())["data"]
        assert all(isinstance(r["Ingredients"], list) and r["Ingredients"] for r in rows)
        # integer repeat is a count: each country fills 6 rows in a row, each meal 2, in source order
        assert [r["Country"] for r in rows] == ["China"] * 6 + ["Japan"] * 6
        assert [r["Meals"] for r in rows] == ["Breakfast", "Breakfast", "Lunch", "Lunch", "Dinner", "Dinner"] * 2
        stored = (await (await client.get("/api/v1/tables/recipes/rows", headers=ADMIN)).json())["data"]
        assert stored[0]["Ingredients"] == rows[0]["Ingredients"]
        schema_view = await (await client.get("/api/v1/tables/recipes/schema", headers=ADMIN)).json()
        assert schema_view["columns"][3]["source_type"] == "options" and "China" in schema_view["columns"][3]["options"]

        # the model names `{}` columns; offline they get a name that fits the table
        schema = json.loads((EXAMPLES / "recipes_ai_columns" / "recipes.json").read_text())
        schema["name"] = "recipes_named"
        assert (await client.post("/api/v1/tables", headers=ADMIN, json=schema)).status == 201
        names = [c["name"] for c in (await (await client.get("/api/v1/tables/recipes_named/schema", headers=ADMIN)).json())["columns"]]
        assert len(names) == 7 and all(names) and len(set(names)) == 7


async def test_network_sources_and_paths_outside_the_data_folder_are_refused(tmp_path):
    async with _client(tmp_path) as client:
        schema = json.loads((EXAMPLES / "chinese_qa_parquet_huggingface" / "table.json").read_text())
        resp = await client.post("/api/v1/tables", headers=ADMIN, json=schema)
        detail = (await resp.json())["detail"]
        assert resp.status == 400 and "'questions'" in detail and "Hugging Face" in detail
        schema = json.loads((EXAMPLES / "recipes_by_country_kaggle" / "recipes.json").read_text())
        resp = await client.post("/api/v1/tables", headers=ADMIN, json=schema)
        assert resp.status == 400 and "Kaggle" in (await resp.json())["detail"]
        secret = tmp_path / "secret.csv"
        secret.write_text("input\nsecret value\n")
        for path in (str(secret), "../secret.csv", "../../secret.csv", "/etc/passwd"):
            bad = {"name": "leak", "sources": [{"name": "s", "type": "csv", "paths": [path]}],
                   "columns": [{"name": "q", "fill_mode": "pick", "source": "s", "linked_column": "input"}]}
            resp = await client.post("/api/v1/tables", headers=ADMIN, json=bad)
            assert resp.status == 400, path
            assert "secret value" not in await resp.text()
        assert (await client.get("/api/v1/tables/leak", headers=ADMIN)).status == 404
