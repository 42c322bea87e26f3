"""The LLM path of NL->SQL: a prompt within a token budget (dialect, today, linked schema, the stored
values the question names, similar solved examples, earlier turns), lenient reading of the reply, and
self-correction: a reply without SQL, one that is not a single read-only query, or one the caller's
`validate` finds invalid is sent back with the error.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from tabletalk.core.cache import keep
from tabletalk.core.errors import Invalid
from tabletalk.core.llm.client import LLMClient
from tabletalk.core.metadata.schema import Schema
from tabletalk.core.nlq.examples import choose_examples, question_tables
from tabletalk.core.nlq.linking import render_schema
from tabletalk.core.nlq.parse import extract_sql
from tabletalk.core.nlq.value_hints import ValueHint, render_hints
from tabletalk.core.policy.readonly import parse_read_only

DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL/MariaDB", "duckdb": "DuckDB"}
MAX_HISTORY_TURNS = 6
MAX_SQL_CHARS = 2_000  # per example or earlier turn
ANSWER_ROWS = 20
ANSWER_CELL_CHARS = 60
ANSWER_TABLE_CHARS = 4_000
# Prompt budget in tokens (~ characters / 4): the whole SQL prompt, and the most each part may take
# before the schema gets the rest. Keeps a 10,000-table schema under ~8k tokens.
PROMPT_TOKENS = 7_000
HINT_TOKENS = 500
EXAMPLE_TOKENS = 1_200
HISTORY_TOKENS = 1_200


@dataclass
class LLMSqlResult:
    sql: str
    duration_s: float  # summed time of the model calls
    attempts: int
    messages: list[dict] = field(default_factory=list)  # the prompt of the successful call
    prompt_tokens: int = 0  # of the first prompt
    cut: list[str] = field(default_factory=list)  # what the budget left out of it


@dataclass
class Prompt:
    messages: list[dict]
    tokens: int
    cut: list[str]


def tokens(text: str) -> int:
    return (len(text) + 3) // 4


@lru_cache(maxsize=64)
def _rules(dialect: str, today: date) -> str:
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
        "- Answer with one ```sql block and nothing else.\n\n")


def _fenced(sql: str) -> str:
    return f"```sql\n{sql.strip()[:MAX_SQL_CHARS]}\n```"


def _hint_block(hints: Sequence[ValueHint], dialect: str, budget: int, cut: list[str]) -> str:
    keep: set[int] = set()
    for i in sorted(range(len(hints)), key=lambda i: (-hints[i].score, i)):  # the best matches first
        if tokens(render_hints([h for j, h in enumerate(hints) if j in keep or j == i], dialect)) <= budget:
            keep.add(i)
    if len(keep) < len(hints):
        cut.append(f"{len(hints) - len(keep)} of {len(hints)} value hints")
    if not keep:
        return ""
    return ("\n\nStored values the question names (write them exactly as shown, case and spaces included):\n"
            + render_hints([h for i, h in enumerate(hints) if i in keep], dialect))


def _history(history: Sequence[dict], cut: list[str]) -> list[dict]:
    turns = [t for t in list(history)[-MAX_HISTORY_TURNS:] if t.get("question")]
    out: list[dict] = []
    used = kept = 0
    for turn in reversed(turns):  # the latest turns matter most
        pair = [{"role": "user", "content": turn["question"]}]
        if turn.get("sql"):
            pair.append({"role": "assistant", "content": _fenced(turn["sql"])})
        size = sum(tokens(m["content"]) for m in pair)
        if used + size > HISTORY_TOKENS:
            cut.append(f"{len(turns) - kept} earlier turns")
            break
        out = pair + out
        used += size
        kept += 1
    return out


def compose_prompt(question: str, linked: Schema, *, dialect: str, today: date,
                   training: Iterable[tuple[str, str]] = (), history: Sequence[dict] = (),
                   hints: Sequence[ValueHint] = (), allowed: set[str] | None = None,
                   budget: int = PROMPT_TOKENS) -> Prompt:
    """The SQL prompt for `question`: rules, the linked schema, the stored values the question names,
    similar solved examples, earlier turns and the question, within `budget` tokens. The schema gets
    what the other parts leave; whatever is cut is named in `Prompt.cut`.

    Without earlier turns the prompt is remembered per question, linked schema object, training
    pairs object, hints, allowed tables and day (all it is made of; link() hands back the same
    linked object for the same question and schema)."""
    key = None
    if not history:
        key = (question, id(linked), dialect, today, id(training), tuple(hints),
               frozenset(allowed) if allowed is not None else None, budget)
        hit = _PROMPTS.get(key)
        if hit is not None and hit[0] is linked and hit[1] is training:
            _, _, system, size, cut = hit
            return Prompt([{"role": "system", "content": system}, {"role": "user", "content": question}], size, list(cut))
    prompt = _compose(question, linked, dialect=dialect, today=today, training=training, history=history,
                      hints=hints, allowed=allowed, budget=budget)
    if key is not None:
        keep(_PROMPTS, key, (linked, training, prompt.messages[0]["content"], prompt.tokens, tuple(prompt.cut)),
             PROMPTS_MAX)
    return prompt


_PROMPTS: dict = {}  # see compose_prompt; holds the linked schema and the pairs, so their ids stay theirs
PROMPTS_MAX = 2048


def _compose(question: str, linked: Schema, *, dialect: str, today: date, training: Iterable[tuple[str, str]],
             history: Sequence[dict], hints: Sequence[ValueHint], allowed: set[str] | None, budget: int) -> Prompt:
    cut: list[str] = []
    rules = _rules(dialect, today)
    hint_text = _hint_block(hints, dialect, HINT_TOKENS, cut)
    wanted = question_tables(question, linked) | {h.table.lower() for h in hints}
    examples, dropped = choose_examples(question, training, linked, allowed=allowed, values=[h.value for h in hints],
                                        wanted=wanted, max_chars=EXAMPLE_TOKENS * 4)
    if dropped:
        cut.append(f"{dropped} similar examples")
    example_text = ("\n\nSolved examples on this database:\n" + "\n\n".join(
        f"Question: {q}\n{_fenced(s)}" for q, s in examples)) if examples else ""
    turns = _history(history, cut)
    fixed = tokens(rules) + tokens(hint_text) + tokens(example_text) + tokens(question) + \
        sum(tokens(m["content"]) for m in turns) + 10
    schema_text = render_schema(linked, dialect, max_chars=max(2_000, (budget - fixed) * 4), cut=cut)
    system = rules + f"Schema:\n{schema_text}" + hint_text + example_text
    messages = [{"role": "system", "content": system}, *turns, {"role": "user", "content": question}]
    return Prompt(messages, sum(tokens(m["content"]) for m in messages), cut)


def build_prompt(question: str, linked: Schema, **kwargs) -> list[dict]:
    """Chat messages asking for the SQL of `question` (see `compose_prompt`)."""
    return compose_prompt(question, linked, **kwargs).messages


async def llm_sql(client: LLMClient, question: str, schema: Schema, *, dialect: str, today: date,
                  training: Iterable[tuple[str, str]] = (), history: Sequence[dict] = (),
                  hints: Sequence[ValueHint] = (), allowed: set[str] | None = None,
                  validate: Callable[[str], Awaitable[None]] | None = None, attempts: int = 3,
                  model: str | None = None) -> LLMSqlResult:
    """Ask the model for SQL, feeding each failure back, up to `attempts` calls.

    `validate(sql)` is the caller's check (policies, a trial execution); an `Invalid` it raises is
    shown to the model. Anything else ends the loop as it is: a `Forbidden` (no rewording makes a
    table visible) or an `Upstream` (a database that is down is not the model's mistake).
    """
    prompt = compose_prompt(question, schema, dialect=dialect, today=today, training=training, history=history,
                            hints=hints, allowed=allowed)
    messages = prompt.messages
    spent = 0.0
    last: Invalid | None = None
    for attempt in range(1, attempts + 1):
        completion = await client.complete(messages, model=model)
        spent += completion.duration_s
        sql = extract_sql(completion.text)
        try:
            if sql is None:
                raise Invalid("The reply contained no SQL query.")
            if validate is not None:
                await validate(sql)  # the caller's policy rewrite parses and checks it: once is enough
            else:
                parse_read_only(sql, dialect)
            return LLMSqlResult(sql, spent, attempt, messages, prompt.tokens, prompt.cut)
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
