"""Whether a chat message carries anything a dataset could answer: at least one word linked to
the bot's schemas (a table, column, synonym or indexed value) or a word about amounts or time.
"Tes", "hi", "777" or "listen up" carry none: they get the short help in a DM and no reply in a
group, never a guessed number."""
from __future__ import annotations

import re

from tabletalk.core.errors import TableTalkError
from tabletalk.core.nlq.linking import index_for
from tabletalk.core.runtime import Core

# Words that make a question about data even when no schema word is named ("revenue by month").
DATA_WORDS = {
    "revenue", "sales", "sale", "sold", "sell", "sells", "selling", "spent", "spend", "spending", "money", "turnover",
    "income", "profit", "cost", "costs", "price", "prices", "amount", "amounts", "total", "totals", "sum", "average",
    "avg", "mean", "median", "count", "number", "percent", "percentage", "share", "growth", "trend", "rows", "records",
    "day", "days", "daily", "week", "weeks", "weekly", "month", "months", "monthly", "quarter", "quarters", "quarterly",
    "year", "years", "yearly", "annual", "today", "yesterday", "ytd", "mtd",
}
_WORD = re.compile(r"[^\W_]+")


async def has_data_words(core: Core, datasource_ids: list[str], text: str) -> bool:
    words = {w.lower() for w in _WORD.findall(text)}
    if words & DATA_WORDS:
        return True
    for ds_id in datasource_ids:
        try:
            schema = await core.metadata.schema(ds_id)
        except TableTalkError:  # a datasource that cannot be read: let the pipeline say so
            return True
        _, used = index_for(schema)[0].scores(text)
        if any(len(w) >= 3 for w in used):
            return True
    return False
