"""Single-turn questions over REST with the built-in engine (no LLM): q2s, q2a, q2w, training, roles."""
from __future__ import annotations

from tests.conftest import ADMIN, demo_id


async def _ask(client, kind: str, **body) -> tuple[int, dict]:
    resp = await client.post(f"/api/v1/single-turn/{kind}", headers=ADMIN, json=body)
    return resp.status, await resp.json()


async def test_q2s_q2a_on_the_demo(client):
    ds = await demo_id(client)
    status, body = await _ask(client, "q2s", datasource_id=ds, question="How many orders are there?")
    assert status == 200 and body["status"] == "success" and "COUNT" in body["sql"].upper()
    assert set(body["timing"]) >= {"total_duration", "llm_duration"}
    status, body = await _ask(client, "q2a", datasource_id=ds, question="How many orders are there?")
    assert body["dataframe"] == {"columns": ["count"], "data": [[400]], "truncated": False}
    assert body["answer"] == "There are 400 orders."


async def test_q2w_orders_per_month_is_a_line_chart_with_a_png(client):
    ds = await demo_id(client)
    status, body = await _ask(client, "q2w", datasource_id=ds, question="orders per month")
    assert status == 200 and body["status"] == "success", body
    assert body["chart"]["mark"]["type"] == "line" and body["chart_type"] == "line"
    assert "LineChart" in body["chart_code"]
    resp = await client.get(body["chart_png_url"], headers=ADMIN)
    assert resp.status == 200 and (await resp.read())[:8] == b"\x89PNG\r\n\x1a\n"


async def test_unmappable_question_fails_with_a_message_not_sql(client):
    ds = await demo_id(client)
    status, body = await _ask(client, "q2a", datasource_id=ds, question="How many unicorns live on the moon?")
    assert status == 200 and body["status"] == "failed" and body["sql"] is None
    assert "unicorns" in body["message"]


async def test_row_cap_marks_truncated(client):
    ds = await demo_id(client)
    status, body = await _ask(client, "q2a", datasource_id=ds, question="list all orders", max_rows=7)
    assert len(body["dataframe"]["data"]) == 7 and body["dataframe"]["truncated"] is True


async def test_training_pairs_are_used_and_writes_refused(client):
    ds = await demo_id(client)
    resp = await client.post("/api/v1/training", headers=ADMIN, json={
        "datasource_id": ds, "question": "What is our GMV?", "sql": "SELECT SUM(amount) AS gmv FROM orders"})
    assert resp.status == 201
    pair = await resp.json()
    status, body = await _ask(client, "q2a", datasource_id=ds, question="What is our GMV?")
    assert body["sql"] == "SELECT SUM(amount) AS gmv FROM orders" and body["dataframe"]["columns"] == ["gmv"]
    listing = await (await client.get(f"/api/v1/training?datasource_id={ds}", headers=ADMIN)).json()
    assert [p["id"] for p in listing["items"]] == [pair["id"]]
    resp = await client.post("/api/v1/training", headers=ADMIN, json={"datasource_id": ds, "question": "x", "sql": "DELETE FROM orders"})
    assert resp.status == 400 and "read-only" in (await resp.json())["detail"]
    assert (await client.delete(f"/api/v1/training/{pair['id']}", headers=ADMIN)).status == 204


async def test_role_filters_show_in_sql_and_missing_variable_is_400(client):
    ds = await demo_id(client)
    role = await (await client.post("/api/v1/roles", headers=ADMIN, json={
        "name": "city", "variables": [{"name": "city", "type": "string", "required": True}]})).json()
    resp = await client.post("/api/v1/policies", headers=ADMIN, json={
        "role_id": role["id"], "datasource_id": ds, "rules": [{"table": "customers", "row_filter": "city = '{{city}}'"}]})
    assert resp.status == 201
    status, body = await _ask(client, "q2a", datasource_id=ds, question="How many customers are there?",
                              role_id=role["id"], role_variables={"city": "Berlin"})
    assert status == 200 and "Berlin" in body["sql"]
    _, everyone = await _ask(client, "q2a", datasource_id=ds, question="How many customers are there?")
    assert 0 < body["dataframe"]["data"][0][0] < everyone["dataframe"]["data"][0][0]
    status, body = await _ask(client, "q2a", datasource_id=ds, question="How many customers are there?", role_id=role["id"])
    assert status == 400 and "city" in body["detail"]
    # Orders are not granted to this role: "not permitted", not "no results".
    status, body = await _ask(client, "q2a", datasource_id=ds, question="How many orders are there?",
                              role_id=role["id"], role_variables={"city": "Berlin"})
    assert body["status"] == "failed" and "not permitted" in body["message"]
    # Injection through a variable stays a literal.
    status, body = await _ask(client, "q2a", datasource_id=ds, question="How many customers are there?",
                              role_id=role["id"], role_variables={"city": "x' OR '1'='1"})
    assert status == 200 and body["dataframe"]["data"] == [[0]]


async def test_metadata_shown_to_a_role_lists_only_its_tables(client):
    ds = await demo_id(client)
    role = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "catalog"})).json()
    await client.post("/api/v1/policies", headers=ADMIN, json={"role_id": role["id"], "datasource_id": ds,
                                                                "rules": [{"table": "products"}]})
    meta = await (await client.get(f"/api/v1/datasources/{ds}/meta?role_id={role['id']}", headers=ADMIN)).json()
    assert list(next(iter(meta["schemas"].values()))["tables"]) == ["products"]
    everything = await (await client.get(f"/api/v1/datasources/{ds}/meta", headers=ADMIN)).json()
    assert len(next(iter(everything["schemas"].values()))["tables"]) == 4
