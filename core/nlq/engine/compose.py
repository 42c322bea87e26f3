"""The left-to-right walk that turns linked items into a `Query` (see read.py for the reading rules)."""
from __future__ import annotations

from tabletalk.core.nlq.engine.link import Col
from tabletalk.core.nlq.engine.logical_form import Anti, Cond, Proj, Query  # noqa: F401
from tabletalk.core.nlq.engine.read import CLAUSE_WORDS, Reader, Refusal
from tabletalk.core.nlq.engine.conditions import Conditions
from tabletalk.core.nlq.engine.ordering import Ordering
from tabletalk.core.nlq.engine.measures import money_measure
from tabletalk.core.nlq.engine.shaping import Shaping

YEAR_WORDS = ("year",)


def compose(r: Reader) -> Query:
    items = r.items
    s_idx = r.subject()
    if s_idx is not None:
        main = r.table_of(items[s_idx])
    elif any(it.kind == "money" for it in items) and not any(r.role(it) == "column" for it in items):
        found = money_measure(r.ix, None)  # "revenue per month": the table the money is in
        if found is None:
            raise Refusal("which column holds the revenue")
        main = found.col.table
    else:
        main = _main_from_columns(r)
    q = Query(main=main)
    w = _Walk(r, q, s_idx)
    w.run()
    w.finish()
    return q


