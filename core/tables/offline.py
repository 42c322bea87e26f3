"""Offline fill: plausible values with no LLM configured, read from what a column says.

A column's name and description decide the value: numeric ranges and units ("(1-5)", "minutes",
"price", "year"), dates within a sensible span, options, one person per row (name, e-mail and
username agree), recipe / product / title-like text where a table is about recipes, products or
stories. Seeded, the same schema gives the same rows.
"""
from __future__ import annotations

import base64
import random
import re
from datetime import date, timedelta

from faker import Faker

from tabletalk.core.tables import vocab

RANGE = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:-|–|to|~)\s*(-?\d+(?:\.\d+)?)")
LONG_TEXT = re.compile(r"descr|reason|story|backstory|summary|review|feedback|explanation|answer|joke|haiku|plot|"
                       r"comment|note|bio|overview|message|text|content|instruction|why|detail")
PERSON = re.compile(r"customer|person|people|user|employee|author|member|client|student|patient|visitor|character|"
                    r"contact|owner|buyer|guest|staff")
# (entity, pattern over the column's text first, then the table's)
ENTITIES = [("recipe", r"recipe|dish|meal|food|cook"), ("product", r"product|item|gadget|catalog|merchandise"),
            ("title", r"movie|film|book|story|song|album|novel|episode|chapter|title|outline|haiku"),
            ("company", r"company|organi[sz]ation|business|brand|vendor|supplier"), ("person", PERSON.pattern)]
STRING_FIELDS = [  # (pattern over the column's name, handler name) — first match wins
    (r"e-?mail", "email"), (r"user_?name|login|handle|nickname", "username"), (r"first[_ ]?name|given", "first"),
    (r"last[_ ]?name|surname|family", "last"), (r"phone|mobile", "phone"), (r"address|street", "address"),
    (r"\bcity|town", "city"), (r"countr|nation", "country"), (r"url|website|link", "url"), (r"zip|postal", "postcode"),
    (r"colou?r", "color"), (r"cuisine", "cuisine"), (r"ingredient", "ingredient"), (r"\bmeal", "meal"),
    (r"categor|genre", "category"), (r"region", "region"), (r"sentiment", "sentiment"), (r"archetype|role", "archetype"),
    (r"job|occupation|position|profession", "job"), (r"compan|organi[sz]ation|employer", "company"),
    (r"(?:^|[^a-z])id$|_id$|\bcode\b|sku", "code"), (r"location|place|setting", "place"),
]


def _svg(label: str) -> str:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="#ddd"/>'
           f'<text x="128" y="128" font-size="14" text-anchor="middle">{re.sub(r"[<>&]", "", label)[:40]}</text></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def entity_of(text: str, table_text: str = "") -> str:
    for source in (text, table_text):
        for entity, pattern in ENTITIES:
            if re.search(pattern, source):
                return entity
    return ""


