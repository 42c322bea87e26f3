"""The LLM path of NL->SQL: a bounded prompt (dialect, today, linked schema, similar examples,
earlier turns), lenient reading of the reply, and self-correction: a reply without SQL, one that is
not a single read-only query, or one the caller's `validate` finds invalid is sent back with the error.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from rapidfuzz import fuzz, process

from tabletalk.core.errors import Invalid
from tabletalk.core.llm.client import LLMClient
from tabletalk.core.metadata.schema import Schema
from tabletalk.core.nlq.linking import render_schema
from tabletalk.core.nlq.parse import extract_sql
from tabletalk.core.policy.readonly import parse_read_only

DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL/MariaDB", "duckdb": "DuckDB"}
MAX_EXAMPLES = 5
EXAMPLE_MIN_SIMILARITY = 20  # rapidfuzz token_set_ratio; below it an example teaches nothing
MAX_HISTORY_TURNS = 6
MAX_SQL_CHARS = 2_000  # per example or earlier turn
ANSWER_ROWS = 20
ANSWER_CELL_CHARS = 60
ANSWER_TABLE_CHARS = 4_000


@dataclass
class LLMSqlResult:
    sql: str
    duration_s: float  # summed time of the model calls
    attempts: int
    messages: list[dict] = field(default_factory=list)  # the prompt of the successful call


def _system_prompt(linked: Schema, dialect: str, today: date) -> str:
    name = DIALECT_NAMES.get(dialect, dialect)
    return (
        f"You translate questions about a {name} database into SQL.\n"
        f"Today is {today.strftime('%A')} {today.isoformat()}; resolve relative dates (\"last month\", "
        "\"this year\") from it.\n"
        "Rules:\n"
        f"- Write exactly one read-only query (SELECT, or WITH ... SELECT) in the {name} dialect. Never write "
        "INSERT, UPDATE, DELETE, DDL or anything else that changes data.\n"
        "- Use only the tables and columns below, spelled and quoted as shown; sample values show how data "
        "is written.\n"
        "- Give result columns short readable aliases.\n"
        "- Answer with one ```sql block and nothing else.\n\n"
        f"Schema:\n{render_schema(linked, dialect)}")


def _examples(question: str, training: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    pairs = [(q, s) for q, s in training if q and s]
    if not pairs:
        return []
    hits = process.extract(question, [q for q, _ in pairs], scorer=fuzz.token_set_ratio, limit=MAX_EXAMPLES,
                           score_cutoff=EXAMPLE_MIN_SIMILARITY)
    return [pairs[i] for _, _, i in hits]


def _fenced(sql: str) -> str:
    return f"```sql\n{sql.strip()[:MAX_SQL_CHARS]}\n```"


def build_prompt(question: str, linked: Schema, *, dialect: str, today: date,
                 training: Iterable[tuple[str, str]] = (), history: Sequence[dict] = ()) -> list[dict]:
    """Chat messages asking for the SQL of `question`: system rules and schema, up to five similar
    solved examples, then earlier turns of the conversation (question, then its SQL) and the question."""
    system = _system_prompt(linked, dialect, today)
    examples = _examples(question, training)
    if examples:
        system += "\n\nSolved examples on this database:\n" + "\n\n".join(
            f"Question: {q}\n{_fenced(s)}" for q, s in examples)
    messages = [{"role": "system", "content": system}]
    for turn in list(history)[-MAX_HISTORY_TURNS:]:
        if turn.get("question"):
            messages.append({"role": "user", "content": turn["question"]})
            if turn.get("sql"):
                messages.append({"role": "assistant", "content": _fenced(turn["sql"])})
    messages.append({"role": "user", "content": question})
    return messages


async def llm_sql(client: LLMClient, question: str, schema: Schema, *, dialect: str, today: date,
                  training: Iterable[tuple[str, str]] = (), history: Sequence[dict] = (),
                  validate: Callable[[str], Awaitable[None]] | None = None, attempts: int = 3,
                  model: str | None = None) -> LLMSqlResult:
    """Ask the model for SQL, feeding each failure back, up to `attempts` calls.

    `validate(sql)` is the caller's check (policies, a trial execution); an `Invalid` it raises is
    shown to the model. Anything else ends the loop as it is: a `Forbidden` (no rewording makes a
    table visible) or an `Upstream` (a database that is down is not the model's mistake).
    """
    messages = build_prompt(question, schema, dialect=dialect, today=today, training=training, history=history)
    spent = 0.0
    last: Invalid | None = None
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
        except Invalid as exc:
            last = exc
        messages = messages + [
            {"role": "assistant", "content": completion.text},
            {"role": "user", "content": f"That query failed: {last.detail}\n"
                                        "Reply with a corrected query in one ```sql block."}]
    raise Invalid(f"The model could not produce a valid query after {attempts} attempts: "
                  f"{last.detail if last else 'no reply'}")


def _result_table(columns: Sequence[str], rows: Sequence[Sequence], total_rows: int | None) -> str:
    def cell(v) -> str:
        text = "NULL" if v is None else " ".join(str(v).split())
        return text if len(text) <= ANSWER_CELL_CHARS else text[: ANSWER_CELL_CHARS - 1] + "…"

    lines = [" | ".join(map(str, columns))]
    for row in rows[:ANSWER_ROWS]:
        line = " | ".join(cell(v) for v in row)
        if sum(len(x) + 1 for x in lines) + len(line) > ANSWER_TABLE_CHARS:
            break
        lines.append(line)
    shown = len(lines) - 1
    total = total_rows if total_rows is not None else len(rows)
    if shown < total:
        lines.append(f"(showing {shown} of {total} rows)")
    elif not rows:
        lines.append("(no rows)")
    return "\n".join(lines)


async def llm_answer(client: LLMClient, question: str, sql: str, result_columns: Sequence[str],
                     result_rows: Sequence[Sequence], *, total_rows: int | None = None,
                     model: str | None = None) -> str:
    """A short natural-language answer to `question` from its query result (capped rows and cells)."""
    messages = [
        {"role": "system", "content": "Answer the user's question in one to three short sentences, using only the "
                                      "query result given. Answer in the language of the question. Do not mention "
                                      "SQL or the query. If the result has no rows, say that nothing matched."},
        {"role": "user", "content": f"Question: {question}\n\nQuery:\n{sql[:MAX_SQL_CHARS]}\n\n"
                                    f"Result:\n{_result_table(result_columns, result_rows, total_rows)}"}]
    completion = await client.complete(messages, model=model, max_tokens=300)
    return completion.text.strip()
