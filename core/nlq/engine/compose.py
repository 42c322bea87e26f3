"""The left-to-right walk that turns linked items into a `Query` (see read.py for the reading rules)."""
from __future__ import annotations

from tabletalk.core.nlq.engine.link import MONEY_NAMES, Col
from tabletalk.core.nlq.engine.logical_form import Anti, Cond, Proj, Query  # noqa: F401
from tabletalk.core.nlq.engine.read import CLAUSE_WORDS, COMPARATIVE_COLUMNS, Reader, Refusal, _numeric
from tabletalk.core.nlq.engine.vocabulary import RELATION_WORDS, VERB_COLUMNS

YEAR_WORDS = ("year",)


def compose(r: Reader) -> Query:
    items = r.items
    s_idx = r.subject()
    if s_idx is not None:
        main = r.table_of(items[s_idx])
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


class _Walk:
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

    # --- conditions --------------------------------------------------------------------------
    def on_value(self, k, it):
        hits = it.values
        prefer = self.prefer()
        chosen = next((c for c, _ in hits if c.table in prefer[:1]), None) or next(
            (c for c, _ in hits if c.table in prefer), None) or hits[0][0]
        cols = {c.key for c, _ in hits if c.table is chosen.table}
        if len(cols) > 1:
            raise Refusal(f"'{it.text}' is a value of several columns")
        original = next(v for c, v in hits if c.key == chosen.key)
        if self.in_anti is not None:
            self.in_anti.inner.append(Cond(chosen, "=", original))
            if chosen.table is not self.in_anti.table and self.in_anti.table is self.q.main:
                self.in_anti.table = chosen.table
            return k + 1
        self.need(chosen.table)
        self.recent = chosen.table
        self.add_cond(k, Cond(chosen, "!=" if self.negate else "=", original))
        self.negate = False
        if k + 1 < len(self.items) and any(c.key == chosen.key for c, _ in self.items[k + 1].columns):
            return k + 2  # "private insurance": the value, then the name of its column
        return k + 1

    def add_cond(self, k, cond: Cond) -> None:
        last = self.q.where[-1] if self.q.where else None
        if self.pending_or:
            if last is None or last.col.key != cond.col.key or last.op not in ("=", "in") or cond.op != "=":
                raise Refusal("an 'or' between different conditions")
            last.value = (last.value if last.op == "in" else [last.value]) + [cond.value]
            last.op = "in"
            self.pending_or = False
            return
        if last is not None and last.col.key == cond.col.key and last.op == cond.op == "=":
            if self.both is not None:
                raise Refusal("more than two values at once")
            self.both = (last, cond)  # "cats and dogs", "in both 2014 and 2015": rows for each, intersected
            return
        self.q.where.append(cond)

    def on_literal(self, k, it):
        if it.values:
            return self.on_value(k, it)
        prev = self.r.sig(k, -1)
        like = prev is not None and self.items[prev].kind == "like"
        before = self.r.sig(prev, -1) if prev is not None and self.items[prev].kind in ("like", "cmp") else prev
        if self.last_col is None or before is None or self.r.role(self.items[before]) != "column":
            raise Refusal(f"which column holds '{it.text}'")
        self.add_cond(k, Cond(self.last_col, ("not like" if like else "!=") if self.negate else ("like" if like else "="),
                              it.payload))
        self.negate = False
        return k + 1

    def on_like(self, k, it):
        return k + 1

    def on_number(self, k, it):
        prev = self.r.sig(k, -1)
        nxt = self.r.sig(k)
        target = None
        year_like = float(it.payload).is_integer() and 1800 <= it.payload <= 2100
        if (self.pending_or or prev is not None and self.items[prev].kind == "and") and self.q.where \
                and self.q.where[-1].op in ("=", "in") and isinstance(self.q.where[-1].value, (float, list)):
            self.add_cond(k, Cond(self.q.where[-1].col, "=", it.payload))  # "32 or 33", "in 2014 and 2015"
            return k + 1
        if nxt is not None and self.items[nxt].kind == "yearsold":  # "a cat that is 3 years old"
            column = self._adjective_column("aged")
            self.need(column.table)
            self.add_cond(k, Cond(column, "=", it.payload))
            return nxt + 1
        if nxt is not None and self.r.role(self.items[nxt]) == "column" and not year_like:
            target = self.r.column_of(self.items[nxt], self.prefer())
            k = nxt
        elif prev is not None and self.r.role(self.items[prev]) == "column" and prev == k - 1:
            target = self.r.column_of(self.items[prev], self.prefer())
        elif year_like:
            target = self._year()
        else:
            target = None
        if target is None or not _numeric(target) and "year" not in target.column.name.lower():
            raise Refusal(f"which column is {it.text}")
        self.need(target.table)
        self.add_cond(k, Cond(target, "!=" if self.negate else "=", it.payload))
        self.negate = False
        return k + 1

    def _year(self) -> Col | None:
        for t in ([self.recent] if self.recent is not None else []) + self.prefer():
            years = [c for c in t.columns if "year" in c.name.lower()]
            if len(years) == 1:
                return Col(t, years[0])
        return None

    def on_cmp(self, k, it):
        op = it.payload
        nxt = self.r.sig(k)
        last = self.q.where[-1] if self.q.where else None
        if it.text.startswith("or ") and last is not None and last.op == "=" and isinstance(last.value, float) \
                and (nxt is None or self.items[nxt].kind != "number"):
            last.op = op  # "in 2014 or after"
            return k + 1
        if nxt is None:
            raise Refusal(f"'{it.text}' compares nothing")
        target_item = self.items[nxt]
        column = None
        if self.r.role(target_item) == "column":  # "above age 20"
            prev = self.r.sig(k, -1)
            if prev is not None and self.r.role(self.items[prev]) == "column" and self.last_col is not None and \
                    any(c.key == self.last_col.key for c, _ in target_item.columns):
                column = self.last_col  # "orchestras founded after the year 2008"
            else:
                column = self.r.column_of(target_item, self.prefer())
            nxt = self.r.sig(nxt)
            target_item = self.items[nxt] if nxt is not None else None
        if target_item is not None and target_item.text == "average" or (target_item is not None and target_item.kind == "agg"
                                                                          and target_item.payload == "avg"):
            c_idx = self.r.sig(nxt)
            col = self.r.column_of(self.items[c_idx], self.prefer()) if c_idx is not None and \
                self.r.role(self.items[c_idx]) == "column" else (column or self._adjective_column(it.text) or self.last_col)
            if col is None:
                raise Refusal("above the average of what")
            column = column or self._adjective_column(it.text)
            self.need((column or col).table)
            self.q.where.append(Cond(column or col, op, ("avg", col)))
            return (c_idx + 1) if c_idx is not None and self.r.role(self.items[c_idx]) == "column" else nxt + 1
        if target_item is None or target_item.kind != "number":
            raise Refusal(f"'{it.text}' is not followed by a number")
        number = target_item.payload
        after = self.r.sig(nxt)
        if after is not None and self.r.role(self.items[after]) == "table" and column is None:
            t = self.r.table_of(self.items[after])  # "with more than 3 models"
            plain = [p.col for p in self.q.select if p.agg is None and p.col is not None]
            if t is self.q.main and len(plain) == 1:  # "hometowns shared by at least two teachers"
                self.q.group.append(plain[0])
                self.q.having.append(Cond(plain[0], op, number, agg="count"))
                return after + 1
            if t is not self.q.main:
                self.need(t)
                self.q.group.append(self.r.pk(self.q.main))
                self.q.having.append(Cond(Col(t, t.primary_key or t.columns[0]), op, number, agg="count"))
                return after + 1
        if column is None and after is not None and self.r.role(self.items[after]) == "column":
            column = self.r.column_of(self.items[after], self.prefer())  # "over 6 cylinders"
            nxt = after
        if column is None:
            column = self._adjective_column(it.text) or self._verb_column(k)
        prev = self.r.sig(k, -1)
        if column is None and prev is not None and self.r.role(self.items[prev]) == "column":
            column = self.last_col  # "sales more than 300000"
        if column is None and it.text in ("after", "before", "or after", "or before") and 1800 <= number <= 2100:
            column = self._year()
        if column is None:
            column = self._only_measure()
        if column is None and it.text in ("after", "before", "or after", "or before"):
            column = self._year()
        if column is None:
            prev = self.r.sig(k, -1)
            if prev is not None and self.r.role(self.items[prev]) == "column":
                column = self.last_col
        if column is None:
            raise Refusal(f"what is {it.text} {target_item.text}")
        self.need(column.table)
        self.add_cond(k, Cond(column, op, number))
        return nxt + 1

    @staticmethod
    def _money(c: Col) -> bool:
        return c.column.kind == "number" and any(w in MONEY_NAMES for w in c.column.name.lower().split("_"))

    def _only_measure(self) -> Col | None:
        """"invoices over 10000": the subject's one money-like (or only) numeric column."""
        nums = [c for c in self.q.main.columns if c.kind == "number" and not c.primary_key and not c.references
                and not c.name.lower().endswith("id") and "year" not in c.name.lower()]
        money = [c for c in nums if any(w in MONEY_NAMES for w in c.name.lower().split("_"))]
        pick = money if len(money) == 1 else nums if len(nums) == 1 else []
        return Col(self.q.main, pick[0]) if pick else None

    def _verb_column(self, k: int) -> Col | None:
        """"who earn more than 100000": the verb before the comparison names the kind of column."""
        prev = self.items[k - 1] if k > 0 else None
        kinds = VERB_COLUMNS.get(prev.text) if prev is not None else None
        if not kinds:
            return None
        for t in self.prefer():
            cols = [c for c in t.columns if any(w in c.name.lower() for w in kinds)]
            if len(cols) == 1:
                return Col(t, cols[0])
        return None

    def _adjective_column(self, phrase: str) -> Col | None:
        kinds = COMPARATIVE_COLUMNS.get(phrase)
        if not kinds:
            return None
        for t in ([self.recent] if self.recent is not None else []) + self.prefer():
            for c in t.columns:
                if any(w in c.name.lower() for w in kinds):
                    return Col(t, c)
        raise Refusal(f"no column for '{phrase}'")

    def on_aged(self, k, it):
        """"teachers aged 32 or 33": equality on the age column."""
        nxt = self.r.sig(k)
        if nxt is None or self.items[nxt].kind != "number":
            raise Refusal("aged what")
        column = self._adjective_column("aged")
        self.need(column.table)
        self.add_cond(nxt, Cond(column, "=", self.items[nxt].payload))
        self.last_col = column
        return nxt + 1

    def on_between(self, k, it):
        a = self.r.sig(k)
        b = self.r.sig(a) if a is not None else None
        c = self.r.sig(b) if b is not None else None
        if a is None or c is None or self.items[a].kind != "number" or self.items[b].kind != "and" or self.items[c].kind != "number":
            raise Refusal("'between' needs two numbers")
        if self.last_col is None:
            raise Refusal("between what")
        self.q.where.append(Cond(self.last_col, "between", (self.items[a].payload, self.items[c].payload)))
        return c + 1

    def on_neg(self, k, it):
        nxt = self.r.sig(k)
        if nxt is not None and self.items[nxt].kind in ("any",):
            nxt = self.r.sig(nxt)
        verb_table = None
        if nxt is not None and self.items[nxt].kind == "orderby" and self.items[nxt].text.endswith("ed"):
            roots = self.r.ix.table_forms.get((self.items[nxt].text[:-2],), [])  # "who never ordered"
            verb_table = max(roots, key=lambda x: x[1])[0] if roots else None
        if verb_table is not None or nxt is not None and self.r.role(self.items[nxt]) == "table":
            t = verb_table or self.r.table_of(self.items[nxt])
            self.in_anti = Anti(t)
            self.q.anti.append(self.in_anti)
            return nxt + 1
        if nxt is not None and self.r.role(self.items[nxt]) == "value" and (any(
                self.r.role(x) == "table" for x in self.items[nxt + 1:]) or all(
                c.table is not self.q.main for c, _ in self.items[nxt].values)) and any(
                x.text in RELATION_WORDS for x in self.items[k:nxt]):
            self.in_anti = Anti(self.q.main)  # "who do not own a cat as a pet": the value names what is absent
            self.q.anti.append(self.in_anti)
            return k + 1
        self.negate = True
        return k + 1

    # --- grouping, ordering, superlatives ------------------------------------------------------
    def on_group(self, k, it):
        nxt = self.r.sig(k)
        if nxt is None:
            raise Refusal("'each' of what")
        target = self.items[nxt]
        if self.r.role(target) == "table":
            t = self.r.table_of(target)
            if t is self.q.main and it.text.split()[-1] in ("each", "every") and not (self.count or self.aggs or any(p.agg for p in self.q.select)) \
                    and not any(x.kind in ("count", "agg") for x in self.items[nxt:]):
                return nxt + 1  # "the name of each teacher": every row
            self.need(t)
            self.q.group.append(self.r.pk(t))
            if not any(p.col is not None and p.col.table is t and p.agg is None for p in self.q.select):
                label = self.r.label(t)
                if label is not None:
                    self.q.select.insert(0, Proj(col=label))
        elif self.r.role(target) == "column":
            c = self.r.column_of(target, self.prefer())
            self.need(c.table)
            if it.text.split()[-1] in ("each", "every") and not any(x.kind in ("count", "agg", "most") for x in self.items):
                self.project(c)  # "each owner's first name": every row, not a grouping
                return nxt + 1
            self.q.group.append(c)
            if not any(p.col is not None and p.col.key == c.key and p.agg is None for p in self.q.select):
                self.q.select.insert(0, Proj(col=c))
        else:
            raise Refusal(f"'{it.text}' of what")
        return nxt + 1

    def on_orderby(self, k, it):
        self.in_order = "by"
        nxt = self.r.sig(k)
        if nxt is not None and self.items[nxt].kind == "count":  # "ordered by the number of ..."
            self.order_count(nxt)
            return self.r.sig(nxt) + 1 if self.r.sig(nxt) is not None else nxt + 1
        return k + 1

    def order_count(self, k):
        t_idx = self.r.sig(k)
        if t_idx is not None and self.r.role(self.items[t_idx]) == "table":
            self.need(self.r.table_of(self.items[t_idx]))
        if not self.q.group:
            self.q.group.append(self.group_key())
        self.q.order.append((Proj(agg="count"), self.order_dir or "asc"))
        self.in_order = None

    def on_order(self, k, it):
        self.order_dir = it.payload
        if self.q.order:
            self.q.order[-1] = (self.q.order[-1][0], it.payload)
            self.in_order = None
        else:
            self.in_order = "by"
        return k + 1

    def on_superlative(self, k, it):
        words, direction, alt_words, alt_dir = it.payload
        for kinds, d in ((words, direction), (alt_words, alt_dir)):
            for t in self.prefer():
                cols = [c for c in t.columns if any(w in c.name.lower() for w in kinds)]
                if cols:
                    col = Col(t, cols[0])
                    if self.in_order or (self.q.order and self.q.limit is None):
                        if not self.q.order:
                            self.q.order.append((Proj(col=col), d))
                        elif not self.sup_dir_set:  # "from the oldest to the youngest": the first one says
                            last = self.q.order[-1][0]
                            if last.col is None or last.col.key != col.key:
                                raise Refusal(f"'{it.text}' does not fit the ordering")
                            self.q.order[-1] = (last, d)
                        self.sup_dir_set = True
                        self.in_order = None
                        return k + 1
                    self.superlative(Proj(col=col), d)
                    return k + 1
        raise Refusal(f"no column for '{it.text}'")

    def superlative(self, p: Proj, direction: str) -> None:
        if self.q.order and self.q.limit == 1:
            return  # "from the oldest to the youngest" after the first one
        self.q.order.append((p, direction))
        self.q.limit = 1

    def on_most(self, k, it):
        nxt = self.r.sig(k)
        if nxt is not None and self.items[nxt].kind == "count":  # "fewest number of flights"
            nxt = self.r.sig(nxt)
        if nxt is None:
            raise Refusal("'most' of what")
        target = self.items[nxt]
        role = self.r.role(target)
        if role == "table":
            t = self.r.table_of(target)
            if t is not self.q.main:
                self.need(t)
            if not self.q.group:
                self.q.group.append(self.group_key())
            self.q.order.append((Proj(agg="count"), it.payload))
            self.show_count = True
            self.q.limit = 1
            return nxt + 1
        if role == "column":
            c = self.r.column_of(target, self.prefer())
            self.need(c.table)
            if not any(w in it.text for w in ("common", "frequent", "popular")):
                self.superlative(Proj(col=c), it.payload)
            else:  # "the most common hometown"
                self.q.group.append(c)
                if not self.q.select:
                    self.q.select.append(Proj(col=c))
                self.q.order.append((Proj(agg="count"), it.payload))
                self.q.limit = 1
            return nxt + 1
        if self.q.select and self.q.select[0].col is not None and "common" in it.text:
            c = self.q.select[0].col  # "the nationality that is most common"
            self.q.group.append(c)
            self.q.order.append((Proj(agg="count"), it.payload))
            self.q.limit = 1
            return k + 1
        raise Refusal(f"'{it.text}' of what")

    def group_key(self) -> Col:
        """What "the most Y" counts within: a projected column that is not the subject's name
        ("which genre has the most loans"), else the subject's key."""
        plain = [p.col for p in self.q.select if p.agg is None and p.col is not None]
        label = self.r.label(self.q.main)
        if len(plain) == 1 and (label is None or plain[0].key != label.key) and plain[0].table is not self.q.main \
                or len(plain) == 1 and plain[0].column.kind == "text" and not plain[0].column.primary_key \
                and (label is None or plain[0].key != label.key):
            return plain[0]
        return self.r.pk(self.q.main)

    def on_limit(self, k, it):
        nxt = self.r.sig(k)
        if nxt is not None and self.items[nxt].kind == "number":
            self.q.limit = int(self.items[nxt].payload)
            return nxt + 1
        raise Refusal(f"'{it.text}' without a number")

    def on_and(self, k, it):
        return k + 1

    def on_or(self, k, it):
        if it.text == "or":
            self.pending_or = True
        return k + 1

    def on_avg_ref(self, k, it):
        raise Refusal("'average' here")

    def on_both(self, k, it):
        a = self.r.sig(k)
        b = self.r.sig(a) if a is not None else None
        c = self.r.sig(b) if b is not None else None
        if c is not None and self.r.role(self.items[a]) == "table" and self.items[b].kind == "and" \
                and self.r.role(self.items[c]) == "table":
            self.both_tables = (self.r.table_of(self.items[a]), self.r.table_of(self.items[c]))
            return c + 1  # "states where both owners and professionals live"
        return k + 1

    def on_but(self, k, it):
        nxt = self.r.sig(k)
        if nxt is None or self.items[nxt].kind != "neg":
            raise Refusal("'but' without a 'not'")
        return k + 1

    # --- finishing -----------------------------------------------------------------------------
    def finish(self) -> None:
        q = self.q
        if self.items and self.items[0].text in ("where", "when", "why"):
            raise Refusal(f"'{self.items[0].text}' questions are not read yet")
        if self.aggs:
            raise Refusal("an aggregate without a column")
        if self.count and not any(p.agg == "count" for p in q.select):
            q.select.append(Proj(agg="count", of_table=q.main))
        if self.percent:  # "what percentage of orders are cancelled": the share meeting the conditions
            if not q.where or q.group or q.tables:
                raise Refusal("a percentage of what")
            q.select = [Proj(agg="pct", conds=list(q.where))]
            q.where = []
        if any(p.agg == "avg_count" for p in q.select):
            if not q.group:
                raise Refusal("an average number per what")
            q.select = [p for p in q.select if p.agg == "avg_count"]
            return
        if self.negate:
            raise Refusal("a 'not' I could not attach")
        if self.pending_or:
            raise Refusal("an 'or' I could not attach")
        if self.in_order and self.order_dir and not q.order and q.select:
            q.order.append((q.select[0], self.order_dir))  # "earnings of poker players in descending order"
        elif self.in_order:
            raise Refusal("ordered by what")
        asks_which = bool(self.items) and self.items[0].text in ("which", "what", "who")
        which_noun = asks_which and len(self.items) > 1 and self.items[1].kind == "name"  # "which genre ..."
        defaulted = not q.select
        if not q.select and q.group and q.group[0].table is not q.main:
            q.select.append(Proj(col=self.r.label(q.group[0].table) or q.group[0]))
        elif not q.select:
            # "which airlines ...": their names; "books with more than 500 pages": the rows
            label = self.r.label(q.main) if asks_which else None
            q.select.append(Proj(col=label) if label is not None else Proj(agg="*"))
        if defaulted and q.limit == 1 and q.order and q.order[0][0].agg is None and q.order[0][0].col is not None \
                and q.select[0].agg != "*":
            q.select.append(q.order[0][0])  # "which book is the longest": its title and its pages
        if self.items and self.items[0].kind == "name" and len(q.select) == 1 and q.select[0].agg is None \
                and q.select[0].col is not None and not q.group and not q.order and self._money(q.select[0].col):
            q.select[0].agg = "sum"  # "cost of delayed shipments last month": a total
        if q.order and q.order[0][0].agg and (defaulted or self.show_count and which_noun and len(q.select) == 1) \
                and not any(p.agg and p.agg != "*" for p in q.select):
            q.select.append(q.order[0][0])  # "top 5 members by number of loans": show the number
        measures = [p for p in q.select if p.agg is None and p.col is not None and _numeric(p.col)
                    and not p.col.column.primary_key and not p.col.column.references and p.col not in q.group]
        if q.group and measures and len(measures) == len([p for p in q.select if p.agg is None and p.col not in q.group
                                                          and not (p.col and p.col.table is q.group[0].table)]) \
                and not any(x.kind in ("agg", "count") for x in self.items):
            for p in measures:  # "fees by doctor": the total per group
                p.agg = "sum"
        if q.group and not any(p.agg and p.agg != "*" for p in q.select) and not q.having and not q.order:
            q.select.append(Proj(agg="count"))  # "books per genre"
        if q.order and q.order[0][0].agg and q.order[0][0].agg != "count" and not q.group:
            q.group.append(self.r.pk(q.main))  # "top 3 doctors by total fees"
            if not any(p.agg for p in q.select):
                q.select.append(q.order[0][0])
        if self.grouped_rows and not q.group and any(p.agg is None for p in q.select):
            raise Refusal("a count next to columns without 'each'")
        aggregated = any(p.agg and p.agg != "*" for p in q.select)
        plain = [p for p in q.select if p.agg is None or p.agg == "*"]
        if aggregated and q.limit == 1 and not q.group:
            raise Refusal("an aggregate of the single top row")
        if len(q.having) > 1:
            raise Refusal("two counts at once (both?)")
        for a in q.where:
            for b in q.where:
                if a.col.key == b.col.key and a.op in (">", ">=") and b.op in ("<", "<=") and \
                        isinstance(a.value, float) and isinstance(b.value, float) and b.value <= a.value:
                    raise Refusal(f"{a.col.column.name} above {a.value} and below {b.value} on one row (both?)")
        self._ranking_measure()
        self._semi_joins()
        self._semi_join_distinct()
        if self.both_tables is not None:
            self._both_tables()
        if self.both is not None:
            if q.group or q.order or q.limit or any(p.agg for p in q.select):
                raise Refusal("two values at once with a grouping")
            other = q.copy()
            other.where = [self.both[1] if c is self.both[0] else c for c in q.where]
            other.distinct = q.distinct = False
            q.setop = ("INTERSECT", other)
        if aggregated and plain and not q.group:
            raise Refusal("columns next to an aggregate without 'each' or 'per'")
        for t in list(q.tables):
            if t is q.main:
                q.tables.remove(t)
        self._check_joins()

    def _both_tables(self) -> None:
        """The same-named column of two tables, intersected."""
        q, (a, b) = self.q, self.both_tables
        plain = [p.col for p in q.select if p.agg is None and p.col is not None]
        if len(plain) != 1 or q.where or q.group or q.tables or q.anti:
            raise Refusal("'both' over two tables with more than one column")
        ca, cb = a.column(plain[0].column.name), b.column(plain[0].column.name)
        if ca is None or cb is None:
            raise Refusal(f"{plain[0].column.name} is not in both {a.name} and {b.name}")
        q.main, q.select = a, [Proj(col=Col(a, ca))]
        q.setop = ("INTERSECT", Query(main=b, select=[Proj(col=Col(b, cb))]))
        q.distinct = False

    def _ranking_measure(self) -> None:
        """"top 3 clients by shipping cost": ranking the subject by a measure of its many related rows is
        ranking by their total."""
        q = self.q
        if not q.order or q.group or q.order[0][0].agg or q.order[0][0].col is None:
            return
        c = q.order[0][0].col
        if c.table is q.main or not self._fans_out(c.table):
            return
        if q.limit and q.limit > 1:
            q.order[0] = (Proj(agg="sum", col=c), q.order[0][1])
            q.group.append(self.r.pk(q.main))
            q.select.append(q.order[0][0])

    def _fans_out(self, t) -> bool:
        path = self.r.ix.join_path(self.q.main.name, t.name) or []
        current = self.q.main.name
        for t1, _, t2, _ in path:
            if t2 == current:  # the next table references this one: many rows per row
                return True
            current = t2
        return False

    def _semi_joins(self) -> None:
        """"the average age of dogs who went through treatments": a table joined only to filter aggregated
        subject rows becomes `key IN (...)`, so the join cannot repeat them."""
        q = self.q
        if q.group or not any(p.agg and p.agg not in ("*",) for p in q.select):
            return
        used = {p.col.table.name for p in q.select if p.col is not None} | {o[0].col.table.name for o in q.order if o[0].col}
        for t in list(q.tables):
            path = self.r.ix.join_path(q.main.name, t.name) or []
            if t.name in used or len(path) != 1 or not self._fans_out(t):
                continue
            inner = [c for c in q.where if c.col.table is t]
            q.where = [c for c in q.where if c.col.table is not t]
            q.tables.remove(t)
            q.anti.append(Anti(t, inner, negated=False))

    def _semi_join_distinct(self) -> None:
        """"students who have a pet": tables joined only to filter the subject list each subject row once."""
        q = self.q
        if q.group or q.distinct or any(p.agg for p in q.select) or not q.tables:
            return
        shown = {p.col.table.name for p in q.select if p.col is not None}
        if shown <= {q.main.name} and any(self._fans_out(t) for t in q.tables):
            q.distinct = True

    def _check_joins(self) -> None:
        ix = self.r.ix
        joined = [self.q.main.name]
        for t in self.q.tables:
            path = min((ix.join_path(h, t.name) for h in joined if ix.join_path(h, t.name) is not None), key=len, default=None)
            if path is None:
                raise Refusal(f"{t.name} is not linked to {self.q.main.name}")
            for t1, _, t2, _ in path:
                if len(ix.links(t1, t2)) > 1:
                    raise Refusal(f"{t1} and {t2} are linked in more than one way")
            joined.append(t.name)
        if self.q.tables:
            self.r.penalty += 0.05 * len(self.q.tables)
            self.r.notes.extend(f"join:{t.name}" for t in self.q.tables)
