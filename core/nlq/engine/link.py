"""Stage 2: linking — operator phrases, then spans of words to tables, columns and indexed values.

The result is a list of `Item`s covering the question; words that are neither schema names, operator
phrases nor function words are kept as `unplaced`, so the reader can refuse instead of guessing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tabletalk.core.cache import IdentityMemo
from tabletalk.core.metadata.schema import Column, Schema, Table, fk_path
from tabletalk.core.nlq.engine.tokens import ABBREVIATIONS, Token, lemma, name_words, root
from tabletalk.core.nlq.engine.vocabulary import FUNCTION_WORDS, PHRASES, RELATION_WORDS, SUPERLATIVES
from tabletalk.core.nlq.lexicon import synonyms

# Words a column name uses and words people use for it (generic English, not any one schema).
COLUMN_SYNONYMS = {"source": ("departing", "departure", "leaving", "origin"), "src": ("departing", "departure", "origin"),
                   "dest": ("arriving", "arrival", "destination", "landing"),
                   "destination": ("arriving", "arrival", "landing"), "sex": ("gender",), "gender": ("sex",),
                   "nationality": ("nation",), "citizenship": ("nation", "nationality"), "hometown": ("town",)}
MONEY_NAMES = {"total", "amount", "sum", "value", "price", "cost", "fee", "revenue", "charge"}
GENERIC_TABLE_WORDS = {"list", "data", "info", "information", "detail", "details", "record", "records", "table", "has",
                       "in", "of", "and", "the", "to"}
MAX_SPAN = 6


@dataclass(frozen=True)
class Col:
    table: Table
    column: Column

    @property
    def key(self) -> tuple[str, str]:
        return (self.table.name, self.column.name)

    def __repr__(self) -> str:
        return f"{self.table.name}.{self.column.name}"


@dataclass
class Item:
    kind: str            # table | column | value | number | literal | op phrase kinds | relation | unplaced
    start: int
    end: int             # token index, exclusive
    text: str
    payload: object = None
    tables: list = field(default_factory=list)   # [(Table, score)]
    columns: list = field(default_factory=list)  # [(Col, score)]
    values: list = field(default_factory=list)   # [(Col, original)]


@dataclass
class SchemaIndex:
    schema: Schema
    table_forms: dict = field(default_factory=dict)   # words tuple -> [(Table, score)]
    column_forms: dict = field(default_factory=dict)  # words tuple -> [(Col, score)]
    value_forms: dict = field(default_factory=dict)   # lower words tuple -> [(Col, original)]
    edges: dict = field(default_factory=dict)         # table name -> [(t1, c1, t2, c2)]
    link_tables: set = field(default_factory=set)
    max_span: int = 3
    span_words: frozenset = frozenset()  # every word of a form longer than one word (and of phrases)

    @classmethod
    def build(cls, schema: Schema) -> "SchemaIndex":
        ix = cls(schema)
        names = {t.name.lower(): t for t in schema.tables}
        for t in schema.tables:
            fks = [c for c in t.columns if c.references]
            if len(fks) >= 2 and len(t.columns) - len(fks) <= 1:
                ix.link_tables.add(t.name)
            for c in t.columns:
                if c.references and c.references[0].lower() in names:
                    other = names[c.references[0].lower()]
                    target = other.column(c.references[1]) or other.primary_key
                    if target is None:
                        continue
                    edge = (t.name, c.name, other.name, target.name)
                    if edge in ix.edges.get(t.name, []):
                        continue  # declared twice
                    ix.edges.setdefault(t.name, []).append(edge)
                    if other.name != t.name:
                        ix.edges.setdefault(other.name, []).append(edge)
        ix._implicit_edges()
        for t in schema.tables:
            ix._index_table(t)
        longest = max((len(k) for d in (ix.table_forms, ix.column_forms, ix.value_forms) for k in d), default=1)
        ix.max_span = max(4, min(MAX_SPAN, longest))  # operator phrases are at most four words
        ix.span_words = _PHRASE_WORDS | {w for d in (ix.table_forms, ix.column_forms, ix.value_forms)
                                         for k in d if len(k) > 1 for w in k}
        return ix

    def _implicit_edges(self) -> None:
        """A column named like another table, of its key's type, refers to it (flights.airline → airlines)."""
        by_words = {name_words(t.name): t for t in self.schema.tables}
        for t in self.schema.tables:
            for c in t.columns:
                other = by_words.get(name_words(c.name))
                if other is None or other is t or c.references or c.primary_key and sum(x.primary_key for x in t.columns) == 1:
                    continue
                pk = other.primary_key
                if pk is None or pk.kind != c.kind or self.links(t.name, other.name):
                    continue
                edge = (t.name, c.name, other.name, pk.name)
                self.edges.setdefault(t.name, []).append(edge)
                self.edges.setdefault(other.name, []).append(edge)

    def _index_table(self, t: Table) -> None:
        words = name_words(t.name)
        forms = {words: 1.0}
        for syn in t.synonyms:
            forms[tuple(lemma(w) for w in syn.split())] = 1.0
        if t.name not in self.link_tables and len(words) > 1:
            if words[-1] not in GENERIC_TABLE_WORDS:
                forms.setdefault((words[-1],), 0.6)
                forms.setdefault((words[0],), 0.55)  # "poker" for poker_player
            elif words[0] not in GENERIC_TABLE_WORDS:
                forms.setdefault((words[0],), 0.8)
        if len(words) == 1:
            for syn in synonyms(words[0]) - {words[0]}:
                forms.setdefault((syn,), 0.5)
        for f, score in forms.items():
            self.table_forms.setdefault(f, []).append((t, score))
        table_words = set(words)
        for c in t.columns:
            ref = Col(t, c)
            cw = name_words(c.name)
            cforms = {cw: 1.0}
            rest = tuple(w for w in cw if w not in table_words and w not in ("of",)) or cw
            cforms.setdefault(rest, 0.9)
            cforms.setdefault(tuple(words) + rest, 1.0)
            cforms.setdefault((words[-1],) + rest, 0.95)
            if "of" in cw:  # cost_of_treatment → cost
                cforms.setdefault(cw[:cw.index("of")], 0.7)
            if len(rest) > 1:
                cforms.setdefault(rest[-1:], 0.5)
                cforms.setdefault(rest[:1], 0.45)
                cforms.setdefault(rest[:-1], 0.5)
                cforms.setdefault((words[-1],) + rest[:-1], 0.85)  # "appointment duration" for duration_min
            if c.kind == "bool":  # "unpaid" for is_paid
                bare = tuple(w for w in cw if w not in ("is", "has", "was"))
                if len(bare) == 1:
                    for neg in ("un", "in", "non", "not"):
                        self.column_forms.setdefault(("\0neg", neg + bare[0]), []).append((ref, 1.0))
            if c.primary_key or c is t.primary_key:
                cforms.setdefault(("id",), 0.8)
            for syn in c.synonyms:
                cforms[tuple(lemma(w) for w in syn.split())] = 1.0
            if c.kind == "number" and cw and cw[-1] in MONEY_NAMES:
                cforms.setdefault(("amount",), 0.5)  # "the invoiced amount" for invoices.total
            if c.name.lower() in ABBREVIATIONS:
                cforms.setdefault((c.name.lower(),), 1.0)  # "mpg" as well as "miles per gallon"
            for w in cw:
                for syn in COLUMN_SYNONYMS.get(w, ()):
                    cforms.setdefault(tuple(syn.split()), 0.7)
            for f, score in list(cforms.items()):
                rooted = tuple(root(w) for w in f)
                if rooted != f:
                    self.column_forms.setdefault(("\0root",) + rooted, []).append((ref, min(score, 0.85)))
                if len(f) > 1:  # "arrival date" for date_arrived
                    self.column_forms.setdefault(("\0bag",) + tuple(sorted(rooted)), []).append((ref, min(score, 0.8)))
            for f, score in cforms.items():
                if f:
                    self.column_forms.setdefault(f, []).append((ref, score))
            for v in c.values:
                low = tuple(str(v).strip().lower().split())
                if low and not (len(low) == 1 and low[0].replace(".", "").isdigit()):
                    self.value_forms.setdefault(low, []).append((ref, str(v)))

    # --- joins -------------------------------------------------------------------------------
    def links(self, a: str, b: str) -> list[tuple[str, str, str, str]]:
        """Direct FK edges between two tables."""
        return [e for e in self.edges.get(a, []) if {e[0], e[2]} == {a, b} or (a == b and e[0] == e[2] == a)]

    def join_path(self, start: str, goal: str) -> list[tuple[str, str, str, str]] | None:
        return fk_path(self.edges, start, goal)


