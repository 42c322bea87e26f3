"""The LLM path of NL->SQL: a bounded prompt (linked schema, examples, history, dialect, today),
lenient reply parsing, and self-correction: a reply that does not parse, is not read-only, or fails
validation is sent back with the error, up to three attempts."""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

from rapidfuzz import fuzz

from tabletalk.core.errors import Invalid, TableTalkError
from tabletalk.core.llm.client import LLMClient
from tabletalk.core.metadata.schema import Schema
from tabletalk.core.nlq.linking import render_schema
from tabletalk.core.nlq.parse import extract_sql
from tabletalk.core.policy.readonly import parse_read_only

DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL/MariaDB", "duckdb": "DuckDB"}


@dataclass
class LLMSqlResult:
    sql: str
    duration_s: float
    attempts: int
    messages: list[dict] = field(default_factory=list)


def build_prompt(question: str, linked: Schema, *, dialect: str, today: date, training=(), history=()) -> list[dict]:
    name = DIALECT_NAMES.get(dialect, dialect)
    system = (f"You translate questions about a {name} database into one read-only SQL query in the {name} dialect. "
              f"Today is {today.isoformat()}. Use only the tables and columns below. Never write INSERT, UPDATE, "
              "DELETE or DDL. Answer with one ```sql block and nothing else.\n\n" + render_schema(linked))
    examples = sorted(training, key=lambda pair: -fuzz.token_set_ratio(question, pair[0]))[:5]
    if examples:
        system += "\n\nExamples of questions and their SQL:\n" + "\n".join(f"Q: {q}\nSQL: {s}" for q, s in examples)
    messages = [{"role": "system", "content": system}]
    for turn in history:
        if turn.get("question"):
            messages.append({"role": "user", "content": turn["question"]})
            if turn.get("sql"):
                messages.append({"role": "assistant", "content": f"```sql\n{turn['sql']}\n```"})
    messages.append({"role": "user", "content": question})
    return messages


async def llm_sql(client: LLMClient, question: str, schema: Schema, *, dialect: str, today: date, training=(),
                  history=(), validate: Callable[[str], Awaitable[None]] | None = None, attempts: int = 3,
                  model: str | None = None) -> LLMSqlResult:
    messages = build_prompt(question, schema, dialect=dialect, today=today, training=training, history=history)
    spent = 0.0
    error = "no reply"
    for attempt in range(1, attempts + 1):
        completion = await client.complete(messages, model=model)
        spent += completion.duration_s
        sql = extract_sql(completion.text)
        try:
            if sql is None:
                raise Invalid("The reply contained no SQL query.")
            parse_read_only(sql, dialect)
            if validate is not None:
                await validate(sql)
            return LLMSqlResult(sql, spent, attempt, messages)
        except TableTalkError as exc:
            error = exc.detail
        messages = messages + [{"role": "assistant", "content": completion.text},
                               {"role": "user", "content": f"That query failed: {error}\nReply with a corrected query in one ```sql block."}]
    raise Invalid(f"The model could not produce a valid query after {attempts} attempts: {error}")


async def llm_answer(client: LLMClient, question: str, sql: str, columns: list[str], rows: list[list],
                     model: str | None = None) -> str:
    table = json.dumps({"columns": columns, "rows": rows[:20]}, default=str)[:6000]
    messages = [{"role": "system", "content": "Answer the user's question in one or two short sentences using only the "
                                              "query result given. Do not mention SQL."},
                {"role": "user", "content": f"Question: {question}\nResult: {table}"}]
    completion = await client.complete(messages, model=model, max_tokens=200)
    return completion.text.strip()
