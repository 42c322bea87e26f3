"""Canvas: five nodes run over SSE, batch refresh respects every edge, cycles refused, failures skip
descendants, and the exported HTML renders in headless Chromium."""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime

import pytest

from tests.conftest import ADMIN, demo_id


async def _node(client, canvas: str, **body) -> dict:
    resp = await client.post(f"/api/v1/canvas/{canvas}/nodes", headers=ADMIN, json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _run(client, canvas: str, node: str) -> list[dict]:
    resp = await client.post(f"/api/v1/canvas/{canvas}/nodes/{node}/run", headers=ADMIN)
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    return [json.loads(line[6:]) for line in (await resp.text()).splitlines() if line.startswith("data: ")]


@pytest.fixture
async def board(client):
    ds = await demo_id(client)
    canvas = await (await client.post("/api/v1/canvas", headers=ADMIN, json={"name": "Sales", "datasource_id": ds})).json()
    cid = canvas["id"]
    orders = await _node(client, cid, type="data", question="orders per month")
    customers = await _node(client, cid, type="data", question="how many customers per city")
    chart = await _node(client, cid, type="chart", parent_ids=[orders["id"]])
    summary = await _node(client, cid, type="text", question="Summary", parent_ids=[orders["id"], customers["id"]])
    child = await _node(client, cid, type="data", question="only cancelled orders", parent_ids=[orders["id"]])
    return client, cid, {"orders": orders["id"], "customers": customers["id"], "chart": chart["id"],
                         "summary": summary["id"], "child": child["id"]}


async def test_nodes_run_over_sse_then_batch_refresh_in_dependency_order(board):
    client, cid, ids = board
    for name in ("orders", "customers", "chart", "summary", "child"):
        events = await _run(client, cid, ids[name])
        assert events[-1]["type"] == "complete", (name, events)
        assert {"text", "complete"} <= {e["type"] for e in events}
    orders_events = await _run(client, cid, ids["orders"])
    assert [e["type"] for e in orders_events].count("tool_use") == 1
    child = await (await client.get(f"/api/v1/canvas/{cid}/nodes/{ids['child']}", headers=ADMIN)).json()
    assert "cancelled" in child["data"]["sql"] and "GROUP BY" in child["data"]["sql"].upper(), child["data"]["sql"]

    result = await (await client.post(f"/api/v1/canvas/{cid}/nodes/batch-refresh", headers=ADMIN,
                                      json={"node_ids": [ids["orders"], ids["customers"]]})).json()
    nodes = {n["id"]: n for n in result["nodes"]}
    assert set(nodes) == set(ids.values()) and all(n["status"] == "completed" for n in nodes.values())
    done = {k: datetime.fromisoformat(nodes[v]["completed_at"].rstrip("Z")) for k, v in ids.items()}
    start = {k: datetime.fromisoformat(nodes[v]["started_at"].rstrip("Z")) for k, v in ids.items()}
    for parent, kid in (("orders", "chart"), ("orders", "summary"), ("customers", "summary"), ("orders", "child")):
        assert done[parent] <= start[kid], (parent, kid)
    # The two independent roots ran concurrently: each started before the other finished.
    assert start["orders"] <= done["customers"] and start["customers"] <= done["orders"]


async def test_cycle_is_refused_and_failure_skips_descendants(board):
    client, cid, ids = board
    resp = await client.patch(f"/api/v1/canvas/{cid}/nodes/{ids['orders']}", headers=ADMIN,
                              json={"parent_ids": [ids["child"]]})
    assert resp.status == 400 and "cycle" in (await resp.json())["detail"]
    bad = await _node(client, cid, type="sql", sql="DELETE FROM orders")
    kid = await _node(client, cid, type="chart", parent_ids=[bad["id"]])
    result = await (await client.post(f"/api/v1/canvas/{cid}/nodes/batch-refresh", headers=ADMIN,
                                      json={"node_ids": [bad["id"]]})).json()
    nodes = {n["id"]: n for n in result["nodes"]}
    assert nodes[bad["id"]]["status"] == "failed" and "read-only" in nodes[bad["id"]]["error"]
    assert nodes[kid["id"]]["status"] == "skipped" and bad["id"] in nodes[kid["id"]]["error"]


async def test_export_html_shows_the_chart_in_headless_chromium(board, tmp_path):
    client, cid, ids = board
    await _run(client, cid, ids["orders"])
    await _run(client, cid, ids["chart"])
    resp = await client.get(f"/api/v1/canvas/{cid}/export.html", headers=ADMIN)
    page = await resp.text()
    assert resp.status == 200 and 'src="data:image/png;base64,' in page
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (CI installs it)")
    html_file, shot = tmp_path / "report.html", tmp_path / "report.png"
    html_file.write_text(page)
    # Dump the DOM after load: the chart <img> must have decoded (naturalWidth > 0).
    probe = page.replace("</body>", "<script>window.onload=()=>{document.title='W'+"
                                    "document.querySelector('img.chart').naturalWidth}</script></body>")
    html_file.write_text(probe)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", html_file.as_uri()], capture_output=True, text=True, timeout=120)
    title = dom.stdout.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title.startswith("W") and int(title[1:]) > 100, title
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1000,900", html_file.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
