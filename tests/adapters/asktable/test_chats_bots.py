"""Chats, messages, bots and training pairs through the AskTable SDK, validated against its models."""
from __future__ import annotations

import pytest
from asktable import BadRequestError, UnprocessableEntityError
from asktable import types as T

from tests.adapters.asktable.server import every, strict, strict_page

ORDERS = "How many orders are there?"


def test_chat_with_a_bot_answers_and_its_messages_are_human_then_ai(client, demo, demo_db):
    (truth,) = demo_db.execute("SELECT COUNT(*) FROM orders").fetchone()
    bot, _ = strict(client.bots, "create", T.Chatbot, datasource_ids=[demo], name="Shop bot", sample_questions=[ORDERS])
    assert bot.id.startswith("bot_") and bot.webhooks == [] and bot.project_id == "tabletalk"
    chat, _ = strict(client.chats, "create", T.Chat, bot_id=bot.id, name="orders talk")
    reply, raw = strict(client.chats.messages, "create", T.chats.MessageCreateResponse, chat.id, question=ORDERS)
    assert raw["role"] == "ai" and f"{truth:,}" in reply.content.text and raw["metadata"]["sql"]
    msgs, _ = strict_page(client.chats.messages, "list", T.chats.MessageListResponse, chat.id)
    assert [m.role for m in every(client.chats.messages.list(chat.id, size=1))] == ["human", "ai"]
    one, _ = strict(client.chats.messages, "retrieve", T.chats.MessageRetrieveResponse, raw["id"], chat_id=chat.id)
    assert one.content.text == reply.content.text
    full, _ = strict(client.chats, "retrieve", T.ChatRetrieveResponse, chat.id)
    assert full.datasource_ids == [demo] and full.sample_questions == [ORDERS] and full.name == "orders talk"
    assert chat.id in [c.id for c in every(client.chats.list(size=1))]
    client.chats.delete(chat.id)
    client.bots.delete(bot.id)


def test_chat_without_a_bot_answers_as_its_role(client, demo, demo_db):
    policy = client.policies.create(name="pending only", permission="allow", dataset_config={
        "datasource_ids": [demo], "rows_filters": {demo: ["*.orders.status = {{status}}"]}})
    role = client.roles.create(name="chat clerk", policy_ids=[policy.id])
    chat, _ = strict(client.chats, "create", T.Chat, role_id=role.id, role_variables={"status": "pending"})
    assert chat.bot_id is None and chat.role_id == role.id
    _, raw = strict(client.chats.messages, "create", T.chats.MessageCreateResponse, chat.id, question=ORDERS)
    (truth,) = demo_db.execute("SELECT COUNT(*) FROM orders WHERE status = 'pending'").fetchone()
    assert raw["content"]["attachments"][0]["info"]["data"] == [[truth]] and "'pending'" in raw["metadata"]["sql"]
    with pytest.raises(UnprocessableEntityError, match="user_profile"):
        client.chats.create(user_profile={"name": "Ann"})
    client.roles.delete(role.id)
    client.policies.delete(policy.id)


def test_bot_settings_tabletalk_has_no_counterpart_for_are_refused_by_name(client, demo):
    with pytest.raises(UnprocessableEntityError, match="'color_theme', 'extapi_ids'"):
        client.bots.create(datasource_ids=[demo], name="x", color_theme="dark", extapi_ids=["api_1"])
    with pytest.raises(UnprocessableEntityError, match="webhooks"):
        client.bots.create(datasource_ids=[demo], name="x", webhooks=["https://example.invalid/hook"])
    bot = client.bots.create(datasource_ids=[demo], name="pager bot")
    updated, _ = strict(client.bots, "update", T.Chatbot, bot.id, welcome_message="Hello", max_rows=7)
    assert updated.welcome_message == "Hello" and updated.max_rows == 7
    with pytest.raises(BadRequestError, match="one project"):
        client.bots.invite(bot.id, project_id="other")
    assert bot.id in [b.id for b in every(client.bots.list(size=1))]
    client.bots.delete(bot.id)


def test_training_pairs_are_created_as_an_array_used_updated_and_deleted(client, demo):
    made, raw = strict(client.trainings, "create", T.TrainingCreateResponse, datasource_id=demo, body=[
        {"question": "What is our GMV?", "sql": "SELECT SUM(amount) AS gmv FROM orders"},
        {"question": "What is the best price?", "sql": "SELECT MAX(price) AS best FROM products"}])
    assert [p.source for p in made] == ["import", "import"]
    sql = client.sqls.create(datasource_id=demo, question="What is our GMV?")
    assert sql.query.sql == "SELECT SUM(amount) AS gmv FROM orders"
    off, _ = strict(client.trainings, "update", T.TrainingUpdateResponse, made[0].id, datasource_id=demo, active=False)
    assert off.active is False
    listed = every(client.trainings.list(datasource_id=demo, size=1))
    assert {p.id for p in made} <= {p.id for p in listed}
    with pytest.raises(BadRequestError, match="read-only"):
        client.trainings.create(datasource_id=demo, body=[{"question": "drop", "sql": "DELETE FROM orders"}])
    with pytest.raises(UnprocessableEntityError, match="role_id"):
        client.trainings.create(datasource_id=demo, body=[{"question": "q", "sql": "SELECT 1", "role_id": "r"}])
    for p in made:
        client.trainings.delete(p.id, datasource_id=demo)
    assert not {p.id for p in made} & {p.id for p in every(client.trainings.list(datasource_id=demo))}
