"""Lenient reading of model replies: fenced ```sql, plain fences, JSON with a `sql` key, or bare SQL."""
from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```(?:sql|postgresql|mysql|sqlite)?\s*\n?(.*?)```", re.S | re.I)
_JSON_FENCE = re.compile(r"```json\s*\n?(.*?)```", re.S | re.I)
_BARE = re.compile(r"(?is)(?:^|[\n:])\s*((?:WITH\s+(?:RECURSIVE\s+)?\w+(?:\s*\([^)]*\))?\s+AS\s*\(|SELECT\s).*)")


def _clean(sql: str) -> str | None:
    sql = sql.strip().rstrip(";").strip()
    return sql or None


def extract_sql(text: str) -> str | None:
    if not text:
        return None
    for m in _JSON_FENCE.finditer(text):
        try:
            data = json.loads(m.group(1))
            if isinstance(data, dict) and isinstance(data.get("sql"), str):
                return _clean(data["sql"])
        except json.JSONDecodeError:
            pass
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
            if isinstance(data, dict) and isinstance(data.get("sql"), str):
                return _clean(data["sql"])
        except json.JSONDecodeError:
            pass
    for m in _FENCE.finditer(text):
        body = m.group(1)
        if re.search(r"(?i)\b(select|with)\b", body):
            return _clean(body)
    m = _BARE.search(text)
    if m:
        sql = m.group(1)
        # Bare SQL ends at the first blank line (prose usually follows).
        sql = re.split(r"\n\s*\n", sql)[0]
        return _clean(sql)
    return None


def extract_json(text: str):
    """The first JSON value in a reply (fenced or bare), or None."""
    for candidate in [m.group(1) for m in _JSON_FENCE.finditer(text)] + [text]:
        candidate = candidate.strip()
        for opener, closer in (("[", "]"), ("{", "}")):
            start, end = candidate.find(opener), candidate.rfind(closer)
            if start != -1 and end > start:
                try:
                    return json.loads(candidate[start:end + 1])
                except json.JSONDecodeError:
                    continue
    return None
