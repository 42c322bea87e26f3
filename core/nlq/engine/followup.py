"""Follow-ups in a chat refine the previous question's logical form: new filters ("only completed ones",
"same but for Germany only"), another grouping ("and per month?", "break it down by city") or another
ranking ("top 3 instead"). Every word of the follow-up must be placed, as for a question."""
from __future__ import annotations

import re
from datetime import date

from tabletalk.core.metadata.schema import Schema
from tabletalk.core.nlq.engine.link import Col, index_for, tag
from tabletalk.core.nlq.engine.logical_form import Cond, Proj, Query
from tabletalk.core.nlq.engine.read import Reader, Refusal
from tabletalk.core.nlq.engine.tokens import tokenize
from tabletalk.core.nlq.engine.when import attach, take_dates

FOLLOW_UP = re.compile(r"^\s*(and|what about|how about|now|only|just|but|same|split|break|also|then|ok|okay|instead|"
                       r"top|bottom|by|per)\b|\b(instead|only|ones|same|break it down|split it)\b", re.I)
FILLER = {"only", "just", "same", "but", "instead", "ones", "one", "what", "about", "how", "and", "now", "break", "it",
          "down", "split", "up", "that", "those", "them", "this", "show", "me", "also", "then", "ok", "okay", "please",
          "for", "by", "in", "with", "the", "a", "an", "of", "to", "from", "again", "do", "same", "thing"}


def is_follow_up(question: str) -> bool:
    return bool(FOLLOW_UP.search(question))


def refine(base: Query, question: str, schema: Schema, today: date) -> Query:
    """`base` changed as the follow-up asks; raises Refusal when a word of it cannot be placed."""
    ix = index_for(schema)
    text, window, bucket = take_dates(question, today)
    items = tag(tokenize(text), ix)
    q = base.copy()
    r = Reader(items, ix)
    negate, changed = False, bool(window or bucket)
    k = 0
    while k < len(items):
        it = items[k]
        role = r.role(it)
        if it.kind in ("function", "relation", "and", "group", "orderby") or it.text in FILLER:
            k += 1
            continue
        if it.kind == "neg" or it.kind == "cmp" and it.payload == "!=":
            negate = True
        elif role == "value" or it.kind == "literal" and it.values:
            hit = _value(it, q)
            q.where = [c for c in q.where if c.col.key != hit[0].key]
            q.where.append(Cond(hit[0], "!=" if negate else "=", hit[1]))
            _need(ix, q, hit[0].table)
            negate, changed = False, True
        elif role in ("column", "table"):
            _regroup(r, ix, q, it)
            changed = True
        elif it.kind == "limit" and k + 1 < len(items) and items[k + 1].kind == "number":
            if not q.order:
                raise Refusal("top what: the previous answer was not ranked")
            q.limit = int(items[k + 1].payload)
            direction = "asc" if it.text == "bottom" else q.order[0][1]
            q.order[0] = (q.order[0][0], direction)
            changed = True
            k += 1
        elif it.kind == "number" and q.order and q.limit:
            q.limit, changed = int(it.payload), True  # "only 3"
        else:
            raise Refusal(f"I could not place '{it.text}' in a follow-up")
        k += 1
    if not changed:
        raise Refusal("the follow-up changes nothing I can read")
    if window is not None:
        q.where = [c for c in q.where if not (c.col.column.kind == "date" and isinstance(c.value, str))]
    if window is not None or bucket is not None:
        attach(q, ix, window, bucket, {t.text for t in tokenize(text)})
    return q


def _value(it, q: Query) -> tuple[Col, str]:
    tables = [q.main, *q.tables]
    hits = sorted(it.values, key=lambda h: (h[0].table not in tables, h[0].table is not q.main))
    return hits[0]


def _need(ix, q: Query, t) -> None:
    if t is not q.main and t not in q.tables:
        if ix.join_path(q.main.name, t.name) is None:
            raise Refusal(f"{t.name} is not linked to {q.main.name}")
        q.tables.append(t)


def _regroup(r: Reader, ix, q: Query, it) -> None:
    """"break it down by city": one more grouping, shown first."""
    if not any(p.agg for p in q.select):
        raise Refusal("the previous answer has nothing to break down")
    if r.role(it) == "table":
        t = r.table_of(it)
        label = r.label(t)
        if label is None:
            raise Refusal(f"{t.name} has no name to group by")
        group, shown = r.pk(t), label
    else:
        c = r.column_of(it, [q.main, *q.tables])
        group = shown = c
    _need(ix, q, group.table)
    if group.key not in {g.key for g in q.group}:
        q.group.append(group)
    if not any(p.agg is None and p.col is not None and p.col.key == shown.key for p in q.select):
        q.select.insert(0, Proj(col=shown))
    q.select = [p for p in q.select if p.agg != "*"]
