"""Roles and policies through the AskTable SDK: rows_filters become the same row filters the policy
rewriter enforces, and policies made on either surface are visible and enforced on the other."""
from __future__ import annotations

import httpx
import pytest
from asktable import BadRequestError, UnprocessableEntityError
from asktable import types as T

from tests.adapters.asktable.server import every, strict, strict_page
from tests.conftest import ADMIN

ORDERS = "How many orders are there?"


def _count(demo_db, where: str) -> int:
    return demo_db.execute(f"SELECT COUNT(*) FROM orders WHERE {where}").fetchone()[0]


def test_a_v1_policy_filters_rows_on_both_surfaces(client, served, demo, demo_db):
    policy, _ = strict(client.policies, "create", T.shared.Policy, name="by status", permission="allow", dataset_config={
        "datasource_ids": [demo], "rows_filters": {demo: ["*.orders.status = {{status}}"]}})
    role, _ = strict(client.roles, "create", T.Role, name="status clerk", policy_ids=[policy.id])
    assert role.policy_ids == [policy.id]
    assert strict(client.roles, "get_variables", object, role.id)[0] == ["status"]
    assert [p.id for p in strict(client.roles, "get_polices", T.RoleGetPolicesResponse, role.id)[0]] == [policy.id]

    answer, _ = strict(client.answers, "create", T.AnswerResponse, datasource_id=demo, question=ORDERS,
                       role_id=role.id, role_variables={"status": "shipped"}, with_json=True)
    assert answer.answer.attachments[0].info["data"] == [[_count(demo_db, "status = 'shipped'")]]
    sql = client.sqls.create(datasource_id=demo, question=ORDERS, role_id=role.id, role_variables={"status": "shipped"})
    assert "'shipped'" in sql.query.sql

    with httpx.Client(base_url=served.base_url + "/api/v1", headers=ADMIN) as http:
        native = http.get("/policies", params={"role_id": role.id}).json()["items"]
        assert [r["row_filter"] for p in native for r in p["rules"] if r["row_filter"]] == ["status = {{status}}"]
        q2a = http.post("/single-turn/q2a", json={"datasource_id": demo, "question": ORDERS, "role_id": role.id,
                                                  "role_variables": {"status": "pending"}}).json()
        assert q2a["dataframe"]["data"] == [[_count(demo_db, "status = 'pending'")]]
        # Deleting the role on /api/v1 does not break the policy made on /v1.
        assert http.delete(f"/roles/{role.id}").status_code == 204

    # Changing the policy re-applies it to every role holding it.
    role2, _ = strict(client.roles, "create", T.Role, name="status clerk 2", policy_ids=[policy.id])
    strict(client.policies, "update", T.shared.Policy, policy.id, dataset_config={
        "datasource_ids": [demo], "rows_filters": {demo: ["main.orders.status = cancelled"]}})
    answer = client.answers.create(datasource_id=demo, question=ORDERS, role_id=role2.id, with_json=True)
    assert answer.answer.attachments[0].info["data"] == [[_count(demo_db, "status = 'cancelled'")]]
    client.roles.delete(role2.id)
    client.policies.delete(policy.id)