def _main_from_columns(r: Reader):
    votes: dict[str, float] = {}
    tables = {}
    for k, it in enumerate(r.items):
        if r.role(it) in ("column",):
            prev = r.sig(k, -1)
            measured = 0.5 if prev is not None and r.items[prev].kind == "agg" else 0.0  # the measure's table
            for c, s in it.columns:
                votes[c.table.name] = votes.get(c.table.name, 0) + s + measured
                tables[c.table.name] = c.table
        elif r.role(it) == "value":
            for c, _ in it.values[:1]:
                votes[c.table.name] = votes.get(c.table.name, 0) + 0.5
                tables[c.table.name] = c.table
    for it in r.items:
        if it.kind == "relation" and len(it.text) >= 6:  # "invoiced" points at invoices
            for name, t in ((t.name, t) for t in r.ix.schema.tables):
                if name.lower()[:5] == it.text[:5] and name in votes:
                    votes[name] += 0.25
    if not votes:
        raise Refusal("I could not find which table the question is about")
    ranked = sorted(votes.items(), key=lambda x: -x[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        raise Refusal(f"the question could be about {ranked[0][0]} or {ranked[1][0]}")
    return tables[ranked[0][0]]


class _Walk(Conditions, Ordering, Shaping):
    def __init__(self, r: Reader, q: Query, s_idx: int | None):
        self.r, self.q, self.s_idx = r, q, s_idx
        self.items = r.items
        self.aggs: list[str] = []
        self.count = False
        self.distinct = False
        self.last_col: Col | None = None
        self.in_order: str | None = None   # "by" while reading an ORDER BY
        self.order_dir: str | None = None
        self.negate = False
        self.values_or: list[Cond] = []
        self.head = True
        self.grouped_rows = False
        self.pending_or = False
        self.sup_dir_set = False
        self.recent = None        # the table named last, for "in 2014"
        self.in_anti: Anti | None = None
        self.show_count = False
        self.percent = False
        self.both: tuple[Cond, Cond] | None = None
        self.both_tables = None

    # where the tail starts: at the subject, or at the first clause word after a projection
    def is_head(self, k: int) -> bool:
        if self.s_idx is not None:
            return k < self.s_idx
        return self.head

    def prefer(self):
        return [self.q.main, *self.q.tables]

    def need(self, t) -> None:
        if t is not self.q.main and t not in self.q.tables:
            if self.r.ix.join_path(self.q.main.name, t.name) is None:
                raise Refusal(f"{t.name} is not linked to {self.q.main.name}")
            self.q.tables.append(t)

    def run(self) -> None:
        k = 0
        while k < len(self.items):
            k = self.step(k)

    def step(self, k: int) -> int:
        it = self.items[k]
        role = self.r.role(it)
        if it.kind == "function":
            if it.text == "by" and self.by_groups(k):
                return self.on_group(k, it)
            if it.text in ("which", "what") and k > 0 and k + 1 < len(self.items) and k + 1 != self.s_idx \
                    and self.items[k + 1].kind == "name" and not self.q.select:
                target = self.items[k + 1]  # "for the cars with 4 cylinders, which model has ..."
                c = self.r.column_of(target, self.prefer())
                self.need(c.table)
                self.project(c)
                return k + 2
            if self.s_idx is None and it.text in CLAUSE_WORDS and self.q.select:
                self.head = False
            return k + 1
        if it.kind == "relation":
            return k + 1
        handler = getattr(self, "on_" + role, None)
        if handler is None:
            raise Refusal(f"I could not use '{it.text}' here")
        return handler(k, it)

    def by_groups(self, k: int) -> bool:
        """"Fees by doctor", "top 5 members by number of loans": 'by' groups or ranks, unless a verb
        precedes it ("produced by", "sorted by")."""
        if k == 0 or self.items[k - 1].kind == "relation" or self.in_order:
            return False
        if self.q.limit and not self.q.order:
            self.in_order, self.order_dir = "by", "desc"
            return False
        nxt = self.r.sig(k)
        return nxt is not None and self.r.role(self.items[nxt]) in ("table", "column")

    # --- projections and aggregates ------------------------------------------------------------
    def on_agg(self, k, it):
        nxt = self.r.sig(k)
        if self.in_order and nxt is not None and self.r.role(self.items[nxt]) == "column":
            c = self.r.column_of(self.items[nxt], self.prefer())
            self.need(c.table)
            self.q.order.append((Proj(agg=it.payload, col=c), self.order_dir or "asc"))
            self.in_order = None
            return nxt + 1
        if not self.is_head(k) and it.payload in ("max", "min") and nxt is not None:
            target = self.items[nxt]
            if self.r.role(target) == "column":  # "the stadium with the highest capacity"
                c = self.r.column_of(target, self.prefer())
                self.need(c.table)
                self.superlative(Proj(col=c), "desc" if it.payload == "max" else "asc")
                return nxt + 1
        prev = self.r.sig(k, -1)
        if prev is not None and prev == k - 1 and self.q.select and self.q.select[-1].agg is None \
                and self.q.select[-1].col is not None and (nxt is None or self.r.role(self.items[nxt]) != "column"):
            self.q.select[-1].agg = it.payload  # "salary total per office"
            return k + 1
        self.aggs.append(it.payload)
        return k + 1

    def on_money(self, k, it):
        """"revenue per month", "top 5 products by revenue": the subject's money, summed."""
        m = money_measure(self.r.ix, self.q.main)
        if m is None:
            raise Refusal(f"which column holds the {it.text} of {self.q.main.name}")
        self.need(m.col.table)
        if self.aggs and self.aggs != ["sum"]:
            m.agg = self.aggs[0]
        self.aggs = []
        if self.in_order:
            self.q.order.append((m, self.order_dir or "desc"))
            self.in_order = None
        else:
            self.q.select.append(m)
        return k + 1

    def on_percent(self, k, it):
        self.percent = True
        self.count = True
        return k + 1

    def on_count(self, k, it):
        if self.in_order:
            self.order_count(k)
            t_idx = self.r.sig(k)
            return t_idx + 1 if t_idx is not None and self.r.role(self.items[t_idx]) == "table" else k + 1
        self.count = True
        return k + 1

    def on_negcolumn(self, k, it):
        c = self.r.column_of(it, self.prefer())
        self.need(c.table)
        self.q.where.append(Cond(c, "=", False))
        return k + 1

    def on_distinct(self, k, it):
        self.distinct = True
        return k + 1

    def of_table(self, k):
        """"the description of the treatment": the table named right after 'of'."""
        j = k + 1
        if j < len(self.items) and self.items[j].text == "of":
            j += 1
            while j < len(self.items) and self.items[j].text in ("the", "a", "an", "all", "each", "every", "their", "its"):
                j += 1
            if j < len(self.items) and self.r.role(self.items[j]) == "table":
                return self.r.table_of(self.items[j])
        return None

    def on_column(self, k, it):
        if k > 0 and self.r.role(self.items[k - 1]) == "column" and self.items[k - 1].kind == "name":
            if {c.key for c, _ in it.columns} & {c.key for c, _ in self.items[k - 1].columns}:
                return k + 1  # "total invoiced amount": two words for the same column
            raise Refusal(f"'{self.items[k - 1].text} {it.text}' names two columns side by side")
        owner = self.of_table(k)
        if owner is None and not self.is_head(k) and self.recent is not None and self.recent is not self.q.main:
            owner = self.recent  # "the student who has a cat that is age 3": the cat's age
        c = self.r.column_of(it, ([owner] if owner is not None and any(x.table is owner for x, _ in it.columns) else [])
                             + self.prefer())
        self.need(c.table)
        self.recent = c.table
        nxt = self.r.sig(k)
        nkind = self.items[nxt].kind if nxt is not None else None
        if self.in_order:
            self.q.order.append((Proj(col=c), self.order_dir or "asc"))
            self.in_order = None
            return k + 1
        if c.column.kind == "bool":  # "active employees", "not verified users"
            self.q.where.append(Cond(c, "=", not self.negate))
            self.negate = False
            return k + 1
        if self.count and not self.distinct and not self.aggs:
            raise Refusal(f"the number of '{it.text}'?")
        if self.is_head(k) or self.aggs or self.count:
            self.project(c)
            self.last_col = c
            return k + 1
        self.last_col = c
        if c.column.kind == "date" and nkind not in ("cmp", "between"):
            return k + 1  # "were issued": the date stage picks the column these words name
        if nkind in ("cmp", "between", "number", "literal", "value", "neg", "like", "or", "aged") or self.r.role(self.items[nxt]) == "value" \
                if nxt is not None else False:
            return k + 1
        if self.s_idx is None and not self.q.select:
            self.project(c)
            return k + 1
        raise Refusal(f"I could not tell what to do with '{it.text}'")

    def project(self, c: Col | None, of_table=None) -> None:
        if self.aggs and self.count and c is None and self.aggs == ["avg"]:
            self.q.select.append(Proj(agg="avg_count", of_table=of_table))  # "average number of items per order"
            self.aggs, self.count = [], False
            return
        if self.aggs:
            if c is None:
                raise Refusal("an aggregate without a column")
            for a in self.aggs:
                self.q.select.append(Proj(agg=a, col=c, distinct=self.distinct and a != "count"))
            self.aggs = []
        elif self.count:
            self.q.select.append(Proj(agg="count", col=c if self.distinct else None, distinct=self.distinct,
                                      of_table=of_table))
            self.count = False
        else:
            self.q.select.append(Proj(col=c))
            if self.distinct:
                self.q.distinct = True
        self.distinct = False

    def on_table(self, k, it):
        t = self.r.table_of(it)
        marker = self.r.marker(k)
        self.recent = t
        if self.in_anti is not None and k != self.s_idx:
            return k + 1  # "did not perform any treatment on dogs": part of what is absent
        if k == self.s_idx:
            if self.count or self.aggs:
                if self.aggs:
                    raise Refusal(f"which column of {t.name} to aggregate")
                self.project(None, of_table=t)
            return k + 1
        if self.count:  # "the number of concerts": counted rows of a related table
            self.need(t)
            self.project(None, of_table=t)
            self.grouped_rows = True
            return k + 1
        if marker == "anti":
            return k + 1  # consumed by on_neg
        if self.is_head(k):
            label = self.r.label(t)
            if label is None:
                raise Refusal(f"{t.name} has no name column to show")
            self.need(t)
            self.project(label)
            return k + 1
        prev = self.r.sig(k, -1)
        if prev is not None and self.items[prev].kind == "and" and self.q.select and t is not self.q.main:
            label = self.r.label(t)  # "names of teachers and the courses they teach"
            if label is not None:
                self.need(t)
                self.q.select.append(Proj(col=label))
                return k + 1
        self.need(t)  # "students who have a pet": rows of the subject related to this table
        return k + 1
