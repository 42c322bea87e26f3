"""The demo "shop" database a fresh home ships with, so a newcomer can ask questions at once.

Deterministic (seeded) apart from dates, which are relative to the day it is built so that
"this month" and "last year" always have answers.
"""
from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path

CITIES = [("Berlin", "Germany"), ("Munich", "Germany"), ("Paris", "France"), ("Lyon", "France"),
          ("London", "United Kingdom"), ("Madrid", "Spain"), ("Rome", "Italy"), ("Amsterdam", "Netherlands")]
PRODUCTS = [("Espresso Beans", "Coffee", 14.5), ("Filter Coffee", "Coffee", 11.0), ("Green Tea", "Tea", 8.5),
            ("Earl Grey", "Tea", 7.9), ("French Press", "Equipment", 34.0), ("Milk Frother", "Equipment", 49.0),
            ("Ceramic Mug", "Accessories", 12.0), ("Travel Tumbler", "Accessories", 24.5),
            ("Burr Grinder", "Equipment", 89.0), ("Chai Blend", "Tea", 9.9), ("Decaf Beans", "Coffee", 13.5),
            ("Gift Card", "Accessories", 50.0)]
FIRST = ["Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Luca",
         "Mia", "Noah", "Olga", "Paul", "Rosa", "Sami", "Tina", "Umar"]
LAST = ["Schmidt", "Martin", "Rossi", "Garcia", "Smith", "de Vries", "Dubois", "Weber", "Lopez", "Bianchi"]
STATUSES = ["completed"] * 7 + ["shipped"] * 2 + ["pending", "cancelled", "cancelled"]

DDL = """
CREATE TABLE customers (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, city TEXT NOT NULL,
  country TEXT NOT NULL, signup_date DATE NOT NULL);
CREATE TABLE products (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price NUMERIC(10,2) NOT NULL);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
  order_date DATE NOT NULL, status TEXT NOT NULL, amount NUMERIC(10,2) NOT NULL);
CREATE TABLE order_items (
  id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id),
  product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
  unit_price NUMERIC(10,2) NOT NULL);
"""


def build_demo(path: Path, *, today: date | None = None, seed: int = 7) -> Path:
    """Write the demo shop database to `path` (replacing it) and return the path."""
    today = today or date.today()
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.executescript(DDL)
    customers = []
    for cid in range(1, 61):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, country = rng.choice(CITIES)
        signup = today - timedelta(days=rng.randint(30, 900))
        customers.append((cid, f"{first} {last}", f"{first.lower()}.{last.lower().replace(' ', '')}{cid}@example.com",
                          city, country, signup.isoformat()))
    db.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?)", customers)
    db.executemany("INSERT INTO products VALUES (?,?,?,?)", [(i + 1, *p) for i, p in enumerate(PRODUCTS)])
    item_id = 0
    for oid in range(1, 401):
        cust = rng.choice(customers)
        day = today - timedelta(days=int(rng.triangular(0, 600, 40)))
        lines = []
        for _ in range(rng.randint(1, 4)):
            pid = rng.randint(1, len(PRODUCTS))
            qty = rng.randint(1, 3)
            item_id += 1
            lines.append((item_id, oid, pid, qty, PRODUCTS[pid - 1][2]))
        amount = round(sum(q * p for *_, q, p in lines), 2)
        db.execute("INSERT INTO orders VALUES (?,?,?,?,?)", (oid, cust[0], day.isoformat(), rng.choice(STATUSES), amount))
        db.executemany("INSERT INTO order_items VALUES (?,?,?,?,?)", lines)
    db.commit()
    db.close()
    tmp.replace(path)
    return path


SAMPLE_QUESTIONS = ["How many orders are there?", "Revenue per month", "Top 5 products by revenue",
                    "How many customers are in Berlin?", "How many orders were cancelled this year?"]
DESCRIPTIONS = {
    "customers": "People who signed up to the shop; one row per customer.",
    "products": "Products the shop sells, with their list price.",
    "orders": "Customer orders; amount is the order total (revenue). status: completed, shipped, pending, cancelled.",
    "order_items": "Lines of an order: which product, how many, at what unit price.",
}
