"""Replays the Tablepilot project's example schemas through the REST API (HTTP only, so the same
replay measures any build): stand-in files in the data folder, the datasets and tables a schema
references, then POST /tables and an offline generate. Used by the tests and bench/tablegen.py."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import aiohttp

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "tablepilot" / "examples"
if not EXAMPLES.exists():  # CI lays shared/ beside the checkout
    EXAMPLES = Path("/work/shared/tablepilot/examples")
PY_TYPES = {"string": str, "image": str, "date": str, "array": list, "boolean": bool, "integer": int, "number": (int, float)}


def schema_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*.json") if p.name != "workflow.json")


def defaults_for(schema: Path) -> dict:
    """Variables of the workflow beside a templated schema (its default values)."""
    wf = schema.parent / "workflow.json"
    if not wf.exists():
        return {}
    return {v["name"]: v.get("default_value") for v in json.loads(wf.read_text()).get("variables", [])}


def render(text: str, variables: dict) -> str:
    return re.sub(r"{{\s*\.(\w+)\s*}}", lambda m: str(variables[m.group(1)]), text)


def make_stand_ins(data: Path) -> None:
    """The files the schemas name that the Tablepilot repository does not hold, made small."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ex = data / "examples"
    if ex.exists():
        return
    shutil.copytree(EXAMPLES, ex)
    qa = pa.table({"input": ["什么是人工智能？", "如何学习编程？", "为什么天空是蓝色的？"], "content": ["a", "b", "c"]})
    (ex / "chinese_qa_parquet" / "data").mkdir(parents=True)
    pq.write_table(qa, ex / "chinese_qa_parquet" / "data" / "part-0.parquet")
    hf = data / "huggingface" / "Congliu" / "Chinese-DeepSeek-R1-Distill-data-110k" / "default" / "train"
    hf.mkdir(parents=True)
    pq.write_table(qa, hf / "train-0.parquet")
    kaggle = data / "kaggle" / "fernandol" / "countries-of-the-world"
    kaggle.mkdir(parents=True)
    (kaggle / "countries.csv").write_text("Country,Region\nFrance,Europe\nJapan,Asia\nPeru,Latin America\nKenya,Africa\n")
    (ex / "icon_jokes" / "images").mkdir()
    for i in range(1, 6):
        (ex / "icon_jokes" / "images" / f"i{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (ex / "icon_jokes" / "images.csv").write_text("image\n" + "".join(f"examples/icon_jokes/images/i{i}.png\n" for i in range(1, 6)))
    (data / "movies").mkdir()
    (data / "movies" / "top.csv").write_text("Series_Title,Overview,Released_Year\nThe Godfather,A crime family saga.,1972\n"
                                             "Spirited Away,A girl in a spirit world.,2001\nAlien,A crew meets a creature.,1979\n")
    for part in ("hat", "glasses"):
        (ex / "model" / part).mkdir(parents=True)
        shutil.copy(ex / "outfit_preview" / part / f"{part}.csv", ex / "model" / part / f"{part}.csv")
    names = [row[0] for row in csv.reader(io.StringIO((ex / "pokemons_autofill" / "data.csv").read_text()))][1:]
    (ex / "pokemons").mkdir()
    (ex / "pokemons" / "pokemons.csv").write_text("Name,Type\n" + "".join(f"{n},Normal\n" for n in names))


async def _references(client, headers: dict, schema: dict) -> None:
    """The datasets and tables a schema picks from, made fresh."""
    for column in schema.get("columns", []):
        if column.get("source_type") == "dataset" and column.get("source_id"):
            await client.delete(f"/api/v1/datasets/{column['source_id']}", headers=headers)
            form = aiohttp.FormData()
            form.add_field("name", column["source_id"])
            form.add_field("type", "list")
            for item in ("flour", "egg", "butter", "sugar", "milk", "salt"):
                form.add_field("data", item)
            await client.post("/api/v1/datasets", headers=headers, data=form)
    for source in schema.get("sources", []):
        if source.get("type") == "linked":
            name = source["table"]
            await client.delete(f"/api/v1/tables/{name}", headers=headers)
            columns = [{"name": n, "type": "integer" if n == "Age" else "string"} for n in ("Name", "Job", "Age", "Country", "Taste Preference")]
            await client.post("/api/v1/tables", headers=headers, json={"name": name, "columns": columns})
            await client.post(f"/api/v1/generate/tables/{name}", headers=headers, json={"count": 4, "seed": 1})


def type_problems(columns: list[dict], rows: list[dict]) -> list[str]:
    out = []
    for row in rows:
        for c in columns:
            value = row.get(c["name"])
            expected = PY_TYPES[c["type"]]
            if value is None or (isinstance(value, bool) and c["type"] in ("integer", "number")) or not isinstance(value, expected):
                out.append(f"{c['name']}={value!r} is not {c['type']}")
    return out


async def replay(client, headers: dict, data: Path, count: int = 4) -> dict[str, str]:
    """{schema file: "ok" or what went wrong} for every example schema."""
    make_stand_ins(data)
    results = {}
    for path in schema_files():
        label = str(path.relative_to(EXAMPLES))
        schema = json.loads(render(path.read_text(), defaults_for(path)))
        await client.delete(f"/api/v1/tables/{schema['name']}", headers=headers)
        await _references(client, headers, schema)
        resp = await client.post("/api/v1/tables", headers=headers, json=schema)
        if resp.status != 201:
            results[label] = f"create {resp.status}: {(await resp.text())[:200]}"
            continue
        resp = await client.post(f"/api/v1/generate/tables/{schema['name']}", headers=headers, json={"count": count, "batch": 2, "seed": 7})
        if resp.status != 200:
            results[label] = f"generate {resp.status}: {(await resp.text())[:200]}"
            continue
        rows = (await resp.json())["data"]
        columns = (await (await client.get(f"/api/v1/tables/{schema['name']}/schema", headers=headers)).json())["columns"]
        problems = ([f"{len(rows)} rows, wanted {count}"] if len(rows) != count else []) + type_problems(columns, rows)
        problems += [f"{len(columns)} columns, schema has {len(schema['columns'])}"] if len(columns) != len(schema["columns"]) else []
        results[label] = "ok" if not problems else "; ".join(problems[:3])
    return results
