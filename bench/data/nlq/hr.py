"""HR: departments, offices, employees, projects, assignments."""
import random
from datetime import timedelta

DDL = """
CREATE TABLE departments (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE offices (id INTEGER PRIMARY KEY, city TEXT NOT NULL, country TEXT NOT NULL);
CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT NOT NULL, title TEXT NOT NULL,
  department_id INTEGER REFERENCES departments(id), office_id INTEGER REFERENCES offices(id),
  hire_date DATE NOT NULL, salary NUMERIC NOT NULL, is_active BOOLEAN NOT NULL);
CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL, department_id INTEGER REFERENCES departments(id),
  budget NUMERIC NOT NULL, start_date DATE NOT NULL);
CREATE TABLE assignments (id INTEGER PRIMARY KEY, employee_id INTEGER REFERENCES employees(id),
  project_id INTEGER REFERENCES projects(id), hours INTEGER NOT NULL);
"""


def build(db, today):
    rng = random.Random(11)
    db.executescript(DDL)
    depts = ["Engineering", "Sales", "Marketing", "Finance", "Support"]
    db.executemany("INSERT INTO departments VALUES (?, ?)", list(enumerate(depts, 1)))
    offices = [("Berlin", "Germany"), ("Munich", "Germany"), ("London", "United Kingdom"), ("Toronto", "Canada")]
    db.executemany("INSERT INTO offices VALUES (?, ?, ?)", [(i, *o) for i, o in enumerate(offices, 1)])
    titles = ["Engineer", "Manager", "Analyst", "Designer", "Director"]
    for i in range(1, 121):
        hired = today - timedelta(days=rng.randint(10, 2500))
        db.execute("INSERT INTO employees VALUES (?,?,?,?,?,?,?,?)",
                   (i, f"Employee {i}", rng.choice(titles), rng.randint(1, 5), rng.randint(1, 4), hired.isoformat(),
                    rng.randrange(40000, 140000, 1000), rng.random() > 0.15))
    for i in range(1, 16):
        db.execute("INSERT INTO projects VALUES (?,?,?,?,?)", (i, f"Project {chr(64 + i)}", rng.randint(1, 5),
                                                               rng.randrange(10000, 500000, 5000),
                                                               (today - timedelta(days=rng.randint(0, 800))).isoformat()))
    for i in range(1, 201):
        db.execute("INSERT INTO assignments VALUES (?,?,?,?)", (i, rng.randint(1, 110), rng.randint(1, 15), rng.randint(5, 200)))


QUESTIONS = [
    ("How many employees do we have?", "SELECT COUNT(*) FROM employees"),
    ("How many people work in the Berlin office?", "SELECT COUNT(*) FROM employees e JOIN offices o ON e.office_id = o.id WHERE o.city = 'Berlin'"),
    ("What is the average salary?", "SELECT AVG(salary) FROM employees"),
    ("Average salary per department", "SELECT d.name, AVG(e.salary) FROM employees e JOIN departments d ON e.department_id = d.id GROUP BY d.name"),
    ("Headcount by office", "SELECT o.city, COUNT(*) FROM employees e JOIN offices o ON e.office_id = o.id GROUP BY o.city"),
    ("How many employees are in Engineering?", "SELECT COUNT(*) FROM employees e JOIN departments d ON e.department_id = d.id WHERE d.name = 'Engineering'"),
    ("Which department has the most employees?", "SELECT d.name, COUNT(*) c FROM employees e JOIN departments d ON e.department_id = d.id GROUP BY d.name ORDER BY c DESC LIMIT 1"),
    ("Highest salary", "SELECT MAX(salary) FROM employees"),
    ("How many employees earn more than 100000?", "SELECT COUNT(*) FROM employees WHERE salary > 100000"),
    ("How many people were hired this year?", "SELECT COUNT(*) FROM employees WHERE hire_date >= '{this_year}' AND hire_date < '{next_year}'"),
    ("Employees hired last year", "SELECT * FROM employees WHERE hire_date >= '{last_year}' AND hire_date < '{this_year}'"),
    ("Number of hires per year", "SELECT strftime('%Y', hire_date), COUNT(*) FROM employees GROUP BY 1"),
    ("Total project budget", "SELECT SUM(budget) FROM projects"),
    ("Total budget by department", "SELECT d.name, SUM(p.budget) FROM projects p JOIN departments d ON p.department_id = d.id GROUP BY d.name"),
    ("Top 3 projects by budget", "SELECT name, budget FROM projects ORDER BY budget DESC LIMIT 3"),
    ("How many employees have no assignments?", "SELECT COUNT(*) FROM employees e WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.employee_id = e.id)"),
    ("Total hours per project", "SELECT p.name, SUM(a.hours) FROM assignments a JOIN projects p ON a.project_id = p.id GROUP BY p.name"),
    ("How many managers are there?", "SELECT COUNT(*) FROM employees WHERE title = 'Manager'"),
    ("Average salary of engineers in Germany", "SELECT AVG(e.salary) FROM employees e JOIN offices o ON e.office_id = o.id WHERE e.title = 'Engineer' AND o.country = 'Germany'"),
    ("How many active employees?", "SELECT COUNT(*) FROM employees WHERE is_active"),
    ("Number of projects started since March", "SELECT COUNT(*) FROM projects WHERE start_date >= '{since_march}'"),
    ("Salary total per office", "SELECT o.city, SUM(e.salary) FROM employees e JOIN offices o ON e.office_id = o.id GROUP BY o.city"),
]
