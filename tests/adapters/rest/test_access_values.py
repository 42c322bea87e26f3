"""What a filtered role is shown besides rows: value samples, completions, prompt values, training
pairs, hidden columns, policy filters checked when stored, upstream errors without hosts."""
from __future__ import annotations

import json
import socket
import sqlite3

import pytest

from tests.conftest import ADMIN, running_app, wait_synced
from tests.fakes.openai_server import FakeOpenAI

SOUTH_ONLY = "SOUTHSECRET1"


def build(path) -> None:
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE sales (id INTEGER PRIMARY KEY, region TEXT NOT NULL, secret TEXT NOT NULL, amount INTEGER NOT NULL,
                            internal_note TEXT NOT NULL);
        CREATE TABLE ledger (id INTEGER PRIMARY KEY, account TEXT NOT NULL);
        INSERT INTO ledger VALUES (1, 'offshore');
        CREATE VIEW offshore_view AS SELECT account FROM ledger;
    """)
    rows = [(i, "north", f"NORTHSECRET{i % 3}", 10 * i, f"north note {i}") for i in range(1, 7)]
    rows += [(100, "south", SOUTH_ONLY, 1000, "south note")]
    db.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


@pytest.fixture
async def regional(request, tmp_path):
    """Sales in two regions, a role seeing only its region's sales (not the ledger), a hidden column,
    a key bound to north, and a training pair on the ledger; a (fake) model with `indirect` "llm"."""
    build(tmp_path / "regional.db")
    async with FakeOpenAI() as fake:
        fake.default = lambda body: "```sql\nSELECT COUNT(*) AS n FROM sales\n```"
        model = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-test"} if getattr(request, "param", "") == "llm" else {}
        async with running_app(tmp_path / "home", **model) as (app, client, _):
            ds = (await (await client.post("/api/v1/datasources", headers=ADMIN, json={
                "name": "regional", "engine": "sqlite", "access_config": {"database": str(tmp_path / "regional.db")}})).json())["id"]
            await wait_synced(client, ds)
            resp = await client.patch(f"/api/v1/datasources/{ds}/meta/tables/sales/fields/internal_note", headers=ADMIN,
                                      json={"visibility": False})
            assert resp.status == 200, await resp.text()
            role = await (await client.post("/api/v1/roles", headers=ADMIN, json={
                "name": "region", "variables": [{"name": "region"}]})).json()
            resp = await client.post("/api/v1/policies", headers=ADMIN, json={
                "role_id": role["id"], "datasource_id": ds, "rules": [{"table": "sales", "row_filter": "region = '{{region}}'"}]})
            assert resp.status == 201, await resp.text()
            resp = await client.post("/api/v1/training", headers=ADMIN, json={
                "datasource_id": ds, "question": "How many offshore accounts are in the ledger?",
                "sql": "SELECT COUNT(*) AS n FROM ledger WHERE account = 'offshore'"})
            assert resp.status == 201, await resp.text()
            key = await (await client.post("/api/v1/auth/keys", headers=ADMIN, json={
                "scope": "priv_asker", "role_id": "region", "role_variables": {"region": "north"}})).json()
            yield {"client": client, "ds": ds, "role": role, "fake": fake,
                   "north": {"Authorization": f"Bearer {key['key']}"}}


async def _post(client, path, headers, body) -> tuple[int, dict]:
    resp = await client.post(path, headers=headers, json=body)
    return resp.status, await resp.json()


async def test_a_south_only_value_never_reaches_a_north_answer_or_its_sql(regional):
    client, ds, north = regional["client"], regional["ds"], regional["north"]
    question = {"datasource_id": ds, "question": "how many sales with secret southsecret1"}
    _, everyone = await _post(client, "/api/v1/single-turn/q2s", ADMIN, question)
    assert SOUTH_ONLY in (everyone["sql"] or ""), everyone  # the value index does complete it for an admin
    status, body = await _post(client, "/api/v1/single-turn/q2a", north, question)
    assert status == 200 and SOUTH_ONLY not in json.dumps(body), body
    for path in (f"/api/v1/datasources/{ds}/indexes", f"/api/v1/datasources/{ds}/indexes?role_id={regional['role']['id']}"):
        listing = await (await client.get(path, headers=north)).text()
        assert "NORTHSECRET1" in listing and SOUTH_ONLY not in listing and "internal_note" not in listing, listing
    assert SOUTH_ONLY in await (await client.get(f"/api/v1/datasources/{ds}/indexes", headers=ADMIN)).text()
    # The AskTable SDK's surface shows counts, not values: the role's counts, and no hidden column.
    sdk = await (await client.get(f"/v1/datasources/{ds}/indexes", headers=north)).json()
    counts = {i["field_name"]: i["value_count"] for i in sdk["items"]}
    assert counts.get("secret") == 3 and "internal_note" not in counts, sdk  # NORTHSECRET0..2, not SOUTHSECRET1


@pytest.mark.parametrize("regional", ["llm"], indirect=True)
async def test_a_north_prompt_carries_no_south_value_hidden_table_or_its_training_pair(regional):
    client, ds, north, fake = regional["client"], regional["ds"], regional["north"], regional["fake"]
    odd = {"datasource_id": ds, "question": "How many zorblax offshore accounts are in sales?"}
    await _post(client, "/api/v1/single-turn/q2a", ADMIN, odd)
    admin_prompt = json.dumps(fake.requests)
    assert SOUTH_ONLY in admin_prompt and "FROM ledger" in admin_prompt  # what a leak would look like
    fake.requests.clear()
    status, body = await _post(client, "/api/v1/single-turn/q2a", north, odd)
    assert status == 200 and body["engine"] == "llm", body
    prompt = json.dumps(fake.requests)
    assert fake.requests and SOUTH_ONLY not in prompt and "ledger" not in prompt and "internal_note" not in prompt
    assert "NORTHSECRET" in prompt or "sales" in prompt
    # The exact training question cannot answer from the ledger either.
    status, body = await _post(client, "/api/v1/single-turn/q2a", north,
                               {"datasource_id": ds, "question": "How many offshore accounts are in the ledger?"})
    assert "offshore" not in json.dumps(body.get("dataframe")) and "FROM ledger" not in (body.get("sql") or "")


async def test_training_listings_show_a_role_only_pairs_on_its_tables(regional):
    client, ds, north = regional["client"], regional["ds"], regional["north"]
    resp = await client.post("/api/v1/training", headers=ADMIN, json={
        "datasource_id": ds, "question": "How many sales are there?", "sql": "SELECT COUNT(*) AS n FROM sales"})
    assert resp.status == 201, await resp.text()
    sales_only = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "sales only"})).json()
    await client.post("/api/v1/policies", headers=ADMIN, json={"role_id": sales_only["id"], "datasource_id": ds,
                                                                "rules": [{"table": "sales"}]})
    asker = {"Authorization": f"Bearer {(await _post(client, '/api/v1/auth/keys', ADMIN, {'scope': 'priv_asker'}))[1]['key']}"}

    async def listed(path: str, headers: dict) -> tuple[int, str]:
        resp = await client.get(path, headers=headers)
        return resp.status, await resp.text()

    for path, headers in ((f"/api/v1/training?datasource_id={ds}", north), ("/api/v1/training", north),
                          (f"/api/v1/training?datasource_id={ds}&role_id={sales_only['id']}", asker),
                          (f"/v1/training?datasource_id={ds}", north)):
        status, text = await listed(path, headers)
        assert status == 200 and "FROM sales" in text and "ledger" not in text and "offshore" not in text, (path, text)
    # The same question as an asker naming no role on a datasource with policies: refused, as a query would be.
    status, text = await listed(f"/api/v1/training?datasource_id={ds}", asker)
    assert status == 403 and "role" in text and "ledger" not in text, text
    status, text = await listed("/api/v1/training", asker)
    assert status == 200 and "ledger" not in text and "FROM sales" not in text, text
    status, text = await listed("/api/v1/training?role_id=", asker)
    assert status == 403 and "empty role" in text, text
    for path in (f"/api/v1/training?datasource_id={ds}", "/api/v1/training", f"/v1/training?datasource_id={ds}"):
        status, text = await listed(path, ADMIN)
        assert status == 200 and "FROM ledger" in text and "FROM sales" in text, (path, text)


async def test_hidden_column_values_never_come_back_to_a_role(regional):
    client, ds, north = regional["client"], regional["ds"], regional["north"]
    canvas = (await _post(client, "/api/v1/canvas", north, {"name": "c", "datasource_id": ds}))[1]
    results = []
    for sql in ("SELECT * FROM sales", "SELECT internal_note FROM sales", "SELECT s.internal_note FROM sales s",
                "SELECT * FROM (SELECT * FROM sales) t", "WITH x AS (SELECT * FROM sales) SELECT * FROM x"):
        node = (await _post(client, f"/api/v1/canvas/{canvas['id']}/nodes", north, {"type": "sql", "sql": sql}))[1]
        await (await client.post(f"/api/v1/canvas/{canvas['id']}/nodes/{node['id']}/run", headers=north)).read()
        results.append(await (await client.get(f"/api/v1/canvas/{canvas['id']}/nodes/{node['id']}", headers=north)).json())
    assert all("note" not in json.dumps(r["data"]) for r in results), results
    star = results[0]["data"]["dataframe"]
    assert star["columns"] == ["id", "region", "secret", "amount"] and len(star["data"]) == 6
    assert results[1]["status"] == "failed"
    # An administrator without a role still reads it (visibility hides a column from the model only).
    admin_canvas = (await _post(client, "/api/v1/canvas", ADMIN, {"name": "a", "datasource_id": ds}))[1]
    node = (await _post(client, f"/api/v1/canvas/{admin_canvas['id']}/nodes", ADMIN,
                        {"type": "sql", "sql": "SELECT internal_note FROM sales WHERE id = 100"}))[1]
    await (await client.post(f"/api/v1/canvas/{admin_canvas['id']}/nodes/{node['id']}/run", headers=ADMIN)).read()
    ran = await (await client.get(f"/api/v1/canvas/{admin_canvas['id']}/nodes/{node['id']}", headers=ADMIN)).json()
    assert ran["data"]["dataframe"]["data"] == [["south note"]]


@pytest.mark.parametrize("row_filter", ["region = = 'north'", "region = '{{region}}' AND", "((", "SELECT 1",
                                        "region = '{{region}}' OR pg_sleep(1) IS NULL", "{{region}}(1) = 1"])
async def test_an_unparseable_or_unsafe_row_filter_is_a_400_when_stored(regional, row_filter):
    client, ds, role = regional["client"], regional["ds"], regional["role"]
    rules = [{"table": "sales", "row_filter": row_filter}]
    status, body = await _post(client, "/api/v1/policies", ADMIN, {"role_id": role["id"], "datasource_id": ds, "rules": rules})
    assert status == 400 and "row filter" in body["detail"], body
    policy = (await (await client.get(f"/api/v1/policies?role_id={role['id']}", headers=ADMIN)).json())["items"][0]
    resp = await client.patch(f"/api/v1/policies/{policy['id']}", headers=ADMIN, json={"rules": rules})
    assert resp.status == 400
    assert (await (await client.get(f"/api/v1/policies/{policy['id']}", headers=ADMIN)).json())["rules"][0]["row_filter"] \
        == "region = '{{region}}'"


async def test_a_model_outage_shown_to_a_non_admin_names_no_host_or_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with running_app(tmp_path / "home", OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1", OPENAI_API_KEY="x",
                           TABLETALK_LLM_TIMEOUT=2, TABLETALK_LLM_RETRIES=1) as (_, client, ds):
        key = await (await client.post("/api/v1/auth/keys", headers=ADMIN, json={"scope": "priv_asker"})).json()
        odd = {"datasource_id": ds, "question": "Which zorblax segments churned?"}
        status, body = await _post(client, "/api/v1/single-turn/q2a", {"Authorization": f"Bearer {key['key']}"}, odd)
        assert status == 502 and "127.0.0.1" not in json.dumps(body) and str(port) not in json.dumps(body), body
        status, body = await _post(client, "/api/v1/single-turn/q2a", ADMIN, odd)
        assert status == 502 and f"127.0.0.1:{port}" in body["detail"]  # administrators get the details


async def _pair(client, ds, question: str, sql: str) -> None:
    resp = await client.post("/api/v1/training", headers=ADMIN, json={"datasource_id": ds, "question": question, "sql": sql})
    assert resp.status == 201, await resp.text()


@pytest.mark.parametrize("regional", ["llm"], indirect=True)
async def test_training_pairs_naming_a_hidden_column_or_a_hidden_table_behind_a_view_reach_no_role(regional):
    """A pair is shown to a role (listed, or an example in its prompt) only when it names nothing the
    role may not read: no column hidden with visibility false (however it is qualified), no view over
    a table the role cannot see."""
    client, ds, north, fake = regional["client"], regional["ds"], regional["north"], regional["fake"]
    await _pair(client, ds, "How many zorblax sales have a note?", "SELECT COUNT(internal_note) AS n FROM sales")
    await _pair(client, ds, "Which zorblax sales have which note?", "SELECT s.id, s.internal_note FROM sales AS s")
    await _pair(client, ds, "How many zorblax accounts are offshore?", "SELECT COUNT(*) AS n FROM offshore_view")
    await _pair(client, ds, "How many zorblax sales are there per region?", "SELECT region, COUNT(*) AS n FROM sales GROUP BY region")
    viewer = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "viewer"})).json()
    await client.post("/api/v1/policies", headers=ADMIN, json={"role_id": viewer["id"], "datasource_id": ds,
                                                                "rules": [{"table": "sales"}, {"table": "offshore_view"}]})
    asker = {"Authorization": f"Bearer {(await _post(client, '/api/v1/auth/keys', ADMIN, {'scope': 'priv_asker'}))[1]['key']}"}
    listing = await (await client.get(f"/api/v1/training?datasource_id={ds}", headers=ADMIN)).text()
    assert "internal_note" in listing and "FROM offshore_view" in listing  # what a leak would look like
    for headers, role in ((north, None), (asker, viewer["id"])):
        path = f"/api/v1/training?datasource_id={ds}" + (f"&role_id={role}" if role else "")
        text = await (await client.get(path, headers=headers)).text()
        assert "GROUP BY region" in text and "internal_note" not in text and "offshore_view" not in text, text
        fake.requests.clear()
        status, body = await _post(client, "/api/v1/single-turn/q2s", headers, {
            "datasource_id": ds, "question": "How many zorblax sales have a note or are offshore, per region?",
            **({"role_id": role} if role else {})})
        prompt = json.dumps(fake.requests)
        assert status == 200 and body["engine"] == "llm" and "GROUP BY region" in prompt, body
        assert "internal_note" not in prompt and "FROM offshore_view" not in prompt, prompt


@pytest.mark.parametrize("regional", ["llm"], indirect=True)
async def test_a_pair_carrying_a_value_of_rows_a_filtered_role_cannot_see_is_not_shown_to_it(regional):
    """Under a row filter, a pair's string literals must be values of rows the role reads (confirmed
    through its policy): north is not shown the pair on SOUTHSECRET1, south is; a number bound needs no check."""
    client, ds, north, fake = regional["client"], regional["ds"], regional["north"], regional["fake"]
    for secret in ("NORTHSECRET1", SOUTH_ONLY):
        await _pair(client, ds, f"How many zorblax sales carry {secret}?",
                    f"SELECT COUNT(*) AS n FROM sales WHERE secret = '{secret}'")
    await _pair(client, ds, "How many zorblax sales have a secret like SOUTH?",
                "SELECT COUNT(*) AS n FROM sales WHERE secret LIKE 'SOUTH%'")
    await _pair(client, ds, "How many zorblax sales are over 50?", "SELECT COUNT(*) AS n FROM sales WHERE amount > 50")
    south = await (await client.post("/api/v1/auth/keys", headers=ADMIN, json={
        "scope": "priv_asker", "role_id": "region", "role_variables": {"region": "south"}})).json()
    south = {"Authorization": f"Bearer {south['key']}"}
    listed = {}
    for name, headers in (("admin", ADMIN), ("north", north), ("south", south)):
        listed[name] = await (await client.get(f"/api/v1/training?datasource_id={ds}", headers=headers)).text()
    assert SOUTH_ONLY in listed["admin"] and "LIKE 'SOUTH%'" in listed["admin"]  # what a leak would look like
    assert SOUTH_ONLY not in listed["north"] and "SOUTH%" not in listed["north"], listed["north"]
    assert "secret = 'NORTHSECRET1'" in listed["north"] and "amount > 50" in listed["north"]
    assert f"secret = '{SOUTH_ONLY}'" in listed["south"] and "NORTHSECRET1" not in listed["south"], listed["south"]
    fake.requests.clear()
    status, body = await _post(client, "/api/v1/single-turn/q2s", north,
                               {"datasource_id": ds, "question": "How many zorblax sales carry which secret?"})
    prompt = json.dumps(fake.requests)
    assert status == 200 and body["engine"] == "llm" and "secret = 'NORTHSECRET1'" in prompt, body
    assert SOUTH_ONLY not in prompt and "SOUTH%" not in prompt, prompt
