"""Value hints: the stored values a question names, shown to the model in their exact stored form.

Values come from the value index (`Column.values`) and, for text columns with too many distinct
values to index (`Column.lookup`), from a bounded lookup in the database. A value matches when its
words are a phrase of the question — exactly, word by word after stemming ("volvos" ~ 'volvo'), or
fuzzily (rapidfuzz, for typos). Every database read is rewritten by the caller's `lookup.enforce`
(the role's policy) before it runs (value_reads.py); for a role under row filters, index values are
confirmed through it too, so a prompt never carries a value from a row the role cannot see.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

from rapidfuzz import fuzz, process
from tabletalk.core.cache import IdentityMemo, keep
from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.lexicon import STOP, stem
from tabletalk.core.nlq.linking import ident
from tabletalk.core.nlq.value_reads import Lookup, read_values

MAX_PER_COLUMN = 4
MAX_HINTS = 24
MAX_NGRAM = 6           # longest value (in words) matched as a phrase
MAX_PART = 2            # values found by one named word, per column
FUZZY_CUTOFF = 88       # rapidfuzz ratio for a misspelt value
FUZZY_MIN_CHARS = 5
LOOKUP_COLUMNS = 8      # over-the-cap columns looked up per question
LOOKUP_WORDS = 6        # question words searched per looked-up column
SCORES = {"exact": 1.0, "case": 0.95, "stem": 0.9, "part": 0.7}  # fuzzy: ratio / 100 * 0.8; part: times the share named
_EXACT, _CASE, _STEM = (("exact", SCORES["exact"]), ("case", SCORES["case"]), ("stem", SCORES["stem"]))

_TOKEN = re.compile(r"[^\W_]+")
_QUOTED = re.compile(r"[\"'‘“]([^\"'‘’“”]{2,60})[\"'’”]")


@dataclass(frozen=True)
class ValueHint:
    table: str
    column: str
    value: str  # exactly as stored
    how: str    # exact | case | stem | part | fuzzy
    score: float


@lru_cache(maxsize=200_000)
def _keys(value: str) -> tuple[str, str, int]:
    """(words joined by a space, their stems joined, word count) of a stored value."""
    words = _TOKEN.findall(value.lower())
    return " ".join(words), " ".join(stem(w) for w in words), len(words)


class Question:
    """A question's phrases (1..MAX_NGRAM words), plain and stemmed, for set look-ups."""

    def __init__(self, text: str):
        self.text = text
        self.raw = _TOKEN.findall(text)
        self.written = frozenset(self.raw)  # its words as written, for values matched only as written
        words = [w.lower() for w in self.raw]
        stems = [stem(w) for w in words]
        plain = [w not in STOP for w in words]
        self.phrases: set[str] = set()
        self.stemmed: set[str] = set()
        fuzzy: dict[str, None] = {}  # phrases worth a fuzzy comparison: 1..3 words, one not a stop word
        end = len(words)
        for i in range(end):
            phrase, stemmed, content = words[i], stems[i], plain[i]
            self.phrases.add(phrase)
            self.stemmed.add(stemmed)
            if content and len(phrase) >= FUZZY_MIN_CHARS:
                fuzzy[phrase] = None
            for j in range(i + 1, min(i + MAX_NGRAM, end)):
                phrase = f"{phrase} {words[j]}"
                stemmed = f"{stemmed} {stems[j]}"
                self.phrases.add(phrase)
                self.stemmed.add(stemmed)
                if j - i < 3:
                    content = content or plain[j]
                    if content and len(phrase) >= FUZZY_MIN_CHARS:
                        fuzzy[phrase] = None
        self.fuzzy = list(fuzzy)
        # Words worth searching a column for: names written with a capital (not the first word) first.
        capital = {w.lower() for i, w in enumerate(self.raw) if i and w[:1].isupper()}
        self.content = sorted({w for w in words if (len(w) >= 3 or w in capital) and w not in STOP and not w.isdigit()},
                              key=lambda w: (w not in capital, -len(w), w))
        # Names the question writes as names (a capital, or in quotes): "Ford" may stand for 'Ford Motor Company'.
        quoted = {w.lower() for part in _QUOTED.findall(text) for w in _TOKEN.findall(part)}
        self.names = {w for w in capital | quoted if len(w) >= 3 and w not in STOP and not w.isdigit()}


