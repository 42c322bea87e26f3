"""The AskTable SDK, unchanged, on datasources, metadata, indexes, sqls and answers (/v1)."""
from __future__ import annotations

import io

import httpx
import pytest
from asktable import BadRequestError, UnprocessableEntityError
from asktable import types as T

from tests.adapters.asktable.server import every, strict, strict_page
from tests.conftest import ADMIN


def test_auth_me_names_the_project_and_the_key_role(client):
    me, raw = strict(client.auth, "me", T.AuthMeResponse)
    assert me.ak_role == "admin" and me.project_id == raw["project_id"] == "tabletalk" and raw["project_name"] == "TableTalk"


def test_answers_create_on_the_demo_says_how_many_orders_there_are(client, demo, demo_db):
    (truth,) = demo_db.execute("SELECT COUNT(*) FROM orders").fetchone()
    answer, raw = strict(client.answers, "create", T.AnswerResponse, datasource_id=demo,
                         question="How many orders are there?", with_json=True)
    assert answer.status == "success" and f"{truth:,}" in answer.answer.text
    assert answer.answer.attachments[0].info["data"] == [[truth]] and answer.project_id == "tabletalk"


def test_sqls_create_reads_query_sql_and_the_history_lists_it(client, demo):
    sql, _ = strict(client.sqls, "create", T.QueryResponse, datasource_id=demo, question="How many customers are there?")
    assert "COUNT" in sql.query.sql.upper() and "customers" in sql.query.sql and sql.request.datasource_id == demo
    listed = every(client.sqls.list(datasource_id=demo, size=1))
    assert sql.id in [q.id for q in listed]
    with pytest.raises(UnprocessableEntityError, match="parameterize"):
        client.sqls.create(datasource_id=demo, question="How many customers are there?", parameterize=True)


def test_every_list_pages_and_its_auto_paging_ends(client, demo):
    for _ in range(3):
        client.answers.create(datasource_id=demo, question="How many products are there?")
    page, raw = strict_page(client.answers, "list", T.AnswerResponse, size=2)
    assert raw["size"] == 2 and len(raw["items"]) == 2 and raw["pages"] == -(-raw["total"] // 2)
    assert len(every(client.answers.list(size=2))) == raw["total"]
    assert len(every(client.datasources.indexes.list(demo, size=3))) == strict_page(
        client.datasources.indexes, "list", T.Index, demo)[1]["total"]
    assert [d.id for d in every(client.datasources.list(size=1))] == [demo]


def test_metadata_annotate_update_field_and_runtime_meta(client, demo):
    strict(client.datasources.meta, "annotate", object, demo, schemas={
        "main": {"tables": {"orders": {"desc": "One row per order.", "fields": {"amount": "Total in EUR"}}}}})
    meta, _ = strict(client.datasources.meta, "retrieve", T.Meta, demo)
    orders = meta.schemas["main"].tables["orders"]
    assert orders.curr_desc == "One row per order." and orders.fields["amount"].curr_desc == "Total in EUR"
    assert orders.fields["amount"].curr_desc_stat == "user"
    client.datasources.update_field(demo, schema_name="main", table_name="customers", field_name="email", visibility=False)
    meta, _ = strict(client.datasources.meta, "retrieve", T.Meta, demo)
    assert meta.schemas["main"].tables["customers"].fields["email"].visibility is False
    client.datasources.update_field(demo, schema_name="main", table_name="customers", field_name="email", visibility=True)
    with pytest.raises(UnprocessableEntityError, match="identifiable_type"):
        client.datasources.update_field(demo, schema_name="main", table_name="customers", field_name="email",
                                        identifiable_type="email")
    runtime, _ = strict(client.datasources, "retrieve_runtime_meta", T.DatasourceRetrieveRuntimeMetaResponse, demo)
    assert {t.name for t in runtime.schemas["main"]} == {"customers", "orders", "order_items", "products"}
    synced, _ = strict(client.datasources.meta, "create", object, demo, async_process_meta=False)
    assert synced["status"] == "success"
    with pytest.raises(UnprocessableEntityError, match="meta"):
        client.datasources.meta.create(demo, meta={"schemas": {}})


def test_unknown_engine_and_unserved_connection_fields_are_refused_by_name(client):
    with pytest.raises(BadRequestError, match="'tidb'"):
        client.datasources.create(engine="tidb", access_config={"host": "127.0.0.1"})
    with pytest.raises(UnprocessableEntityError, match="securetunnel_id"):
        client.datasources.create(engine="mysql", access_config={"host": "127.0.0.1", "securetunnel_id": "st_1"})
    with pytest.raises(UnprocessableEntityError, match="colour"):
        client.datasources.create(engine="mysql", extra_body={"colour": "red"})


def test_postgresql_datasource_over_the_sdk_answers_from_its_database(client, pg_url):
    import asyncio
    from urllib.parse import urlsplit

    import asyncpg

    async def seed():
        conn = await asyncpg.connect(pg_url)
        await conn.execute("CREATE TABLE orders (id int primary key, status text); "
                           "INSERT INTO orders SELECT g, CASE WHEN g % 3 = 0 THEN 'open' ELSE 'done' END FROM generate_series(1, 30) g")
        await conn.close()

    asyncio.run(seed())
    p = urlsplit(pg_url)
    ds, _ = strict(client.datasources, "create", T.Datasource, engine="postgresql", name="pg orders", access_config={
        "host": p.hostname, "port": p.port, "user": p.username, "password": p.password, "db": p.path.lstrip("/")})
    strict(client.datasources.meta, "create", object, ds.id, async_process_meta=False)
    full, raw = strict(client.datasources, "retrieve", T.DatasourceRetrieveResponse, ds.id)
    assert full.engine == "postgresql" and full.meta_status == "success" and full.access_config.db == p.path.lstrip("/")
    assert "password" not in raw["access_config"]
    answer = client.answers.create(datasource_id=ds.id, question="How many orders are there?")
    assert "30" in answer.answer.text
    client.datasources.delete(ds.id)


def test_excel_datasource_takes_uploaded_files_and_answers_from_them(client, served):
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"region": ["north", "south", "east"], "total": [3, 4, 5]}).to_excel(buf, index=False)
    ds, _ = strict(client.datasources, "create", T.Datasource, engine="excel", name="Sheets")
    assert ds.meta_status == "unprocessed"
    client.datasources.add_file(ds.id, file=("sales.xlsx", buf.getvalue()))
    full = _wait_synced(client, ds.id)
    assert [f.filename for f in full.access_config.files] == ["sales.xlsx"]
    answer = client.answers.create(datasource_id=ds.id, question="How many sales are there?")
    assert answer.status == "success" and "3" in answer.answer.text, answer
    with pytest.raises(BadRequestError, match="csv"):
        client.datasources.add_file(ds.id, file=("notes.csv", b"a,b\n1,2\n"))
    client.datasources.delete_file("sales.xlsx", datasource_id=ds.id)
    assert strict(client.datasources, "retrieve", T.DatasourceRetrieveResponse, ds.id)[0].access_config.files == []
    client.datasources.delete(ds.id)


