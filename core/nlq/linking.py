"""Schema linking: the few tables (and columns) a question is about, so a prompt stays small.

An inverted index (word -> tables, with the best field a word came from) is built once per schema
and cached; a question then costs a few dictionary look-ups per word, weighted by how rare the word
is, whatever the schema's size. Words the index lacks (typos) are matched with rapidfuzz against
the index's vocabulary, never against every table. Tables joined by foreign keys to strong matches
are pulled in so the model can write the joins.
"""
from __future__ import annotations

import math
import re
import time
from collections import OrderedDict, defaultdict
from dataclasses import replace
from functools import lru_cache

from rapidfuzz import fuzz, process
from sqlglot import exp

from tabletalk.core.cache import IdentityMemo
from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.lexicon import STOP, stem, synonyms

# How much a word counts, by where in a table it was found.
FIELD_WEIGHTS = {"table": 4.0, "value": 2.5, "column": 1.5, "description": 0.6}
SYNONYM_FACTOR = 0.7
FUZZY_CUTOFF = 85  # rapidfuzz ratio a misspelt word needs to count as a vocabulary word
STRONG = 0.5  # a match scoring at least this share of the best one is "strong": its FK neighbours join in
REFERENCED_BONUS = 0.5  # tables a strong match references (lookups that name its ids)
BRIDGE_BONUS = 0.6  # tables linking two strong matches (link tables such as enrollments)
VALUES_INDEXED = 200
CACHE_SIZE = 8  # indexes kept (one per datasource schema in use)

_WORD = re.compile(r"[a-z0-9]+")
_SPLIT = re.compile(r"[_\W]+|(?<=[a-z])(?=[A-Z])")  # as lexicon.words_of


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return stem(word)


@lru_cache(maxsize=200_000)
def _name_words(name: str) -> tuple[str, ...]:
    """snake_case / camelCase parts of an identifier, singular."""
    return tuple(_stem(p.lower()) for p in _SPLIT.split(name) if p)


@lru_cache(maxsize=200_000)
def _value_words(value: str) -> tuple[str, ...]:
    return tuple(_stem(w) for w in _WORD.findall(value.lower()))