class _Values:
    """A column's distinct stored values arranged for look-ups by a question's phrases, built once
    per values list (the schema cache keeps the lists; `_values_of` keeps this beside them)."""

    def __init__(self, values: Sequence[str]):
        self.by_key: dict[str, list[str]] = {}   # words joined -> values (1..MAX_NGRAM words)
        self.by_stem: dict[str, list[str]] = {}  # stems joined -> values with a word of 3+ letters
        self.short: list[str] = []               # 'IN', 'F', 'or': matched only as written
        self.by_word: dict[str, list[tuple[str, int, int]]] = {}  # word -> (value, words, position)
        fuzzy: dict[str, list[str]] = {}
        for pos, v in enumerate(dict.fromkeys(values)):  # distinct stored values stay distinct ('US', 'US ')
            key, stemmed, n = _keys(v)
            if key and n <= MAX_NGRAM:
                if key in STOP or len(key) == 1:
                    self.short.append(v)
                else:
                    self.by_key.setdefault(key, []).append(v)
                    if any(len(w) >= 3 for w in key.split()):
                        self.by_stem.setdefault(stemmed, []).append(v)
            if 1 < n <= MAX_NGRAM:
                for w in set(key.split()):
                    self.by_word.setdefault(w, []).append((v, n, pos))
            if len(key) >= FUZZY_MIN_CHARS and not key.isdigit():
                fuzzy.setdefault(key, []).append(v)
        self.fuzzy_keys = list(fuzzy)
        self.fuzzy_values = list(fuzzy.values())

    def matches(self, q: Question) -> dict[str, tuple[str, float]]:
        """Values the question writes: exactly, as stored (short ones), or word by word stemmed."""
        out: dict[str, tuple[str, float]] = {}
        stems = q.stemmed & self.by_stem.keys()
        if stems:
            out.update((v, _STEM) for s in stems for v in self.by_stem[s])
        exact = q.phrases & self.by_key.keys()
        if exact:
            out.update((v, _EXACT) for p in exact for v in self.by_key[p])
        if self.short:
            out.update((v, _CASE) for v in self.short if v.strip() in q.written)
        return out

    def part_matches(self, names: set[str]) -> dict[str, float]:
        """Values of a few words, at least a third of which are among the names the question writes."""
        named: dict[str, tuple[int, int, int]] = {}  # value -> (names it has, words, position)
        for w in names & self.by_word.keys():
            for v, n, pos in self.by_word[w]:
                hits = named.get(v, (0, n, pos))
                named[v] = (hits[0] + 1, n, pos)
        ranked = sorted(((hits / n, pos, v) for v, (hits, n, pos) in named.items() if hits / n >= 1 / 3),
                        key=lambda t: (-t[0], t[1]))
        return {v: SCORES["part"] * share for share, _, v in ranked[:MAX_PART]}


def _fuzzy_matches(q: Question, indexes: Sequence[_Values]) -> list[dict[str, float]]:
    """Misspelt values of each column: the best three stored forms per question phrase and column,
    by rapidfuzz ratio — one comparison of every phrase with every column's values."""
    out: list[dict[str, float]] = [{} for _ in indexes]
    if not q.fuzzy:
        return out
    keys = list(chain.from_iterable(ix.fuzzy_keys for ix in indexes))
    if not keys:
        return out
    starts, owner = [], []
    for n, ix in enumerate(indexes):
        starts.append(len(owner))
        owner += [n] * len(ix.fuzzy_keys)
    scores = process.cdist(q.fuzzy, keys, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, workers=1)
    rows, cols = scores.nonzero()
    hits: dict[tuple[int, int], list[int]] = {}  # (phrase, column) -> keys
    for i, j in zip(rows.tolist(), cols.tolist()):
        hits.setdefault((i, owner[j]), []).append(j)
    for (i, n), found in hits.items():
        for j in sorted(found, key=lambda j: (-scores[i, j], j))[:3]:
            for v in indexes[n].fuzzy_values[j - starts[n]]:
                out[n][v] = max(out[n].get(v, 0.0), float(scores[i, j]) / 100 * 0.8)
    return out