def _wait_synced(client, ds_id: str):
    import time

    for _ in range(100):
        full, _ = strict(client.datasources, "retrieve", T.DatasourceRetrieveResponse, ds_id)
        if full.meta_status in ("success", "failed"):
            assert full.meta_status == "success", full.meta_error
            return full
        time.sleep(0.1)
    raise AssertionError("the metadata sync did not finish")


def test_api_v1_lists_of_roles_policies_bots_training_keys_indexes_honour_page(served, demo):
    base = served.base_url + "/api/v1"
    with httpx.Client(headers=ADMIN) as http:
        for i in range(3):
            http.post(f"{base}/roles", json={"name": f"pager{i}"}).raise_for_status()
            http.post(f"{base}/training", json={"datasource_id": demo, "question": f"q{i}", "sql": "SELECT 1"}).raise_for_status()
            http.post(f"{base}/bots", json={"id": f"pager{i}", "name": "b", "datasource_ids": [demo]}).raise_for_status()
        roles = [r["id"] for r in http.get(f"{base}/roles").json()["items"] if r["name"].startswith("pager")]
        for role in roles:
            http.post(f"{base}/policies", json={"role_id": role, "datasource_id": demo, "rules": [{"table": "orders"}]}).raise_for_status()
        for i in range(2):
            http.post(f"{base}/auth/keys", json={"scope": "priv_asker", "name": f"pager{i}"}).raise_for_status()
        for path in ("roles", "policies", "bots", "training", "auth/keys", f"datasources/{demo}/indexes"):
            everything = http.get(f"{base}/{path}").json()
            second = http.get(f"{base}/{path}", params={"page": 2, "size": 1}).json()
            assert everything["total"] >= 3 and second["page"] == 2 and second["total"] == everything["total"], path
            assert second["items"] == everything["items"][1:2], path
