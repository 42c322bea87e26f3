"""Charts: the Vega-Lite spec chosen for a result, checked by rendering it with vl-convert."""
from __future__ import annotations

import re

import vl_convert as vlc

from tabletalk.core.nlq.charts import choose_chart


def _labels(spec: dict) -> list[str]:
    svg = vlc.vegalite_to_svg(spec)
    return re.findall(r"<text[^>]*>([^<]+)</text>", svg)


def test_month_axis_shows_years_when_the_data_spans_years():
    months = ["2024-11", "2024-12", "2025-01", "2025-02", "2025-03"]
    spec = choose_chart("orders per month", ["month", "orders"], [[m, i + 3] for i, m in enumerate(months)])
    assert spec["mark"]["type"] == "line"
    labels = _labels(spec)
    assert any(re.fullmatch(r"[A-Z][a-z]{2} 2024", t) for t in labels), labels
    assert any(re.fullmatch(r"[A-Z][a-z]{2} 2025", t) for t in labels), labels


def test_months_within_one_year_keep_the_default_axis():
    spec = choose_chart("orders per month", ["month", "orders"], [["2025-01", 3], ["2025-02", 4], ["2025-03", 5]])
    assert "axis" not in spec["encoding"]["x"]


def test_whole_years_are_a_year_axis():
    spec = choose_chart("orders per year", ["year", "orders"], [[2023, 3], [2024, 4]])
    assert spec["encoding"]["x"]["timeUnit"] == "year"
