"""The model's prompt carries the stored values a question names (through the real service, the fake
model recording every prompt): key columns are indexed, columns over the index cap are looked up, and
a role under a row filter never gets a value from a row it cannot see, nor an example naming a table it
cannot see."""
from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import CORE, create_app
from tabletalk.core.policy.principal import Principal
from tests.conftest import ADMIN, make_settings
from tests.fakes.openai_server import FakeOpenAI

QUESTION = "Which zorblax belong to Zed Quill, Ann Bo, the platinum or the gold tier, or apg?"


def build(path) -> None:
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT);
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, region TEXT, owner TEXT, tier TEXT,
                               code TEXT REFERENCES codes(code));
        INSERT INTO codes VALUES (' APG', 'Aberdeen proving ground'), ('XYZ', 'elsewhere');""")
    rows = [(f"{'North' if i % 2 else 'South'}", f"owner {i}", "silver", "XYZ") for i in range(300)]
    rows += [("North", "Zed Quill", "platinum", " APG"), ("South", "Ann Bo", "gold", "XYZ")]
    db.executemany("INSERT INTO accounts (region, owner, tier, code) VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def reply(body: dict) -> str:
    if "CREATE TABLE" in body["messages"][0]["content"]:
        return "```sql\nSELECT COUNT(*) AS n FROM accounts\n```"
    return "Counted."


async def _synced(client, path) -> str:
    ds = await (await client.post("/api/v1/datasources", headers=ADMIN, json={
        "name": "crm", "engine": "sqlite", "access_config": {"database": str(path)}})).json()
    for _ in range(200):
        status = (await (await client.get(f"/api/v1/datasources/{ds['id']}", headers=ADMIN)).json())["meta_status"]
        if status == "success":
            return ds["id"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"sync ended as {status}")


async def _ask(client, fake, **body) -> tuple[dict, str]:
    fake.requests.clear()
    answer = await (await client.post("/api/v1/single-turn/q2s", headers=ADMIN, json={"question": QUESTION, **body})).json()
    prompts = [r for r in fake.requests if "CREATE TABLE" in r["messages"][0]["content"]]
    assert answer["engine"] == "llm" and prompts, answer
    return answer, "\n".join(m["content"] for m in prompts[0]["messages"])


@pytest.fixture
async def crm(tmp_path):
    """The crm database served with a (fake) model: yields (client, fake model, datasource id)."""
    build(tmp_path / "crm.db")
    async with FakeOpenAI(default=reply) as fake:
        app = create_app(make_settings(tmp_path / "home", OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="x",
                                       TABLETALK_DEMO=False))
        async with TestClient(TestServer(app)) as client:
            yield client, fake, await _synced(client, tmp_path / "crm.db")


async def _south(client, ds) -> dict:
    """A role that sees only the South accounts (and not the codes table)."""
    role = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "south", "variables": []})).json()
    resp = await client.post("/api/v1/policies", headers=ADMIN, json={
        "role_id": role["id"], "datasource_id": ds, "rules": [{"table": "accounts", "row_filter": "region = 'South'"}]})
    assert resp.status == 201, await resp.text()
    return role


async def test_prompt_holds_key_values_looked_up_values_and_only_rows_the_role_sees(crm):
    client, fake, ds = crm
    answer, prompt = await _ask(client, fake, datasource_id=ds)
    # A text primary key and its foreign key are indexed; the 302-owner column is looked up.
    assert "- codes.code: ' APG'" in prompt and "- accounts.code: ' APG'" in prompt
    assert "'Zed Quill'" in prompt and "'Ann Bo'" in prompt and "'platinum'" in prompt
    assert answer["debug"]["prompt_tokens"] > 0 and answer["debug"]["value_hints"] >= 5

    for question, sql in (("which zorblax belong to each code label", "SELECT label FROM codes"),
                          ("which zorblax belong to each tier", "SELECT tier, COUNT(*) FROM accounts GROUP BY tier")):
        resp = await client.post("/api/v1/training", headers=ADMIN, json={"datasource_id": ds, "question": question, "sql": sql})
        assert resp.status == 201, await resp.text()
    _, prompt = await _ask(client, fake, datasource_id=ds)
    assert "SELECT label FROM codes" in prompt and "GROUP BY tier" in prompt  # similar solved examples

    role = await _south(client, ds)
    _, prompt = await _ask(client, fake, datasource_id=ds, role_id=role["id"])
    assert "'Ann Bo'" in prompt and "'gold'" in prompt  # rows the role sees
    assert "'Zed Quill'" not in prompt and "'platinum'" not in prompt and "APG'" not in prompt
    assert "GROUP BY tier" in prompt and "FROM codes" not in prompt  # no example shows a hidden table


async def test_a_filtered_roles_prompt_shows_samples_of_its_own_rows_only(crm):
    """The schema a row-filtered role is given (MetadataService.schema_for) holds only values of rows
    it may read, so its prompt shows those samples, and no value of another row."""
    client, fake, ds = crm
    role = await _south(client, ds)
    _, admin = await _ask(client, fake, datasource_id=ds)
    assert "values: " in admin and "'North'" in admin and "'silver'" in admin  # the samples, read from all rows
    _, prompt = await _ask(client, fake, datasource_id=ds, role_id=role["id"])
    samples = [line for line in prompt.splitlines() if "values: " in line]
    assert any("'South'" in line for line in samples) and any("'silver'" in line for line in samples), prompt
    assert "'North'" not in prompt and "'platinum'" not in prompt and "'Zed Quill'" not in prompt, prompt
    assert "APG" not in prompt and "XYZ" in prompt  # codes of South rows only; the codes table is hidden


async def test_a_roles_prompt_names_no_table_or_column_it_cannot_see(crm):
    """A foreign key to a table the role cannot see, or to a hidden column, is shown as a plain column:
    the remark would name what the role may not read."""
    client, fake, ds = crm
    _, admin = await _ask(client, fake, datasource_id=ds)
    assert "references codes(code)" in admin  # what a leak would look like
    role = await _south(client, ds)
    _, prompt = await _ask(client, fake, datasource_id=ds, role_id=role["id"])
    assert "CREATE TABLE accounts" in prompt and "  code TEXT" in prompt, prompt
    assert not re.search(r"\bcodes\b", prompt), prompt
    resp = await client.patch(f"/api/v1/datasources/{ds}/meta/tables/codes/fields/code", headers=ADMIN,
                              json={"visibility": False})
    assert resp.status == 200, await resp.text()
    everything = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "everything"})).json()
    await client.post("/api/v1/policies", headers=ADMIN, json={"role_id": everything["id"], "datasource_id": ds,
                                                                "rules": [{"table": "*"}]})
    _, prompt = await _ask(client, fake, datasource_id=ds, role_id=everything["id"])
    assert "CREATE TABLE codes" in prompt and "label TEXT" in prompt, prompt
    assert "codes(code)" not in prompt and "codes.code" not in prompt, prompt


async def test_a_roles_schema_is_built_once_while_the_metadata_stands(crm):
    """Each question of a role gets the same Schema object (so every per-schema index and prompt
    memo serves them all), and a metadata change gives it a new one that reflects the change."""
    client, fake, ds = crm
    role = await _south(client, ds)
    core = client.app[CORE]
    scope = await core.policies.scope_for(Principal(scope="priv_admin"), ds, role["id"], {})
    first = await core.metadata.schema_for(ds, scope)
    assert await core.metadata.schema_for(ds, scope) is first
    resp = await client.patch(f"/api/v1/datasources/{ds}/meta/tables/accounts/fields/tier", headers=ADMIN,
                              json={"visibility": False})
    assert resp.status == 200, await resp.text()
    after = await core.metadata.schema_for(ds, scope)
    assert after is not first
    accounts = next(t for t in after.tables if t.name == "accounts")
    assert "tier" not in {c.name for c in accounts.columns}
