"""Few-shot examples chosen for the question, DAIL-SQL style: stored training pairs ranked by how
alike their questions are once schema words and values are masked, and by the tables their SQL
touches, within a token budget. Nothing is invented when no pair fits, and a pair naming a table
the asker may not see is never shown.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz import fuzz

from tabletalk.core.cache import IdentityMemo
from tabletalk.core.metadata.schema import Schema, Table
from tabletalk.core.nlq.lexicon import STOP, stem
from tabletalk.core.nlq.reads import sql_reads

MAX_EXAMPLES = 5
# Score = words shared (Jaccard of content stems) + skeleton alike (rapidfuzz ratio of the masked
# questions) + tables shared with the ones the question is about; below MIN_SCORE a pair teaches nothing.
WEIGHTS = {"words": 0.5, "skeleton": 0.3, "tables": 0.2}
MIN_SCORE = 0.3
MAX_SQL_CHARS = 2_000

_WORD = re.compile(r"[^\W_]+")


def sql_tables(sql: str, dialect: str) -> frozenset[str] | None:
    """Lower-case names of the tables a query reads (CTE names excluded); None when it does not parse."""
    reads = sql_reads(sql, dialect)
    return None if reads is None else reads.tables


def _table_words(t: Table) -> frozenset[str]:
    words = {stem(w) for w in _WORD.findall(t.name.lower().replace("_", " "))}
    for c in t.columns:
        words.update(stem(w) for w in _WORD.findall(c.name.lower().replace("_", " ")))
    return frozenset(words)


_words_of_table = IdentityMemo(_table_words)


def _schema_words(schema: Schema) -> set[str]:
    return set().union(*(_words_of_table(t) for t in schema.tables))


def _masked(question: str, schema_words: set[str], values: set[str]) -> tuple[str, set[str]]:
    """The question's skeleton (schema words become <col>, named values <val>, stop words stay) and
    its content stems."""
    out, content = [], set()
    for w in _WORD.findall(question.lower()):
        if w not in STOP:
            content.add(stem(w))
        if w in values:
            out.append("<val>")
        elif w not in STOP and stem(w) in schema_words:
            out.append("<col>")
        else:
            out.append(w)
    return " ".join(out), content


def question_tables(question: str, schema: Schema) -> set[str]:
    """Tables whose name words the question uses."""
    words = {stem(w) for w in _WORD.findall(question.lower())}
    return {t.name.lower() for t in schema.tables
            if {stem(w) for w in _WORD.findall(t.name.lower().replace("_", " "))} & words}


def choose_examples(question: str, training: Iterable[tuple[str, str]], schema: Schema, *,
                    allowed: set[str] | None = None, values: Iterable[str] = (), wanted: set[str] = frozenset(),
                    max_chars: int = 4_800) -> tuple[list[tuple[str, str]], int]:
    """Up to MAX_EXAMPLES pairs for `question`, least similar first (the closest sits next to the
    question), at most `max_chars` in all; and how many fitting pairs the budget left out.

    `allowed`: lower-case tables the asker may query (None: all); `values`: words of the values the
    question names (masked); `wanted`: tables the question is about (linked or named)."""
    schema_words = _schema_words(schema)
    value_words = {w for v in values for w in _WORD.findall(str(v).lower())}
    skeleton, words = _masked(question, schema_words, value_words)
    scored = []
    for q, sql in training:
        if not q or not sql:
            continue
        tables = sql_tables(sql, schema.dialect)
        if tables is None or (allowed is not None and not tables <= allowed):
            continue  # unreadable, or it would show a hidden table
        their_skeleton, their_words = _masked(q, schema_words, value_words)
        score = (WEIGHTS["words"] * (len(words & their_words) / len(words | their_words) if words | their_words else 0.0)
                 + WEIGHTS["skeleton"] * fuzz.ratio(skeleton, their_skeleton) / 100
                 + WEIGHTS["tables"] * (len(tables & wanted) / len(tables | wanted) if wanted and tables else 0.0))
        if score >= MIN_SCORE:
            scored.append((score, len(scored), q, sql))
    scored.sort(key=lambda s: (-s[0], s[1]))
    chosen, used, dropped = [], 0, 0
    for _, _, q, sql in scored[:MAX_EXAMPLES]:
        size = len(q) + min(len(sql), MAX_SQL_CHARS) + 30
        if used + size > max_chars:
            dropped += 1
            continue
        chosen.append((q, sql))
        used += size
    return chosen[::-1], dropped
