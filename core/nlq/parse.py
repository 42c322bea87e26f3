"""Lenient reading of model replies: the SQL (fenced, in JSON, inline or bare) or the JSON they carry.

Models wrap their answers in prose, fences of any language tag, JSON objects, or nothing at all;
these functions find the payload and leave checking it (parse_read_only, validation) to the caller.
"""
from __future__ import annotations

import json
import re

SQL_TAGS = frozenset({"sql", "postgresql", "postgres", "psql", "mysql", "mariadb", "sqlite", "sqlite3", "duckdb",
                      "tsql", "plsql", "pgsql"})
JSON_SQL_KEYS = ("sql", "query", "sql_query")

# ```tag\n body ``` ; the tag only counts when a newline follows it, so ```SELECT 1``` is a body.
_FENCE = re.compile(r"```[ \t]*(?:([\w+-]+)[ \t]*\r?\n|\r?\n?)(.*?)(?:```|\Z)", re.S)
_INLINE = re.compile(r"(?<!`)`((?:SELECT|WITH)\b[^`]+)`(?!`)", re.I)
_SQL_START = re.compile(r"(?im)(?:^|(?<=:)|(?<=:\s))[ \t]*((?:SELECT\s|WITH\s+(?:RECURSIVE\s+)?[\w\"`]+(?:\s*\([^)]*\))?\s+AS\s*\())")
_HAS_SQL = re.compile(r"(?i)\b(SELECT|WITH)\b")
_STATEMENT = re.compile(r"(?i)\s*(?:sql\s+)?(INSERT|UPDATE|DELETE|DROP|CREATE|ALTER|TRUNCATE|MERGE|REPLACE|GRANT|PRAGMA|"
                        r"ATTACH|COPY|CALL|EXEC|SET|SHOW|DESCRIBE|EXPLAIN)\b")
# After a blank line, bare SQL goes on only if the next line reads like more SQL.
_SQL_CONTINUES = re.compile(r"(?i)^\s*(FROM|WHERE|GROUP|ORDER|HAVING|LIMIT|OFFSET|JOIN|LEFT|RIGHT|INNER|OUTER|FULL|CROSS|"
                            r"UNION|INTERSECT|EXCEPT|AND|OR|ON|SELECT|WITH|WINDOW|QUALIFY|\)|,|--)")


def extract_sql(text: str | None) -> str | None:
    """The SQL query in a model reply, without trailing semicolons or prose; None if there is none."""
    if not text or not text.strip():
        return None
    fences = [(tag.lower() if tag else "", body) for tag, body in _FENCE.findall(text)] if "```" in text else []
    # A fence the model tagged as SQL is its answer even when broken or not a SELECT: the caller's
    # checks then tell the model exactly what is wrong with it.
    for tag, body in fences:
        if tag in SQL_TAGS and body.strip():
            return _clean(body)
    for tag, body in fences:
        if tag == "json" or body.lstrip().startswith("{"):
            sql = _sql_from_json(body)
            if sql:
                return sql
    for tag, body in fences:
        if not tag and (_HAS_SQL.search(body) or _STATEMENT.match(body)):
            head, _, rest = body.strip().partition(" ")
            return _clean(rest if head.lower() in SQL_TAGS else body)  # "```sql SELECT 1```" on one line
    sql = _sql_from_json(text)
    if sql:
        return sql
    m = _INLINE.search(text)
    if m:
        return _clean(m.group(1))
    m = _SQL_START.search(text)
    if m:
        return _clean(_bare_statement(text[m.start(1):]))
    return None


def _sql_from_json(text: str) -> str | None:
    for value in _json_values(text):
        if isinstance(value, dict):
            sql = next((value[k] for k in JSON_SQL_KEYS if isinstance(value.get(k), str)), None)
            if sql and sql.strip():
                return _clean(extract_sql(sql) if "```" in sql else sql)
    return None


def _bare_statement(text: str) -> str:
    """Bare SQL ends at a blank line unless the next line carries on the query."""
    lines = text.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip():
            nxt = next((l for l in lines[i + 1:] if l.strip()), "")
            if not _SQL_CONTINUES.match(nxt):
                break
        out.append(line)
    return "\n".join(out)


def _clean(sql: str | None) -> str | None:
    """The first statement, trimmed: anything after a semicolon outside quotes and comments goes."""
    if not sql:
        return None
    sql = sql[: _statement_end(sql)].strip()
    return sql or None


_STATEMENT_MARK = re.compile(r"['\"`;]|--|/\*")  # what can end a statement, or hide a semicolon


def _statement_end(sql: str) -> int:
    """Where the first statement ends: the first semicolon outside quotes and comments (or the end)."""
    i, n = 0, len(sql)
    while (m := _STATEMENT_MARK.search(sql, i)) is not None:
        i, mark = m.start(), m.group()
        if mark == ";":
            return i
        if mark == "--":
            end = sql.find("\n", i)
            i = n if end == -1 else end + 1
        elif mark == "/*":
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
        else:
            end = sql.find(mark, i + 1)
            while end != -1 and end + 1 < n and sql[end + 1] == mark:  # doubled quote escapes itself
                end = sql.find(mark, end + 2)
            i = n if end == -1 else end + 1
    return n


def _json_values(text: str) -> list:
    """Every top-level JSON object or array found in `text`, in order."""
    decoder = json.JSONDecoder()
    out, i = [], 0
    while True:
        starts = [p for p in (text.find("{", i), text.find("[", i)) if p != -1]
        if not starts:
            return out
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            i = start + 1
            continue
        out.append(value)
        i = end


def extract_json(text: str | None):
    """The JSON value a reply carries (a ```json fence first, else the largest object or array in
    the text), or None."""
    if not text:
        return None
    fenced = [body for tag, body in _FENCE.findall(text) if tag.lower() == "json"] if "```" in text else []
    for candidate in fenced + [text]:
        values = _json_values(candidate)
        if values:
            return max(values, key=lambda v: len(json.dumps(v, default=str)))
    return None
