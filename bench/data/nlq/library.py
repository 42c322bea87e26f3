"""Library: authors, books, members, loans."""
import random
from datetime import timedelta

DDL = """
CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL);
CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER REFERENCES authors(id),
  genre TEXT NOT NULL, published_year INTEGER NOT NULL, pages INTEGER NOT NULL);
CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL, joined_date DATE NOT NULL);
CREATE TABLE loans (id INTEGER PRIMARY KEY, book_id INTEGER REFERENCES books(id), member_id INTEGER REFERENCES members(id),
  loan_date DATE NOT NULL, returned_date DATE, late_fee NUMERIC NOT NULL);
"""


def build(db, today):
    rng = random.Random(23)
    db.executescript(DDL)
    countries = ["Ireland", "Japan", "Brazil", "Nigeria", "France"]
    db.executemany("INSERT INTO authors VALUES (?,?,?)", [(i, f"Author {i}", rng.choice(countries)) for i in range(1, 31)])
    genres = ["Fiction", "Mystery", "Science", "History", "Poetry", "Fantasy"]
    db.executemany("INSERT INTO books VALUES (?,?,?,?,?,?)", [(i, f"Book {i}", rng.randint(1, 30), rng.choice(genres),
                                                              rng.randint(1950, 2024), rng.randint(90, 900)) for i in range(1, 151)])
    cities = ["Dublin", "Cork", "Galway", "Limerick"]
    db.executemany("INSERT INTO members VALUES (?,?,?,?)", [(i, f"Member {i}", rng.choice(cities),
                                                            (today - timedelta(days=rng.randint(1, 1500))).isoformat()) for i in range(1, 81)])
    for i in range(1, 401):
        loan = today - timedelta(days=int(rng.triangular(0, 700, 30)))
        returned = None if rng.random() < 0.2 else (loan + timedelta(days=rng.randint(3, 40))).isoformat()
        db.execute("INSERT INTO loans VALUES (?,?,?,?,?,?)", (i, rng.randint(1, 150), rng.randint(1, 75), loan.isoformat(),
                                                              returned, rng.choice([0, 0, 0, 1.5, 3.0])))


QUESTIONS = [
    ("How many books do we have?", "SELECT COUNT(*) FROM books"),
    ("How many mystery books are there?", "SELECT COUNT(*) FROM books WHERE genre = 'Mystery'"),
    ("Books per genre", "SELECT genre, COUNT(*) FROM books GROUP BY genre"),
    ("Average number of pages", "SELECT AVG(pages) FROM books"),
    ("How many loans this month?", "SELECT COUNT(*) FROM loans WHERE loan_date >= '{this_month}' AND loan_date < '{next_month}'"),
    ("Loans per month", "SELECT strftime('%Y-%m', loan_date), COUNT(*) FROM loans GROUP BY 1"),
    ("Total late fees", "SELECT SUM(late_fee) FROM loans"),
    ("Total late fees last year", "SELECT SUM(late_fee) FROM loans WHERE loan_date >= '{last_year}' AND loan_date < '{this_year}'"),
    ("How many members live in Cork?", "SELECT COUNT(*) FROM members WHERE city = 'Cork'"),
    ("Members by city", "SELECT city, COUNT(*) FROM members GROUP BY city"),
    ("Which genre has the most loans?", "SELECT b.genre, COUNT(*) c FROM loans l JOIN books b ON l.book_id = b.id GROUP BY b.genre ORDER BY c DESC LIMIT 1"),
    ("How many members have never borrowed a book?", "SELECT COUNT(*) FROM members m WHERE NOT EXISTS (SELECT 1 FROM loans l WHERE l.member_id = m.id)"),
    ("Top 5 members by number of loans", "SELECT m.name, COUNT(*) c FROM loans l JOIN members m ON l.member_id = m.id GROUP BY m.id, m.name ORDER BY c DESC LIMIT 5"),
    ("How many books were published after 2000?", "SELECT COUNT(*) FROM books WHERE published_year > 2000"),
    ("Books with more than 500 pages", "SELECT * FROM books WHERE pages > 500"),
    ("How many authors are from Japan?", "SELECT COUNT(*) FROM authors WHERE country = 'Japan'"),
    ("Number of books by author country", "SELECT a.country, COUNT(*) FROM books b JOIN authors a ON b.author_id = a.id GROUP BY a.country"),
    ("How many loans of fantasy books?", "SELECT COUNT(*) FROM loans l JOIN books b ON l.book_id = b.id WHERE b.genre = 'Fantasy'"),
    ("Which book is the longest?", "SELECT title, pages FROM books ORDER BY pages DESC LIMIT 1"),
    ("How many members joined this year?", "SELECT COUNT(*) FROM members WHERE joined_date >= '{this_year}' AND joined_date < '{next_year}'"),
    ("Average late fee per city", "SELECT m.city, AVG(l.late_fee) FROM loans l JOIN members m ON l.member_id = m.id GROUP BY m.city"),
]