_values_of = IdentityMemo(_Values, max_items=20_000)
# The words of a table's and its columns' names, with and without a plural s.
_name_forms_of = IdentityMemo(lambda t: frozenset(
    w for name in (t.name, *(c.name for c in t.columns))
    for w in _TOKEN.findall(name.lower().replace("_", " ")) for w in (w, w + "s", w.rstrip("s"))))
_text_columns_of = IdentityMemo(lambda t: [c for c in t.columns if c.kind == "text" and (c.values or c.lookup)])


def _columns_hints(q: Question, names: set[str],
                   columns: Sequence[tuple[Table, Column, Sequence[str]]]) -> list[list[ValueHint]]:
    """Each column's best hints: the values the question writes, else misspelt or partly named ones
    (`names`: the names the question writes, less the schema's own words)."""
    indexes = [_values_of(values) if values is col.values else _Values(values) for _, col, values in columns]
    exact = [ix.matches(q) for ix in indexes]
    unmatched = [n for n, found in enumerate(exact) if not found]
    fuzzy = dict(zip(unmatched, _fuzzy_matches(q, [indexes[n] for n in unmatched])))
    out = []
    for n, (table, col, _) in enumerate(columns):
        if exact[n]:
            hints = [ValueHint(table.name, col.name, v, how, s) for v, (how, s) in exact[n].items()]
        else:
            near = {v: (s, "fuzzy") for v, s in fuzzy[n].items()}
            if names:
                for v, s in indexes[n].part_matches(names).items():
                    if s > near.get(v, (0.0, ""))[0]:
                        near[v] = (s, "part")
            if not near:
                out.append([])
                continue
            hints = [ValueHint(table.name, col.name, v, how, s) for v, (s, how) in near.items()]
        hints.sort(key=lambda h: (-h.score, -len(h.value), h.value))
        out.append(hints[:MAX_PER_COLUMN])
    return out


_question = lru_cache(maxsize=4096)(Question)  # a question's phrases; nothing changes a Question once built
INDEX_HINTS_KEPT = 4096
_index_hints_memo: dict[tuple, tuple[list, list[list[ValueHint]]]] = {}
_hints_memo: dict[tuple, tuple[Schema, tuple[ValueHint, ...]]] = {}  # question_values without reads


def _index_hints(q: Question, names: set[str], columns: Sequence[tuple[Table, Column, Sequence[str]]]
                 ) -> list[list[ValueHint]]:
    """`_columns_hints` of columns matched from their index values, remembered: a pure function of
    the question and the (never mutated) cached tables and columns, so a question asked again over
    the same schema costs a lookup, not a fuzzy comparison with every stored value. Bounded (oldest
    first out); each entry holds its columns, so their ids are not reused while it lives."""
    key = (q.text, frozenset(names), tuple(id(c) for _, c, _ in columns))
    hit = _index_hints_memo.get(key)
    if hit is not None and all(a is c for a, (_, c, _) in zip(hit[0], columns)):
        return hit[1]
    found = _columns_hints(q, names, columns)
    keep(_index_hints_memo, key, ([c for _, c, _ in columns], found), INDEX_HINTS_KEPT)
    return found


