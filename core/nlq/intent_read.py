"""The older intent reader of the built-in engine, stage 1: a question read into an `Intent` (what is counted or
measured, filters, groups, date window, ordering) with regular expressions and the schema's lexicon.
The compositional reader (core/nlq/engine/) answers first; this one covers relative dates and money words."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from rapidfuzz import fuzz, process

from tabletalk.core.metadata.schema import Column, Table
from tabletalk.core.nlq.dates import NUMBER_WORDS, Window, find_bucket, find_window
from tabletalk.core.nlq.lexicon import MONEY_WORDS, STOP, ColumnRef, Lexicon, stem, words_of


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

def _numeric(c: Column) -> bool:
    return c.kind == "number" and not c.primary_key and not c.references and not c.name.lower().endswith("_id") \
        and c.name.lower() != "id"
