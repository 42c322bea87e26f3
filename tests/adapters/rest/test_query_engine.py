"""The built-in engine's answers on the demo over REST, checked against the demo's own data: the issue's demo
questions, interpretation and confidence on every answer, numbers that read well, hidden tables, follow-ups."""
from __future__ import annotations

from tests.conftest import ADMIN, demo_id, demo_truth


async def _q2a(client, **body) -> dict:
    resp = await client.post("/api/v1/single-turn/q2a", headers=ADMIN, json=body)
    assert resp.status == 200
    return await resp.json()


async def test_percentage_of_cancelled_orders(client):
    ds = await demo_id(client)
    body = await _q2a(client, datasource_id=ds, question="what percentage of orders are cancelled?")
    truth = demo_truth(client.server.app, "SELECT ROUND(100.0 * SUM(status = 'cancelled') / COUNT(*), 1) FROM orders")
    assert body["dataframe"]["data"] == [[truth[0][0]]]
    assert body["answer"] == f"{truth[0][0]:.1f} %."
    assert body["interpretation"] == "the percentage of orders where status is 'cancelled'"
    assert body["confidence"] >= 0.9


async def test_average_items_per_order_and_customers_who_never_ordered(client):
    ds = await demo_id(client)
    app = client.server.app
    body = await _q2a(client, datasource_id=ds, question="average number of items per order")
    truth = demo_truth(app, "SELECT ROUND(AVG(n), 2) FROM (SELECT COUNT(*) n FROM order_items GROUP BY order_id)")
    assert body["dataframe"]["data"] == [[truth[0][0]]]
    body = await _q2a(client, datasource_id=ds, question="customers who never ordered")
    never = demo_truth(app, "SELECT COUNT(*) FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)")[0][0]
    assert len(body["dataframe"]["data"]) == never and "no orders" in body["interpretation"]


async def test_revenue_reads_well(client):
    ds = await demo_id(client)
    body = await _q2a(client, datasource_id=ds, question="Revenue per month")
    assert body["status"] == "success" and body["interpretation"].startswith("the total amount of orders, per month")
    values = [row[-1] for row in body["dataframe"]["data"]]
    assert values and all(len(repr(v).split(".")[-1]) <= 6 for v in values if isinstance(v, float))  # no 0.7000000000007
    body = await _q2a(client, datasource_id=ds, question="revenue this year")
    assert body["status"] == "success" and "nothing" not in body["answer"]


async def test_a_hidden_table_is_not_permitted_never_answered_from_another(client):
    ds = await demo_id(client)
    role = await (await client.post("/api/v1/roles", headers=ADMIN, json={
        "name": "berlin", "variables": [{"name": "city", "type": "string", "required": True}]})).json()
    await client.post("/api/v1/policies", headers=ADMIN, json={
        "role_id": role["id"], "datasource_id": ds,
        "rules": [{"table": "customers", "row_filter": "city = '{{city}}'"}, {"table": "orders"}]})
    body = await _q2a(client, datasource_id=ds, question="Top 5 products by revenue", role_id=role["id"],
                      role_variables={"city": "Berlin"})
    assert body["status"] == "failed" and "not permitted" in body["message"] and body["sql"] is None


async def test_chat_follow_ups_refine_the_previous_reading(client):
    ds = await demo_id(client)
    await client.post("/api/v1/bots", headers=ADMIN, json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})
    chat = await (await client.post("/api/v1/chats", headers=ADMIN, json={"bot_id": "shop"})).json()

    async def say(text: str) -> dict:
        resp = await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=ADMIN, json={"question": text})
        return (await resp.json())["content"]

    first = await say("How many orders were placed?")
    assert first["interpretation"] == "the number of orders"
    completed = await say("only completed ones")
    truth = demo_truth(client.server.app, "SELECT COUNT(*) FROM orders WHERE status = 'completed'")
    assert completed["interpretation"] == "the number of orders, where status is 'completed'"
    assert completed["dataframe"]["data"] == [[truth[0][0]]], completed
