"""The walk's grouping, ordering, superlatives, limits and set-operation words."""
from __future__ import annotations

from tabletalk.core.nlq.engine.link import Col
from tabletalk.core.nlq.engine.logical_form import Proj
from tabletalk.core.nlq.engine.read import Refusal


class Ordering:
    """Handlers mixed into the walk in compose.py; `self` is the walk."""

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
