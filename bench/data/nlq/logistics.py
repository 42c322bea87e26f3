"""Logistics: clients, warehouses, carriers, shipments."""
import random
from datetime import timedelta

DDL = """
CREATE TABLE clients (id INTEGER PRIMARY KEY, company TEXT NOT NULL, country TEXT NOT NULL, segment TEXT NOT NULL);
CREATE TABLE warehouses (id INTEGER PRIMARY KEY, city TEXT NOT NULL, capacity INTEGER NOT NULL);
CREATE TABLE carriers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE shipments (id INTEGER PRIMARY KEY, client_id INTEGER REFERENCES clients(id),
  warehouse_id INTEGER REFERENCES warehouses(id), carrier_id INTEGER REFERENCES carriers(id),
  ship_date DATE NOT NULL, status TEXT NOT NULL, weight_kg NUMERIC NOT NULL, cost NUMERIC NOT NULL);
"""


def build(db, today):
    rng = random.Random(5)
    db.executescript(DDL)
    db.executemany("INSERT INTO clients VALUES (?,?,?,?)", [(i, f"Client {i} Ltd", rng.choice(["Spain", "Italy", "Poland", "Sweden"]),
                                                            rng.choice(["retail", "wholesale", "enterprise"])) for i in range(1, 41)])
    db.executemany("INSERT INTO warehouses VALUES (?,?,?)", [(1, "Rotterdam", 5000), (2, "Hamburg", 3000), (3, "Antwerp", 4000)])
    db.executemany("INSERT INTO carriers VALUES (?,?)", [(1, "FastFreight"), (2, "BlueLine"), (3, "CargoNet")])
    statuses = ["delivered"] * 6 + ["in transit"] * 2 + ["delayed", "returned"]
    for i in range(1, 501):
        day = today - timedelta(days=int(rng.triangular(0, 500, 20)))
        db.execute("INSERT INTO shipments VALUES (?,?,?,?,?,?,?,?)", (i, rng.randint(1, 38), rng.randint(1, 3), rng.randint(1, 3),
                                                                      day.isoformat(), rng.choice(statuses), rng.randint(1, 2000),
                                                                      rng.randint(20, 3000)))


QUESTIONS = [
    ("How many shipments are there?", "SELECT COUNT(*) FROM shipments"),
    ("How many shipments are delayed?", "SELECT COUNT(*) FROM shipments WHERE status = 'delayed'"),
    ("Shipments by status", "SELECT status, COUNT(*) FROM shipments GROUP BY status"),
    ("Total shipping cost", "SELECT SUM(cost) FROM shipments"),
    ("Total cost per carrier", "SELECT c.name, SUM(s.cost) FROM shipments s JOIN carriers c ON s.carrier_id = c.id GROUP BY c.name"),
    ("Average weight of a shipment", "SELECT AVG(weight_kg) FROM shipments"),
    ("How many shipments left Rotterdam?", "SELECT COUNT(*) FROM shipments s JOIN warehouses w ON s.warehouse_id = w.id WHERE w.city = 'Rotterdam'"),
    ("Shipments per month", "SELECT strftime('%Y-%m', ship_date), COUNT(*) FROM shipments GROUP BY 1"),
    ("How many shipments this month?", "SELECT COUNT(*) FROM shipments WHERE ship_date >= '{this_month}' AND ship_date < '{next_month}'"),
    ("Shipments heavier than 1500 kg", "SELECT * FROM shipments WHERE weight_kg > 1500"),
    ("Which carrier handled the most shipments?", "SELECT c.name, COUNT(*) n FROM shipments s JOIN carriers c ON s.carrier_id = c.id GROUP BY c.name ORDER BY n DESC LIMIT 1"),
    ("Top 3 clients by shipping cost", "SELECT cl.company, SUM(s.cost) t FROM shipments s JOIN clients cl ON s.client_id = cl.id GROUP BY cl.id, cl.company ORDER BY t DESC LIMIT 3"),
    ("How many clients are in Sweden?", "SELECT COUNT(*) FROM clients WHERE country = 'Sweden'"),
    ("How many clients have no shipments?", "SELECT COUNT(*) FROM clients c WHERE NOT EXISTS (SELECT 1 FROM shipments s WHERE s.client_id = c.id)"),
    ("Cost of delayed shipments last month", "SELECT SUM(cost) FROM shipments WHERE status = 'delayed' AND ship_date >= '{last_month}' AND ship_date < '{this_month}'"),
    ("Number of shipments per warehouse", "SELECT w.city, COUNT(*) FROM shipments s JOIN warehouses w ON s.warehouse_id = w.id GROUP BY w.city"),
    ("Average cost per client segment", "SELECT cl.segment, AVG(s.cost) FROM shipments s JOIN clients cl ON s.client_id = cl.id GROUP BY cl.segment"),
    ("Total weight shipped to Italy", "SELECT SUM(s.weight_kg) FROM shipments s JOIN clients c ON s.client_id = c.id WHERE c.country = 'Italy'"),
    ("How many shipments cost between 100 and 500?", "SELECT COUNT(*) FROM shipments WHERE cost BETWEEN 100 AND 500"),
    ("Most expensive shipment", "SELECT * FROM shipments ORDER BY cost DESC LIMIT 1"),
    ("How many enterprise clients?", "SELECT COUNT(*) FROM clients WHERE segment = 'enterprise'"),
]
