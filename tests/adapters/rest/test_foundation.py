"""The REST foundation as a new user meets it: auth, scopes, datasources, errors, metadata, OpenAPI."""
from __future__ import annotations

import asyncio
import json
import socket

import pytest

from tests.conftest import ADMIN, demo_id


async def _key(client, scope: str, **extra) -> dict:
    resp = await client.post("/api/v1/auth/keys", headers=ADMIN, json={"scope": scope, **extra})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    return {"Authorization": f"Bearer {body['key']}", "_id": body["id"]}


def _h(key: dict) -> dict:
    return {k: v for k, v in key.items() if not k.startswith("_")}


async def test_healthz_needs_no_key(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"


async def test_healthz_reports_the_loop_lag_and_a_collection_pause(client):
    import gc
    import time

    started = time.perf_counter()
    while time.perf_counter() - started < 0.12:  # hold the loop past its 50 ms tick
        pass
    junk = [[i] for i in range(200_000)]  # a full collection over many objects takes a moment
    gc.collect()
    del junk
    health = await (await client.get("/healthz")).json()
    assert health["loop_lag_max_ms"] >= 50
    assert health["gc_pause_max_ms"] > 0


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
async def test_missing_or_wrong_key_is_401_with_detail(client, headers):
    resp = await client.get("/api/v1/datasources", headers=headers)
    assert resp.status == 401
    assert "detail" in await resp.json()


async def test_demo_datasource_is_listed_and_synced(client):
    resp = await client.get("/api/v1/datasources", headers=ADMIN)
    body = await resp.json()
    assert set(body) == {"items", "total", "page", "size"}
    demo = next(d for d in body["items"] if d["name"] == "Demo shop")
    assert demo["meta_status"] == "success"
    assert demo["table_count"] == 4
    meta = await (await client.get(f"/api/v1/datasources/{demo['id']}/meta", headers=ADMIN)).json()
    tables = next(iter(meta["schemas"].values()))["tables"]
    assert {"customers", "products", "orders", "order_items"} <= set(tables)
    assert tables["orders"]["fields"]["amount"]["data_type"]


async def test_scope_matrix(client):
    asker, visitor = await _key(client, "priv_asker"), await _key(client, "priv_visitor")
    ds_body = {"name": "x", "engine": "sqlite", "access_config": {"database": "/tmp/none.db"}}
    cases = [  # (key, method, path, body, expected status)
        (asker, "post", "/api/v1/datasources", ds_body, 403),
        (asker, "get", "/api/v1/datasources", None, 200),
        (asker, "post", "/api/v1/roles", {"name": "r"}, 403),
        (asker, "get", "/api/v1/auth/keys", None, 403),
        (visitor, "get", "/api/v1/datasources", None, 403),
        (visitor, "get", "/api/v1/bots", None, 200),
        (visitor, "get", "/api/v1/chats", None, 200),
        (ADMIN, "post", "/api/v1/roles", {"name": "r"}, 201),
    ]
    for key, method, path, body, expected in cases:
        resp = await getattr(client, method)(path, headers=_h(key), json=body)
        assert resp.status == expected, (key, path, await resp.text())
        if expected >= 400:
            assert "detail" in await resp.json()


async def test_keys_are_listed_by_prefix_only_and_can_be_revoked(client):
    resp = await client.post("/api/v1/auth/keys", headers=ADMIN, json={"scope": "priv_asker", "name": "ci"})
    created = await resp.json()
    listing = await (await client.get("/api/v1/auth/keys", headers=ADMIN)).text()
    assert created["key"] not in listing and created["prefix"] in listing
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/api/v1/datasources", headers=headers)).status == 200
    assert (await client.delete(f"/api/v1/auth/keys/{created['id']}", headers=ADMIN)).status == 204
    assert (await client.get("/api/v1/datasources", headers=headers)).status == 401


async def test_malformed_json_is_400_and_validation_422_names_the_field(client):
    resp = await client.post("/api/v1/datasources", headers={**ADMIN, "Content-Type": "application/json"}, data=b"{not json")
    assert resp.status == 400 and "JSON" in (await resp.json())["detail"]
    resp = await client.post("/api/v1/datasources", headers=ADMIN, json={"name": "x"})
    assert resp.status == 422 and "engine" in (await resp.json())["detail"]


async def test_unknown_ids_are_404(client):
    for path in ("/api/v1/datasources/ds_nope", "/api/v1/datasources/ds_nope/meta", "/api/v1/roles/nope",
                 "/api/v1/chats/nope", "/api/v1/bots/nope", "/api/v1/no-such-route"):
        resp = await client.get(path, headers=ADMIN)
        assert resp.status == 404, path
        assert "detail" in await resp.json()


async def test_unsupported_engine_is_400_naming_supported_ones(client):
    resp = await client.post("/api/v1/datasources", headers=ADMIN,
                             json={"name": "x", "engine": "cobol", "access_config": {}})
    assert resp.status == 400
    assert "sqlite" in (await resp.json())["detail"]


async def test_test_connection_to_closed_port_is_quick_success_false(client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    body = {"engine": "postgresql", "access_config": {"host": "127.0.0.1", "port": port, "user": "u",
                                                      "password": "pw-secret", "database": "d"}}
    resp = await asyncio.wait_for(client.post("/api/v1/datasources/test-connection", headers=ADMIN, json=body), 15)
    assert resp.status == 200
    data = await resp.json()
    assert data["success"] is False and "pw-secret" not in data["message"]


async def test_postgres_password_is_never_returned(client, pg_url):
    from urllib.parse import urlsplit

    p = urlsplit(pg_url)
    cfg = {"host": p.hostname, "port": p.port, "user": p.username, "password": p.password, "database": p.path[1:]}
    resp = await client.post("/api/v1/datasources", headers=ADMIN, json={"name": "pg", "engine": "postgresql", "access_config": cfg})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    one = await (await client.get(f"/api/v1/datasources/{created['id']}", headers=ADMIN)).text()
    many = await (await client.get("/api/v1/datasources", headers=ADMIN)).text()
    for text in (json.dumps(created), one, many):
        assert p.password not in text and '"password"' not in text
    assert json.loads(one)["access_config"]["host"] == p.hostname


async def test_datasource_paging(client, tmp_path):
    for i in range(5):
        resp = await client.post("/api/v1/datasources", headers=ADMIN, json={
            "name": f"paged-{i}", "engine": "sqlite", "access_config": {"database": str(tmp_path / f"{i}.db")}})
        assert resp.status == 201
    first = await (await client.get("/api/v1/datasources?name=paged&page=1&size=2", headers=ADMIN)).json()
    third = await (await client.get("/api/v1/datasources?name=paged&page=3&size=2", headers=ADMIN)).json()
    assert first["total"] == 5 and len(first["items"]) == 2 and len(third["items"]) == 1
    assert (first["page"], first["size"]) == (1, 2)
    assert (await client.get("/api/v1/datasources?page=0", headers=ADMIN)).status == 422


async def test_description_edits_survive_a_resync(client):
    ds = await demo_id(client)
    resp = await client.patch(f"/api/v1/datasources/{ds}/meta/tables/orders/fields/status", headers=ADMIN,
                              json={"description": "Lifecycle of an order"})
    assert resp.status == 200
    resp = await client.post(f"/api/v1/datasources/{ds}/meta/sync", headers=ADMIN)
    assert resp.status == 202
    for _ in range(100):
        d = await (await client.get(f"/api/v1/datasources/{ds}", headers=ADMIN)).json()
        if d["meta_status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert d["meta_status"] == "success"
    meta = await (await client.get(f"/api/v1/datasources/{ds}/meta", headers=ADMIN)).json()
    fields = next(iter(meta["schemas"].values()))["tables"]["orders"]["fields"]
    assert fields["status"]["description"] == "Lifecycle of an order"


async def test_delete_datasource_then_404(client, tmp_path):
    resp = await client.post("/api/v1/datasources", headers=ADMIN, json={
        "name": "gone", "engine": "sqlite", "access_config": {"database": str(tmp_path / "g.db")}})
    ds = (await resp.json())["id"]
    assert (await client.delete(f"/api/v1/datasources/{ds}", headers=ADMIN)).status == 204
    assert (await client.get(f"/api/v1/datasources/{ds}", headers=ADMIN)).status == 404


async def test_openapi_describes_the_routes(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/api/v1/datasources"]
    assert "/api/v1/single-turn/q2s" in doc["paths"]


async def test_oversized_body_is_413(tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from tabletalk.adapters.rest.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path / "h", TABLETALK_MAX_BODY_BYTES=1024, TABLETALK_DEMO=False))
    async with TestClient(TestServer(app)) as c:
        resp = await c.post("/api/v1/datasources", headers=ADMIN, data=b"{" + b" " * 4096 + b"}")
        assert resp.status == 413
        assert "detail" in await resp.json()
