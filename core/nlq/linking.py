"""Schema linking: the few tables a question is about, found through an inverted index built once
per schema, so a 10,000-table datasource still yields a small prompt quickly."""
from __future__ import annotations

import re
from collections import defaultdict

from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.lexicon import STOP, stem, synonyms, words_of

_WEIGHTS = {"table": 4.0, "column": 1.5, "value": 2.5, "description": 0.5}


class LinkIndex:
    def __init__(self, schema: Schema):
        self.schema = schema
        self.postings: dict[str, dict[int, float]] = defaultdict(dict)
        self.neighbours: dict[int, set[int]] = defaultdict(set)
        by_name = {t.name.lower(): i for i, t in enumerate(schema.tables)}
        for i, t in enumerate(schema.tables):
            self._add(words_of(t.name), i, _WEIGHTS["table"])
            self._add([stem(w) for w in re.findall(r"[a-z]+", t.description.lower()) if w not in STOP], i, _WEIGHTS["description"])
            for c in t.columns:
                self._add(words_of(c.name), i, _WEIGHTS["column"])
                for v in c.values[:200]:
                    self._add([stem(w) for w in re.findall(r"[a-z0-9]+", str(v).lower())], i, _WEIGHTS["value"])
                if c.references and c.references[0].lower() in by_name:
                    j = by_name[c.references[0].lower()]
                    self.neighbours[i].add(j)
                    self.neighbours[j].add(i)

    def _add(self, words, table: int, weight: float) -> None:
        for w in words:
            if len(w) > 1 and w != "id":
                cur = self.postings[w].get(table, 0.0)
                self.postings[w][table] = max(cur, weight)

    def rank(self, question: str) -> list[tuple[int, float]]:
        scores: dict[int, float] = defaultdict(float)
        for word in re.findall(r"[a-z0-9]+", question.lower()):
            if word in STOP:
                continue
            for form in synonyms(word):
                for t, w in self.postings.get(form, {}).items():
                    scores[t] += w if form == stem(word) else w * 0.7
        return sorted(scores.items(), key=lambda x: (-x[1], x[0]))


_CACHE: dict[int, tuple[Schema, LinkIndex]] = {}


def index_for(schema: Schema) -> LinkIndex:
    hit = _CACHE.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    if len(_CACHE) > 32:
        _CACHE.clear()
    idx = LinkIndex(schema)
    _CACHE[id(schema)] = (schema, idx)
    return idx


def link(question: str, schema: Schema, *, max_tables: int = 8, max_columns_per_table: int = 40) -> Schema:
    """The sub-schema most relevant to the question, with FK neighbours of the best matches."""
    if len(schema.tables) <= max_tables and all(len(t.columns) <= max_columns_per_table for t in schema.tables):
        return schema
    idx = index_for(schema)
    ranked = idx.rank(question)
    chosen: list[int] = [t for t, _ in ranked[:max_tables]]
    for t, _ in ranked[:3]:
        for n in sorted(idx.neighbours.get(t, ())):
            if n not in chosen and len(chosen) < max_tables + 3:
                chosen.append(n)
    if not chosen:
        chosen = list(range(min(max_tables, len(schema.tables))))
    qwords = {stem(w) for w in re.findall(r"[a-z0-9]+", question.lower())}
    tables = []
    for i in chosen:
        t = schema.tables[i]
        cols = t.columns
        if len(cols) > max_columns_per_table:
            def keep(c: Column):
                return (not (set(words_of(c.name)) & qwords), not c.primary_key and not c.references)
            cols = sorted(cols, key=keep)[:max_columns_per_table]
        tables.append(Table(name=t.name, columns=cols, description=t.description, schema=t.schema, kind=t.kind))
    return Schema(schema.dialect, tables)


def render_schema(schema: Schema, max_chars: int = 24_000) -> str:
    """CREATE TABLE-like text with descriptions and sample values as comments, capped in size."""
    parts = []
    for t in schema.tables:
        lines = [f"CREATE TABLE {t.name} (" + (f"  -- {t.description}" if t.description else "")]
        for c in t.columns:
            notes = []
            if c.primary_key:
                notes.append("primary key")
            if c.references:
                notes.append(f"references {c.references[0]}({c.references[1]})")
            if c.description:
                notes.append(c.description)
            if c.values:
                notes.append("values: " + ", ".join(repr(v) for v in c.values[:8]))
            lines.append(f"  {c.name} {c.data_type}," + (f"  -- {'; '.join(notes)}" if notes else ""))
        lines.append(");")
        block = "\n".join(lines)
        if sum(len(p) for p in parts) + len(block) > max_chars:
            break
        parts.append(block)
    return "\n\n".join(parts)