index_for = IdentityMemo(SchemaIndex.build, max_items=64)  # built once per schema object


def tag(tokens: list[Token], ix: SchemaIndex) -> list[Item]:
    """Items covering the tokens, left to right, longest match first."""
    items: list[Item] = []
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.literal is not None:
            items.append(Item("literal", i, i + 1, tok.literal, tok.literal, values=list(_value_hits(ix, tuple(tok.text.split())))))
            i += 1
            continue
        if tok.number is not None and not tok.text.isalpha():
            items.append(Item("number", i, i + 1, tok.text, tok.number))
            i += 1
            continue
        item = _match_at(tokens, i, ix)
        items.append(item)
        i = item.end
    return items


def _value_hits(ix: SchemaIndex, words: tuple[str, ...]) -> list:
    return ix.value_forms.get(words, _NONE)  # tokens are lower-case already (tokens.py), as the forms are


_NONE: list = []  # never mutated: the callers copy what they keep


# Words of the operator phrases and superlatives longer than one word ("more than", "the most").
_PHRASE_WORDS = frozenset(w for p in (*PHRASES, *SUPERLATIVES) if " " in p for w in (*p.split(), "the"))


def _longest_span(tokens: list[Token], i: int, ix: SchemaIndex) -> int:
    """How many tokens from i could belong to one multi-word form: each must be a word of one."""
    words, top, run = ix.span_words, min(ix.max_span, len(tokens) - i), 0
    while run < top:
        t = tokens[i + run]
        if not (t.text in words or t.stem in words or root(t.stem) in words):
            break
        run += 1
    return max(1, run)


