"""The built-in NL->SQL engine's entry point: deterministic, offline, fast, and honest about what it did not understand.

`generate()` tries, in order: a stored training question; a chat follow-up refining the previous reading; the
compositional reader (core/nlq/engine/: tokens → linked items → logical form → SQL), which answers only when
it placed every word; and, for what that reader does not cover yet (relative dates next to money words,
anti-joins), the older intent reader (intent_read/intent_subject/intent_sql) at a confidence below CONFIDENT.
Otherwise it refuses, naming what it could not place.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from rapidfuzz import fuzz

from tabletalk.core.cache import IdentityMemo, keep
from tabletalk.core.metadata.schema import Schema
from tabletalk.core.nlq import engine as compositional
from tabletalk.core.nlq.intent_read import (ANTI_RE, FOLLOW_UP_RE, UNSUPPORTED_RE, Intent, _match_values, _normalise,
                                           read_question)
from tabletalk.core.nlq.intent_sql import build_sql
from tabletalk.core.nlq.intent_subject import _choose_entity
from tabletalk.core.nlq.dates import find_bucket, find_window
from tabletalk.core.nlq.lexicon import Lexicon, lexicon_for, stem


@dataclass(frozen=True)  # shared by every asker of the same question (see `read`)
class BuiltinResult:
    sql: str | None
    confidence: float
    understood: list[str]
    message: str
    chart_hint: str | None = None
    interpretation: str = ""
    engine_stage: str = ""  # "compositional" or "legacy": which reader produced the SQL


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


READINGS_PER_SCHEMA = 2048  # readings of distinct questions remembered per schema object
_readings_of = IdentityMemo(lambda schema: {}, max_items=64)  # the schema objects the engine's index holds too


def read(question: str, schema: Schema, *, today: date, training=(), previous=None) -> BuiltinResult:
    """`generate`, remembered: the reading is a pure function of the question, the schema object
    (cached schemas are never mutated; a change builds a new one), the training pairs object, the
    previous turn and the date — so a question asked again costs a dict lookup, not a reading.
    Bounded per schema (oldest first out)."""
    readings = _readings_of(schema)
    key = (question, id(training), previous, today)
    hit = readings.get(key)
    if hit is not None and hit[0] is training:
        return hit[1]
    result = generate(question, schema, today=today, training=training, previous=previous)
    keep(readings, key, (training, result), READINGS_PER_SCHEMA)  # holding `training` keeps its id from being reused
    return result


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