def _terms(text: str) -> list[str]:
    """Content words of free text (questions, descriptions), singular."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOP and len(w) > 1] if text else []


class LinkIndex:
    """Word -> {table position: weight} over one schema, plus its foreign-key graph."""

    def __init__(self, schema: Schema):
        t0 = time.perf_counter()
        self.schema = schema
        self.tables = list(schema.tables)
        self.position = {id(t): i for i, t in enumerate(self.tables)}
        self.postings: dict[str, dict[int, float]] = defaultdict(dict)
        self.references: list[set[int]] = [set() for _ in self.tables]  # outgoing FKs
        self.neighbours: list[set[int]] = [set() for _ in self.tables]  # FKs either way
        self.indegree = [0] * len(self.tables)
        self.name_words = [frozenset(w for w in _name_words(t.name) if w != "id") for t in self.tables]
        by_name = {t.name.lower(): i for i, t in enumerate(self.tables)}
        for i, t in enumerate(self.tables):
            self._add(i, "table", _name_words(t.name))
            for syn in t.synonyms:
                self._add(i, "table", _name_words(syn))
            self._add(i, "description", _terms(t.description))
            for c in t.columns:
                self._add(i, "column", _name_words(c.name))
                for syn in c.synonyms:
                    self._add(i, "column", _name_words(syn))
                if c.description:
                    self._add(i, "description", _terms(c.description))
                if c.values:
                    self._add(i, "value", {w for v in c.values[:VALUES_INDEXED] for w in _value_words(str(v))})
                target = by_name.get(c.references[0].lower().split(".")[-1]) if c.references else None
                if target is not None and target != i:
                    self.references[i].add(target)
                    self.neighbours[i].add(target)
                    self.neighbours[target].add(i)
                    self.indegree[target] += 1
        self.postings = dict(self.postings)
        self.vocabulary = [w for w in self.postings if len(w) >= 4 and not w.isdigit()]
        self.build_s = time.perf_counter() - t0

    def _add(self, table: int, where: str, words) -> None:
        weight = FIELD_WEIGHTS[where]
        for w in words:
            if len(w) < 2 or w == "id":
                continue
            tables = self.postings[w]
            if tables.get(table, 0.0) < weight:
                tables[table] = weight

    def forms(self, word: str) -> list[tuple[str, float]]:
        """Index words standing for a question word, with how much each counts."""
        out = [(f, 1.0 if f == word else SYNONYM_FACTOR) for f in synonyms(word) if f in self.postings]
        if not out and len(word) >= 4 and self.vocabulary:
            hit = process.extractOne(word, self.vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
            if hit:
                out.append((hit[0], hit[1] / 100 * SYNONYM_FACTOR))
        return out

    def scores(self, question: str, allowed: set[int] | None = None) -> tuple[dict[int, float], set[str]]:
        """Relevance of each matching table (per question word, its best field weight times the
        word's rarity), and the index words the question used."""
        total: dict[int, float] = defaultdict(float)
        used: set[str] = set()
        for word in dict.fromkeys(_terms(question)):
            best: dict[int, float] = {}
            for form, factor in self.forms(word):
                used.add(form)
                idf = math.log(1.0 + len(self.tables) / len(self.postings[form])) * factor
                for t, w in self.postings[form].items():
                    if w * idf > best.get(t, 0.0) and (allowed is None or t in allowed):
                        best[t] = w * idf
            for t, v in best.items():
                total[t] += v
        return total, used

    def choose(self, question: str, max_tables: int, allowed: set[int] | None = None) -> list[int]:
        """Positions of the tables to show, most relevant first: matches plus FK partners of strong ones."""
        raw, used = self.scores(question, allowed)
        if not raw:  # nothing matched: the most referenced tables are the likeliest subjects
            pool = allowed if allowed is not None else range(len(self.tables))
            return sorted(pool, key=lambda t: (-self.indegree[t], t))[:max_tables]
        # A table whose whole name the question uses ("vendors" for "per vendor") beats one that
        # merely shares a word with it ("vendor_archive_2019").
        scores = {t: raw[t] * (1.0 + self._coverage(t, used))
                  for t in sorted(raw, key=lambda t: (-raw[t], t))[: max_tables * 4]}
        ranked = sorted(scores, key=lambda t: (-scores[t], t))
        top = scores[ranked[0]]
        strong = [t for t in ranked[:max_tables] if scores[t] >= STRONG * top]
        bonus: dict[int, float] = defaultdict(float)
        touching: dict[int, list[float]] = defaultdict(list)
        for s in strong:
            for n in self.references[s]:
                bonus[n] += REFERENCED_BONUS * scores[s]
            for n in self.neighbours[s]:
                touching[n].append(scores[s])
        for n, touched in touching.items():
            if len(touched) >= 2:
                bonus[n] += BRIDGE_BONUS * sum(touched)
        combined = {t: (scores[t] if t in scores else raw.get(t, 0.0) * (1.0 + self._coverage(t, used))) + b
                    for t, b in bonus.items() if allowed is None or t in allowed}
        for t in ranked:
            combined.setdefault(t, scores[t])
        return sorted(combined, key=lambda t: (-combined[t], t))[:max_tables]

    def _coverage(self, table: int, used: set[str]) -> float:
        words = self.name_words[table]
        return len(words & used) / len(words) if words else 0.0


_BY_ID: OrderedDict[int, tuple[Schema, LinkIndex]] = OrderedDict()
_BY_FINGERPRINT: OrderedDict[int, LinkIndex] = OrderedDict()


def _fingerprint(schema: Schema) -> int:
    """A hash of everything the index reads; one string join, since hashing 100,000s of fresh small
    strings one by one costs more than the join."""
    parts: list = [schema.dialect]
    for t in schema.tables:
        parts += ("\x1e", t.name, t.description, *t.synonyms)
        for c in t.columns:
            parts += ("\x1d", c.name, c.description, *c.synonyms, *(c.references or ()), *c.values[:VALUES_INDEXED])
    try:
        return hash("\x1f".join(parts))
    except TypeError:  # a non-text sample value
        return hash("\x1f".join(map(str, parts)))


def _remember(cache: OrderedDict, key, value, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def index_for(schema: Schema) -> tuple[LinkIndex, set[int] | None]:
    """The index covering `schema`, and the positions it may use (None: all).

    Reused, in order, for the same Schema object, for a schema made of an indexed schema's own
    Table objects (a role's restricted view), and for an equal schema rebuilt after a refresh.
    """
    hit = _BY_ID.get(id(schema))
    if hit is not None and hit[0] is schema:
        _BY_ID.move_to_end(id(schema))
        return hit[1], None
    for idx in reversed(_BY_FINGERPRINT.values()):
        # Views are new objects per question: checking them is cheap, so they are not remembered.
        if len(schema.tables) < len(idx.tables) and all(id(t) in idx.position for t in schema.tables):
            return idx, {idx.position[id(t)] for t in schema.tables}
    key = _fingerprint(schema)
    idx = _BY_FINGERPRINT.get(key) or LinkIndex(schema)
    _remember(_BY_FINGERPRINT, key, idx, CACHE_SIZE)
    if any(a is not b for a, b in zip(idx.tables, schema.tables)):
        # An equal index built from other Table objects is re-pointed at this schema's.
        idx.tables = list(schema.tables)
        idx.position = {id(t): i for i, t in enumerate(idx.tables)}
        idx.schema = schema
    _remember(_BY_ID, id(schema), (schema, idx), CACHE_SIZE * 4)
    return idx, None


def link(question: str, schema: Schema, *, max_tables: int = 8, max_columns_per_table: int = 40,
         prefer: list[str] | None = None) -> Schema:
    """The sub-schema most relevant to `question`: at most `max_tables` tables, most relevant first,
    each with at most `max_columns_per_table` columns (keys and question-matching columns kept).
    `prefer` names tables found by meaning (embeddings); they come first, lexical matches fill the rest.

    A pure function of its arguments over a schema nobody mutates (cached schemas are rebuilt, not
    edited), so the same question on the same schema object gets the same linked object back: the
    value hints and the prompt remembered for it (value_hints.py, llm.py) then apply too."""
    return _linked(schema, question, max_tables, max_columns_per_table, tuple(prefer or ()))


def forget_links() -> None:
    """Empty the memo of linked schemas (benchmarks time the linking itself)."""
    _linked.clear()


def _link(schema: Schema, question: str, max_tables: int, max_columns_per_table: int,
          prefer: tuple[str, ...]) -> Schema:
    if len(schema.tables) <= max_tables:
        chosen = list(schema.tables)
    else:
        idx, allowed = index_for(schema)
        chosen = [idx.tables[i] for i in idx.choose(question, max_tables, allowed)]
        if prefer:
            by_name = {t.name: t for t in schema.tables}
            first = [by_name[n] for n in prefer if n in by_name]
            chosen = (first + [t for t in chosen if t not in first])[:max_tables]
    words = set(_terms(question))
    words |= {s for w in list(words) for s in synonyms(w)}
    tables = [t if len(t.columns) <= max_columns_per_table else replace(t, columns=_columns(t, words, max_columns_per_table))
              for t in chosen]
    return Schema(schema.dialect, tables)


_linked = IdentityMemo(_link)  # per schema object and (question, caps, preferred tables)


def _columns(table: Table, words: set[str], cap: int) -> list[Column]:
    """Keys first, then columns the question names (or whose values it mentions), then the rest, in
    the table's own order."""
    long_words = [w for w in words if len(w) >= 3]

    def rank(c: Column) -> int:
        if c.primary_key or c.references:
            return 0
        if words & set(_name_words(c.name)):
            return 1
        if c.values and long_words:
            blob = " ".join(str(v) for v in c.values[:VALUES_INDEXED]).lower()
            if any(w in blob for w in long_words):
                return 1
        return 2

    keep = set(sorted(range(len(table.columns)), key=lambda i: (rank(table.columns[i]), i))[:cap])
    return [c for i, c in enumerate(table.columns) if i in keep]


# --- prompt text -----------------------------------------------------------------------------------
SAMPLE_VALUES = 8
VALUE_CHARS = 40
DESCRIPTION_CHARS = 200
RESERVED = frozenset("""all and any as asc between by case check column constraint create cross current_date
current_time current_timestamp default delete desc distinct drop else end except exists false fetch for foreign
from full grant group having in index inner insert intersect into is join key left like limit natural not null
of offset on or order outer primary references right rows select set table then to true union unique update user
using values when where window with""".split())


def ident(name: str, dialect: str) -> str:
    """`name` as the dialect needs it written (quoted only when it must be)."""
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name.lower() not in RESERVED
    # PostgreSQL folds unquoted names to lower case, so a mixed-case name must be quoted there.
    if plain and (dialect != "postgres" or name == name.lower()):
        return name
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sample(value) -> str:
    """A sample value as an SQL string, spaces and case as stored (a long one cut, marked with …)."""
    text = str(value)
    text = text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"
    text = text.replace("\r", "\\r").replace("\n", "\\n")  # one value per comment line
    return "'" + text.replace("'", "''") + "'"


def _table_ddl(t: Table, dialect: str, *, notes: bool = True, unshown: tuple[str, ...] = ()) -> str:
    """`unshown`: columns whose foreign-key target the schema text does not show (no remark names it)."""
    kind = "VIEW" if t.kind == "view" else "TABLE"
    head = f"CREATE {kind} {ident(t.name, dialect)} ("
    if notes and t.description:
        head += f"  -- {_clip(t.description, DESCRIPTION_CHARS)}"
    lines = [head]
    for n, c in enumerate(t.columns):
        comma = "," if n < len(t.columns) - 1 else ""
        line = f"  {ident(c.name, dialect)} {c.data_type}{comma}"
        remarks = []
        if c.primary_key:
            remarks.append("primary key")
        if c.references and c.name not in unshown:
            remarks.append(f"references {c.references[0]}({c.references[1]})")
        if notes and c.description:
            remarks.append(_clip(c.description, DESCRIPTION_CHARS))
        if notes and c.values:
            sample = ", ".join(_sample(v) for v in c.values[:SAMPLE_VALUES])
            remarks.append(f"values: {sample}" + (", …" if len(c.values) > SAMPLE_VALUES else ""))
        lines.append(line + (f"  -- {'; '.join(remarks)}" if remarks else ""))
    lines.append(");")
    return "\n".join(lines)


_ddl_of = IdentityMemo(lambda t, dialect, notes, unshown: _table_ddl(t, dialect, notes=notes, unshown=unshown))


def _keys(t: Table) -> tuple[str, frozenset[str], tuple[tuple[str, str, str], ...]]:
    """A table's name and column names (lower-case), and its foreign keys as (column, target
    table, target column), targets lower-case."""
    return (t.name.lower(), frozenset(c.name.lower() for c in t.columns),
            tuple((c.name, c.references[0].lower().split(".")[-1], c.references[1].lower())
                  for c in t.columns if c.references))


_keys_of = IdentityMemo(_keys)


def render_schema(schema: Schema, dialect: str | None = None, *, max_chars: int = 24_000,
                  cut: list[str] | None = None) -> str:
    """CREATE TABLE-like text with descriptions and sample values as comments, at most `max_chars`.

    Tables come in the schema's order (link puts the most relevant first); one that does not fit
    is shown without comments, and once even that does not fit the rest are named as omitted.
    What was left out is appended to `cut`, when given. A foreign key's remark names only a table
    (and column) of `schema`, so the text names nothing the schema does not hold.
    """
    dialect = dialect or schema.dialect
    parts: list[str] = []
    used = 0
    bare: list[str] = []
    keys = [_keys_of(t) for t in schema.tables]
    # A foreign key's remark names its target only when the text shows it: a role's schema lacks the
    # tables it may not see and every hidden column, so naming the target would leak it.
    shown = {name: columns for name, columns, _ in keys}
    for n, t in enumerate(schema.tables):
        unshown: tuple[str, ...] = ()
        for name, table, column in keys[n][2]:
            if column not in shown.get(table, ()):
                unshown += (name,)
        block = _ddl_of(t, dialect, True, unshown)
        if used + len(block) > max_chars:
            block = _ddl_of(t, dialect, False, unshown)
            bare.append(t.name)
        if used + len(block) > max_chars:
            bare.pop()
            rest = len(schema.tables) - n
            parts.append(f"-- {rest} more table{'s' if rest > 1 else ''} omitted for length")
            if cut is not None:
                cut.append(f"tables omitted: {', '.join(x.name for x in schema.tables[n:])}")
            break
        parts.append(block)
        used += len(block) + 2
    if bare and cut is not None:
        cut.insert(0, f"descriptions and sample values of: {', '.join(bare)}")
    return "\n\n".join(parts)
