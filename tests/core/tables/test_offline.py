"""Offline fill reads what a column says: ranges, units, dates, options, people, recipe-like names."""
from __future__ import annotations

import re
from datetime import date

from tabletalk.core.tables import vocab
from tabletalk.core.tables.offline import OfflineFiller

RECIPES = [
    {"name": "Name", "description": "creative and engaging recipe name that aligns with the cuisine.", "type": "string"},
    {"name": "Cooking Time", "description": "time required to cook the recipe (minutes)", "type": "integer"},
    {"name": "Difficulty Level", "description": "difficulty level of the recipe (1-5)", "type": "integer"},
    {"name": "Ingredients", "description": "list of ingredients", "type": "array"},
    {"name": "Instructions", "description": "list of steps for this recipe", "type": "array"},
    {"name": "Meal", "type": "string", "options": ["Dinner", "Lunch"]},
]
PEOPLE = [{"name": "full_name", "type": "string"}, {"name": "email", "type": "string"}, {"name": "username", "type": "string"},
          {"name": "birth_date", "type": "date"}, {"name": "signup_date", "type": "date"}, {"name": "age", "type": "integer"},
          {"name": "price", "type": "number"}, {"name": "release year", "type": "integer"}, {"name": "is_active", "type": "boolean"}]


def test_recipe_columns_get_recipe_values_in_their_ranges():
    rows = OfflineFiller(5).rows(RECIPES, 60, table_text="recipes table of creative recipes",
                                 given=[{"Must Have Ingredient": "mango"}] * 60)
    for r in rows:
        assert 10 <= r["Cooking Time"] <= 120 and r["Cooking Time"] % 5 == 0
        assert 1 <= r["Difficulty Level"] <= 5
        assert r["Meal"] in ("Dinner", "Lunch")
        assert r["Name"].split()[-1] in vocab.DISHES and "Mango" in r["Name"]  # a dish, with the picked ingredient
        assert "mango" in r["Ingredients"] and len(r["Ingredients"]) >= 4
        assert r["Instructions"][-1] == "Serve warm." and len(r["Instructions"]) >= 4
    assert len({r["Name"] for r in rows}) > 30


def test_people_are_consistent_within_a_row_and_dates_are_sensible():
    today = date.today()
    for r in OfflineFiller(11).rows(PEOPLE, 50, table_text="customers"):
        first, last = r["full_name"].split(" ", 1)
        assert r["email"].startswith(first.lower() + ".") and re.sub(r"[^a-z]", "", last.lower()) in r["email"]
        assert r["username"].startswith(re.sub(r"[^a-z]", "", first.lower())[:12])
        birth, signup = date.fromisoformat(r["birth_date"]), date.fromisoformat(r["signup_date"])
        assert 18 <= (today - birth).days / 365.25 <= 81 and 0 <= (today - signup).days <= 3 * 366
        assert 18 <= r["age"] <= 80 and 5 <= r["price"] <= 250 and 1950 <= r["release year"] <= today.year
        assert isinstance(r["is_active"], bool)


def test_titles_products_and_lists_follow_the_table():
    story = OfflineFiller(1).rows([{"name": "Name", "description": "Name of the character"},
                                   {"name": "Chapter", "description": "Chapter number", "type": "integer"}], 3, table_text="mystery_characters")
    assert [r["Chapter"] for r in story] == [1, 2, 3] and all(len(r["Name"].split()) == 2 for r in story)
    product = OfflineFiller(1).rows([{"name": "Name", "description": "Name of the product"}], 5, table_text="products")
    assert all(r["Name"].split()[0] in vocab.PRODUCT_ADJ for r in product)
    assert set(OfflineFiller(2).list_items("Generate 20 recipe cuisines.", 20)) <= set(vocab.CUISINES)
    assert len(OfflineFiller(2).list_items("Generate 50 common ingredients.", 50, ["salt"])) == 50


def test_the_same_seed_gives_the_same_rows():
    a = OfflineFiller(42).rows(RECIPES + PEOPLE, 10, table_text="recipes")
    b = OfflineFiller(42).rows(RECIPES + PEOPLE, 10, table_text="recipes")
    c = OfflineFiller(43).rows(RECIPES + PEOPLE, 10, table_text="recipes")
    assert a == b and a != c
