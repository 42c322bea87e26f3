"""The built-in engine, offline, on the public Spider 1.0 dev tuning split (`../shared/spider/`, see its SOURCE.md).

Execution match: the gold SQL and the produced SQL run on the same SQLite database. Lenient: same number of
rows, and every gold column appears among the produced columns with the same values (as a multiset, or in
order when the gold SQL has ORDER BY). Strict (Spider-style): lenient and the same number of columns.
Precision = correct / answered (a refusal is better than a wrong number); confidence bands show whether the
engine's `confidence` predicts correctness. Baseline in the same run: the engine refusing everything.
Measured before the compositional reader (the intent reader alone): 18.1 % lenient, 12.1 % strict, 29.0 %
precision, 37.6 % refused, every answer at confidence >= 0.75.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/spider.py` from the repo root

from tabletalk.core.datasources.base import connector_for  # noqa: E402
from tabletalk.core.metadata.schema import Schema  # noqa: E402
from tabletalk.core.nlq.builtin import generate  # noqa: E402

HERE = Path(__file__).resolve().parent


def _spider_dir() -> Path:
    """`$TABLETALK_SPIDER_DIR`, else the nearest `shared/spider` beside the checkout (`../shared/spider`;
    a worktree one level deeper finds the same folder)."""
    if os.environ.get("TABLETALK_SPIDER_DIR"):
        return Path(os.environ["TABLETALK_SPIDER_DIR"])
    for up in HERE.parent.parents:
        if (up / "shared" / "spider").is_dir():
            return up / "shared" / "spider"
    return HERE.parent.parent / "shared" / "spider"


SPIDER_DIR = _spider_dir()
VALUE_CAP = 200  # the metadata service's default value-index cap
BANDS = ((0.0, 0.5), (0.5, 0.6), (0.6, 0.75), (0.75, 0.9), (0.9, 1.01))
GOAL_LENIENT, GOAL_PRECISION, GOAL_P50_MS = 0.50, 0.90, 5.0


@dataclass
class Outcome:
    db_id: str
    question: str
    gold_sql: str
    sql: str | None
    confidence: float
    lenient: bool
    strict: bool
    ms: float
    cpu_ms: float = 0.0
    interpretation: str = ""
    error: str = ""


def available() -> bool:
    return (SPIDER_DIR / "questions.json").exists() and (SPIDER_DIR / "databases").is_dir()


async def schema_of(path: Path) -> Schema:
    """The schema as a synced datasource carries it: introspected tables, value samples of text columns."""
    conn = connector_for("sqlite", {"database": str(path)})
    tables = await conn.introspect()
    for t in tables:
        for c in t.columns:
            if c.kind == "text" and not c.primary_key and not c.references and not c.name.lower().endswith("id"):
                c.values = await conn.sample_values(t.name, c.name, VALUE_CAP) or []
    return Schema("sqlite", tables)


def _cell(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return round(float(v), 2)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def _column(rows: list[tuple], i: int) -> list:
    return [_cell(r[i]) for r in rows]


def compare(gold_sql: str, gold: list[tuple], got: list[tuple], got_width: int, gold_width: int) -> tuple[bool, bool]:
    """(lenient, strict) execution match of `got` against `gold`."""
    if len(gold) != len(got):
        return False, False
    if not gold:
        return True, got_width == gold_width
    ordered = bool(re.search(r"\border\s+by\b", gold_sql, re.I))
    got_cols = [_column(got, i) for i in range(got_width)]
    free = list(range(got_width))
    for i in range(gold_width):
        want = _column(gold, i)
        key = (lambda c: c) if ordered else (lambda c: sorted(Counter(map(repr, c)).items()))
        hit = next((j for j in free if key(got_cols[j]) == key(want)), None)
        if hit is None:
            return False, False
        free.remove(hit)
    return True, got_width == gold_width


def evaluate(limit: int | None = None) -> list[Outcome]:
    questions = json.loads((SPIDER_DIR / "questions.json").read_text())[:limit]
    schemas: dict[str, Schema] = {}
    outcomes = []
    for item in questions:
        db_id = item["db_id"]
        path = SPIDER_DIR / "databases" / f"{db_id}.sqlite"
        if db_id not in schemas:
            schemas[db_id] = asyncio.run(schema_of(path))
            generate("warm up", schemas[db_id])  # the lexicon is built once per schema, at sync time in the service
        t0, c0 = time.perf_counter(), time.thread_time()
        result = generate(item["question"], schemas[db_id])
        ms, cpu = (time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000
        out = Outcome(db_id, item["question"], item["gold_sql"], result.sql, result.confidence, False, False, ms, cpu,
                      getattr(result, "interpretation", "") or "")
        if result.sql:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            db.text_factory = lambda b: b.decode("utf-8", "replace")
            try:
                gold_cur = db.execute(item["gold_sql"])
                gold = gold_cur.fetchall()
                cur = db.execute(result.sql)
                got = cur.fetchmany(100_000)
                out.lenient, out.strict = compare(item["gold_sql"], gold, got, len(cur.description),
                                                  len(gold_cur.description))
            except sqlite3.Error as exc:
                out.error = str(exc)
            finally:
                db.close()
        outcomes.append(out)
    return outcomes


def summary(outcomes: list[Outcome]) -> dict:
    n = len(outcomes)
    answered = [o for o in outcomes if o.sql]
    correct = sum(o.lenient for o in outcomes)
    bands = []
    for lo, hi in BANDS:
        inside = [o for o in answered if lo <= o.confidence < hi]
        bands.append({"band": f"{lo:.2f}–{min(hi, 1.0):.2f}", "answered": len(inside),
                      "precision": round(100 * sum(o.lenient for o in inside) / len(inside), 1) if inside else None})
    return {"questions": n, "answered": len(answered), "lenient": correct, "strict": sum(o.strict for o in outcomes),
            "lenient_pct": round(100 * correct / n, 1) if n else 0.0,
            "strict_pct": round(100 * sum(o.strict for o in outcomes) / n, 1) if n else 0.0,
            "precision_pct": round(100 * correct / len(answered), 1) if answered else 0.0,
            "refusal_pct": round(100 * (n - len(answered)) / n, 1) if n else 0.0,
            "p50_ms": round(statistics.median(o.ms for o in outcomes), 2) if outcomes else 0.0,
            "p50_cpu_ms": round(statistics.median(o.cpu_ms for o in outcomes), 2) if outcomes else 0.0,
            "p95_ms": round(sorted(o.ms for o in outcomes)[int(0.95 * (n - 1))], 2) if outcomes else 0.0,
            "bands": bands}


def run() -> dict:
    if not available():
        return {"error": f"Spider tuning split not found at {SPIDER_DIR}"}
    outcomes = evaluate()
    s = summary(outcomes)
    rows = [
        {"metric": "lenient execution accuracy", "value": s["lenient_pct"], "unit": "%",
         "baseline": "0 % (refuse everything)", "goal": ">= 50 %", "met": s["lenient_pct"] >= 100 * GOAL_LENIENT},
        {"metric": "precision (correct / answered)", "value": s["precision_pct"], "unit": "%",
         "goal": ">= 90 %", "met": s["precision_pct"] >= 100 * GOAL_PRECISION},
        {"metric": "strict execution accuracy (same columns)", "value": s["strict_pct"], "unit": "%"},
        {"metric": "refusal rate", "value": s["refusal_pct"], "unit": "%"},
        {"metric": "generate p50 (CPU time of the generating thread)", "value": s["p50_cpu_ms"], "unit": "ms",
         "goal": "< 5 ms", "met": s["p50_cpu_ms"] < GOAL_P50_MS},
        {"metric": "generate p50 (wall clock, machine shared)", "value": s["p50_ms"], "unit": "ms"},
        {"metric": "generate p95", "value": s["p95_ms"], "unit": "ms"},
    ]
    for b in s["bands"]:
        rows.append({"metric": f"precision at confidence {b['band']}",
                     "value": "—" if b["precision"] is None else b["precision"], "unit": "%" if b["precision"] is not None else "",
                     "baseline": f"{b['answered']} answered"})
    failures = [(o.db_id, o.question, o.sql, o.gold_sql, o.error) for o in outcomes if o.sql and not o.lenient]
    return {"rows": rows, "summary": s, "failures": failures[:200]}


if __name__ == "__main__":
    outcomes = evaluate()
    print(json.dumps(summary(outcomes), indent=1))
    if "-v" in sys.argv:
        for o in outcomes:
            if o.sql and not o.lenient:
                print(f"WRONG [{o.db_id}] {o.question}\n  got:  {o.sql}\n  gold: {o.gold_sql}\n  {o.error}")
    if "-r" in sys.argv:
        for o in outcomes:
            if not o.sql:
                print(f"REFUSED [{o.db_id}] {o.question}\n  gold: {o.gold_sql}")
