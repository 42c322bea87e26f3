""""generate 20 sample customers with name, city and signup date" in a chat: create a table from the
sentence, fill it (LLM or offline faker), and answer with a preview."""
from __future__ import annotations

import re
import secrets

from tabletalk.bot.messages import Reply
from tabletalk.core.tables.schema import TableSpec

GENERATE_RE = re.compile(r"^(?:please\s+)?(?:generate|create|make)\s+(\d{1,5})\s+(?:sample|fake|example|test|random|synthetic)?\s*"
                         r"([a-z][a-z _-]*?)\s+(?:with|having|including)\s+(.+?)[.!]?$", re.I)
PREVIEW_ROWS = 10
MAX_ROWS = 1000


def _column(phrase: str) -> dict:
    name = re.sub(r"[^a-z0-9]+", "_", phrase.strip().lower()).strip("_")
    kind = "string"
    if re.search(r"date|day|birthday|_at$", name):
        kind = "date"
    elif re.search(r"age|count|quantity|number|year", name):
        kind = "integer"
    elif re.search(r"price|amount|salary|cost|revenue|total|score", name):
        kind = "number"
    elif re.search(r"^is_|active|verified", name):
        kind = "boolean"
    return {"name": name, "type": kind, "description": phrase.strip(), "fill_mode": "ai"}


def parse(text: str) -> tuple[int, str, list[dict]] | None:
    m = GENERATE_RE.match(text.strip())
    if not m:
        return None
    parts = [p for p in re.split(r",\s*|\s+and\s+", m.group(3)) if p.strip()]
    columns = [_column(p) for p in parts]
    if not columns or any(not c["name"] for c in columns):
        return None
    return int(m.group(1)), m.group(2).strip().lower(), columns


NOT_ALLOWED = ("Creating tables from a chat needs an asker or admin API key; "
               "chat platform users and visitor keys can only ask questions.")


async def generate_table(tables, text: str, *, may_create: bool) -> Reply | None:
    """The reply for a generation request, or None when the text is not one. Only callers whose
    scope may create tables over REST (asker and admin keys) may do it from a chat."""
    parsed = parse(text)
    if parsed is None:
        return None
    if not may_create:
        return Reply(text=NOT_ALLOWED, error="not_permitted")
    count, entity, columns = parsed
    if count > MAX_ROWS:
        return Reply(text=f"I can generate up to {MAX_ROWS} rows in a chat; use the API for more.", error="too_many_rows")
    name = f"{re.sub(r'[^a-z0-9]+', '_', entity).strip('_')}_{secrets.token_hex(3)}"
    table = await tables.create(TableSpec(name=name, description=f"Sample {entity}", columns=columns))
    rows = [row async for batch in tables.generate(table.id, count=count, batch=min(count, 20)) for row in batch]
    names = [c["name"] for c in columns]
    return Reply(text=f"Created table {name} with {len(rows)} {entity}. Here are the first {min(len(rows), PREVIEW_ROWS)}:",
                 dataframe={"columns": names, "data": [[r.get(n) for n in names] for r in rows[:PREVIEW_ROWS]],
                            "truncated": len(rows) > PREVIEW_ROWS})
