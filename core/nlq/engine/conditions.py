"""The walk's conditions: values, literals, numbers, comparisons, BETWEEN, negation and anti-joins."""
from __future__ import annotations

from tabletalk.core.nlq.engine.link import MONEY_NAMES, Col
from tabletalk.core.nlq.engine.logical_form import Anti, Cond
from tabletalk.core.nlq.engine.read import COMPARATIVE_COLUMNS, Refusal, _numeric
from tabletalk.core.nlq.engine.vocabulary import RELATION_WORDS, VERB_COLUMNS


class Conditions:
    """Handlers mixed into the walk in compose.py; `self` is the walk."""

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
