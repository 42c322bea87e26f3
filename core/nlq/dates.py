"""Date windows relative to today ("this month", "last year", "in 2024", "since March", "last 7 days")
and time buckets ("per month"), turned into half-open [start, end) ranges and dialect SQL."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from tabletalk.core.errors import Invalid

MONTHS = {m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                       "september", "october", "november", "december"], start=1)}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS.pop("may", None)
MONTHS["may"] = 5
_MONTH_RE = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
UNIT_WORDS = {"day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
              "year": "year", "years": "year", "quarter": "quarter", "quarters": "quarter"}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "fifty": 50,
                "hundred": 100, "a": 1, "an": 1}


@dataclass
class Window:
    start: date | None
    end: date | None  # exclusive
    label: str


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _month_of(name: str) -> int:
    return MONTHS["sep" if name == "sept" else name[:3] if name[:3] in MONTHS and name not in MONTHS else name]


# Every window rule needs a digit, a month or one of these words: most questions name none, and
# are done with one search instead of two dozen.
_MAY_HAVE_WINDOW = re.compile(r"\d|\b(?:ytd|today|yesterday|days?|weeks?|months?|quarters?|years?|"
                              + _MONTH_RE[1:-1] + r")\b")
_MAY_HAVE_BUCKET = re.compile(r"\b(?:month|year|week|day|quarter|monthly|yearly|annual|annually|weekly|daily|"
                              r"quarterly|over time|trend)\b")


# (pattern, window maker) in order: the first that matches names the window. Compiled once, at import.
_WINDOW_RULES: list[tuple[re.Pattern, Callable[[re.Match, date], Window | None]]] = [(re.compile(pattern), make) for pattern, make in [
    (r"\b(?:year to date|ytd|so far this year)\b", lambda m, today: Window(date(today.year, 1, 1), today + timedelta(1), "year to date")),
    (r"\btoday\b", lambda m, today: Window(today, today + timedelta(1), "today")),
    (r"\byesterday\b", lambda m, today: Window(today - timedelta(1), today, "yesterday")),
    (r"\bthis week\b", lambda m, today: Window(today - timedelta(today.weekday()), today - timedelta(today.weekday()) + timedelta(7), "this week")),
    (r"\b(?:last|previous|past) week\b", lambda m, today: Window(today - timedelta(today.weekday() + 7), today - timedelta(today.weekday()), "last week")),
    (r"\bthis month\b", lambda m, today: Window(_month_start(today), _add_months(today, 1), "this month")),
    (r"\b(?:last|previous) month\b", lambda m, today: Window(_add_months(today, -1), _month_start(today), "last month")),
    (r"\bthis quarter\b", lambda m, today: Window(_quarter_start(today), _add_months(_quarter_start(today), 3), "this quarter")),
    (r"\b(?:last|previous) quarter\b", lambda m, today: Window(_add_months(_quarter_start(today), -3), _quarter_start(today), "last quarter")),
    (r"\bthis year\b", lambda m, today: Window(date(today.year, 1, 1), date(today.year + 1, 1, 1), "this year")),
    (r"\b(?:last|previous) year\b", lambda m, today: Window(date(today.year - 1, 1, 1), date(today.year, 1, 1), "last year")),
    (r"\b(?:in |during |for |over )?the (?:last|past|previous) (\d+|[a-z]+) (days?|weeks?|months?|years?)\b", lambda m, today: _last_n(m, today)),
    (r"\b(?:in |during |for |over )?(?:the )?(?:last|past|previous) (\d+|[a-z]+) (days?|weeks?|months?|years?)\b", lambda m, today: _last_n(m, today)),
    (r"\b(?:in |during )?q([1-4]) (\d{4})\b", lambda m, today: _quarter(int(m.group(1)), int(m.group(2)))),
    (r"\bbetween (\d{4}) and (\d{4})\b", lambda m, today: Window(date(int(m.group(1)), 1, 1), date(int(m.group(2)) + 1, 1, 1), f"{m.group(1)}–{m.group(2)}")),
    (r"\b(?:since|from|after) (\d{4})-(\d{2})-(\d{2})\b", lambda m, today: Window(date(*map(int, m.groups())), None, f"since {m.group(0)[6:]}")),
    (r"\bon (\d{4})-(\d{2})-(\d{2})\b", lambda m, today: Window(date(*map(int, m.groups())), date(*map(int, m.groups())) + timedelta(1), m.group(0)[3:])),
    (r"\b(?:since|from) " + _MONTH_RE + r" (\d{4})\b", lambda m, today: Window(date(int(m.group(2)), _month_of(m.group(1)), 1), None, f"since {m.group(1)} {m.group(2)}")),
    (r"\b(?:since|from) " + _MONTH_RE + r"\b", lambda m, today: Window(_recent_month(_month_of(m.group(1)), today), None, f"since {m.group(1)}")),
    (r"\b(?:since|after) (\d{4})\b", lambda m, today: Window(date(int(m.group(1)) + (1 if "after" in m.group(0) else 0), 1, 1), None, m.group(0))),
    (r"\bbefore (\d{4})\b", lambda m, today: Window(None, date(int(m.group(1)), 1, 1), m.group(0))),
    (r"\b(?:in |during |for |of )?" + _MONTH_RE + r" (\d{4})\b", lambda m, today: _month_window(_month_of(m.group(1)), int(m.group(2)))),
    (r"\b(?:in |during )" + _MONTH_RE + r"\b", lambda m, today: _month_window(_month_of(m.group(1)), _recent_month(_month_of(m.group(1)), today).year)),
    (r"\b(?:in |during |for |of )?((?:19|20)\d{2})\b", lambda m, today: Window(date(int(m.group(1)), 1, 1), date(int(m.group(1)) + 1, 1, 1), m.group(1))),
]]


def find_window(text: str, today: date) -> tuple[Window | None, str]:
    """The first date window in `text` and the text with that phrase removed."""
    t = text
    if not _MAY_HAVE_WINDOW.search(t):
        return None, text
    for pattern, make in _WINDOW_RULES:
        m = pattern.search(t)
        if m:
            try:
                window = make(m, today)
            except (OverflowError, ValueError):  # "the last 99999999999 days", "on 2024-02-31", "before 9999"+1
                raise Invalid(f"The period '{m.group(0).strip()}' is not a real date or lies outside the calendar "
                              "(years 1 to 9999); ask about another period.") from None
            if window is None:
                continue
            return window, (t[:m.start()] + " " + t[m.end():]).strip()
    return None, text


def _recent_month(month: int, today: date) -> date:
    return date(today.year if month <= today.month else today.year - 1, month, 1)


def _month_window(month: int, year: int) -> Window:
    start = date(year, month, 1)
    return Window(start, _add_months(start, 1), start.strftime("%B %Y"))


def _quarter(q: int, year: int) -> Window:
    start = date(year, 3 * (q - 1) + 1, 1)
    return Window(start, _add_months(start, 3), f"Q{q} {year}")


def _last_n(m: re.Match, today: date) -> Window | None:
    raw = m.group(1)
    n = int(raw) if raw.isdigit() else NUMBER_WORDS.get(raw)
    if n is None:
        return None
    unit = UNIT_WORDS[m.group(2)]
    if unit == "day":
        start = today - timedelta(days=n - 1)
    elif unit == "week":
        start = today - timedelta(weeks=n)
    elif unit == "month":
        start = _shift_months(today, -n)
    elif unit == "year":
        start = _shift_months(today, -12 * n)
    else:
        start = _shift_months(today, -3 * n)
    return Window(start, today + timedelta(1), f"last {n} {unit}s")


def _shift_months(d: date, n: int) -> date:
    target = _add_months(d.replace(day=1), n)
    day = min(d.day, 28)
    return target.replace(day=day)


BUCKETS = [
    (r"\b(?:per|by|each|every|a) month\b|\bmonthly\b|\bmonth by month\b|\bmonth over month\b|\bover time\b|\btrend\b", "month"),
    (r"\b(?:per|by|each|every|a) year\b|\byearly\b|\bannual(?:ly)?\b|\byear over year\b", "year"),
    (r"\b(?:per|by|each|every|a) week\b|\bweekly\b", "week"),
    (r"\b(?:per|by|each|every|a) day\b|\bdaily\b|\bday by day\b", "day"),
    (r"\b(?:per|by|each|every|a) quarter\b|\bquarterly\b", "quarter"),
]


def find_bucket(text: str) -> tuple[str | None, str]:
    if not _MAY_HAVE_BUCKET.search(text):
        return None, text
    for pattern, unit in BUCKETS:
        m = re.search(pattern, text)
        if m:
            return unit, (text[:m.start()] + " " + text[m.end():]).strip()
    return None, text


_BUCKET_SQL = {
    "sqlite": {"month": "strftime('%Y-%m', {c})", "year": "strftime('%Y', {c})", "day": "date({c})",
               "week": "strftime('%Y-W%W', {c})",
               "quarter": "strftime('%Y', {c}) || '-Q' || ((CAST(strftime('%m', {c}) AS INTEGER) + 2) / 3)"},
    "postgres": {"month": "to_char({c}, 'YYYY-MM')", "year": "to_char({c}, 'YYYY')", "day": "to_char({c}, 'YYYY-MM-DD')",
                 "week": "to_char({c}, 'IYYY-\"W\"IW')", "quarter": "to_char({c}, 'YYYY-\"Q\"Q')"},
    "mysql": {"month": "DATE_FORMAT({c}, '%Y-%m')", "year": "DATE_FORMAT({c}, '%Y')", "day": "DATE_FORMAT({c}, '%Y-%m-%d')",
              "week": "DATE_FORMAT({c}, '%x-W%v')", "quarter": "CONCAT(YEAR({c}), '-Q', QUARTER({c}))"},
    "duckdb": {"month": "strftime(CAST({c} AS TIMESTAMP), '%Y-%m')", "year": "strftime(CAST({c} AS TIMESTAMP), '%Y')",
               "day": "strftime(CAST({c} AS TIMESTAMP), '%Y-%m-%d')", "week": "strftime(CAST({c} AS TIMESTAMP), '%G-W%V')",
               "quarter": "strftime(CAST({c} AS TIMESTAMP), '%Y') || '-Q' || CAST(quarter(CAST({c} AS TIMESTAMP)) AS VARCHAR)"},
}


def bucket_sql(unit: str, column_sql: str, dialect: str) -> str:
    return _BUCKET_SQL.get(dialect, _BUCKET_SQL["sqlite"])[unit].format(c=column_sql)
