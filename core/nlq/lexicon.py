"""What the built-in engine knows about words: synonyms (data, not code) and a per-schema index of
tables, columns, foreign-key paths and indexed values."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from tabletalk.core.cache import IdentityMemo
from tabletalk.core.metadata.schema import Column, Schema, Table, fk_path

# Words that mean the same entity or measure; the first word of a group names the concept.
SYNONYM_GROUPS = [
    ["employee", "staff", "worker", "person", "people", "member", "headcount", "personnel", "colleague", "hire"],
    ["customer", "client", "buyer", "shopper", "account"],
    ["product", "item", "article", "sku", "good", "merchandise"],
    ["order", "purchase", "transaction", "booking"],
    ["user", "member", "account", "subscriber"],
    ["office", "location", "branch", "site"],
    ["department", "dept", "team", "division", "unit"],
    ["salary", "pay", "wage", "compensation", "earning", "income"],
    ["category", "type", "kind", "group", "genre", "class"],
    ["city", "town"],
    ["country", "nation"],
    ["price", "cost", "fee", "rate"],
    ["quantity", "qty", "units", "count"],
    ["patient", "client"],
    ["doctor", "physician", "practitioner"],
    ["book", "title"],
    ["loan", "borrowing", "borrow", "checkout", "lending"],
    ["shipment", "delivery", "parcel", "package"],
    ["invoice", "bill"],
    ["subscription", "plan"],
    ["project", "initiative"],
    ["supplier", "vendor"],
    ["maker", "manufacturer", "producer"],
    ["warehouse", "depot"],
    ["appointment", "visit", "consultation"],
    ["student", "pupil", "learner"],
    ["course", "class"],
    ["ticket", "issue", "case"],
]
# Words that ask for money-like totals, mapped onto numeric columns whose names contain these stems.
MONEY_WORDS = {"revenue", "sales", "turnover", "income", "sold", "sell", "sells", "selling", "spent", "spend", "spending",
               "money", "gmv", "earned", "billed", "paid", "value", "worth"}
MONEY_COLUMNS = ("revenue", "amount", "total", "sales", "value", "paid", "spend", "subtotal", "sum", "price", "cost", "fee",
                 "salary", "wage", "pay", "income", "budget")
UNIT_PRICE_COLUMNS = ("price", "cost", "fee", "rate")
LABEL_COLUMNS = ("name", "title", "full_name", "label", "code", "email", "city", "description")
STOP = {"the", "a", "an", "of", "in", "on", "for", "to", "by", "per", "is", "are", "was", "were", "be", "been", "what",
        "which", "who", "how", "many", "much", "show", "me", "list", "give", "get", "find", "all", "with", "and", "or",
        "do", "does", "did", "have", "has", "had", "there", "their", "its", "it", "that", "this", "those", "these",
        "our", "we", "i", "you", "from", "at", "as", "each", "every", "than", "more", "less", "most", "least", "top",
        "number", "total", "average", "avg", "sum", "count", "mean", "max", "min", "maximum", "minimum", "between",
        "over", "under", "above", "below", "any", "no", "not", "without", "never", "whose", "where", "when", "here",
        "work", "works", "working", "exist", "exists", "currently", "overall", "altogether", "so", "far", "please",
        "tell", "about", "across", "into", "split", "break", "down", "breakdown", "only", "just", "same", "also",
        "highest", "lowest", "biggest", "smallest", "largest", "best", "worst", "first", "last", "one", "ones",
        "distinct", "unique", "different", "ever", "placed", "made", "got", "received", "them", "they", "he", "she",
        "s", "has", "had", "having", "still", "yet", "per", "like", "vs", "versus", "included", "including"}


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A crude singular: employees→employee, cities→city, statuses→status, boxes→box."""
    w = word.lower()
    if len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("ouses"):  # warehouses, houses
        return w[:-1]
    if w.endswith(("sses", "uses", "xes", "ches", "shes")):
        return w[:-2]
    if w.endswith("ss") or w.endswith("us") or w.endswith("is"):
        return w
    if w.endswith("s"):
        return w[:-1]
    return w


