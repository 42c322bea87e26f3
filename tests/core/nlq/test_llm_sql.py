"""The LLM NL->SQL path against the fake OpenAI server: the prompt, self-correction with the
error shown to the model, validation on a real SQLite database, and the short answer."""
from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from tabletalk.core.errors import Forbidden, Invalid, Upstream
from tabletalk.core.llm.client import LLMClient
from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.llm import build_prompt, compose_prompt, llm_answer, llm_sql
from tabletalk.core.nlq.value_hints import ValueHint
from tests.fakes.openai_server import FakeOpenAI, Reply, Status

TODAY = date(2026, 3, 14)
SHOP = Schema("sqlite", [
    Table("customers", [Column("id", "INTEGER", primary_key=True), Column("name", "TEXT"),
                        Column("city", "TEXT", values=["Berlin", "Lyon"])], description="People who buy"),
    Table("orders", [Column("id", "INTEGER", primary_key=True),
                     Column("customer_id", "INTEGER", references=("customers", "id")), Column("total", "NUMERIC")]),
])


def sql_reply(sql: str) -> Reply:
    return Reply(f"Here you go:\n```sql\n{sql}\n```")


@pytest.fixture
async def llm():
    async with FakeOpenAI() as fake:
        client = LLMClient(fake.base_url, "sk-test", "fake-model", backoff=0.01)
        yield fake, client
        await client.close()


@pytest.fixture
def shop_db():
    db = sqlite3.connect(":memory:")
    db.executescript("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT);"
                     "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, total NUMERIC);"
                     "INSERT INTO customers VALUES (1, 'Ada', 'Lyon'), (2, 'Bo', 'Berlin');"
                     "INSERT INTO orders VALUES (1, 1, 10), (2, 1, 5), (3, 2, 7);")
    yield db
    db.close()


def executes_on(db):
    """A validate() that runs the query, as the pipeline does, turning database errors into Invalid."""
    async def validate(sql: str) -> None:
        try:
            db.execute(sql).fetchmany(1)
        except sqlite3.Error as exc:
            raise Invalid(f"The database rejected the query: {exc}") from None
    return validate


def test_prompt_states_dialect_date_rules_schema_examples_and_history():
    training = [("how many customers are in Lyon", "SELECT COUNT(*) FROM customers WHERE city = 'Lyon'"),
                ("total of all orders", "SELECT SUM(total) FROM orders")] + \
               [(f"unrelated question about zebras {i}", f"SELECT {i}") for i in range(6)]
    history = [{"question": "how many customers", "sql": "SELECT COUNT(*) FROM customers"}]
    messages = build_prompt("customers in Lyon by order total", SHOP, dialect="sqlite", today=TODAY,
                            training=training, history=history)
    system = messages[0]["content"]
    for needle in ("SQLite", "2026-03-14", "read-only", "```sql block", "CREATE TABLE customers",
                   "references customers(id)", "'Lyon'", "People who buy",
                   "SELECT COUNT(*) FROM customers WHERE city = 'Lyon'"):
        assert needle in system, needle
    assert system.count("Question:") <= 5 and "zebras 5" not in system
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "how many customers" and "SELECT COUNT(*) FROM customers" in messages[2]["content"]
    assert messages[-1] == {"role": "user", "content": "customers in Lyon by order total"}


