"""Schema linking on a synthetic 10,000-table datasource.

Measures time per question (the index is built once per schema; its build time is reported on its
own row), the size of the whole SQL prompt built on the linked schema (tokens ~ characters / 4) and whether the tables a
question needs were found, against a naive baseline in the same run that scores every table with
rapidfuzz. Goals: < 50 ms per question (p95), prompt <= 8k tokens.

    python bench/linking.py
"""
from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz import fuzz  # noqa: E402

from tabletalk.core.metadata.schema import Column, Schema, Table  # noqa: E402
from tabletalk.core.nlq.linking import forget_links, index_for, link, render_schema  # noqa: E402
from tabletalk.core.nlq.llm import compose_prompt  # noqa: E402
from tabletalk.core.nlq.value_hints import question_values  # noqa: E402

TABLES = 10_000
GOAL_MS = 50.0
GOAL_TOKENS = 8_000
ROUNDS = 5
WORDS = ["account", "invoice", "payment", "shipment", "ticket", "campaign", "lead", "contract", "asset", "vendor",
         "budget", "forecast", "inventory", "warehouse", "route", "driver", "claim", "policy", "member", "visit",
         "order", "product", "customer", "employee", "region", "store", "supplier", "refund", "review", "session",
         "event", "device", "license", "project", "task", "team", "survey", "audit", "quote", "partner"]
SUFFIXES = ["id", "amount", "date", "name", "code", "status", "type", "count", "total", "note"]
STATUSES = ["open", "closed", "pending", "cancelled", "active", "archived"]

# The tables the questions are really about, planted among the synthetic ones.
PLANTED = [
    Table("vendors", [Column("id", "INTEGER", primary_key=True), Column("name", "TEXT"), Column("country", "TEXT",
                                                                                                   values=["Germany", "France", "Japan"])]),
    Table("vendor_invoices", [Column("id", "INTEGER", primary_key=True), Column("vendor_id", "INTEGER", references=("vendors", "id")),
                              Column("amount", "NUMERIC"), Column("issued_on", "DATE")], description="Invoices received from vendors"),
    Table("members", [Column("id", "INTEGER", primary_key=True), Column("full_name", "TEXT"), Column("tier", "TEXT", values=["gold", "silver"])]),
    Table("support_tickets", [Column("id", "INTEGER", primary_key=True), Column("member_id", "INTEGER", references=("members", "id")),
                              Column("status", "TEXT", values=["open", "resolved"]), Column("opened_at", "TIMESTAMP")]),
    Table("drivers", [Column("id", "INTEGER", primary_key=True), Column("name", "TEXT")]),
    Table("routes", [Column("id", "INTEGER", primary_key=True), Column("origin", "TEXT", values=["Hamburg", "Rotterdam"]),
                     Column("destination", "TEXT")]),
    Table("deliveries", [Column("id", "INTEGER", primary_key=True), Column("route_id", "INTEGER", references=("routes", "id")),
                         Column("driver_id", "INTEGER", references=("drivers", "id")), Column("delivered_at", "TIMESTAMP")]),
    Table("insurance_policies", [Column("id", "INTEGER", primary_key=True), Column("policy_type", "TEXT", values=["auto", "home", "travel"])]),
    Table("insurance_claims", [Column("id", "INTEGER", primary_key=True), Column("policy_id", "INTEGER", references=("insurance_policies", "id")),
                               Column("claim_value", "NUMERIC")]),
]
QUESTIONS = [
    ("total invoice amount per vendor last month", {"vendor_invoices", "vendors"}),
    ("how many open support tickets per gold member", {"support_tickets", "members"}),
    ("deliveries by route and driver", {"deliveries", "routes", "drivers"}),
    ("average claim value by policy type", {"insurance_claims", "insurance_policies"}),
    ("how many deliveries left Hamburg", {"deliveries", "routes"}),
    ("invoices from vendors in Japan", {"vendor_invoices", "vendors"}),
]


def synthetic(n: int = TABLES, seed: int = 3) -> Schema:
    """`n` tables: the planted ones plus look-alikes built from the same business words, with
    foreign keys to earlier tables and value samples on status columns."""
    rng = random.Random(seed)
    tables = [Table(t.name, list(t.columns), t.description) for t in PLANTED]
    for i in range(n - len(PLANTED)):
        a, b = rng.sample(WORDS, 2)
        cols = [Column("id", "INTEGER", primary_key=True)]
        for j in range(rng.randint(5, 25)):
            suffix = rng.choice(SUFFIXES)
            name = f"{rng.choice(WORDS)}_{suffix}_{j}"
            if suffix == "id" and len(tables) > 10:
                cols.append(Column(name, "INTEGER", references=(tables[rng.randrange(len(tables))].name, "id")))
            elif suffix == "status":
                cols.append(Column(name, "TEXT", values=rng.sample(STATUSES, 3)))
            else:
                cols.append(Column(name, rng.choice(["TEXT", "NUMERIC", "DATE"])))
        tables.append(Table(f"{a}_{b}_{i}", cols, description=f"{a} {b} records"))
    rng.shuffle(tables)
    return Schema("postgres", tables)