def words_of(name: str) -> list[str]:
    parts = re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", name)
    return [stem(p) for p in parts if p]


_GROUP_OF: dict[str, set[str]] = {}
for _group in SYNONYM_GROUPS:
    for _w in _group:
        _GROUP_OF.setdefault(_w, set()).update(_group)


def synonyms(word: str) -> set[str]:
    w = stem(word)
    return _GROUP_OF.get(w, set()) | {w}


@dataclass
class ColumnRef:
    table: Table
    column: Column

    @property
    def key(self) -> tuple[str, str]:
        return (self.table.name, self.column.name)


@dataclass
class Lexicon:
    schema: Schema
    table_words: dict[str, list[Table]] = field(default_factory=dict)   # stem -> tables
    column_words: dict[str, list[ColumnRef]] = field(default_factory=dict)
    values: dict[str, list[tuple[ColumnRef, str]]] = field(default_factory=dict)  # lower value -> [(col, original)]
    edges: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)  # table -> [(t1,c1,t2,c2)]
    max_value_words: int = 1

    @classmethod
    def build(cls, schema: Schema) -> "Lexicon":
        lex = cls(schema)
        names = {t.name.lower(): t for t in schema.tables}
        for t in schema.tables:
            forms = {stem(t.name), *words_of(t.name), *(stem(s) for s in t.synonyms)}
            if "_" in t.name:
                forms.add(stem(t.name.replace("_", " ")))
            for f in forms:
                for syn in synonyms(f):
                    lex.table_words.setdefault(syn, [])
                    if t not in lex.table_words[syn]:
                        lex.table_words[syn].append(t)
            for c in t.columns:
                ref = ColumnRef(t, c)
                cforms = {stem(c.name), *words_of(c.name), *(stem(s) for s in c.synonyms)}
                for f in cforms:
                    if f in ("id",):
                        continue
                    for syn in synonyms(f):
                        lex.column_words.setdefault(syn, []).append(ref)
                for v in c.values:
                    low = str(v).strip().lower()
                    if low and not low.isdigit():
                        lex.values.setdefault(low, []).append((ref, v))
                        lex.max_value_words = max(lex.max_value_words, min(4, len(low.split())))
                # Foreign keys, declared or by *_id naming.
                target = None
                if c.references:
                    target = (c.references[0].lower(), c.references[1])
                elif c.name.lower().endswith("_id") and not c.primary_key:
                    base = c.name[:-3].lower()
                    for cand in (base, base + "s", base + "es", base[:-1] + "ies" if base.endswith("y") else None):
                        if cand and cand in names and cand != t.name.lower():
                            pk = names[cand].primary_key
                            target = (cand, pk.name if pk else "id")
                            break
                if target and target[0] in names:
                    other = names[target[0]].name
                    lex.edges.setdefault(t.name, []).append((t.name, c.name, other, target[1]))
                    lex.edges.setdefault(other, []).append((t.name, c.name, other, target[1]))
        return lex

    def join_path(self, start: str, goal: str) -> list[tuple[str, str, str, str]] | None:
        """Shortest chain of FK edges linking two tables (BFS), as (t1, c1, t2, c2) edges."""
        return fk_path(self.edges, start, goal)

    def distance(self, a: str, b: str) -> int:
        path = self.join_path(a, b)
        return 99 if path is None else len(path)

    def label_column(self, table: Table) -> Column | None:
        """The column that names a row (name, title, ...), for grouping by an entity."""
        for want in LABEL_COLUMNS:
            for c in table.columns:
                if c.name.lower() == want:
                    return c
        for c in table.columns:
            if c.kind == "text" and not c.primary_key and any(w in c.name.lower() for w in ("name", "title")):
                return c
        return next((c for c in table.columns if c.kind == "text" and not c.primary_key), table.primary_key)


lexicon_for = IdentityMemo(Lexicon.build, max_items=64)  # built once per schema object
