"""SaaS (held out: written after the engine was tuned, never used to tune it): plans, accounts,
subscriptions, invoices, support tickets."""
import random
from datetime import timedelta

DDL = """
CREATE TABLE plans (id INTEGER PRIMARY KEY, name TEXT NOT NULL, monthly_price NUMERIC NOT NULL);
CREATE TABLE accounts (id INTEGER PRIMARY KEY, company_name TEXT NOT NULL, industry TEXT NOT NULL, region TEXT NOT NULL,
  created_at DATE NOT NULL);
CREATE TABLE subscriptions (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id), plan_id INTEGER REFERENCES plans(id),
  started_on DATE NOT NULL, status TEXT NOT NULL, seats INTEGER NOT NULL);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id), issued_on DATE NOT NULL,
  total NUMERIC NOT NULL, paid BOOLEAN NOT NULL);
CREATE TABLE tickets (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id), opened_on DATE NOT NULL,
  priority TEXT NOT NULL, resolved BOOLEAN NOT NULL);
"""


def build(db, today):
    rng = random.Random(99)
    db.executescript(DDL)
    db.executemany("INSERT INTO plans VALUES (?,?,?)", [(1, "Starter", 29), (2, "Team", 99), (3, "Business", 299), (4, "Enterprise", 999)])
    inds, regs = ["fintech", "healthcare", "retail", "education"], ["EMEA", "APAC", "Americas"]
    db.executemany("INSERT INTO accounts VALUES (?,?,?,?,?)", [(i, f"Acme {i}", rng.choice(inds), rng.choice(regs),
                                                               (today - timedelta(days=rng.randint(5, 1000))).isoformat()) for i in range(1, 91)])
    for i in range(1, 121):
        db.execute("INSERT INTO subscriptions VALUES (?,?,?,?,?,?)", (i, rng.randint(1, 85), rng.randint(1, 4),
                                                                      (today - timedelta(days=rng.randint(1, 900))).isoformat(),
                                                                      rng.choice(["active", "active", "trial", "cancelled"]), rng.randint(1, 200)))
    for i in range(1, 601):
        db.execute("INSERT INTO invoices VALUES (?,?,?,?,?)", (i, rng.randint(1, 85), (today - timedelta(days=int(rng.triangular(0, 600, 30)))).isoformat(),
                                                               rng.randrange(29, 20000), rng.random() > 0.1))
    for i in range(1, 301):
        db.execute("INSERT INTO tickets VALUES (?,?,?,?,?)", (i, rng.randint(1, 90), (today - timedelta(days=rng.randint(0, 365))).isoformat(),
                                                              rng.choice(["low", "medium", "high", "urgent"]), rng.random() > 0.3))


QUESTIONS = [
    ("How many accounts do we have?", "SELECT COUNT(*) FROM accounts"),
    ("How many accounts are in EMEA?", "SELECT COUNT(*) FROM accounts WHERE region = 'EMEA'"),
    ("Accounts per industry", "SELECT industry, COUNT(*) FROM accounts GROUP BY industry"),
    ("Total invoiced amount", "SELECT SUM(total) FROM invoices"),
    ("Invoice total per month", "SELECT strftime('%Y-%m', issued_on), SUM(total) FROM invoices GROUP BY 1"),
    ("How many invoices were issued last month?", "SELECT COUNT(*) FROM invoices WHERE issued_on >= '{last_month}' AND issued_on < '{this_month}'"),
    ("How many unpaid invoices are there?", "SELECT COUNT(*) FROM invoices WHERE NOT paid"),
    ("Average invoice total", "SELECT AVG(total) FROM invoices"),
    ("Revenue by region", "SELECT a.region, SUM(i.total) FROM invoices i JOIN accounts a ON i.account_id = a.id GROUP BY a.region"),
    ("Top 5 accounts by revenue", "SELECT a.company_name, SUM(i.total) t FROM invoices i JOIN accounts a ON i.account_id = a.id GROUP BY a.id, a.company_name ORDER BY t DESC LIMIT 5"),
    ("How many urgent tickets?", "SELECT COUNT(*) FROM tickets WHERE priority = 'urgent'"),
    ("Tickets by priority", "SELECT priority, COUNT(*) FROM tickets GROUP BY priority"),
    ("How many tickets were opened this year?", "SELECT COUNT(*) FROM tickets WHERE opened_on >= '{this_year}' AND opened_on < '{next_year}'"),
    ("How many accounts have no tickets?", "SELECT COUNT(*) FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM tickets t WHERE t.account_id = a.id)"),
    ("Which industry has the most accounts?", "SELECT industry, COUNT(*) c FROM accounts GROUP BY industry ORDER BY c DESC LIMIT 1"),
    ("How many active subscriptions?", "SELECT COUNT(*) FROM subscriptions WHERE status = 'active'"),
    ("Total seats per plan", "SELECT p.name, SUM(s.seats) FROM subscriptions s JOIN plans p ON s.plan_id = p.id GROUP BY p.name"),
    ("Subscriptions on the Enterprise plan", "SELECT s.* FROM subscriptions s JOIN plans p ON s.plan_id = p.id WHERE p.name = 'Enterprise'"),
    ("What is the most expensive plan?", "SELECT name, monthly_price FROM plans ORDER BY monthly_price DESC LIMIT 1"),
    ("How many accounts were created since March?", "SELECT COUNT(*) FROM accounts WHERE created_at >= '{since_march}'"),
    ("Invoices over 10000", "SELECT * FROM invoices WHERE total > 10000"),
    ("Number of tickets per account region", "SELECT a.region, COUNT(*) FROM tickets t JOIN accounts a ON t.account_id = a.id GROUP BY a.region"),
]