def test_an_api_v1_policy_is_an_asktable_policy_on_v1(client, served, demo, demo_db):
    with httpx.Client(base_url=served.base_url + "/api/v1", headers=ADMIN) as http:
        role = http.post("/roles", json={"name": "amsterdam", "variables": [{"name": "city"}]}).json()
        made = http.post("/policies", json={"role_id": role["id"], "datasource_id": demo, "name": "one city", "rules": [
            {"table": "customers", "row_filter": "city = {{city}}"}, {"table": "orders"}]}).json()
    seen, _ = strict(client.roles, "retrieve", T.Role, role["id"])
    assert seen.policy_ids == [made["id"]]
    policy, _ = strict(client.policies, "retrieve", T.shared.Policy, made["id"])
    assert policy.dataset_config.rows_filters == {demo: ["*.customers.city = {{city}}"]}
    assert policy.dataset_config.regex_patterns.tables_regex_pattern == "^(customers|orders)$"
    assert made["id"] in [p.id for p in every(client.policies.list(size=1))]
    answer = client.answers.create(datasource_id=demo, question="How many customers are there?", role_id=role["id"],
                                   role_variables={"city": "Amsterdam"}, with_json=True)
    truth = demo_db.execute("SELECT COUNT(*) FROM customers WHERE city = 'Amsterdam'").fetchone()[0]
    assert answer.answer.attachments[0].info["data"] == [[truth]]
    refused = client.answers.create(datasource_id=demo, question="How many products are there?", role_id=role["id"],
                                    role_variables={"city": "Amsterdam"})
    assert refused.status == "failed" and "not permitted" in refused.err_msg
    # Edited on /v1, still the same TableTalk policy.
    strict(client.policies, "update", T.shared.Policy, made["id"], name="Amsterdam customers")
    with httpx.Client(base_url=served.base_url + "/api/v1", headers=ADMIN) as http:
        assert http.get(f"/policies/{made['id']}").json()["name"] == "Amsterdam customers"
    with pytest.raises(BadRequestError, match="made on /api/v1"):
        client.roles.update(role["id"], policy_ids=[])
    client.roles.delete(role["id"])


def test_a_tables_pattern_grants_only_the_matching_tables(client, demo):
    policy = client.policies.create(name="catalog", permission="allow", dataset_config={
        "datasource_ids": [demo], "regex_patterns": {"tables_regex_pattern": "^products$"}})
    role = client.roles.create(name="catalog reader", policy_ids=[policy.id])
    assert client.answers.create(datasource_id=demo, question="How many products are there?", role_id=role.id).status == "success"
    assert client.answers.create(datasource_id=demo, question=ORDERS, role_id=role.id).status == "failed"
    client.roles.delete(role.id)
    client.policies.delete(policy.id)


@pytest.mark.parametrize("config, permission, expected", [
    ({"rows_filters": None}, "deny", "permission 'deny'"),
    ({"regex_patterns": {"fields_regex_pattern": "^id$"}}, "allow", "fields_regex_pattern"),
    ({"rows_filters": {"DS": ["*.orders.no_such_field = 1"]}}, "allow", "matches no field"),
    ({"rows_filters": {"DS": ["status = 1"]}}, "allow", "<schema>.<table>.<field>"),
])
def test_policies_taletalk_cannot_enforce_are_refused_by_name(client, demo, config, permission, expected):
    config = {k: ({demo: v["DS"]} if isinstance(v, dict) and "DS" in v else v) for k, v in config.items()}
    with pytest.raises(BadRequestError, match=expected):
        client.policies.create(name="x", permission=permission, dataset_config={"datasource_ids": [demo], **config})


def test_unknown_policy_fields_are_a_422_and_lists_page(client, demo):
    with pytest.raises(UnprocessableEntityError, match="owner"):
        client.policies.create(name="x", permission="allow", dataset_config={"datasource_ids": [demo]},
                               extra_body={"owner": "me"})
    for i in range(3):
        client.roles.create(name=f"pager {i}")
    page, raw = strict_page(client.roles, "list", T.Role, size=2, name="pager")
    assert raw["total"] == 3 and raw["pages"] == 2 and len(every(client.roles.list(size=2, name="pager"))) == 3
    assert [r.name for r in every(client.roles.list(role_ids=[raw["items"][0]["id"]]))] == [raw["items"][0]["name"]]


def test_asktable_fields_sent_to_api_v1_are_a_422_naming_them(served, demo):
    with httpx.Client(base_url=served.base_url + "/api/v1", headers=ADMIN) as http:
        resp = http.post("/roles", json={"name": "sdk shaped", "policy_ids": ["policy_x"]})
        assert resp.status_code == 422 and "policy_ids" in resp.json()["detail"]
        resp = http.post("/policies", json={"name": "p", "permission": "allow", "dataset_config": {"datasource_ids": [demo]}})
        assert resp.status_code == 422 and "dataset_config" in resp.json()["detail"]
