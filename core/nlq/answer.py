"""Template answers: a short sentence from a result, when no LLM writes one."""
from __future__ import annotations

import re

_HOW_MANY = re.compile(r"\bhow many\s+(?:distinct\s+|unique\s+|different\s+)?([a-z][a-z _-]*?)(?:\s+(?:are|were|is|was|do|did|have|has|in|with|from|per|by|placed|made|ordered|there)\b|\?|$)", re.I)


def clean_numbers(frame: dict) -> dict:
    """Binary float noise out of a result (3703.7000000000007 → 3703.7), values otherwise untouched."""
    frame["data"] = [[float(f"{v:.12g}") if isinstance(v, float) else v for v in row] for row in frame["data"]]
    return frame


def fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer():
            return f"{value:,.0f}"
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3g}"
    return "nothing" if value is None else str(value)


def _label(column: str) -> str:
    return re.sub(r"[_\s]+", " ", column).strip().lower()


def template_answer(question: str, columns: list[str], data: list[list], truncated: bool = False) -> str:
    if not data:
        return "The query ran, but no rows matched."
    if len(data) == 1 and len(columns) == 1:
        value = data[0][0]
        if value is None and re.match(r"(total|sum|count)", columns[0].lower()):
            value = 0  # a total over no rows is zero, not "nothing"
        if columns[0].lower() == "percentage" and isinstance(value, (int, float)):
            return f"{float(value):.1f} %."
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
