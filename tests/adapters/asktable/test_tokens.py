"""auth.create_token: a token carrying chat_role scopes every question asked with it."""
from __future__ import annotations

import pytest
from asktable import AuthenticationError, PermissionDeniedError
from asktable import types as T

from tests.adapters.asktable.server import sdk, strict

ORDERS = "How many orders are there?"


def test_a_token_with_role_variables_answers_the_filtered_truth(client, served, demo, demo_db):
    policy = client.policies.create(name="token status", permission="allow", dataset_config={
        "datasource_ids": [demo], "rows_filters": {demo: ["*.orders.status = {{status}}"]}})
    role = client.roles.create(name="token clerk", policy_ids=[policy.id])
    made, raw = strict(client.auth, "create_token", object, ak_role="asker", token_ttl=600, user_profile={"name": "Ann"},
                       chat_role={"role_id": role.id, "role_variables": {"status": "cancelled"}})
    user = sdk(served.base_url, raw["token"])
    me, _ = strict(user.auth, "me", T.AuthMeResponse)
    assert me.ak_role == "asker" and me.chat_role == {"role_id": role.id, "role_variables": {"status": "cancelled"}}
    assert me.exp and me.user_profile == {"name": "Ann"}

    answer, _ = strict(user.answers, "create", T.AnswerResponse, datasource_id=demo, question=ORDERS, with_json=True)
    (truth,) = demo_db.execute("SELECT COUNT(*) FROM orders WHERE status = 'cancelled'").fetchone()
    assert answer.answer.attachments[0].info["data"] == [[truth]]
    sql, _ = strict(user.sqls, "create", T.QueryResponse, datasource_id=demo, question=ORDERS)
    assert "'cancelled'" in sql.query.sql
    # The token sees the metadata of its role's tables only (here: all four, orders filtered) — and a
    # tables pattern narrows it.
    assert set(strict(user.datasources.meta, "retrieve", T.Meta, demo)[0].schemas["main"].tables) == {
        "customers", "orders", "order_items", "products"}
    narrow = client.policies.create(name="products only", permission="allow", dataset_config={
        "datasource_ids": [demo], "regex_patterns": {"tables_regex_pattern": "^products$"}})
    seller = client.roles.create(name="token seller", policy_ids=[narrow.id])
    seller_token = client.auth.create_token(ak_role="asker", chat_role={"role_id": seller.id})["token"]
    seller_sdk = sdk(served.base_url, seller_token)
    assert list(seller_sdk.datasources.meta.retrieve(demo).schemas["main"].tables) == ["products"]
    runtime = seller_sdk.datasources.retrieve_runtime_meta(demo)
    assert [t.name for t in runtime.schemas["main"]] == ["products"]
    # The token cannot manage roles, and naming another role changes nothing: its own role wins.
    with pytest.raises(PermissionDeniedError):
        user.roles.list()
    other = client.roles.create(name="token other")
    again = user.answers.create(datasource_id=demo, question=ORDERS, role_id=other.id, with_json=True)
    assert again.answer.attachments[0].info["data"] == [[truth]]
    # The token's history is its own.
    assert {a.id for a in user.answers.list()} == {answer.id, again.id}
    client.roles.delete(other.id)


def test_an_expired_or_unknown_token_is_refused(served):
    with pytest.raises(AuthenticationError):
        sdk(served.base_url, "tt_not_a_real_token").auth.me()