class OfflineFiller:
    def __init__(self, seed: int | None = None):
        self.fake = Faker()
        self.rng = random.Random(seed)
        self.fake.seed_instance(seed if seed is not None else random.randrange(2**31))
        self.today = date.today()

    # --- rows ----------------------------------------------------------------------------------
    def rows(self, columns: list[dict], count: int, start: int = 0, *, table_text: str = "",
             given: list[dict] | None = None) -> list[dict]:
        """`count` rows for `columns`; `given` holds each row's values chosen already (picks, context)."""
        out = []
        for i in range(count):
            known = dict(given[i]) if given and i < len(given) else {}
            self._person = None
            row = {}
            for c in columns:
                row[c["name"]] = self.value(c, start + i, known, table_text)
                known[c["name"]] = row[c["name"]]
            out.append(row)
        return out

    def value(self, column: dict, index: int, known: dict, table_text: str = ""):
        name = column["name"].lower()
        desc = (column.get("description") or "").lower()
        text, kind = f"{name} {desc}", column.get("type", "string")
        if column.get("options"):
            return self._option(name, column["options"], known)
        if kind == "image":
            return _svg(column["name"])
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "array":
            return self._array(text, known)
        if kind == "date" or (kind == "string" and re.search(r"\bdate\b|_at$|birth|signup|joined|deadline|_on$", name)):
            return self._date(text).isoformat()
        if kind in ("integer", "number"):
            return self._number(name, text, kind, index)
        return self._string(name, desc, text, index, known, table_text.lower())

    # --- numbers and dates -----------------------------------------------------------------------
    def _number(self, name: str, text: str, kind: str, index: int):
        m = RANGE.search(text)
        if m and float(m.group(1)) < float(m.group(2)):
            lo, hi = float(m.group(1)), float(m.group(2))
        elif re.search(r"\bid\b|_id$|^id|number$|^no\b|chapter|episode|index|rank|position|step", name):
            return index + 1
        else:
            lo, hi = self._span(text)
        if kind == "integer":
            value = self.rng.randint(int(lo), int(hi))
            return value - value % 5 if re.search(r"minute", text) and hi - lo >= 20 and value % 5 else value
        return round(self.rng.uniform(lo, hi), 2)

    def _span(self, text: str) -> tuple[float, float]:
        spans = [(r"minute|\bmins?\b", (10, 120)), (r"hour", (1, 12)), (r"second", (5, 300)), (r"\bdays?\b", (1, 30)),
                 (r"birth.*year|year.*birth", (1945, self.today.year - 18)), (r"year", (1950, self.today.year)),
                 (r"\bage\b|\bold\b", (18, 80)), (r"salary|income|wage", (30_000, 180_000)),
                 (r"revenue|sales", (1_000, 100_000)), (r"price|cost|amount|fee|total|\$|usd|eur", (5, 250)),
                 (r"rating|score|stars|difficulty|level", (1, 5)), (r"percent|%|ratio|rate", (0, 100)),
                 (r"calorie", (150, 900)), (r"serving|portion|quantity|count|number of|qty", (1, 10)),
                 (r"weight|kg", (1, 100)), (r"height|cm", (150, 200)), (r"temperature", (-10, 40))]
        return next((span for pattern, span in spans if re.search(pattern, text)), (1, 100))

    def _date(self, text: str) -> date:
        if re.search(r"birth", text):
            return self.today - timedelta(days=self.rng.randint(18 * 365, 80 * 365))
        if re.search(r"due|deadline|expir|future|next|upcoming|schedul", text):
            return self.today + timedelta(days=self.rng.randint(1, 365))
        return self.today - timedelta(days=self.rng.randint(0, 3 * 365))

    # --- text ------------------------------------------------------------------------------------
    def _person_fields(self) -> dict:
        if self._person is None:
            first, last = self.fake.first_name(), self.fake.last_name()
            plain = re.sub(r"[^a-z]", "", f"{first}.{last}".lower().replace(".", "_")).replace("_", "")
            self._person = {"first": first, "last": last, "name": f"{first} {last}",
                            "email": f"{first.lower()}.{re.sub(r'[^a-z]', '', last.lower())}@{self.fake.free_email_domain()}",
                            "username": f"{plain[:12]}{self.rng.randint(1, 99)}"}
        return self._person

    def _string(self, name: str, desc: str, text: str, index: int, known: dict, table_text: str):
        handler = next((h for pattern, h in STRING_FIELDS if re.search(pattern, name)), None)
        if handler is None and LONG_TEXT.search(name):
            return self._long_text(text, known)
        if handler is None and PERSON.search(name) and not re.search(r"title|label|count|type|id\b", name):
            return self._person_fields()["name"]
        if handler is None and re.search(r"name|title|label|heading", name):
            entity = entity_of(text, table_text) or "person"
            return self._named(entity, known)
        if handler is None:
            return self._long_text(text, known) if LONG_TEXT.search(desc) else self._words(text)
        return self._field(handler, index, known, name)

    def _field(self, handler: str, index: int, known: dict, name: str):
        person = {"email", "username", "first", "last"}
        if handler in person:
            return self._person_fields()[handler]
        lists = {"cuisine": vocab.CUISINES, "ingredient": vocab.INGREDIENTS, "meal": vocab.MEALS,
                 "category": vocab.CATEGORIES, "region": vocab.REGIONS, "sentiment": vocab.SENTIMENTS,
                 "archetype": vocab.ARCHETYPES}
        if handler == "sentiment" and known:
            return self._sentiment(known)
        if handler in lists:
            return self._known_item(handler, lists[handler], known) or self.rng.choice(lists[handler])
        if handler == "code":
            prefix = re.sub(r"[^a-z]", "", name.replace("id", ""))[:4].upper() or "ID"
            return f"{prefix}{index + 1:04d}"
        if handler == "place":
            return f"The {self.rng.choice(vocab.TITLE_ADJ)} {self.rng.choice(vocab.TITLE_NOUN)}"
        methods = {"phone": "phone_number", "address": "street_address", "city": "city", "country": "country",
                   "url": "url", "postcode": "postcode", "color": "color_name", "job": "job", "company": "company"}
        return getattr(self.fake, methods[handler])()

    def _option(self, name: str, options: list, known: dict):
        """One of the options: the one the row's other values point to when the column says what it is."""
        handler = next((h for pattern, h in STRING_FIELDS if re.search(pattern, name)), None)
        if handler == "sentiment" and known:
            guess = self._sentiment(known)
        elif handler:
            guess = self._known_item(handler, [str(o) for o in options], known)
        else:
            guess = None
        match = next((o for o in options if str(o).lower() == str(guess).lower()), None) if guess else None
        return match if match is not None else self.rng.choice(options)

    def _known_item(self, handler: str, items: list[str], known: dict) -> str | None:
        """A row's own value of the same kind, cleaned up ("europe" -> "Europe", "USA" -> "North America")."""
        pattern = next(p for p, h in STRING_FIELDS if h == handler)
        by_lower = {i.lower().replace("-", " "): i for i in items}
        for key, value in known.items():
            if isinstance(value, str) and re.search(pattern, key.lower()):
                clean = re.sub(r"[-_\s]+", " ", value.strip().lower())
                if clean in by_lower:
                    return by_lower[clean]
                if clean in vocab.ALIASES and vocab.ALIASES[clean] in items:
                    return vocab.ALIASES[clean]
        return None

    def _sentiment(self, known: dict) -> str:
        text = " ".join(str(v) for v in known.values() if isinstance(v, str)).lower()
        score = sum(len(re.findall(p, text)) * w for p, w in vocab.SENTIMENT_WORDS)
        return "Positive" if score > 0 else "Negative" if score < 0 else "Neutral"

    def _named(self, entity: str, known: dict) -> str:
        rng = self.rng
        if entity == "recipe":
            cuisine = next((v for k, v in known.items() if re.search(r"cuisine|countr", k.lower()) and isinstance(v, str)), "")
            main = next((v for k, v in known.items() if re.search(r"ingredient|^ing\d", k.lower()) and isinstance(v, str)),
                        rng.choice(vocab.INGREDIENTS))
            parts = [rng.choice(vocab.METHODS), cuisine if cuisine in vocab.CUISINES else "", main.title(), rng.choice(vocab.DISHES)]
            return " ".join(p for p in parts if p)
        if entity == "product":
            return f"{rng.choice(vocab.PRODUCT_ADJ)} {rng.choice(vocab.PRODUCT_NOUN)} {rng.choice(['X', 'S', 'Pro', 'Max', 'Go'])}{rng.randint(1, 9) * 100}"
        if entity == "title":
            return f"The {rng.choice(vocab.TITLE_ADJ)} {rng.choice(vocab.TITLE_NOUN)}"
        if entity == "company":
            return self.fake.company()
        return self._person_fields()["name"]

    def _long_text(self, text: str, known: dict) -> str:
        if "haiku" in text:
            return "\n".join(" ".join(self.fake.words(n)) for n in (3, 4, 3))
        subject = next((str(v) for v in known.values() if isinstance(v, str) and 2 < len(v) < 60), "")
        sentence = self.fake.sentence(nb_words=12)
        return f"{subject}: {sentence}" if subject and re.search(r"reason|why|explanation|story|joke", text) else sentence

    def _words(self, text: str) -> str:
        return " ".join(w.capitalize() for w in self.fake.words(self.rng.randint(1, 3)))

    def _array(self, text: str, known: dict) -> list:
        if re.search(r"ingredient", text):
            must = [v for k, v in known.items() if re.search(r"ingredient|^ing\d", k.lower()) and isinstance(v, str)]
            extra = self.rng.sample(vocab.INGREDIENTS, self.rng.randint(3, 7))
            return list(dict.fromkeys(must + extra))
        if re.search(r"step|instruction|direction|method", text):
            return vocab.STEPS[:2] + self.rng.sample(vocab.STEPS[2:-1], self.rng.randint(2, 5)) + vocab.STEPS[-1:]
        return [w for w in self.fake.words(self.rng.randint(2, 5))]

    # --- lists and columns -----------------------------------------------------------------------
    def list_items(self, prompt: str, count: int, existing: list[str] = ()) -> list[str]:
        """Items a list prompt asks for ("Generate 20 recipe cuisines.")."""
        text = prompt.lower()
        pool = next((items for pattern, items in vocab.LISTS if re.search(pattern, text)), None)
        out = [x for x in (pool or []) if x not in existing]
        self.rng.shuffle(out)
        out = out[:count]
        while len(out) < count:
            word = self.fake.word().capitalize()
            if word not in existing and word not in out:
                out.append(word)
        return out

    def column_ideas(self, table_text: str, taken: list[str], n: int) -> list[dict]:
        ideas = vocab.COLUMN_IDEAS.get(entity_of(table_text.lower()), []) + vocab.COLUMN_IDEAS[""]
        fresh = [i for i in ideas if i[0].lower() not in {t.lower() for t in taken}]
        out = [{"name": a, "description": b, "type": c, "fill_mode": "ai"} for a, b, c in fresh[:n]]
        while len(out) < n:
            out.append({"name": f"Extra {len(out) + 1}", "description": "an extra detail", "type": "string", "fill_mode": "ai"})
        return out
