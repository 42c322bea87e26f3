"""Offline fill: plausible values from faker, chosen by a column's name, description and type, so
tables fill at once with no LLM configured."""
from __future__ import annotations

import random
import re
from datetime import date, timedelta

from faker import Faker

# (pattern over "name description", faker method or callable) — first match wins.
PROVIDERS = [
    (r"e-?mail", "email"), (r"first[_ ]?name", "first_name"), (r"last[_ ]?name|surname", "last_name"),
    (r"company|organi[sz]ation|business", "company"), (r"city|town", "city"), (r"country", "country"),
    (r"address|street", "street_address"), (r"phone|mobile", "phone_number"), (r"url|website", "url"),
    (r"job|title|position|occupation", "job"), (r"colou?r", "color_name"), (r"user_?name|login|handle", "user_name"),
    (r"zip|postal", "postcode"), (r"description|comment|note|summary|review", "sentence"),
    (r"name|customer|person|author|employee|member|client", "name"),
]


def _date(rng: random.Random) -> str:
    return (date.today() - timedelta(days=rng.randint(0, 3 * 365))).isoformat()


def fake_value(column: dict, fake: Faker, rng: random.Random, index: int):
    text = f"{column['name']} {column.get('description', '')}".lower()
    kind = column.get("type", "string")
    if column.get("options"):
        return rng.choice(column["options"])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "date" or re.search(r"date|_at\b|day|birth|signup|joined", text):
        return _date(rng)
    if kind in ("integer", "number"):
        if re.search(r"\bid\b|_id\b|number", text) and kind == "integer":
            return index + 1
        if re.search(r"price|amount|cost|salary|revenue|total|fee", text):
            return round(rng.uniform(5, 500), 2) if kind == "number" else rng.randint(5, 500)
        if re.search(r"age", text):
            return rng.randint(18, 80)
        if re.search(r"rating|score|stars", text):
            return rng.randint(1, 5)
        return rng.randint(1, 1000) if kind == "integer" else round(rng.uniform(0, 1000), 2)
    for pattern, method in PROVIDERS:
        if re.search(pattern, text):
            return getattr(fake, method)()
    return fake.word().capitalize()


class OfflineFiller:
    def __init__(self, seed: int | None = None):
        self.fake = Faker()
        self.rng = random.Random(seed)
        if seed is not None:
            self.fake.seed_instance(seed)

    def rows(self, columns: list[dict], count: int, start: int = 0) -> list[dict]:
        return [{c["name"]: fake_value(c, self.fake, self.rng, start + i) for c in columns} for i in range(count)]
