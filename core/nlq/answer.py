"""Template answers: a short sentence from a result, when no LLM writes one."""
from __future__ import annotations

import re

_HOW_MANY = re.compile(r"\bhow many\s+(?:distinct\s+|unique\s+|different\s+)?([a-z][a-z _-]*?)(?:\s+(?:are|were|is|was|do|did|have|has|in|with|from|per|by|placed|made|ordered|there)\b|\?|$)", re.I)


def fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return "nothing" if value is None else str(value)


def _label(column: str) -> str:
    return re.sub(r"[_\s]+", " ", column).strip().lower()


def template_answer(question: str, columns: list[str], data: list[list], truncated: bool = False) -> str:
    if not data:
        return "The query ran, but no rows matched."
    if len(data) == 1 and len(columns) == 1:
        value = data[0][0]
        m = _HOW_MANY.search(question)
        if m and isinstance(value, (int, float)):
            noun = m.group(1).strip()
            return f"There {'is' if value == 1 else 'are'} {fmt(value)} {noun}."
        return f"The {_label(columns[0])} is {fmt(value)}."
    if len(data) == 1:
        return "; ".join(f"{_label(c)}: {fmt(v)}" for c, v in zip(columns, data[0])) + "."
    n = f"{len(data):,}{'+' if truncated else ''}"
    if len(columns) == 2:
        preview = ", ".join(f"{fmt(r[0])} ({fmt(r[1])})" for r in data[:3])
        return f"{n} rows. First: {preview}."
    return f"{n} rows."