def naive(question: str, schema: Schema, k: int = 8) -> list[str]:
    """The baseline: rapidfuzz over every table's name, columns and description, per question."""
    ranked = sorted(schema.tables, key=lambda t: -fuzz.token_set_ratio(
        question, f"{t.name} {t.description} " + " ".join(c.name for c in t.columns)))
    return [t.name for t in ranked[:k]]


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run() -> dict:
    schema = synthetic()
    t0 = time.perf_counter()
    index, _ = index_for(schema)
    build_ms = (time.perf_counter() - t0) * 1000
    times, tokens, found = [], [], 0
    cuts: set[str] = set()
    for r in range(ROUNDS):
        for question, needed in QUESTIONS:
            forget_links()  # the linking itself, not the memo of the same question in an earlier round
            t0 = time.perf_counter()
            linked = link(question, schema)
            times.append((time.perf_counter() - t0) * 1000)
            if r == 0:  # the whole SQL prompt the model would get: rules, schema, value hints
                hints = asyncio.run(question_values(question, linked))
                prompt = compose_prompt(question, linked, dialect=schema.dialect, today=date.today(), hints=hints)
                tokens.append(prompt.tokens)
                cuts.update(c.split(":")[0] for c in prompt.cut)
            found += r == 0 and needed <= {t.name for t in linked.tables}
    naive_times, naive_found = [], 0
    for question, needed in QUESTIONS:
        t0 = time.perf_counter()
        names = naive(question, schema)
        naive_times.append((time.perf_counter() - t0) * 1000)
        naive_found += needed <= set(names)
    # A metadata refresh rebuilds an equal schema from new objects: the index is found by fingerprint.
    refreshed = synthetic()
    t0 = time.perf_counter()
    link(QUESTIONS[0][0], refreshed)
    refresh_ms = (time.perf_counter() - t0) * 1000
    # A role that sees half the tables: its view reuses the full index (no rebuild).
    planted = {t.name for t in PLANTED}
    view = Schema(schema.dialect, [t for i, t in enumerate(refreshed.tables) if i % 2 or t.name in planted])
    t0 = time.perf_counter()
    link(QUESTIONS[0][0], view)
    view_ms = (time.perf_counter() - t0) * 1000
    p50, p95 = statistics.median(times), _pct(times, 95)
    base50 = statistics.median(naive_times)
    return {"rows": [
        {"metric": f"link p50 ({TABLES:,} tables)", "value": round(p50, 2), "unit": "ms",
         "baseline": f"{base50:.0f} ms (rapidfuzz over every table)", "ratio": round(p50 / base50, 4),
         "goal": f"< {GOAL_MS:g} ms", "met": p50 < GOAL_MS},
        {"metric": "link p95", "value": round(p95, 2), "unit": "ms", "baseline": f"{_pct(naive_times, 95):.0f} ms",
         "ratio": round(p95 / _pct(naive_times, 95), 4), "goal": f"< {GOAL_MS:g} ms", "met": p95 < GOAL_MS},
        {"metric": "index build (once per schema)", "value": round(build_ms), "unit": "ms",
         "baseline": f"{len(index.postings):,} index words"},
        {"metric": "first link after a metadata refresh (equal schema, new objects)", "value": round(refresh_ms, 1),
         "unit": "ms", "baseline": f"{round(build_ms)} ms (index build)"},
        {"metric": "first link on a role's view (5,000 visible tables)", "value": round(view_ms, 1), "unit": "ms",
         "baseline": f"{round(build_ms)} ms (index build)"},
        {"metric": "SQL prompt size max (rules, linked schema, value hints)"
                   + (f"; cut: {', '.join(sorted(cuts))}" if cuts else ""), "value": round(max(tokens)), "unit": "tokens",
         "baseline": f"{round(len(render_schema(schema, max_chars=10**9)) / 4):,} tokens (whole schema)",
         "goal": f"<= {GOAL_TOKENS:,}", "met": max(tokens) <= GOAL_TOKENS},
        {"metric": "questions whose tables were all linked", "value": f"{found}/{len(QUESTIONS)}", "unit": "",
         "baseline": f"{naive_found}/{len(QUESTIONS)} (rapidfuzz top 8)", "goal": f"{len(QUESTIONS)}/{len(QUESTIONS)}",
         "met": found == len(QUESTIONS)},
    ]}


if __name__ == "__main__":
    for row in run()["rows"]:
        print(row)
