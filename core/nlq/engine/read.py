"""Stage 3: composing linked items into a logical form.

The question is read left to right. Before its subject (the first table named without an operator in front
of it) come the projections; after it, conditions, grouping, ordering and superlatives. Every item must be
used by some part of the reading, otherwise the reader refuses and names what it could not place.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tabletalk.core.metadata.schema import Table
from tabletalk.core.nlq.engine.link import Col, Item, SchemaIndex
from tabletalk.core.nlq.engine.logical_form import Anti, Cond, Proj, Query
from tabletalk.core.nlq.engine.tokens import name_words
from tabletalk.core.nlq.engine.vocabulary import COMPARATIVE_COLUMNS

MARKERS = {"count": "count", "most": "most", "group": "group", "neg": "anti", "percent": "count"}
CLAUSE_WORDS = {"who", "that", "whose", "with", "where", "which", "from", "in", "than", "by", "whom", "for", "of"}


class Refusal(Exception):
    """The reading could not account for the question; the message says what was left over."""


@dataclass
class Reading:
    query: Query
    confidence: float
    notes: list[str] = field(default_factory=list)


def _numeric(c: Col) -> bool:
    return c.column.kind == "number" or any(k in c.column.data_type.upper() for k in ("INT", "REAL", "DEC", "NUM"))


class Reader:
    def __init__(self, items: list[Item], ix: SchemaIndex):
        self.items, self.ix = items, ix
        self.used: set[int] = set()
        self.penalty = 0.0
        self.notes: list[str] = []
        self.forced: dict[int, str] = {}

    # --- helpers -----------------------------------------------------------------------------
    def sig(self, k: int, step: int = 1) -> int | None:
        """Index of the next (or previous) item that is not a function word."""
        k += step
        while 0 <= k < len(self.items):
            if self.items[k].kind not in ("function", "relation"):
                return k
            k += step
        return None

    def role(self, it: Item) -> str:
        if it.kind != "name":
            return it.kind
        if it.start in self.forced:
            return self.forced[it.start]
        best_t = max((s for _, s in it.tables), default=0.0)
        best_c = max((s for _, s in it.columns), default=0.0)
        if it.values and max(best_t, best_c) < 0.9:
            return "value"
        if it.tables and best_t >= best_c:
            return "table"
        refs = {c.column.references[0].lower() for c, s in it.columns if s == best_c and c.column.references}
        if it.tables and refs and refs <= {t.name.lower() for t, _ in it.tables}:
            return "table"  # "makers" as the referencing column model_list.maker means the makers table
        return "column" if it.columns else "value"

    def table_of(self, it: Item) -> Table:
        return max(it.tables, key=lambda x: x[1])[0]

    def column_of(self, it: Item, prefer: list[Table]) -> Col:
        """The column an item names, preferring the subject and the tables already in the reading."""
        cands = it.columns or []
        if it.text in ("name", "names") and prefer and not any(c.table is prefer[0] for c, _ in cands):
            label = self.label(prefer[0])
            if label is not None:
                return label
        if not cands and it.tables:  # a table named where a column is wanted: its label column
            t = self.table_of(it)
            label = self.label(t)
            if label is None:
                raise Refusal(f"'{it.text}' names the table {t.name}, which has no name column")
            return label
        for tier in (prefer[:1], prefer, None):
            pool = [(c, s) for c, s in cands if tier is None or c.table in tier]
            if tier is None:
                pool = [(c, s) for c, s in pool if any(self.ix.join_path(p.name, c.table.name) is not None for p in prefer[:1])] or pool
            if pool:
                pool.sort(key=lambda x: -x[1])
                if len(pool) > 1 and pool[1][1] == pool[0][1] and pool[1][0].key != pool[0][0].key \
                        and not self.same_values(pool[0][0], pool[1][0], prefer):
                    raise Refusal(f"'{it.text}' could be {pool[0][0]} or {pool[1][0]}")
                if pool[0][1] < 0.9:
                    self.penalty += 0.05
                    self.notes.append(f"weak:{it.text}")
                return pool[0][0]
        raise Refusal(f"no column for '{it.text}'")

    def same_values(self, a: Col, b: Col, prefer: list[Table]) -> bool:
        """Two columns joined by a foreign key hold the same values; keep the one in play (or the referenced one)."""
        linked = any((e[1], e[3]) in ((a.column.name, b.column.name), (b.column.name, a.column.name))
                     for e in self.ix.links(a.table.name, b.table.name))
        return linked

    def label(self, t: Table) -> Col | None:
        words = set(name_words(t.name))
        for c in t.columns:
            if set(name_words(c.name)) == words and c.kind == "text":
                return Col(t, c)
        named = [c for c in t.columns if c.kind == "text" and "name" in name_words(c.name)]
        if len(named) == 1:
            return Col(t, named[0])
        titles = [c for c in t.columns if c.kind == "text" and "title" in name_words(c.name)]
        if len(titles) == 1:
            return Col(t, titles[0])
        if named or titles:
            return None
        for want in ("label", "code", "email", "city", "description"):
            hit = next((c for c in t.columns if c.name.lower() == want), None)
            if hit is not None:
                return Col(t, hit)
        return None

    def pk(self, t: Table) -> Col:
        key = t.primary_key or t.columns[0]
        return Col(t, key)

    # --- reading -----------------------------------------------------------------------------
    def subject(self) -> int | None:
        """The table the question is about: the first named without an operator in front; else the table
        grouped by ("... for every concert"); else the table counted ("how many singers")."""
        tables = [k for k, it in enumerate(self.items) if self.role(it) == "table"]
        if len(tables) > 1 and self.marker(tables[0]) is None:
            a, b = tables[0], tables[1]
            between = [x.text for x in self.items[a + 1:b]]
            tb = self.table_of(self.items[b])
            if between in (["of"], ["of", "the"], ["of", "a"], ["for", "the"], ["for"]) and self.items[a].columns and \
                    self.marker(b) is None and tb is not self.table_of(self.items[a]):
                self.forced[self.items[a].start] = "column"  # "the model of the car": a column of cars
                tables = tables[1:]
        kinds = {it.kind for it in self.items}
        marks = {k: self.marker(k) for k in tables}
        if tables and marks[tables[0]] == "count" and "group" not in kinds and "most" not in kinds:
            return tables[0]
        if tables and marks[tables[0]] == "group" and not kinds & {"count", "agg", "most"}:
            return tables[0]  # "the name of each teacher": every row, not a grouping
        for want in (None, "group", "count"):
            for k in tables:
                if marks[k] == want:
                    return k
        return None

    def marker(self, k: int) -> str | None:
        p = self.sig(k, -1)
        while p is not None and self.items[p].kind == "distinct":
            p = self.sig(p, -1)
        if p is None:
            return None
        kind = self.items[p].kind
        if kind == "number":
            q = self.sig(p, -1)
            return "having" if q is not None and self.items[q].kind == "cmp" else None
        return MARKERS.get(kind)


def read(items: list[Item], ix: SchemaIndex) -> Reading:
    unplaced = [it.text for it in items if it.kind == "unplaced"]
    if unplaced:
        raise Refusal("I could not place: " + ", ".join(dict.fromkeys(unplaced)))
    r = Reader(items, ix)
    from tabletalk.core.nlq.engine.compose import compose

    q = compose(r)
    return Reading(q, confidence(r.notes), r.notes)


# Precision measured on the Spider tuning split by the number of joined tables: 0 → 97 %, 1 → 78 %, 2+ → 14 %.
JOIN_CONFIDENCE = (0.95, 0.8, 0.3)
REFUSE_BELOW = 0.5


def confidence(notes: list[str]) -> float:
    """How likely the reading is right, from what it had to assume (calibrated on the tuning split)."""
    joins = sum(n.startswith("join:") for n in notes)
    weak = sum(n.startswith("weak:") for n in notes)
    return round(JOIN_CONFIDENCE[min(joins, 2)] - 0.02 * weak, 2)


__all__ = ["read", "Reader", "Refusal", "Reading", "CLAUSE_WORDS", "COMPARATIVE_COLUMNS", "Anti", "Cond", "Proj",
           "_numeric"]