def _match_at(tokens: list[Token], i: int, ix: SchemaIndex) -> Item:
    n = len(tokens)
    best: Item | None = None
    for length in range(_longest_span(tokens, i, ix), 0, -1):
        span = tokens[i:i + length]
        if any(t.literal is not None for t in span) or (length > 1 and any(t.number is not None and not t.text.isalpha() for t in span)):
            continue
        surface = " ".join(t.text for t in span)
        stems = tuple(t.stem for t in span)
        values = _value_hits(ix, tuple(t.text for t in span)) or (_value_hits(ix, stems) if length > 1 or len(surface) > 3 else [])
        tables = ix.table_forms.get(stems, [])
        columns = ix.column_forms.get(stems, []) or ix.column_forms.get(("\0root",) + tuple(root(s) for s in stems), []) \
            or (ix.column_forms.get(("\0bag",) + tuple(sorted(root(s) for s in stems)), []) if length > 1 else [])
        if length == 1 and not columns and ("\0neg", surface) in ix.column_forms:
            return Item("negcolumn", i, i + 1, surface, None, columns=list(ix.column_forms[("\0neg", surface)]))
        if length > 1 and columns and span[0].text != span[0].stem and ix.table_forms.get((span[0].stem,)):
            columns = []  # "shipments cost": a plural table, then its column — two things
        if length == 1 and (surface in FUNCTION_WORDS or surface in PHRASES):
            columns = [(c, s) for c, s in columns if s >= 0.9 and surface not in FUNCTION_WORDS]
            tables = [(t, s) for t, s in tables if s >= 0.9 and surface not in FUNCTION_WORDS]
        phrase = PHRASES.get(surface)
        if phrase and phrase[0] == "agg" and length == 1 and i + 1 < n and tokens[i + 1].text not in FUNCTION_WORDS:
            return Item("agg", i, i + 1, surface, phrase[1])  # "total seats": the aggregate, then the column
        bare = surface[4:] if surface.startswith("the ") else surface
        if bare in SUPERLATIVES:
            return Item("superlative", i, i + length, bare, SUPERLATIVES[bare])
        if phrase and (length > 1 or not (tables or columns or values) or phrase[0] in ("cmp", "neg", "and", "or", "group")):
            if not (tables or columns) or length > 1 or phrase[0] not in ("agg", "count") or surface in ("average", "total"):
                return Item(phrase[0], i, i + length, surface, phrase[1])
        if tables or columns or values:
            best = Item("name", i, i + length, surface, None, tables=list(tables), columns=list(columns), values=list(values))
            if phrase:
                best.payload = phrase
            return best
    tok = tokens[i]
    if tok.number is not None:
        return Item("number", i, i + 1, tok.text, tok.number)
    if tok.text.endswith("est") and len(tok.text) > 5:
        return Item("unplaced", i, i + 1, tok.text)  # an unknown superlative is never a filler
    if tok.text in FUNCTION_WORDS:
        return Item("function", i, i + 1, tok.text)
    if i + 1 < n and len(tok.text) >= 6:
        nxt = ix.column_forms.get((tokens[i + 1].stem,), [])
        if any(c.table.name.lower()[:4] == tok.text[:4] for c, _ in nxt):
            return Item("function", i, i + 1, tok.text)  # "shipping cost": the shipments' cost
    if tok.text in RELATION_WORDS or tok.stem in RELATION_WORDS:
        return Item("relation", i, i + 1, tok.text)
    if tok.text.endswith("ed") and len(tok.text) > 5:  # "customers who never ordered": the orders table
        for base in (tok.text[:-2], tok.text[:-1]):
            tables = [(t, s) for t, s in ix.table_forms.get((base,), []) if s >= 0.9]
            if tables:
                return Item("name", i, i + 1, tok.text, None, tables=tables)
    return Item("unplaced", i, i + 1, tok.text)
