"""Lenient reading of model replies: every shape models actually answer in."""
from __future__ import annotations

import pytest

from tabletalk.core.nlq.parse import extract_json, extract_sql


@pytest.mark.parametrize("reply,sql", [
    ("```sql\nSELECT 1\n```", "SELECT 1"),
    ("Sure! Here it is:\n```sql\nSELECT name FROM t;\n```\nThis lists the names.", "SELECT name FROM t"),
    ("```SQL\nselect 2\n```", "select 2"),
    ("```sqlite\nSELECT 3\n```", "SELECT 3"),  # not "ite\nSELECT 3"
    ("```postgresql\nSELECT 4\n```", "SELECT 4"),
    ("```\nSELECT 5 FROM t\n```", "SELECT 5 FROM t"),
    ("```SELECT 6```", "SELECT 6"),
    ("```sql SELECT 7```", "SELECT 7"),
    ("```sql\nSELECT 8 FROM t WHERE a = 1", "SELECT 8 FROM t WHERE a = 1"),  # the reply was cut off
    ("```python\nprint(1)\n```\n```sql\nSELECT 9\n```", "SELECT 9"),
    ("```sql\nSELEC name FROM t\n```", "SELEC name FROM t"),  # broken, but the model's answer: checks say why
    ("```sql\nDELETE FROM t;\n```", "DELETE FROM t"),
    ('{"sql": "SELECT 10"}', "SELECT 10"),
    ('```json\n{"sql": "SELECT 11;", "explanation": "counts"}\n```', "SELECT 11"),
    ('The answer is {"query": "SELECT 12", "confidence": 0.9} as requested.', "SELECT 12"),
    ("Here you go: SELECT a FROM t WHERE b = 1\n\nThis counts rows.", "SELECT a FROM t WHERE b = 1"),
    ("SELECT a\nFROM t\n\nWHERE b = 2\n\nHope this helps!", "SELECT a\nFROM t\n\nWHERE b = 2"),
    ("WITH x AS (SELECT 1 AS n)\nSELECT n FROM x;\nThat is all.", "WITH x AS (SELECT 1 AS n)\nSELECT n FROM x"),
    ("Use `SELECT COUNT(*) FROM orders` for that.", "SELECT COUNT(*) FROM orders"),
    ("SELECT 'a;b' AS s, \"x;y\" FROM t; DROP TABLE t", "SELECT 'a;b' AS s, \"x;y\" FROM t"),
    ("SELECT 1 -- total; really\nFROM t; trailing prose", "SELECT 1 -- total; really\nFROM t"),
    ("SELECT 'it''s; fine' FROM t;", "SELECT 'it''s; fine' FROM t"),
])
def test_sql_is_found_in_every_reply_shape(reply, sql):
    assert extract_sql(reply) == sql


@pytest.mark.parametrize("reply", [
    "", None, "I cannot answer that from this database.", "With pleasure. I need more detail first.",
    '{"answer": "no sql here"}', "```json\n{\"sql\": \"\"}\n```", "```sql\n;\n```",
])
def test_replies_without_sql_give_none(reply):
    assert extract_sql(reply) is None


def test_json_is_found_fenced_or_inside_prose():
    assert extract_json('noise [{"a": 1}] tail') == [{"a": 1}]
    assert extract_json('```json\n[{"name": "x"}, {"name": "y"}]\n```') == [{"name": "x"}, {"name": "y"}]
    assert extract_json('See [1] below: {"rows": [{"a": 1}, {"a": 2}]}') == {"rows": [{"a": 1}, {"a": 2}]}
    assert extract_json("no json here") is None
