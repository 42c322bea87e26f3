"""`tabletalk tables create FILE.json` and `tabletalk workflows run FILE.json --var k=v` on the
Tablepilot project's files, unchanged; and one of its workflows over REST with files in the data folder."""
from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.cli import main
from tabletalk.adapters.rest.app import create_app
from tests.adapters.rest.examples_replay import EXAMPLES
from tests.conftest import ADMIN, make_settings

pytestmark = pytest.mark.skipif(not EXAMPLES.exists(), reason="shared/tablepilot/examples is not laid out")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TABLETALK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TABLETALK_DEMO", "false")
    monkeypatch.setenv("TABLETALK_ADMIN_KEY", "k")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_tables_create_takes_a_tablepilot_schema_file_unchanged(home, capsys):
    assert main(["tables", "create", str(EXAMPLES / "100_recipes" / "recipes.json"), "--generate", "4"]) == 0
    assert "created table recipes" in capsys.readouterr().out
    assert main(["tables", "create", str(EXAMPLES / "recipes_simple" / "recipes.json")]) == 1  # the name is taken
    assert "already exists" in capsys.readouterr().err


def test_workflows_run_a_tablepilot_workflow_with_vars(home, capsys):
    wf = EXAMPLES / "workflows" / "story_generation" / "workflow.json"
    assert main(["workflows", "run", str(wf), "--var", "story_theme=heist", "--var", "num_characters=3"]) == 0
    out = capsys.readouterr().out + capsys.readouterr().err
    characters = list(csv.DictReader(io.StringIO((home / "heist_characters.csv").read_text())))
    assert len(characters) == 3 and list(characters[0]) == ["Name", "Archetype", "Backstory"]
    outline = list(csv.DictReader(io.StringIO((home / "heist_outline.csv").read_text())))
    assert [r["Chapter"] for r in outline] == ["1", "2", "3"]
    assert "workflow done" in out or (home / "heist_outline.csv").exists()


async def test_a_tablepilot_workflow_runs_end_to_end_over_rest(tmp_path):
    data = tmp_path / "home" / "data"
    shutil.copytree(EXAMPLES / "workflows", data / "examples" / "workflows")
    definition = json.loads((EXAMPLES / "workflows" / "data_pipeline" / "workflow.json").read_text())
    async with TestClient(TestServer(create_app(make_settings(tmp_path / "home", TABLETALK_DEMO=False)))) as client:
        resp = await client.post("/api/v1/workflows", headers=ADMIN, json=definition)
        assert resp.status == 201, await resp.text()
        resp = await client.post(f"/api/v1/workflows/{(await resp.json())['id']}/run", headers=ADMIN, json={})
        lines = [line[5:] for line in (await resp.text()).splitlines() if line.startswith("data:")]
        events = [json.loads(x) for x in lines[:-1]]
        assert lines[-1] == "[DONE]" and events[-1] == {"type": "WORKFLOW_DONE"}, events[-3:]
        assert [e["type"] for e in events].count("STEP_DONE") == 7
        export = next(e for e in events if e["type"] == "EXPORT")
        assert export["path"] == "cleaned_customer_feedback.csv"
        rows = list(csv.DictReader(io.StringIO(export["data"])))
        assert len(rows) == 10 and rows[0]["CustomerID"] == "CUST001"
        assert all(r["Sentiment"] in ("Positive", "Neutral", "Negative") and r["CleanedRegion"] for r in rows)
        assert rows[1]["Region"] == "europe" and rows[1]["CleanedRegion"] == "Europe"
        # a schema_file outside the data folder is refused by name, over REST
        bad = {"name": "outside", "steps": [{"type": "CreateTable", "payload": {"schema_file": "/etc/passwd"}}]}
        await client.post("/api/v1/workflows", headers=ADMIN, json=bad)
        text = await (await client.post("/api/v1/workflows/outside/run", headers=ADMIN, json={})).text()
        assert '"ERROR"' in text and "root:" not in text