async def test_broken_sql_is_sent_back_and_the_second_attempt_wins(llm):
    fake, client = llm
    fake.script(Reply("```sql\nSELEC name FROM customers\n```", delay=0.05), sql_reply("SELECT name FROM customers"))
    result = await llm_sql(client, "customer names", SHOP, dialect="sqlite", today=TODAY)
    assert (result.sql, result.attempts) == ("SELECT name FROM customers", 2)
    assert result.duration_s >= 0.05
    second = fake.requests[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": "```sql\nSELEC name FROM customers\n```"}
    assert second[-1]["role"] == "user" and "That query failed: Could not parse the SQL" in second[-1]["content"]
    assert result.messages == second


async def test_validation_errors_from_a_real_database_are_corrected(llm, shop_db):
    fake, client = llm
    fake.script(sql_reply("SELECT nme FROM customers"), sql_reply("SELECT name FROM customers WHERE city = 'Lyon'"))
    result = await llm_sql(client, "customers in Lyon", SHOP, dialect="sqlite", today=TODAY,
                           validate=executes_on(shop_db))
    assert result.attempts == 2 and "Lyon" in result.sql
    assert "no such column: nme" in fake.requests[1]["messages"][-1]["content"]


async def test_writes_are_refused_and_corrected(llm):
    fake, client = llm
    fake.script(sql_reply("DELETE FROM orders"), sql_reply("SELECT COUNT(*) FROM orders"))
    result = await llm_sql(client, "remove the orders", SHOP, dialect="sqlite", today=TODAY)
    assert result.sql == "SELECT COUNT(*) FROM orders"
    assert "Only read-only SELECT queries are allowed" in fake.requests[1]["messages"][-1]["content"]


async def test_three_failures_give_one_clear_invalid(llm):
    fake, client = llm
    fake.script(Reply("I am not sure."), Reply("Maybe ask differently?"), Reply("No idea."))
    with pytest.raises(Invalid) as err:
        await llm_sql(client, "what is the meaning of life", SHOP, dialect="sqlite", today=TODAY)
    assert err.value.detail == ("The model could not produce a valid query after 3 attempts: "
                                "The reply contained no SQL query.")
    assert len(fake.requests) == 3


async def test_a_policy_refusal_is_final_and_not_retried(llm):
    fake, client = llm
    fake.default = lambda body: "```sql\nSELECT * FROM salaries\n```"

    async def validate(sql: str) -> None:
        raise Forbidden("You are not permitted to query the table 'salaries'.")

    with pytest.raises(Forbidden, match="salaries"):
        await llm_sql(client, "show salaries", SHOP, dialect="sqlite", today=TODAY, validate=validate)
    assert len(fake.requests) == 1  # no rewording makes a hidden table visible


async def test_a_database_that_is_down_is_not_blamed_on_the_model(llm):
    fake, client = llm
    fake.default = lambda body: "```sql\nSELECT 1\n```"

    async def validate(sql: str) -> None:
        raise Upstream("The database did not answer.")

    with pytest.raises(Upstream, match="database"):
        await llm_sql(client, "anything", SHOP, dialect="sqlite", today=TODAY, validate=validate)
    assert len(fake.requests) == 1


async def test_a_dead_model_is_upstream(llm):
    fake, client = llm
    fake.default = lambda body: Status(500)
    with pytest.raises(Upstream, match="did not answer after 3 attempts"):
        await llm_sql(client, "anything", SHOP, dialect="sqlite", today=TODAY)


async def test_follow_up_carries_the_earlier_turn(llm):
    fake, client = llm
    fake.script(sql_reply("SELECT city, COUNT(*) FROM customers GROUP BY city"))
    history = [{"question": "how many customers", "sql": "SELECT COUNT(*) FROM customers"}]
    await llm_sql(client, "split that by city", SHOP, dialect="sqlite", today=TODAY, history=history)
    contents = [m["content"] for m in fake.requests[0]["messages"]]
    assert "how many customers" in contents and any("SELECT COUNT(*) FROM customers" in c for c in contents)


async def test_answer_is_written_from_a_capped_result(llm):
    fake, client = llm
    fake.script(Reply("  Lyon has the most customers.  "))
    rows = [[f"city {i}", i] for i in range(500)]
    text = await llm_answer(client, "customers per city", "SELECT city, COUNT(*) AS n FROM customers GROUP BY city",
                            ["city", "n"], rows, total_rows=500)
    assert text == "Lyon has the most customers."
    prompt = fake.requests[0]["messages"][-1]["content"]
    assert "city 19 | 19" in prompt and "city 20 |" not in prompt and "showing 20 of 500 rows" in prompt
    assert fake.requests[0]["max_tokens"] == 300


def test_examples_are_ranked_by_question_and_tables_and_the_closest_comes_last():
    training = [("total of all orders", "SELECT SUM(total) FROM orders"),
                ("how many customers live in Berlin", "SELECT COUNT(*) FROM customers WHERE city = 'Berlin'"),
                ("how many customers are there", "SELECT COUNT(*) FROM customers"),
                ("zebra migration patterns", "SELECT 1")]
    system = build_prompt("how many customers live in Lyon", SHOP, dialect="sqlite", today=TODAY,
                          training=training)[0]["content"]
    shown = system[system.index("Solved examples"):]
    assert "zebra" not in shown and "SUM(total)" not in shown
    assert shown.index("how many customers are there") < shown.index("how many customers live in Berlin")


def test_examples_naming_a_hidden_table_are_never_shown_and_none_are_invented():
    training = [("how many orders per customer", "SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id"),
                ("how many customers", "SELECT COUNT(*) FROM customers")]
    visible = Schema("sqlite", [SHOP.tables[0]])
    system = build_prompt("how many orders per customer", visible, dialect="sqlite", today=TODAY,
                          training=training, allowed={"customers"})[0]["content"]
    assert "FROM orders" not in system and "SELECT COUNT(*) FROM customers" in system
    bare = build_prompt("how many orders per customer", SHOP, dialect="sqlite", today=TODAY)[0]["content"]
    assert "Solved examples" not in bare and "Question:" not in bare


def test_value_hints_sit_under_their_table_and_column_in_stored_form():
    hint = ValueHint("customers", "city", "Lyon ", "exact", 1.0)
    system = build_prompt("customers in lyon", SHOP, dialect="sqlite", today=TODAY, hints=[hint])[0]["content"]
    assert "- customers.city: 'Lyon '" in system


def test_a_10000_table_prompt_stays_in_budget_and_names_what_it_cut():
    from bench.linking import synthetic
    from tabletalk.core.nlq.linking import link

    schema = synthetic()
    question = "total invoice amount per vendor last month"
    training = [(f"{question} {i}", "SELECT SUM(amount) FROM vendor_invoices -- " + "x" * 1_500) for i in range(5)]
    history = [{"question": f"earlier question {i} " + "y" * 2_000, "sql": "SELECT 1"} for i in range(6)]
    prompt = compose_prompt(question, link(question, schema, max_tables=60), dialect="postgres", today=TODAY,
                            training=training, history=history)
    assert prompt.tokens <= 8_000
    assert sum(len(m["content"]) for m in prompt.messages) / 4 <= 8_000
    assert any("tables omitted" in c for c in prompt.cut) and any("earlier turns" in c for c in prompt.cut)
    assert any("similar examples" in c for c in prompt.cut)


def test_a_prompt_is_remembered_only_for_exactly_the_same_inputs():
    hint = ValueHint("customers", "city", "Lyon", "exact", 1.0)
    first = compose_prompt("customers in Lyon", SHOP, dialect="sqlite", today=TODAY, hints=[hint])
    again = compose_prompt("customers in Lyon", SHOP, dialect="sqlite", today=TODAY, hints=[hint])
    assert again.messages == first.messages and again.messages is not first.messages
    assert again.messages[0]["content"] is first.messages[0]["content"]  # not composed a second time
    assert again.tokens == first.tokens and again.cut == first.cut
    for other in (compose_prompt("customers in Lyon", SHOP, dialect="sqlite", today=date(2026, 3, 15), hints=[hint]),
                  compose_prompt("customers in Lyon", SHOP, dialect="sqlite", today=TODAY),
                  compose_prompt("customers in Lyon", SHOP, dialect="sqlite", today=TODAY, hints=[hint],
                                 training=[("customers in Paris", "SELECT * FROM customers WHERE city = 'Paris'")])):
        assert other.messages[0]["content"] != first.messages[0]["content"]
    history = [{"question": "customers in Berlin", "sql": "SELECT * FROM customers WHERE city = 'Berlin'"}]
    follow_up = compose_prompt("customers in Lyon", SHOP, dialect="sqlite", today=TODAY, hints=[hint], history=history)
    assert len(follow_up.messages) == 4  # earlier turns are never served from the memo
