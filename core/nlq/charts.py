"""Pick a chart from a result's shape and describe it as Vega-Lite; render PNGs for chat platforms."""
from __future__ import annotations

import asyncio
import re
from datetime import date

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
PIE_MAX_PARTS = 6
_PIE_WORDS = re.compile(r"\b(share|proportion|percentage|percent|breakdown|distribution|split|pie)\b", re.I)
_TEMPORAL = re.compile(r"^\d{4}(-\d{2}(-\d{2}([ T][\d:.]+)?)?)?$")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _column_kinds(columns: list[str], data: list[list]) -> list[str]:
    kinds = []
    for i, name in enumerate(columns):
        values = [row[i] for row in data if row[i] is not None]
        if not values:
            kinds.append("nominal")
        elif all(_is_number(v) for v in values):
            looks_like_year = all(isinstance(v, int) and 1900 <= v <= 2100 for v in values) and "year" in name.lower()
            kinds.append("temporal" if looks_like_year else "quantitative")
        elif all(isinstance(v, (str, date)) and _TEMPORAL.match(str(v)) for v in values):
            kinds.append("temporal")
        else:
            kinds.append("nominal")
    return kinds


def _time_axis(values: list) -> dict:
    """Time unit and label format for an x axis; labels carry the year whenever the data spans years."""
    texts = [str(v) for v in values]
    if all(re.fullmatch(r"\d{4}", t) for t in texts):
        return {"timeUnit": "year"}
    years = {t[:4] for t in texts if re.match(r"\d{4}-\d{2}", t)}
    if len(years) <= 1:
        return {}
    if all(re.fullmatch(r"\d{4}-\d{2}", t) for t in texts):
        return {"timeUnit": "yearmonth", "axis": {"format": "%b %Y"}}
    return {"axis": {"format": "%d %b %Y"}}


def choose_chart(question: str, columns: list[str], data: list[list], hint: str | None = None) -> dict | None:
    """A Vega-Lite spec for the result, or None when a table is the honest display."""
    if not data or len(columns) < 2:
        return None
    kinds = _column_kinds(columns, data)
    measures = [i for i, k in enumerate(kinds) if k == "quantitative"]
    if not measures:
        return None
    y = measures[-1]
    dims = [i for i in range(len(columns)) if i != y]
    if not dims:
        return None
    x = next((i for i in dims if kinds[i] == "temporal"), dims[0])
    values = [{columns[i]: row[i] for i in range(len(columns))} for row in data[:5000]]
    base = {"$schema": VEGA_LITE_SCHEMA, "title": question[:120], "data": {"values": values},
            "width": 480, "height": 280}
    xs, ys = columns[x], columns[y]
    if kinds[x] == "temporal" or hint == "line":
        return {**base, "mark": {"type": "line", "point": True},
                "encoding": {"x": {"field": xs, "type": "temporal", **_time_axis([r[x] for r in data]), "title": xs},
                             "y": {"field": ys, "type": "quantitative", "title": ys}}}
    if len(data) <= PIE_MAX_PARTS and _PIE_WORDS.search(question):
        return {**base, "mark": {"type": "arc"},
                "encoding": {"theta": {"field": ys, "type": "quantitative"},
                             "color": {"field": xs, "type": "nominal"}}}
    return {**base, "mark": {"type": "bar"},
            "encoding": {"x": {"field": xs, "type": "nominal", "sort": "-y", "title": xs},
                         "y": {"field": ys, "type": "quantitative", "title": ys}}}


def chart_kind(spec: dict | None) -> str:
    if not spec:
        return "table"
    mark = spec["mark"]["type"] if isinstance(spec["mark"], dict) else spec["mark"]
    return {"arc": "pie"}.get(mark, mark)


def chart_code(spec: dict | None, result_id: str) -> str:
    """The spec's `chart_code` field: a JSX-like one-liner describing the same chart."""
    if not spec:
        return f"const data = load_dataframe('{result_id}');\n<Table data={{data}} />"
    enc = spec["encoding"]
    x = enc.get("x", enc.get("color", {})).get("field")
    y = enc.get("y", enc.get("theta", {})).get("field")
    tag = {"line": "LineChart", "bar": "BarChart", "pie": "PieChart"}[chart_kind(spec)]
    return f"const data = load_dataframe('{result_id}');\n<{tag} data={{data}} x=\"{x}\" y=\"{y}\" />"


def _render(spec: dict, scale: float) -> bytes:
    import vl_convert

    return vl_convert.vegalite_to_png(spec, scale=scale)


async def render_png(spec: dict, scale: float = 2.0) -> bytes:
    """PNG bytes of a Vega-Lite spec (rendered off the event loop)."""
    return await asyncio.to_thread(_render, spec, scale)
