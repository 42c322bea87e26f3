"""Policy rewrite overhead: p50/p95 of `apply_policies` on representative queries, against a baseline
measured in the same run on the same SQL: a plain sqlglot parse + generate round trip. Goal: p50 < 2 ms.

Run `python bench/policy_rewrite.py [iterations]` from the repo root; `run()` returns the numbers."""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlglot  # noqa: E402

from tabletalk.core.policy.rewrite import Rule, apply_policies, forget_rewrites  # noqa: E402

DIALECT = "sqlite"
RULES = [Rule("orders", "customer_id IN (SELECT id FROM customers WHERE city = '{{city}}')"),
         Rule("customers", "city = '{{city}}'"), Rule("products"), Rule("order_items", "region IN ({{regions}})"),
         Rule("big_orders")]
VALUES = {"city": "Berlin", "regions": ["emea", "apac"]}
TABLES = {"orders", "customers", "products", "order_items", "big_orders", "salaries"}
VIEWS = {"big_orders": "SELECT id, customer_id, amount FROM orders WHERE amount > 100"}
QUERIES = [
    "SELECT COUNT(*) FROM orders",
    "SELECT SUM(amount) FROM orders WHERE status = 'cancelled'",
    "SELECT c.city, COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.city",
    "SELECT strftime('%Y-%m', order_date) AS month, SUM(amount) FROM orders GROUP BY 1 ORDER BY 1",
    ("SELECT p.name, SUM(i.quantity * i.unit_price) AS revenue FROM order_items i JOIN products p ON p.id = i.product_id "
     "GROUP BY p.name ORDER BY revenue DESC LIMIT 5"),
    ("WITH t AS (SELECT customer_id, SUM(amount) AS s FROM orders GROUP BY customer_id) "
     "SELECT c.name, t.s FROM t JOIN customers c ON c.id = t.customer_id ORDER BY t.s DESC LIMIT 10"),
    "SELECT * FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
    "SELECT id FROM orders WHERE amount > (SELECT AVG(amount) FROM orders)",
    "SELECT id FROM orders UNION SELECT order_id FROM order_items",
    "SELECT o.id, ROW_NUMBER() OVER (PARTITION BY o.customer_id ORDER BY o.order_date) FROM orders o",
    "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE amount > 500)",
    "SELECT c.name, (SELECT MAX(amount) FROM orders o WHERE o.customer_id = c.id) AS biggest FROM customers c",
    ("WITH RECURSIVE d(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM d WHERE n < 12) "
     "SELECT d.n, COUNT(o.id) FROM d LEFT JOIN orders o ON CAST(strftime('%m', o.order_date) AS INTEGER) = d.n GROUP BY d.n"),
    "WITH orders AS (SELECT * FROM orders WHERE status = 'paid') SELECT COUNT(*) FROM orders",
    "SELECT b.id, c.name FROM big_orders b JOIN customers c ON c.id = b.customer_id",
    "SELECT status, COUNT(*), AVG(amount) FROM orders GROUP BY status HAVING COUNT(*) > 10 ORDER BY 2 DESC",
    ("SELECT c.city, p.category, SUM(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id "
     "JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = i.product_id GROUP BY c.city, p.category"),
    "SELECT id FROM orders INTERSECT SELECT order_id FROM order_items EXCEPT SELECT id FROM big_orders",
    ("SELECT x.customer_id, x.total FROM (SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id) x "
     "WHERE x.total > (SELECT AVG(amount) * 10 FROM orders)"),
    "SELECT CASE WHEN amount > 100 THEN 'big' ELSE 'small' END AS size, COUNT(*) FROM orders /* a comment */ GROUP BY 1",
]
GOAL_MS = 2.0


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(fn, sql: str) -> float:
    t0 = time.perf_counter_ns()
    fn(sql)
    return (time.perf_counter_ns() - t0) / 1e6


def _baseline(sql: str) -> str:
    return sqlglot.parse_one(sql, read=DIALECT).sql(dialect=DIALECT)


def _rewrite(sql: str) -> str:
    return apply_policies(sql, DIALECT, RULES, VALUES, all_tables=TABLES, views=VIEWS)


def _rewrite_cold(sql: str) -> str:
    forget_rewrites()  # the rewrite itself, not the memo of an earlier identical one
    return _rewrite(sql)


def run(iterations: int = 1000) -> dict:
    """Time every query `iterations` times, baseline and rewrite interleaved so both see the same machine."""
    for sql in QUERIES:  # warm caches (bound filters, parsed views) and fail early on a refused query
        _rewrite(sql)
    per_query = {sql: ([], []) for sql in QUERIES}
    memo_hits = []
    for _ in range(iterations):
        for sql, (base, rewrite) in per_query.items():
            base.append(_ms(_baseline, sql))
            rewrite.append(_ms(_rewrite_cold, sql))
            memo_hits.append(_ms(_rewrite, sql))
    base_all = [t for b, _ in per_query.values() for t in b]
    rewrite_all = [t for _, r in per_query.values() for t in r]
    p50, p95 = statistics.median(rewrite_all), _percentile(rewrite_all, 0.95)
    b50, b95 = statistics.median(base_all), _percentile(base_all, 0.95)
    return {
        "rows": [
            {"metric": "policy rewrite p50", "value": round(p50, 3), "unit": "ms",
             "baseline": f"{b50:.3f} ms (parse+generate)", "ratio": round(p50 / b50, 2), "goal": f"< {GOAL_MS:g} ms",
             "met": p50 < GOAL_MS},
            {"metric": "policy rewrite p95", "value": round(p95, 3), "unit": "ms",
             "baseline": f"{b95:.3f} ms (parse+generate)", "ratio": round(p95 / b95, 2)},
            {"metric": "the same SQL again (memo hit) p50", "value": round(statistics.median(memo_hits), 4), "unit": "ms"},
        ],
        "queries": [{"sql": sql, "p50_ms": round(statistics.median(r), 3), "p95_ms": round(_percentile(r, 0.95), 3),
                     "baseline_p50_ms": round(statistics.median(b), 3), "ratio": round(statistics.median(r) / statistics.median(b), 2)}
                    for sql, (b, r) in per_query.items()],
        "iterations": iterations,
        "dialect": DIALECT,
    }


def _table(result: dict) -> str:
    lines = [f"{'query':<62} {'p50 ms':>8} {'p95 ms':>8} {'base p50':>9} {'ratio':>6}"]
    for q in result["queries"]:
        sql = q["sql"] if len(q["sql"]) <= 60 else q["sql"][:57] + "..."
        lines.append(f"{sql:<62} {q['p50_ms']:>8.3f} {q['p95_ms']:>8.3f} {q['baseline_p50_ms']:>9.3f} {q['ratio']:>6.2f}")
    lines.append("")
    lines.append(f"{'metric':<22} {'value':>10} {'baseline':>30} {'ratio':>6} {'goal':>8} {'met':>4}")
    for r in result["rows"]:
        met = {True: "yes", False: "no"}.get(r.get("met"), "")
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
        lines.append(f"{r['metric']:<22} {r['value']:>7.3f} ms {r.get('baseline', ''):>30} {ratio:>6} "
                     f"{r.get('goal', ''):>8} {met:>4}")
    return "\n".join(lines)


if __name__ == "__main__":
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
    print(f"apply_policies on {len(QUERIES)} queries x {result['iterations']} iterations ({DIALECT})\n")
    print(_table(result))