async def _searched(q: Question, names: set[str], table: Table, col: Column, dialect: str, lookup: Lookup,
                    filtered: bool) -> list[ValueHint]:
    """Hints of an over-the-cap column: its index values and those of its rows containing one of the
    question's longest words (confirmed, for a filtered role, when they came from the index)."""
    found = await read_values(lookup, table, col, dialect, "like", [f"%{w}%" for w in q.content[:LOOKUP_WORDS]])
    hints = _columns_hints(q, names, [(table, col, [*col.values, *(found or [])])])[0]
    if hints and filtered and col.values:
        return await _confirmed(hints, table, col, dialect, lookup)
    return hints


async def _confirmed(hints: list[ValueHint], table: Table, col: Column, dialect: str, lookup: Lookup) -> list[ValueHint]:
    """The hints whose value occurs in a row the role can see."""
    seen = set(await read_values(lookup, table, col, dialect, "in", [h.value for h in hints]) or [])
    return [h for h in hints if h.value in seen]


async def question_values(question: str, schema: Schema, *, lookup: Lookup | None = None,
                          filtered: bool = False) -> list[ValueHint]:
    """Stored values of `schema`'s text columns that `question` names, best first per column, at
    most MAX_HINTS. Without `lookup`, only index values are used (and none when `filtered`).

    When no database read was needed (nothing over the cap, an unfiltered asker) the hints are a
    pure function of the question and the schema object, and are remembered for both."""
    key = (question, id(schema), lookup is None)
    hit = None if filtered else _hints_memo.get(key)
    if hit is not None and hit[0] is schema:
        return list(hit[1])
    q = _question(question)
    if not q.raw:
        return []
    # A capitalised "Airport" names the airports table, not a value that has the word in it.
    names = q.names - set().union(*(_name_forms_of(t) for t in schema.tables)) if q.names else q.names
    columns = [(t, c) for t in schema.tables for c in _text_columns_of(t)]
    looked = {id(c) for _, c in [tc for tc in columns if tc[1].lookup][:LOOKUP_COLUMNS]}
    chosen = [(t, c) for t, c in columns if not c.lookup or id(c) in looked]
    # Columns are matched from the index at once; only the database reads wait: searches of
    # over-the-cap columns (when the question has words to search for) and, for a filtered role,
    # confirmations of index hints. They run side by side, so a question waits for one lookup's
    # timeout at most, and a question that needs no read starts no task.
    search = lookup is not None and bool(q.content)
    local = [(t, c, c.values) for t, c in chosen if not (search and c.lookup)]
    found = iter(_index_hints(q, names, local))
    hints: list[list[ValueHint] | None] = []
    reads = []
    for t, c in chosen:
        if search and c.lookup:
            reads.append((len(hints), _searched(q, names, t, c, schema.dialect, lookup, filtered)))
            hints.append(None)
            continue
        mine = next(found)
        if mine and filtered and c.values:  # index hints a filtered role's rows must confirm
            if lookup is None:
                mine = []
            else:
                reads.append((len(hints), _confirmed(mine, t, c, schema.dialect, lookup)))
        hints.append(mine)
    if len(reads) == 1:
        hints[reads[0][0]] = await reads[0][1]
    elif reads:
        for (n, _), read in zip(reads, await asyncio.gather(*(job for _, job in reads))):
            hints[n] = read
    out = [h for column in hints for h in column]
    if len(out) > MAX_HINTS:
        best = set(sorted(range(len(out)), key=lambda i: (-out[i].score, i))[:MAX_HINTS])
        out = [h for i, h in enumerate(out) if i in best]
    if not reads and not filtered:
        keep(_hints_memo, key, (schema, tuple(out)), INDEX_HINTS_KEPT)
    return out


def sql_string(value: str) -> str:
    """A stored value as an SQL string literal, byte for byte (spaces kept, quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def render_hints(hints: Sequence[ValueHint], dialect: str) -> str:
    """One line per column: `table.column: 'value', 'value'`."""
    by_column: dict[tuple[str, str], list[str]] = {}
    for h in hints:
        by_column.setdefault((h.table, h.column), []).append(sql_string(h.value))
    return "\n".join(f"- {ident(t, dialect)}.{ident(c, dialect)}: {', '.join(vs)}" for (t, c), vs in by_column.items())
