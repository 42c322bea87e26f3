"""The walk's last step: defaults, consistency checks, rankings, semi-joins and joins checked."""
from __future__ import annotations

from tabletalk.core.nlq.engine.link import Col
from tabletalk.core.nlq.engine.logical_form import Anti, Proj, Query
from tabletalk.core.nlq.engine.read import Refusal, _numeric
from tabletalk.core.nlq.engine.vocabulary import VERB_COLUMNS


class Shaping:
    """Handlers mixed into the walk in compose.py; `self` is the walk."""

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
        if not q.select and len(self.items) > 1 and self.items[0].text == "how" and self.items[1].text == "much":
            verb = next((x for x in self.items if x.text in VERB_COLUMNS), None)  # "how much does the dog weigh"
            kinds = VERB_COLUMNS.get(verb.text, ()) if verb is not None else ()
            cols = [Col(q.main, c) for c in q.main.columns if any(w in c.name.lower() for w in kinds)]
            if len(cols) != 1:
                raise Refusal("how much of what")
            q.select.append(Proj(col=cols[0]))
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
