"""Schema linking on a synthetic 10,000-table datasource: time per question (index built once, its build
time reported) and prompt size, against a naive baseline that scores every table with rapidfuzz.
Goals: < 50 ms per question, prompt <= 8k tokens (chars / 4)."""
from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz import fuzz  # noqa: E402

from tabletalk.core.metadata.schema import Column, Schema, Table  # noqa: E402
from tabletalk.core.nlq.linking import index_for, link, render_schema  # noqa: E402

WORDS = ["account", "invoice", "payment", "shipment", "ticket", "campaign", "lead", "contract", "asset", "vendor",
         "budget", "forecast", "inventory", "warehouse", "route", "driver", "claim", "policy", "member", "visit"]
QUESTIONS = ["total invoice amount per vendor last month", "how many open tickets per member", "shipments by route and driver",
             "average claim value by policy type", "inventory levels per warehouse", "campaign leads this year"]


def synthetic(n: int = 10_000) -> Schema:
    rng = random.Random(3)
    tables = []
    for i in range(n):
        a, b = rng.sample(WORDS, 2)
        cols = [Column("id", "INTEGER", primary_key=True)] + [Column(f"{rng.choice(WORDS)}_{j}", rng.choice(["TEXT", "NUMERIC", "DATE"]))
                                                              for j in range(rng.randint(5, 25))]
        tables.append(Table(f"{a}_{b}_{i}", cols, description=f"{a} {b} records"))
    return Schema("postgres", tables)


def run() -> dict:
    schema = synthetic()
    t0 = time.perf_counter()
    index_for(schema)
    build = (time.perf_counter() - t0) * 1000
    times, sizes = [], []
    for _ in range(5):
        for q in QUESTIONS:
            t0 = time.perf_counter()
            linked = link(q, schema)
            times.append((time.perf_counter() - t0) * 1000)
            sizes.append(len(render_schema(linked)) / 4)
    naive = []
    for q in QUESTIONS[:2]:
        t0 = time.perf_counter()
        sorted(schema.tables, key=lambda t: -fuzz.token_set_ratio(q, t.name + " " + " ".join(c.name for c in t.columns)))[:8]
        naive.append((time.perf_counter() - t0) * 1000)
    p50 = statistics.median(times)
    return {"rows": [
        {"metric": "link p50 (10,000 tables)", "value": round(p50, 2), "unit": "ms",
         "baseline": f"{statistics.median(naive):.0f} ms (rapidfuzz over every table)",
         "ratio": round(p50 / statistics.median(naive), 4), "goal": "< 50 ms", "met": p50 < 50},
        {"metric": "index build (once per schema)", "value": round(build), "unit": "ms"},
        {"metric": "prompt size max", "value": round(max(sizes)), "unit": "tokens", "goal": "<= 8000", "met": max(sizes) <= 8000},
    ]}


if __name__ == "__main__":
    for row in run()["rows"]:
        print(row)
