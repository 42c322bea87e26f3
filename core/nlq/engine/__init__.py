"""The compositional reader of the built-in engine: tokens → linked items → logical form → SQL.

`read_question` returns a `Reading` (query, SQL, interpretation, confidence) or raises `Refusal`
naming what it could not place. Each stage is a module: tokens, link, read/compose, logical_form, compile.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tabletalk.core.metadata.schema import Schema
from tabletalk.core.nlq.engine.compile import CannotJoin, render
from tabletalk.core.nlq.engine.followup import is_follow_up, refine
from tabletalk.core.nlq.engine.link import index_for, tag
from tabletalk.core.nlq.engine.logical_form import Query, interpret
from tabletalk.core.nlq.engine.read import REFUSE_BELOW, Refusal, read
from tabletalk.core.nlq.engine.tokens import tokenize
from tabletalk.core.nlq.engine.when import attach, take_dates


@dataclass
class Parsed:
    query: Query
    sql: str
    interpretation: str
    confidence: float

    @property
    def chart_hint(self) -> str | None:
        """A line over time buckets, bars over groups with a measure."""
        if self.query.bucket:
            return "line"
        return "bar" if self.query.group and any(p.agg for p in self.query.select) else None


def follow_up(previous_question: str, question: str, schema: Schema, today: date | None = None) -> Parsed:
    """The previous question's reading, refined by a chat follow-up ("only completed ones", "top 3 instead")."""
    today = today or date.today()
    base = read_question(previous_question, schema, today)
    q = refine(base.query, question, schema, today)
    ix = index_for(schema)
    try:
        sql = render(q, ix, schema.dialect)
    except CannotJoin as exc:
        raise Refusal(f"{exc} is not linked to the other tables") from None
    return Parsed(q, sql, interpret(q), base.confidence)


def read_question(question: str, schema: Schema, today: date | None = None) -> Parsed:
    ix = index_for(schema)
    text, window, bucket = take_dates(question, today or date.today())
    tokens = tokenize(text)
    items = tag(tokens, ix)
    reading = read(items, ix)
    if reading.confidence < REFUSE_BELOW:
        joined = ", ".join(n[5:] for n in reading.notes if n.startswith("join:"))
        raise Refusal(f"a reading across {joined} is too uncertain to answer")
    if window is not None or bucket is not None:
        attach(reading.query, ix, window, bucket, {t.text for t in tokens})
    try:
        sql = render(reading.query, ix, schema.dialect)
    except CannotJoin as exc:
        raise Refusal(f"{exc} is not linked to the other tables") from None
    return Parsed(reading.query, sql, interpret(reading.query), reading.confidence)


__all__ = ["read_question", "follow_up", "is_follow_up", "Refusal", "Parsed"]
