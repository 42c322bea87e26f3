"""Policy rewrite overhead: p50/p95 of apply_policies on representative queries, against a baseline of a
plain sqlglot parse + generate round trip of the same SQL measured in the same run. Goal: p50 < 2 ms."""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlglot  # noqa: E402

from tabletalk.core.policy.rewrite import Rule, apply_policies  # noqa: E402

RULES = [Rule("orders", "customer_id IN (SELECT id FROM customers WHERE city = '{{city}}')"),
         Rule("customers", "city = '{{city}}'"), Rule("products"), Rule("order_items")]
TABLES = {"orders", "customers", "products", "order_items"}
QUERIES = [
    "SELECT COUNT(*) FROM orders",
    "SELECT SUM(amount) FROM orders WHERE status = 'cancelled'",
    "SELECT c.city, COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.city",
    "SELECT strftime('%Y-%m', order_date), SUM(amount) FROM orders GROUP BY 1 ORDER BY 1",
    "SELECT p.name, SUM(i.quantity * i.unit_price) AS revenue FROM order_items i JOIN products p ON p.id = i.product_id "
    "GROUP BY p.name ORDER BY revenue DESC LIMIT 5",
    "WITH t AS (SELECT customer_id, SUM(amount) s FROM orders GROUP BY customer_id) SELECT c.name, t.s FROM t JOIN customers c ON c.id = t.customer_id",
    "SELECT * FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
    "SELECT id FROM orders WHERE amount > (SELECT AVG(amount) FROM orders)",
    "SELECT id FROM orders UNION SELECT id FROM orders",
    "SELECT o.id, ROW_NUMBER() OVER (PARTITION BY o.customer_id ORDER BY o.order_date) FROM orders o",
]
N = 300


def _time(fn) -> list[float]:
    out = []
    for _ in range(N):
        for q in QUERIES:
            t0 = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def run() -> dict:
    baseline = _time(lambda q: sqlglot.parse_one(q, read="sqlite").sql(dialect="sqlite"))
    rewrite = _time(lambda q: apply_policies(q, "sqlite", RULES, {"city": "Berlin"}, all_tables=TABLES))
    p50, b50 = statistics.median(rewrite), statistics.median(baseline)
    return {"rows": [
        {"metric": "policy rewrite p50", "value": round(p50, 3), "unit": "ms", "baseline": f"{b50:.3f} ms (parse+generate)",
         "ratio": round(p50 / b50, 2), "goal": "< 2 ms", "met": p50 < 2},
        {"metric": "policy rewrite p95", "value": round(sorted(rewrite)[int(0.95 * len(rewrite))], 3), "unit": "ms"},
    ]}


if __name__ == "__main__":
    for row in run()["rows"]:
        print(row)
