"""Stage 1b: relative date windows ("this month", "since March", "last 7 days") and time buckets ("per month"),
taken out of the question before linking and put back into the logical form on the right date column."""
from __future__ import annotations

import re
from datetime import date

from tabletalk.core.nlq.dates import Window, find_bucket, find_window
from tabletalk.core.nlq.engine.link import Col, SchemaIndex
from tabletalk.core.nlq.engine.logical_form import Cond, Proj, Query
from tabletalk.core.nlq.engine.read import Refusal
from tabletalk.core.nlq.engine.tokens import name_words


def take_dates(question: str, today: date) -> tuple[str, Window | None, str | None]:
    """The question without its relative date phrases, the window and the bucket. Absolute years ("in 2014")
    stay in the question: they are compared with year columns like any number."""
    if re.search(r"['\"`“]", question):
        return question, None, None  # quoted literals keep their spelling; dates next to them are rare
    text = question.lower()
    window, rest = find_window(text, today)
    if window is not None and re.search(r"\d{4}", window.label):
        window, rest = None, text
    bucket, rest = find_bucket(rest)
    if window is None and bucket is None:
        return question, None, None
    return rest, window, bucket


def date_column(q: Query, ix: SchemaIndex, words: set[str]) -> Col:
    """The date column a window or bucket applies to: one the question's words point at ("hired" → hire_date),
    else the only date column of the subject (or of a joined table)."""
    measured = [p.col.table for p in q.select if p.agg in ("sum", "avg", "max", "min") and p.col is not None]
    for tables in (measured[:1], [q.main], [q.main, *q.tables]):
        cols = [Col(t, c) for t in tables for c in t.columns if c.kind == "date"]
        named = [c for c in cols if any(w[:4] == cw[:4] and len(cw) > 2 for w in words for cw in name_words(c.column.name)
                                        if cw not in ("date", "at", "on", "time"))]
        if len(named) == 1:
            return named[0]
        if len(cols) == 1:
            return cols[0]
        if len(cols) > 1 and tables is not measured[:1]:
            raise Refusal(f"which date of {q.main.name}: " + " or ".join(c.column.name for c in cols))
    raise Refusal(f"{q.main.name} has no date column")


def attach(q: Query, ix: SchemaIndex, window: Window | None, bucket: str | None, words: set[str]) -> None:
    col = date_column(q, ix, words)
    if col.table is not q.main and col.table not in q.tables:
        q.tables.append(col.table)
    if window is not None:
        if window.start:
            q.where.append(Cond(col, ">=", window.start.isoformat()))
        if window.end:
            q.where.append(Cond(col, "<", window.end.isoformat()))
        q.window_label = window.label
    if bucket is not None:
        q.bucket = (bucket, col)
        grouped = {g.key for g in q.group} | {g.table.name for g in q.group}
        kept = [p for p in q.select if p.agg and p.agg != "*" or p.agg is None and p.col is not None
                and (p.col.key in grouped or p.col.table.name in grouped)]
        for p in q.select:
            if p.agg is None and p.col is not None and p.col.column.kind == "number" and not p.col.column.primary_key \
                    and not p.col.column.references:
                p.agg = "sum"  # "invoice total per month"
                kept.append(p)
        q.select = kept or [Proj(agg="count", of_table=q.main)]
