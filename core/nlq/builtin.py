"""The built-in NL->SQL engine: deterministic, offline, fast, and honest about what it did not understand.

A question is read into an `Intent` (what is counted or measured, filters, groups, date window,
ordering) using the schema's names, synonyms, descriptions and value index; the intent is then
written as SQL for the datasource's dialect, joining along foreign keys (or `*_id` naming).
When the main entity or measure cannot be mapped, it returns no SQL and says what it understood.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from rapidfuzz import fuzz, process
from sqlglot import exp

from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq import engine as compositional
from tabletalk.core.nlq.dates import NUMBER_WORDS, Window, bucket_sql, find_bucket, find_window
from tabletalk.core.nlq.lexicon import (MONEY_COLUMNS, MONEY_WORDS, STOP, UNIT_PRICE_COLUMNS, ColumnRef, Lexicon,
                                        lexicon_for, stem, words_of)


@dataclass
class BuiltinResult:
    sql: str | None
    confidence: float
    understood: list[str]
    message: str
    chart_hint: str | None = None
    interpretation: str = ""
    engine_stage: str = ""  # "compositional" or "legacy": which reader produced the SQL


# Verbs and fillers that carry no schema meaning in business questions.
FILLER = {"sold", "sell", "sells", "selling", "bought", "buy", "buys", "ordered", "order", "placed", "signed", "up",
          "joined", "registered", "created", "hired", "made", "generated", "spent", "earned", "got", "get", "gets",
          "come", "came", "live", "lives", "living", "based", "located", "belong", "belongs", "belonging", "work",
          "works", "worked", "employed", "paid", "pay", "make", "brought", "record", "recorded", "exist", "in",
          "currently", "right", "now", "today", "did", "done", "happen", "happened", "show", "display", "see",
          "want", "know", "need", "could", "would", "can", "will", "should", "may", "might", "much", "amount",
          "value", "overall", "whole", "entire", "altogether", "combined", "data", "table", "record", "records",
          "row", "rows", "entries", "entry", "information", "info", "details", "detail", "status", "state",
          "had", "went", "go", "goes", "use", "used", "using", "take", "took", "taken", "given", "give", "received",
          "expensive", "cheap", "recent", "new", "old", "big", "small", "large", "long", "short", "popular",
          "valuable", "frequent", "often", "times", "time", "ago", "since", "until", "during", "cheapest", "latest",
          "newest", "oldest", "earliest", "biggest", "largest", "smallest", "highest", "lowest", "most", "least"}
AGG_WORDS = [
    (r"\baverage\b|\bavg\b|\bmean\b|\btypical\b", "avg"),
    (r"\bhow many\b|\bnumber of\b|\bcount\b|\bheadcount\b|\bhow often\b", "count"),
    (r"\btotal\b|\bsum\b|\bcombined\b|\boverall\b|\bhow much\b", "sum"),
    (r"\bmaximum\b|\bmax\b|\bhighest\b|\blargest\b|\bbiggest\b|\bmost expensive\b|\blongest\b|\blatest\b|\bmost recent\b|\bnewest\b", "max"),
    (r"\bminimum\b|\bmin\b|\blowest\b|\bsmallest\b|\bcheapest\b|\bleast expensive\b|\bshortest\b|\bearliest\b|\boldest\b|\bfirst\b", "min"),
]
DISTINCT_RE = re.compile(r"\b(distinct|unique|different)\b")
TOP_RE = re.compile(r"\b(top|bottom|best|worst|highest|lowest|largest|smallest|biggest|first)\s+(\d+|[a-z]+)\b")
TOP_AFTER_RE = re.compile(r"\b(\d+)\s+(most|least|highest|lowest|largest|smallest|biggest|best|worst|top)\b")
SUPERLATIVE_RE = re.compile(r"\b(?:the\s+)?(most|least|highest|lowest|largest|smallest|biggest|fewest|best|worst|top)\b")
COMPARE_RE = re.compile(
    r"\b(more than|greater than|larger than|bigger than|higher than|over|above|exceeding|at least|no less than|"
    r"heavier than|longer than|more expensive than|older than|lighter than|shorter than|cheaper than|younger than|"
    r"less than|fewer than|lower than|smaller than|under|below|at most|no more than|equal to|exactly|of)\s+"
    r"(?:\$|€|£)?(-?\d+(?:\.\d+)?)\b")
BETWEEN_RE = re.compile(r"\bbetween\s+(?:\$|€)?(-?\d+(?:\.\d+)?)\s+and\s+(?:\$|€)?(-?\d+(?:\.\d+)?)\b")
COMPARE_OPS = {"more than": ">", "greater than": ">", "larger than": ">", "bigger than": ">", "higher than": ">",
               "over": ">", "above": ">", "exceeding": ">", "at least": ">=", "no less than": ">=", "less than": "<",
               "fewer than": "<", "lower than": "<", "smaller than": "<", "under": "<", "below": "<",
               "at most": "<=", "no more than": "<=", "equal to": "=", "exactly": "=", "of": "=",
               "heavier than": ">", "longer than": ">", "more expensive than": ">", "older than": ">",
               "lighter than": "<", "shorter than": "<", "cheaper than": "<", "younger than": "<"}
# Adjectives that point at a kind of column ("heavier", "longest", "most expensive").
ADJECTIVE_COLUMNS = [
    (r"heav|light", ("weight", "kg", "mass", "lb")),
    (r"long|short", ("length", "duration", "pages", "page", "minutes", "hours", "distance", "km", "days")),
    (r"expensive|cheap|pric|costl", ("price", "cost", "amount", "fee", "total")),
    (r"old|young", ("age", "birth", "born")),
    (r"big|large|small|high|low", ("size", "amount", "total", "capacity", "weight", "value", "count", "quantity")),
]
ANTI_RE = re.compile(r"\b(?:have|has|had|with|got)\s+(?:no|zero|not any|never had any)\s+((?:[a-z_]+\s*){1,3})"
                     r"|\bwithout\s+(?:any\s+|an?\s+)?((?:[a-z_]+\s*){1,3})|\bnever\s+((?:[a-z_]+\s*){1,4})"
                     r"|\b(?:do|does|did)\s+not\s+have\s+(?:any\s+|an?\s+)?((?:[a-z_]+\s*){1,3})")
GROUP_RE = re.compile(r"\b(?:per|by|for each|for every|each|every|across|split by|broken down by|grouped by|group by|"
                      r"breakdown by|split that by|split it by|break it down by|break that down by|by each)\s+([a-z_]+(?:\s[a-z_]+)?)")
WHICH_RE = re.compile(r"^(?:which|what)\s+([a-z_]+(?:\s[a-z_]+)?)\s+(?:has|have|had|is|are|was|were|did|do|does|sold|got|made|"
                      r"generated|brought|spent|placed|with|bought|[a-z]+ed|sends?|ships?|gets?|makes?|owns?|sells?)\b")
WHICH_ROW_RE = re.compile(r"^(?:which|what)\s+([a-z_]+)\s+(?:is|was|has)\s+(?:the\s+)?(most expensive|cheapest|longest|shortest|"
                          r"heaviest|lightest|biggest|largest|smallest|oldest|newest|latest|earliest|highest|lowest)\b")
UNSUPPORTED_RE = re.compile(r"\b(median|percentile|standard deviation|stddev|variance|correlation|forecast|predict)\b")
FOLLOW_UP_RE = re.compile(r"^(?:and|what about|how about|now|only|just|but|same|split|break|also|then|ok|okay|show that|that)\b|\b(?:that|those|them|it)\b")
BOOL_TRUE = re.compile(r"\b(active|enabled|verified|paid|open|available|published|completed|approved|current)\b")


@dataclass
class Filter:
    ref: ColumnRef
    op: str
    value: object
    label: str


@dataclass
class Measure:
    table: Table
    sql: str        # expression over the table's columns, already quoted
    label: str      # output alias stem
    columns: tuple[str, ...]


@dataclass
class Intent:
    entity: Table | None = None
    agg: str | None = None
    distinct: ColumnRef | None = None
    measure: Measure | None = None
    groups: list[ColumnRef] = field(default_factory=list)
    group_tables: list[Table] = field(default_factory=list)
    bucket: str | None = None
    window: Window | None = None
    date_hint: str | None = None
    filters: list[Filter] = field(default_factory=list)
    compares: list[tuple[str, float, int]] = field(default_factory=list)  # (op, number, position)
    between: tuple[float, float] | None = None
    top: tuple[int, str] | None = None
    superlative: str | None = None
    anti: Table | None = None
    having: tuple[str, float, Table] | None = None
    mentioned_columns: list[tuple[int, ColumnRef]] = field(default_factory=list)
    mentioned_tables: list[tuple[int, Table]] = field(default_factory=list)
    money: bool = False
    unknown: list[str] = field(default_factory=list)
    which: bool = False
    row_pick: str | None = None  # the superlative picking a row ("most expensive", "latest")
    compare_words: dict = field(default_factory=dict)  # position -> comparative phrase ("heavier than")
    subject_measure: bool = False  # a numeric column named before the entity ("cost of delayed shipments")
    anti_candidates: list = field(default_factory=list)
    direct_hits: dict = field(default_factory=dict)  # column key -> question words naming it directly
    words: set = field(default_factory=set)

    @property
    def has_subject(self) -> bool:
        return self.entity is not None or self.measure is not None or self.agg is not None and self.agg != "count"


# ---------------------------------------------------------------------------------------------
# Reading a question


def _normalise(question: str) -> str:
    q = question.lower().replace("’", "'")
    q = re.sub(r"'s\b", "", q)
    q = re.sub(r"[?!;:,\"“”()]", " ", q)
    q = re.sub(r"(?<=\d),(?=\d{3})", "", q)
    q = re.sub(r"\s+", " ", q).strip()
    return q


def _number(word: str) -> int | None:
    return int(word) if word.isdigit() else NUMBER_WORDS.get(word) if word not in ("a", "an") else None


def _tokens(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group(0)) for m in re.finditer(r"[a-z][a-z0-9_'-]*|\d+(?:\.\d+)?", text)]


def _match_values(lex: Lexicon, text: str, used: set[int]) -> list[tuple[int, int, ColumnRef, str]]:
    """Indexed values named in the text: exact n-grams first, then close spellings of single words."""
    toks = _tokens(text)
    found = []
    n_max = lex.max_value_words
    i = 0
    taken: set[int] = set()
    for n in range(n_max, 0, -1):
        for i in range(len(toks) - n + 1):
            idxs = set(range(i, i + n))
            if idxs & taken:
                continue
            phrase = " ".join(t for _, t in toks[i:i + n])
            hits = lex.values.get(phrase) or (lex.values.get(stem(phrase)) if n == 1 else None)
            if not hits and n == 1 and phrase.endswith("ed"):
                hits = lex.values.get(phrase[:-1]) or lex.values.get(phrase[:-2])
            if hits:
                taken |= idxs
                found.append((toks[i][0], toks[i + n - 1][0] + len(toks[i + n - 1][1]), hits, phrase))
    if lex.values:
        keys = list(lex.values)
        for i, (pos, word) in enumerate(toks):
            if i in taken or len(word) < 5 or word in STOP or word in FILLER or word.isdigit():
                continue
            if lex.table_words.get(stem(word)) or lex.column_words.get(stem(word)):
                continue
            best = process.extractOne(word, keys, scorer=fuzz.ratio, score_cutoff=88)
            if best is None and len(word) >= 7:
                # "cardiologists" ~ "Cardiology": a long shared stem names the same value.
                stems = [k for k in keys if " " not in k and len(_common_prefix(word, k)) >= max(6, int(0.75 * len(k)))]
                best = (stems[0],) if len(stems) == 1 else None
            if best:
                taken.add(i)
                found.append((pos, pos + len(word), lex.values[best[0]], word))
    out = []
    for start, end, hits, phrase in found:
        ref, original = hits[0]
        if len(hits) > 1:  # the same value in several columns: prefer the column whose name is in the question
            named = [h for h in hits if h[0].column.name.lower() in text or stem(h[0].table.name) in text]
            ref, original = (named or hits)[0]
        out.append((start, end, ref, original))
    return out


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _resolve_phrase(lex: Lexicon, phrase: str) -> tuple[ColumnRef | None, Table | None]:
    """A group-by phrase ('office', 'product category', 'customer') as a column or a table."""
    words = [w for w in phrase.split() if w not in STOP]
    if not words:
        return None, None
    joined = stem("_".join(words))
    for t in lex.schema.tables:
        for c in t.columns:
            if stem(c.name.lower()) == joined:
                return ColumnRef(t, c), None
    last = stem(words[-1])
    if len(words) > 1:
        tables = lex.table_words.get(stem(words[0]), [])
        for t in tables:
            c = t.column(words[-1]) or next((c for c in t.columns if stem(c.name.lower()) == last), None)
            if c:
                return ColumnRef(t, c), None
    cols = [r for r in lex.column_words.get(last, []) if not r.column.primary_key and not r.column.name.lower().endswith("_id")]
    exact = [r for r in cols if stem(r.column.name.lower()) == last]
    tables = lex.table_words.get(last, [])
    direct_tables = [t for t in tables if last in {stem(t.name), stem(t.name.split("_")[-1])}]
    if exact:
        return _prefer_text(exact), None
    if direct_tables:
        return None, direct_tables[0]
    if cols:
        return _prefer_text(cols), None
    if tables:
        return None, tables[0]
    return None, None


def _prefer_text(refs: list[ColumnRef]) -> ColumnRef:
    return sorted(refs, key=lambda r: (r.column.kind != "text", r.column.references is not None))[0]


def read_question(question: str, lex: Lexicon, today: date) -> Intent:
    intent = Intent()
    q = _normalise(question)
    intent.window, q = find_window(q, today)
    intent.bucket, q = find_bucket(q)
    for pattern, agg in AGG_WORDS:
        if re.search(pattern, q):
            intent.agg = agg
            break
    if DISTINCT_RE.search(q):
        intent.agg = "count_distinct" if intent.agg in (None, "count") else intent.agg
    m = TOP_RE.search(q) or None
    if m and _number(m.group(2)):
        direction = "asc" if m.group(1) in ("bottom", "worst", "lowest", "smallest") else "desc"
        intent.top = (_number(m.group(2)), direction)
        if intent.agg in ("max", "min") and re.search(r"\b(highest|lowest|largest|smallest|biggest|first)\s+\d", q):
            intent.agg = None
        q = q[:m.start()] + " " + q[m.end():]
    else:
        m2 = TOP_AFTER_RE.search(q)
        if m2:
            direction = "asc" if m2.group(2) in ("least", "lowest", "smallest", "worst") else "desc"
            intent.top = (int(m2.group(1)), direction)
            q = q[:m2.start()] + " " + q[m2.end():]
    if intent.agg in ("max", "min") and intent.top is None:
        # "the most expensive product", "latest order": pick a row rather than aggregate a column.
        m_agg = re.search(r"\b(most expensive|least expensive|highest|lowest|largest|smallest|biggest|cheapest|longest|"
                          r"shortest|latest|most recent|newest|earliest|oldest)\s+(?:paid\s+|priced\s+|valued\s+)?([a-z_]+)", q)
        if m_agg and any(stem(t.name) == stem(m_agg.group(2)) or stem(t.name.split("_")[-1]) == stem(m_agg.group(2))
                         for t in lex.table_words.get(stem(m_agg.group(2)), [])):
            intent.top = (1, "desc" if intent.agg == "max" else "asc")
            intent.row_pick = m_agg.group(1)
            intent.agg = None
    sup = SUPERLATIVE_RE.search(q)
    if sup and intent.top is None:
        intent.superlative = "asc" if sup.group(1) in ("least", "lowest", "smallest", "fewest", "worst") else "desc"
    wr = WHICH_ROW_RE.search(q)
    if wr and lex.table_words.get(stem(wr.group(1))):
        # "which book is the longest": one row of that table, ordered by the adjective's column.
        intent.row_pick = wr.group(2)
        desc = not re.search(r"cheap|short|light|young|earliest|lowest|smallest", wr.group(2))
        intent.top, intent.agg = (1, "desc" if desc else "asc"), None
        q = q[:wr.end(1)] + " " + q[wr.end():]
    wm = None if wr else WHICH_RE.search(q)
    if wm:
        intent.which = True
    mb = BETWEEN_RE.search(q)
    if mb:
        intent.between = (float(mb.group(1)), float(mb.group(2)))
        q = q[:mb.start()] + " " + q[mb.end():]
    for mc in COMPARE_RE.finditer(q):
        if mc.group(1) == "of" and not re.search(r"\b(rating|score|age|size|level|grade)\s+of\s+\d", q):
            continue
        intent.compares.append((COMPARE_OPS[mc.group(1)], float(mc.group(2)), mc.start()))
        if mc.group(1).endswith(" than") and mc.group(1).split()[0] not in ("more", "less", "greater", "fewer", "at", "no", "equal"):
            intent.compare_words[mc.start()] = mc.group(1)
    q_no_cmp = COMPARE_RE.sub(lambda mc: " " if mc.group(1) != "of" else mc.group(0), q)

    am = ANTI_RE.search(q_no_cmp)
    anti_words = next((g for g in am.groups() if g), "") if am else ""
    # Values first: "cancelled orders", "in Berlin".
    values = _match_values(lex, q_no_cmp, set())
    covered: list[tuple[int, int]] = []
    for start, end, ref, original in values:
        intent.filters.append(Filter(ref, "=", original, f"{ref.table.name}.{ref.column.name} = '{original}'"))
        covered.append((start, end))
    # Groups.
    group_spans = []
    for gm in GROUP_RE.finditer(q_no_cmp):
        phrase = gm.group(1)
        ref, table = _resolve_phrase(lex, phrase)
        if ref is None and table is None and " " in phrase:
            ref, table = _resolve_phrase(lex, phrase.split()[0])
        if ref is not None and _numeric(ref.column):
            # "top 3 projects by budget": ranking by a measure, not grouping by its values.
            intent.mentioned_columns.append((gm.start(1), ref))
            group_spans.append((gm.start(), gm.end()))
            if intent.top is None and intent.superlative is None:
                intent.superlative = "desc"
        elif ref is not None:
            intent.groups.append(ref)
            group_spans.append((gm.start(), gm.end()))
        elif table is not None:
            intent.group_tables.append(table)
            group_spans.append((gm.start(), gm.end()))
    if wm and not intent.groups and not intent.group_tables:
        ref, table = _resolve_phrase(lex, wm.group(1))
        if ref is not None and ref.column.kind == "text":
            intent.groups.append(ref)
            group_spans.append((wm.start(1), wm.end(1)))
        elif table is not None:
            intent.group_tables.append(table)
            group_spans.append((wm.start(1), wm.end(1)))
    # Remaining words: tables, columns, money words; everything else is unknown.
    for pos, word in _tokens(q_no_cmp):
        if any(s <= pos < e for s, e in covered):
            continue
        in_group = any(s <= pos < e for s, e in group_spans)
        w = stem(word)
        if word in MONEY_WORDS or w in MONEY_WORDS:
            intent.money = True
            continue
        tables = lex.table_words.get(w, [])
        cols = lex.column_words.get(w, [])
        if not tables and not cols and word.endswith("ed") and len(word) > 4:
            # "ordered", "booked", "shipped": a verb naming a table's event counts as naming the table.
            tables = lex.table_words.get(word[:-2], []) or lex.table_words.get(word[:-1], [])
            tables = [t for t in tables if stem(t.name) in (word[:-2], word[:-1])]
        if tables and not in_group:
            exact = [t for t in tables if w in {stem(t.name), stem(t.name.split("_")[-1])}]
            intent.mentioned_tables.append((pos, (exact or tables)[0]))
        if cols and not in_group:
            for ref in cols:
                intent.mentioned_columns.append((pos, ref))
                if w in words_of(ref.column.name):  # named, not reached through a synonym
                    intent.direct_hits[ref.key] = intent.direct_hits.get(ref.key, 0) + 1
        if not tables and not cols and not in_group and word not in STOP and word not in FILLER and w not in FILLER \
                and not word.isdigit() and _number(word) is None and len(word) > 2:
            intent.unknown.append(word)
    if anti_words:
        for word in anti_words.split():
            w = stem(word)
            found = lex.table_words.get(w) or (lex.table_words.get(word[:-2]) or lex.table_words.get(word[:-1]) or []
                                               if word.endswith("ed") else [])
            target = next((t for t in found if w in (stem(t.name), stem(t.name.split("_")[-1]))), found[0] if found else None)
            if target is not None and target not in intent.anti_candidates:
                intent.anti_candidates.append(target)
        if intent.anti_candidates:
            intent.anti = intent.anti_candidates[0]
            anti_set = set(map(id, intent.anti_candidates))
            first = min((p for p, t in intent.mentioned_tables if id(t) not in anti_set), default=None)
            intent.mentioned_tables = [(p, t) for p, t in intent.mentioned_tables
                                       if id(t) not in anti_set or (first is not None and p < first)]
    first_table = min((p for p, _ in intent.mentioned_tables), default=10**6)
    cmp_zone = [(p, p + 30) for _, _, p in intent.compares]
    intent.subject_measure = any(_numeric(r.column) and p < first_table and not any(a <= p < b for a, b in cmp_zone)
                                 for p, r in intent.mentioned_columns)
    intent.words = {stem(w) for _, w in _tokens(q)}
    _bool_filters(intent, lex, q_no_cmp)
    return intent


def _bool_filters(intent: Intent, lex: Lexicon, q: str) -> None:
    # A boolean column named in the question ("active employees", "unpaid invoices", "not resolved").
    for t in lex.schema.tables:
        for c in t.columns:
            if c.kind != "bool":
                continue
            word = re.sub(r"^(is|has|was)_", "", c.name.lower())
            m = re.search(r"\b(not\s+|un|in|non[- ]?)?" + re.escape(word) + r"\b", q)
            if m:
                value = not m.group(1)
                intent.filters.append(Filter(ColumnRef(t, c), "=", value, f"{t.name}.{c.name} = {value}"))
                return
    for m in BOOL_TRUE.finditer(q):
        word = m.group(1)
        negated = bool(re.search(r"\b(not|in|un|non)[- ]?" + word, q[max(0, m.start() - 4):m.end()]))
        for t in lex.schema.tables:
            for c in t.columns:
                if c.kind == "bool" and word in c.name.lower():
                    intent.filters.append(Filter(ColumnRef(t, c), "=", not negated, f"{t.name}.{c.name} = {not negated}"))
                    return


# ---------------------------------------------------------------------------------------------
# Choosing the subject


def _numeric(c: Column) -> bool:
    return c.kind == "number" and not c.primary_key and not c.references and not c.name.lower().endswith("_id") \
        and c.name.lower() != "id"


def _money_measures(lex: Lexicon) -> list[Measure]:
    out = []
    for t in lex.schema.tables:
        qty = next((c for c in t.columns if _numeric(c) and stem(c.name.lower()) in ("quantity", "qty", "unit", "count")), None)
        price = next((c for c in t.columns if _numeric(c) and any(k in c.name.lower() for k in ("price", "cost", "rate"))), None)
        if qty and price:
            out.append(Measure(t, f"{{t}}.{_q(qty.name)} * {{t}}.{_q(price.name)}", "revenue", (qty.name, price.name)))
        for c in t.columns:
            if _numeric(c) and any(k in c.name.lower() for k in MONEY_COLUMNS):
                out.append(Measure(t, f"{{t}}.{_q(c.name)}", c.name, (c.name,)))
    return out


def _q(name: str) -> str:
    """A placeholder-quoted identifier; real quoting happens per dialect when SQL is rendered."""
    return "\x01" + name + "\x02"


def _choose_measure(intent: Intent, lex: Lexicon, anchors: list[Table]) -> Measure | None:
    # An explicitly named numeric column wins (closest to the entity/anchors).
    named = [(pos, ref) for pos, ref in intent.mentioned_columns if _numeric(ref.column)]
    cmp_positions = {p for _, _, p in intent.compares}
    if named:
        def score(item):
            pos, ref = item
            near_cmp = any(0 <= cp - pos < 25 for cp in cmp_positions)
            dist = min((lex.distance(ref.table.name, a.name) for a in anchors), default=0)
            return (near_cmp and len(named) > 1, -intent.direct_hits.get(ref.key, 0), dist,
                    "price" in ref.column.name.lower() and intent.money)
        pos, ref = sorted(named, key=score)[0]
        if not (intent.money and any(k in ref.column.name.lower() for k in ("price", "cost")) and _money_measures(lex)):
            return Measure(ref.table, f"{{t}}.{_q(ref.column.name)}", ref.column.name, (ref.column.name,))
    if intent.money or intent.agg in ("sum", "avg", "max", "min"):
        candidates = _money_measures(lex)
        if not candidates and intent.entity is not None:
            candidates = [Measure(intent.entity, f"{{t}}.{_q(c.name)}", c.name, (c.name,))
                          for c in intent.entity.columns if _numeric(c)]
        if not candidates:
            return None
        others = [a for a in anchors if a is not None]

        def mscore(m: Measure):
            col = m.table.column(m.columns[0])
            said = 0 if col is not None and re.search(r"\b(revenue|sales|turnover)\b", col.description.lower()) else 1
            unit_price = len(m.columns) == 1 and any(k in m.label.lower() for k in UNIT_PRICE_COLUMNS)
            dist = sum(lex.distance(m.table.name, a.name) for a in others)
            name_rank = 0 if m.label == "revenue" and intent.money else min(
                (i for i, k in enumerate(MONEY_COLUMNS) if k in m.label.lower()), default=len(MONEY_COLUMNS))
            entity_bonus = 0 if intent.entity is None or m.table is intent.entity else 1
            composite = len(m.columns) > 1 and not others
            return (intent.money and unit_price, said, dist, composite, entity_bonus, name_rank)

        return sorted(candidates, key=mscore)[0]
    return None


def _choose_entity(intent: Intent) -> Table | None:
    if intent.mentioned_tables:
        # The first table named is usually the subject ("how many orders ... in Berlin").
        grouped = {r.table.name for r in intent.groups} | {t.name for t in intent.group_tables}
        ordered = [t for _, t in sorted(intent.mentioned_tables, key=lambda x: x[0])]
        for t in ordered:
            if t.name not in grouped or len(set(x.name for x in ordered)) == 1:
                return t
        return ordered[0]
    return None


def _date_column(table: Table, lex: Lexicon, hint_words: set[str], others: list[Table]) -> ColumnRef | None:
    cands = []
    for t in [table, *others]:
        for c in t.columns:
            if c.kind == "date":
                words = {stem(w) for w in re.split(r"[_\W]+", c.name.lower()) if w}
                cands.append((0 if words & hint_words else 1, 0 if t is table else lex.distance(table.name, t.name),
                              0 if any(k in c.name.lower() for k in ("date", "created", "at", "time")) else 1, ColumnRef(t, c)))
    if not cands:
        for t in lex.schema.tables:
            for c in t.columns:
                if c.kind == "date" and lex.join_path(table.name, t.name) is not None:
                    cands.append((1, lex.distance(table.name, t.name), 1, ColumnRef(t, c)))
    return sorted(cands, key=lambda x: x[:3])[0][3] if cands else None


# ---------------------------------------------------------------------------------------------
# Writing SQL


class _Sql:
    """Collects FROM/JOIN/WHERE pieces with tables joined along the shortest FK paths."""

    def __init__(self, lex: Lexicon, base: Table, dialect: str):
        self.lex, self.base, self.dialect = lex, base, dialect
        self.joined = [base.name]
        self.joins: list[str] = []
        self.where: list[str] = []
        self.fanout = False

    def ident(self, name: str) -> str:
        return exp.to_identifier(name).sql(dialect=self.dialect) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and \
            name.lower() not in _RESERVED else exp.to_identifier(name, quoted=True).sql(dialect=self.dialect)

    def col(self, table: str, column: str) -> str:
        return f"{self.ident(table)}.{self.ident(column)}"

    def expr(self, measure: Measure) -> str:
        return re.sub("\x01(.*?)\x02", lambda m: self.ident(m.group(1)), measure.sql.replace("{t}", self.ident(measure.table.name)))

    def need(self, table: Table) -> bool:
        if table.name in self.joined:
            return True
        best = None
        for have in self.joined:
            path = self.lex.join_path(have, table.name)
            if path is not None and (best is None or len(path) < len(best[1])):
                best = (have, path)
        if best is None:
            return False
        current = best[0]
        for t1, c1, t2, c2 in best[1]:
            nxt = t2 if t1 == current else t1
            if nxt not in self.joined:
                # Walking from the referenced side (t2) to the referencing side (t1) multiplies rows.
                if nxt == t1:
                    self.fanout = True
                self.joins.append(f"JOIN {self.ident(nxt)} ON {self.col(t1, c1)} = {self.col(t2, c2)}")
                self.joined.append(nxt)
            current = nxt
        return True

    def from_clause(self) -> str:
        return " ".join([f"FROM {self.ident(self.base.name)}", *self.joins])

    def where_clause(self) -> str:
        return f" WHERE {' AND '.join(self.where)}" if self.where else ""


_RESERVED = {"order", "group", "user", "select", "from", "where", "table", "desc", "asc", "limit", "offset", "values",
             "key", "index", "date", "time", "year", "month", "day", "status", "type", "name", "value", "level",
             "rank", "position", "comment", "default", "check", "column", "row", "rows", "range", "case", "end",
             "to", "by", "in", "is", "as", "on", "or", "and", "not", "all", "any", "some", "user", "role", "session"}


def _literal(value, dialect: str) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return exp.Literal.string(str(value)).sql(dialect=dialect)


def _fmt_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def build_sql(intent: Intent, lex: Lexicon, dialect: str) -> tuple[str | None, list[str], str | None]:
    """SQL for an intent, the pieces understood, and a chart hint; (None, understood, None) when unmappable."""
    understood: list[str] = []
    entity = intent.entity
    group_anchor_tables = [r.table for r in intent.groups] + intent.group_tables
    filter_tables = [f.ref.table for f in intent.filters]
    if entity is None and intent.filters and not intent.groups and not intent.group_tables and intent.agg == "count":
        entity = intent.filters[0].ref.table
    measure = intent.measure
    if measure is None:
        anchors = [t for t in [entity, *group_anchor_tables, *filter_tables] if t is not None]
        measure = _choose_measure(intent, lex, anchors)
        if measure is not None and intent.agg == "count" and not intent.money:
            named_measure = any(_numeric(r.column) and r.column.name == measure.label for _, r in intent.mentioned_columns)
            if not named_measure:
                measure = None
    agg = intent.agg
    if agg is None:
        if measure is not None and (intent.money or intent.groups or intent.group_tables or intent.bucket or intent.which
                                    or intent.subject_measure):
            agg = "sum"
        elif intent.groups or intent.group_tables or intent.bucket:
            agg = "count"
    if agg in ("sum", "avg", "max", "min") and measure is None:
        if entity is not None and intent.agg in ("max", "min"):
            pass  # e.g. "latest order": handled as ordering below
        else:
            return None, understood, None
    if entity is None and measure is not None:
        entity = measure.table
    if entity is None and (intent.groups or intent.group_tables):
        entity = intent.groups[0].table if intent.groups else intent.group_tables[0]  # "which category ..."
    if entity is None:
        return None, understood, None
    others = [t for _, t in sorted(intent.mentioned_tables, key=lambda x: x[0]) if t is not entity]
    count_base = None
    ranking = intent.top or intent.superlative or intent.which
    if ranking and not intent.groups and not intent.group_tables and not intent.bucket and not intent.row_pick:
        # "top 5 products by revenue", "top 3 customers by number of orders": rank the entity by a
        # measure or a count that lives in another table.
        if measure is not None and measure.table is not entity and lex.join_path(measure.table.name, entity.name):
            intent.group_tables = [entity]
            agg = agg if agg in ("sum", "avg", "max", "min") else "sum"
        elif agg == "count" and others and lex.join_path(others[0].name, entity.name):
            intent.group_tables = [entity]
            count_base = others[0]
    distinct_fk = None
    having_like = any(any(p > pos and p - pos < 40 for p, _ in intent.mentioned_tables) for _, _, pos in intent.compares)
    if agg in ("count", "count_distinct") and not intent.groups and not intent.group_tables and not intent.bucket \
            and not having_like:
        # "how many customers ordered in 2025": count the distinct references from the event table.
        for t in others:
            edge = next((e for e in lex.edges.get(t.name, []) if e[0] == t.name and e[2] == entity.name), None)
            if edge is not None:
                count_base, distinct_fk = t, edge[1]
                break
    base = measure.table if (measure is not None and agg in ("sum", "avg", "max", "min")) else (count_base or entity)
    s = _Sql(lex, base, dialect)
    understood.append(f"table: {base.name}")
    chart_hint = None

    # Filters on values, numbers, dates.
    for f in intent.filters:
        if not s.need(f.ref.table):
            return None, understood + [f"cannot join {f.ref.table.name}"], None
        s.where.append(f"{s.col(f.ref.table.name, f.ref.column.name)} = {_literal(f.value, dialect)}")
        understood.append(f"filter: {f.label}")
    having_count = None
    for op, number, pos in intent.compares:
        # "customers with more than 5 orders": a count of a related table.
        after = [t for p, t in intent.mentioned_tables if p > pos and p - pos < 40]
        if after and after[0] is not base and lex.join_path(base.name, after[0].name):
            having_count = (op, number, after[0])
            continue
        target = _compare_target(intent, lex, pos, measure, base)
        if target is None:
            return None, understood + [f"comparison {op} {number} (no numeric column found)"], None
        t, c = target
        s.need(t)
        s.where.append(f"{s.col(t.name, c.name)} {op} {_fmt_number(number)}")
        understood.append(f"filter: {t.name}.{c.name} {op} {_fmt_number(number)}")
    if intent.between:
        target = _compare_target(intent, lex, 10**6, measure, base)
        if target:
            t, c = target
            s.need(t)
            lo, hi = intent.between
            s.where.append(f"{s.col(t.name, c.name)} BETWEEN {_fmt_number(lo)} AND {_fmt_number(hi)}")
            understood.append(f"filter: {t.name}.{c.name} between {_fmt_number(lo)} and {_fmt_number(hi)}")
    date_ref = None
    year_col = _year_column(intent, base) if intent.window and not intent.bucket else None
    if year_col is not None:
        w = intent.window
        if w.start:
            s.where.append(f"{s.col(base.name, year_col.name)} >= {w.start.year}")
        if w.end:
            s.where.append(f"{s.col(base.name, year_col.name)} < {w.end.year + (1 if (w.end.month, w.end.day) != (1, 1) else 0)}")
        understood.append(f"year: {base.name}.{year_col.name} {w.label}")
    elif intent.window or intent.bucket:
        hint = {stem(w) for w in re.findall(r"[a-z]+", " ".join(intent.unknown))} | {stem(t.name) for _, t in intent.mentioned_tables}
        date_ref = _date_column(base, lex, hint, [t for t in group_anchor_tables + filter_tables])
        if date_ref is None:
            return None, understood + ["a date window, but no date column"], None
        s.need(date_ref.table)
        dcol = s.col(date_ref.table.name, date_ref.column.name)
        if intent.window:
            w = intent.window
            if w.start:
                s.where.append(f"{dcol} >= '{w.start.isoformat()}'")
            if w.end:
                s.where.append(f"{dcol} < '{w.end.isoformat()}'")
            understood.append(f"date: {date_ref.table.name}.{date_ref.column.name} {w.label}")

    if intent.anti is not None:
        link = _anti_link(lex, base, intent.anti_candidates or [intent.anti])
        if link is None:
            return None, understood + [f"no link between {base.name} and {intent.anti.name}"], None
        other, (t1, c1, t2, c2) = link
        s.where.append(f"NOT EXISTS (SELECT 1 FROM {s.ident(other)} WHERE {s.col(t1, c1)} = {s.col(t2, c2)})")
        understood.append(f"without: {other}")

    # Group by columns (or an entity's label column), time buckets.
    group_exprs: list[tuple[str, str]] = []
    hidden_keys: list[str] = []
    for ref in intent.groups:
        if not s.need(ref.table):
            return None, understood + [f"cannot join {ref.table.name}"], None
        group_exprs.append((s.col(ref.table.name, ref.column.name), ref.column.name))
        understood.append(f"group by: {ref.table.name}.{ref.column.name}")
    for table in intent.group_tables:
        if not s.need(table):
            return None, understood + [f"cannot join {table.name}"], None
        label = lex.label_column(table)
        if label is None:
            return None, understood, None
        group_exprs.append((s.col(table.name, label.name), f"{stem(table.name)}_{label.name}" if label.name in ("name", "title") else label.name))
        pk_col = table.primary_key
        if pk_col is not None and pk_col.name != label.name:
            hidden_keys.append(s.col(table.name, pk_col.name))  # two rows with the same name stay apart
        understood.append(f"group by: {table.name}.{label.name}")
    if intent.bucket and date_ref is not None:
        group_exprs.append((bucket_sql(intent.bucket, s.col(date_ref.table.name, date_ref.column.name), dialect), intent.bucket))
        understood.append(f"per {intent.bucket}")
        chart_hint = "line"

    pk = base.primary_key
    count_expr = f"COUNT(DISTINCT {s.col(base.name, pk.name)})" if (s.fanout and pk) else "COUNT(*)"
    if distinct_fk is not None:
        count_expr = f"COUNT(DISTINCT {s.col(base.name, distinct_fk)})"
        understood.append(f"distinct: {base.name}.{distinct_fk}")
        agg = "count"
    elif agg == "count_distinct":
        ref = _distinct_target(intent, base, lex)
        if ref is not None:
            s.need(ref.table)
            count_expr = f"COUNT(DISTINCT {s.col(ref.table.name, ref.column.name)})"
            understood.append(f"distinct: {ref.table.name}.{ref.column.name}")
        agg = "count"

    value_expr, value_alias = None, None
    if agg == "count":
        value_expr, value_alias = count_expr, "count"
        understood.append("measure: count")
    elif agg in ("sum", "avg", "max", "min") and measure is not None:
        s.need(measure.table)
        fn = {"sum": "SUM", "avg": "AVG", "max": "MAX", "min": "MIN"}[agg]
        value_expr = f"{fn}({s.expr(measure)})"
        value_alias = {"sum": "total_", "avg": "average_", "max": "max_", "min": "min_"}[agg] + measure.label
        understood.append(f"measure: {fn}({measure.table.name}.{'*'.join(measure.columns)})")

    if having_count is not None:
        op, number, child = having_count
        label = lex.label_column(base)
        s.need(child)
        child_pk = child.primary_key
        counted = f"COUNT(DISTINCT {s.col(child.name, child_pk.name)})" if child_pk else "COUNT(*)"
        keys = [s.col(base.name, pk.name)] if pk else []
        if label is not None and (not pk or label.name != pk.name):
            keys.append(s.col(base.name, label.name))
        inner = (f"SELECT {', '.join(keys)}, {counted} AS {s.ident(stem(child.name) + '_count')} {s.from_clause()}{s.where_clause()} "
                 f"GROUP BY {', '.join(keys)} HAVING {counted} {op} {_fmt_number(number)}")
        understood.append(f"having: count of {child.name} {op} {_fmt_number(number)}")
        if intent.agg == "count":
            return f"SELECT COUNT(*) AS count FROM ({inner}) AS matched", understood, None
        return inner, understood, None

    if group_exprs:
        if value_expr is None:
            value_expr, value_alias = count_expr, "count"
        select = ", ".join(f"{e} AS {s.ident(a)}" for e, a in group_exprs)
        group = ", ".join([*hidden_keys, *(e for e, _ in group_exprs)])
        sql = f"SELECT {select}, {value_expr} AS {s.ident(value_alias)} {s.from_clause()}{s.where_clause()} GROUP BY {group}"
        if intent.bucket and not intent.top and not intent.superlative:
            sql += f" ORDER BY {', '.join(e for e, _ in group_exprs)}"
        else:
            direction = (intent.top or (None, intent.superlative or "desc"))[1].upper()
            sql += f" ORDER BY {s.ident(value_alias)} {direction}"
            limit = intent.top[0] if intent.top else (1 if (intent.which or intent.superlative) else None)
            if limit:
                sql += f" LIMIT {limit}"
            chart_hint = chart_hint or "bar"
        return sql, understood, chart_hint
    if value_expr is not None and not intent.top and not (intent.superlative and agg == "count" and intent.agg != "count"):
        return f"SELECT {value_expr} AS {s.ident(value_alias)} {s.from_clause()}{s.where_clause()}", understood, None

    # Listing rows, possibly ordered ("top 5 most expensive products", "latest order").
    cols = f"{s.ident(base.name)}.*"
    order = ""
    direction = (intent.top[1] if intent.top else intent.superlative or ("desc" if intent.agg == "max" else "asc")).upper()
    order_ref = None
    ranking_rows = bool(intent.top or intent.superlative or intent.row_pick)
    if measure is not None and ranking_rows and not intent.row_pick:
        order = f" ORDER BY {s.expr(measure)} {direction}"
        order_ref = measure.label
    elif intent.row_pick and not re.search(r"latest|recent|newest|earliest", intent.row_pick):
        pick = _adjective_column(intent.row_pick, base)
        if pick is not None:
            order = f" ORDER BY {s.col(base.name, pick.name)} {direction}"
            order_ref = pick.name
    if not order and (intent.agg in ("max", "min") or intent.row_pick):
        dref = _date_column(base, lex, set(), [])
        if dref is not None:
            order = f" ORDER BY {s.col(dref.table.name, dref.column.name)} {direction}"
            order_ref = dref.column.name
    limit = intent.top[0] if intent.top else (1 if order else None)  # plain lists: the executor's row cap applies
    if intent.top or order:
        understood.append(f"order by: {order_ref or 'value'} {direction.lower()}, limit {limit}")
    if s.fanout:
        cols = f"DISTINCT {cols}"
    return f"SELECT {cols} {s.from_clause()}{s.where_clause()}{order}" + (f" LIMIT {limit}" if limit else ""), understood, None


def _year_column(intent: Intent, table: Table) -> Column | None:
    """An integer year column ("published_year") that a year window should filter, when the
    question names it or the table has no date column."""
    years = [c for c in table.columns if c.kind == "number" and "year" in c.name.lower()]
    if not years:
        return None
    named = [c for c in years if set(w for w in re.split(r"[_\W]+", c.name.lower()) if w != "year") & intent.words
             or any(w.startswith(x[:5]) for w in intent.words for x in c.name.lower().split("_") if len(x) > 4 and x != "year")]
    if named:
        return named[0]
    return years[0] if not any(c.kind == "date" for c in table.columns) else None


def _anti_link(lex: Lexicon, base: Table, candidates: list[Table]):
    """The table whose rows reference `base` for "X with no Y": Y itself when it points at X,
    else a link table that points at both ("members who never borrowed a book" → loans)."""
    for target in candidates:
        edge = next((e for e in lex.edges.get(base.name, []) if e[0] == target.name and e[2] == base.name), None)
        if edge is not None:
            return target.name, edge
    for target in candidates:
        for e in lex.edges.get(base.name, []):
            if e[2] == base.name and any(x[0] == e[0] and x[2] == target.name for x in lex.edges.get(e[0], [])):
                return e[0], e
    return None


def _adjective_column(adjective: str, table: Table) -> Column | None:
    nums = [c for c in table.columns if _numeric(c)]
    for pattern, stems in ADJECTIVE_COLUMNS:
        if re.search(pattern, adjective):
            for want in stems:
                hit = next((c for c in nums if want in c.name.lower()), None)
                if hit is not None:
                    return hit
    money = [c for c in nums if any(k in c.name.lower() for k in MONEY_COLUMNS)]
    return (money or nums or [None])[0]


def _compare_target(intent: Intent, lex: Lexicon, pos: int, measure: Measure | None, base: Table) -> tuple[Table, Column] | None:
    if pos in intent.compare_words:
        col = _adjective_column(intent.compare_words[pos], base)
        if col is not None:
            return base, col
    before = [(p, r) for p, r in intent.mentioned_columns if _numeric(r.column) and p < pos]
    if before:
        p, ref = max(before, key=lambda x: (x[0], x[1].table is base, -lex.distance(base.name, x[1].table.name)))
        return ref.table, ref.column
    if measure is not None and len(measure.columns) == 1:
        return measure.table, measure.table.column(measure.columns[0])
    money = _money_measures(lex)
    for m in sorted(money, key=lambda m: lex.distance(base.name, m.table.name)):
        if len(m.columns) == 1:
            return m.table, m.table.column(m.columns[0])
    nums = [c for c in base.columns if _numeric(c)]
    return (base, nums[0]) if nums else None


def _distinct_target(intent: Intent, base: Table, lex: Lexicon) -> ColumnRef | None:
    # "how many distinct customers ordered" → the key of customers as seen from the base table.
    for _, t in intent.mentioned_tables:
        if t is not base:
            for t1, c1, t2, c2 in lex.edges.get(base.name, []):
                if t1 == base.name and t2 == t.name:
                    return ColumnRef(base, base.column(c1))
            pk = t.primary_key
            return ColumnRef(t, pk) if pk else None
    cols = [r for _, r in intent.mentioned_columns if r.table is base and not r.column.primary_key]
    if cols:
        return cols[0]
    pk = base.primary_key
    return ColumnRef(base, pk) if pk else None


# ---------------------------------------------------------------------------------------------
# Entry point


def _merge(previous: Intent, follow: Intent) -> Intent:
    merged = replace(previous)
    merged.groups = previous.groups + [g for g in follow.groups if g.key not in {x.key for x in previous.groups}]
    merged.group_tables = previous.group_tables + [t for t in follow.group_tables if t not in previous.group_tables]
    replaced = {f.ref.key for f in follow.filters}
    merged.filters = [f for f in previous.filters if f.ref.key not in replaced] + follow.filters
    merged.compares = previous.compares + follow.compares
    merged.window = follow.window or previous.window
    merged.bucket = follow.bucket or previous.bucket
    merged.top = follow.top or previous.top
    merged.superlative = follow.superlative or previous.superlative
    merged.unknown = follow.unknown
    if follow.top and not (merged.groups or merged.group_tables or merged.bucket):
        merged.agg = previous.agg
    return merged


def _training_match(question: str, training, lex: Lexicon) -> str | None:
    q = _normalise(question)
    best, best_score = None, 0.0
    for tq, tsql in training:
        score = fuzz.ratio(q, _normalise(tq))
        if score > best_score:
            best, best_score = (tq, tsql), score
    if best is None:
        return None
    if best_score >= 95:
        return best[1]
    if best_score >= 80:
        # Same question with another indexed value ("... in Paris" vs "... in Berlin"): swap the literal.
        old = {r.key: v for _, _, r, v in _match_values(lex, _normalise(best[0]), set())}
        new = {r.key: v for _, _, r, v in _match_values(lex, q, set())}
        swaps = [(old[k], new[k]) for k in old if k in new and old[k] != new[k]]
        if swaps and len(old) == len(new):
            sql = best[1]
            for a, b in swaps:
                sql = sql.replace("'" + str(a).replace("'", "''") + "'", "'" + str(b).replace("'", "''") + "'")
            return sql
    return None


STRICT_MONEY = {"revenue", "sales", "turnover", "gmv", "spent", "spend", "spending", "income", "billed"}


def _legacy_fits(intent: Intent) -> bool:
    """The older intent reader answers only what the compositional reader does not cover yet: relative
    date windows and time buckets, money measures ("revenue"), and "never/without" anti-joins."""
    relative = intent.window is not None and not re.search(r"\d{4}", intent.window.label)
    return relative or intent.bucket is not None or bool(intent.words & STRICT_MONEY) or intent.anti is not None


def _legacy_may_fit(question: str, today: date) -> bool:
    """A cheap look for what `_legacy_fits` wants, before the older reader runs."""
    q = _normalise(question)
    window, _ = find_window(q, today)
    return (window is not None and not re.search(r"\d{4}", window.label)) or find_bucket(q)[0] is not None \
        or bool(set(q.split()) & STRICT_MONEY) or ANTI_RE.search(q) is not None


def generate(question: str, schema: Schema, *, today: date | None = None, training=(), previous=None) -> BuiltinResult:
    today = today or date.today()
    lex = lexicon_for(schema)
    trained = _training_match(question, training, lex) if training else None
    if trained:
        return BuiltinResult(trained, 1.0, ["a stored training question"], "", None,
                             "the stored example question closest to this one", "training")
    refusal = ""
    if previous is not None and (compositional.is_follow_up(question) or FOLLOW_UP_RE.search(_normalise(question))):
        try:
            parsed = compositional.follow_up(previous[0], question, schema, today)
        except compositional.Refusal as exc:
            refusal = str(exc)
        else:
            return BuiltinResult(parsed.sql, parsed.confidence, [parsed.interpretation], "", parsed.chart_hint,
                                 parsed.interpretation, "compositional")
    if previous is None or not FOLLOW_UP_RE.search(_normalise(question)):
        try:
            parsed = compositional.read_question(question, schema, today)
        except compositional.Refusal as exc:
            refusal = str(exc)
        else:
            return BuiltinResult(parsed.sql, parsed.confidence, [parsed.interpretation], "", parsed.chart_hint,
                                 parsed.interpretation, "compositional")
    if previous is None and not _legacy_may_fit(question, today):
        return BuiltinResult(None, 0.0, [], f"I could not read this question: {refusal}. "
                                            "Try naming the table and columns, e.g. \"how many orders per month\".")
    intent = read_question(question, lex, today)
    intent.entity = _choose_entity(intent)
    follow_up = previous is not None and (intent.entity is None or FOLLOW_UP_RE.search(_normalise(question))) \
        and not (intent.entity is not None and intent.agg is not None and not FOLLOW_UP_RE.search(_normalise(question)))
    if follow_up:
        prev = read_question(previous[0], lex, today)
        prev.entity = _choose_entity(prev)
        if prev.entity is not None or prev.measure is not None or prev.agg is not None:
            base_unknown = intent.unknown
            intent = _merge(prev, intent)
            intent.unknown = base_unknown
    if not follow_up and not _legacy_fits(intent):
        return BuiltinResult(None, 0.0, [], f"I could not read this question: {refusal}. "
                                            "Try naming the table and columns, e.g. \"how many orders per month\".")
    unsupported = UNSUPPORTED_RE.search(_normalise(question))
    if unsupported:
        return BuiltinResult(None, 0.0, [], f"The built-in engine cannot compute a {unsupported.group(1)}; "
                                            "configure a language model for questions like this.")
    sql, understood, hint = build_sql(intent, lex, schema.dialect)
    unknown = [w for w in intent.unknown if w not in {stem(t.name) for t in schema.tables}]
    if sql and unknown and re.fullmatch(r"SELECT \S+\.\* FROM \S+", sql):
        sql = None  # an unfiltered listing that ignored words of the question would be a silent guess
    if sql is None:
        said = "; ".join(understood) if understood else "nothing I could map to this datasource's tables"
        missing = f" I did not recognise: {', '.join(dict.fromkeys(unknown))}." if unknown else ""
        return BuiltinResult(None, 0.0, understood,
                             f"I could not turn this question into a query. I understood: {said}.{missing} "
                             "Try naming a table or column, e.g. \"how many orders per month\".")
    # The older reader is right about half the time on schemas it was not written for: below CONFIDENT,
    # so a configured model answers instead.
    confidence = 0.55 if not unknown else 0.4
    if len(set(unknown)) >= 2:
        said = "; ".join(understood)
        return BuiltinResult(None, 0.2, understood,
                             f"I am not sure what '{', '.join(dict.fromkeys(unknown))}' refers to. I understood: {said}.")
    return BuiltinResult(sql, confidence, understood, "", hint, "; ".join(understood), "legacy")
