"""Prompt recall on the Spider tuning split: does the prompt TableTalk sends the model hold what the
gold SQL needs?

Every question of `../shared/spider/questions.json` goes through the real service (REST q2s on a
served app, each database a SQLite datasource synced as a user would) with the local fake model
recording every request; the fake answers with the question's gold SQL. For each recorded prompt:
recall of the gold tables, gold columns (under their table) and gold string literals in their
stored form (the spelling the database holds, found case- and space-insensitively in the column
the literal is compared with), the share of questions with all three present, and prompt tokens
(characters / 4). Two runs: the questions the service really sends to the model (the built-in
engine answers the rest) and all questions (built-in engine never confident, so all go to the model).

    python -m bench prompt_recall        # or: python bench/prompt_recall.py [-v]
"""
from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlglot  # noqa: E402
from sqlglot import exp  # noqa: E402
from sqlglot.optimizer.qualify import qualify  # noqa: E402
from sqlglot.optimizer.scope import traverse_scope  # noqa: E402

from bench.spider import SPIDER_DIR as SPIDER  # noqa: E402

KEY = "bench-admin-key-0123456789"
GOAL_LITERALS = 0.97
GOAL_ALL = 0.95
GOAL_P95 = 2_000


# --- what the gold SQL needs ------------------------------------------------------------------------
@dataclass
class Gold:
    tables: set[str] = field(default_factory=set)             # lower-case table names
    columns: set[tuple[str, str]] = field(default_factory=set)  # (table, column), lower-case
    literals: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (table, column, stored forms)
    skipped: list[str] = field(default_factory=list)          # literals with no stored form (patterns, numbers, absent)


def _db_schema(db: sqlite3.Connection) -> dict[str, dict[str, str]]:
    out = {}
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"):
        out[name.lower()] = {c[1].lower(): (c[2] or "TEXT").upper() for c in db.execute(f'PRAGMA table_info("{name}")')}
    return out


def _resolve(sql: str, schema: dict[str, dict[str, str]]) -> tuple[exp.Expression, dict[int, str]]:
    """The parsed query and, for each column node, the table it belongs to."""
    known = {c for cols in schema.values() for c in cols}
    # SQLite reads a double-quoted word that names no column as a string ("APG"), as Spider's SQL relies on.
    tree = sqlglot.parse_one(sql, read="sqlite").transform(
        lambda n: exp.Literal.string(n.name) if isinstance(n, exp.Column) and not n.table and n.this.quoted
        and n.name.lower() not in known else n)
    try:
        tree = qualify(tree, schema={t: dict(c) for t, c in schema.items()}, dialect="sqlite",
                       validate_qualify_columns=False, quote_identifiers=False, identify=False)
    except Exception:  # noqa: BLE001 - Spider's SQL is not always qualifiable; fall back to names
        pass
    owner: dict[int, str] = {}
    for scope in traverse_scope(tree):
        aliases = {a.lower(): s.name.lower() for a, s in scope.sources.items() if isinstance(s, exp.Table)}
        here = list(aliases.values())
        for col in scope.columns:
            table = aliases.get(col.table.lower()) if col.table else None
            if table is None:
                table = next((t for t in here if col.name.lower() in schema.get(t, {})), None)
            if table is not None:
                owner[id(col)] = table
    return tree, owner


def _stored(db: sqlite3.Connection, table: str, column: str, text: str) -> list[str]:
    exact = db.execute(f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" = ?', (text,)).fetchall()
    if exact and isinstance(exact[0][0], str):
        return [text]
    rows = db.execute(f'SELECT DISTINCT "{column}" FROM "{table}" WHERE lower(trim(CAST("{column}" AS TEXT))) = '
                      'lower(trim(?))', (text,)).fetchall()
    return [r[0] for r in rows if isinstance(r[0], str)]


def gold_of(sql: str, db: sqlite3.Connection, schema: dict[str, dict[str, str]]) -> Gold:
    tree, owner = _resolve(sql, schema)
    gold = Gold()
    for t in tree.find_all(exp.Table):
        if t.name.lower() in schema:
            gold.tables.add(t.name.lower())
    for col in tree.find_all(exp.Column):
        if id(col) in owner and col.name.lower() in schema.get(owner[id(col)], {}):
            gold.columns.add((owner[id(col)], col.name.lower()))
    for lit in tree.find_all(exp.Literal):
        if not lit.is_string:
            continue
        text = lit.this
        parent = lit.parent
        while isinstance(parent, (exp.Paren, exp.Tuple)):
            parent = parent.parent
        cols = [c for c in (parent.find_all(exp.Column) if parent is not None else []) if id(c) in owner]
        if isinstance(parent, exp.Like) or "%" in text:
            gold.skipped.append(f"pattern {text!r}")
            continue
        found: list[str] = []
        where = ""
        for c in cols[:1]:
            table, name = owner[id(c)], c.name
            if name.lower() not in schema.get(table, {}):
                continue
            where = f"{table}.{name}"
            found = _stored(db, table, name, text)
            if not found and any(k in schema[table][name.lower()] for k in ("INT", "REAL", "NUM", "FLOAT", "DOUB", "DEC")):
                gold.skipped.append(f"number {text!r} in {where}")
                where = "number"
        if where == "number":
            continue
        if not found:  # compared with something else (or unresolved): look through the gold tables' text columns
            for table in sorted(gold.tables):
                for name, kind in schema[table].items():
                    if "CHAR" in kind or "TEXT" in kind or kind == "":
                        found = _stored(db, table, name, text)
                        if found:
                            where = f"{table}.{name}"
                            break
                if found:
                    break
        if not found:
            gold.skipped.append(f"absent {text!r}")
            continue
        table, name = where.split(".", 1)
        gold.literals.append((table, name.lower(), found))
    return gold


# --- what the prompt holds ----------------------------------------------------------------------------
def prompt_text(request: dict) -> str:
    return "\n".join(str(m.get("content", "")) for m in request.get("messages", []))


_HINTS = re.compile(r"\n\nStored values the question names[^\n]*\n(?:- [^\n]*\n?)*")


def _without_hints(text: str) -> str:
    return _HINTS.sub("\n", text)


def _hint_count(text: str) -> int:
    m = _HINTS.search(text)
    return sum(line.count("', '") + 1 for line in m.group(0).splitlines() if line.startswith("- ")) if m else 0


def _asks_for_sql(request: dict) -> bool:
    """The SQL-writing request (its prompt carries the schema), not an answer-sentence one."""
    messages = request.get("messages") or []
    return bool(messages) and "CREATE TABLE" in str(messages[0].get("content", ""))


def _blocks(text: str) -> dict[str, str]:
    """Table name (lower-case, unquoted) -> its CREATE TABLE block in the prompt."""
    out = {}
    for m in re.finditer(r"CREATE (?:TABLE|VIEW) ([^\s(]+) \((.*?)\n\);", text, re.S):
        out[m.group(1).strip('"`[]').lower()] = m.group(2)
    return out


def _quoted(value: str) -> tuple[str, ...]:
    return ("'" + value.replace("'", "''") + "'", "'" + value + "'", '"' + value + '"', repr(value))


def score(gold: Gold, text: str) -> dict:
    blocks = _blocks(text)
    tables = [t in blocks for t in sorted(gold.tables)]
    columns = []
    for table, col in sorted(gold.columns):
        block = blocks.get(table, "")
        columns.append(any(line.strip().strip('"`').lower().startswith(col) and
                           line.strip().lstrip('"`')[len(col):len(col) + 1] in ('"', '`', ' ', ',', '')
                           for line in block.lower().splitlines()))
    literals = [any(q in text for v in forms for q in _quoted(v)) for _, _, forms in gold.literals]
    return {"tables": tables, "columns": columns, "literals": literals,
            "all": all(tables) and all(columns) and all(literals), "tokens": len(text) / 4}


# --- running the service ---------------------------------------------------------------------------
async def _datasources(http, base: str, headers: dict, dbs: list[str]) -> dict[str, str]:
    ids = {}
    for db in dbs:
        resp = await http.post(f"{base}/api/v1/datasources", headers=headers, json={
            "name": db, "engine": "sqlite", "access_config": {"database": str(SPIDER / "databases" / f"{db}.sqlite")}})
        ids[db] = (await resp.json())["id"]
    for db, ds in ids.items():
        for _ in range(600):
            status = (await (await http.get(f"{base}/api/v1/datasources/{ds}", headers=headers)).json())["meta_status"]
            if status in ("success", "failed"):
                break
            await asyncio.sleep(0.05)
        if status != "success":
            raise RuntimeError(f"metadata sync of {db} ended as {status}")
    return ids


async def record(questions: list[dict], *, force_model: bool) -> list[dict]:
    """Ask every question over REST; per question: the engine that answered and the SQL prompt sent."""
    import aiohttp
    from aiohttp.test_utils import TestServer

    from tabletalk.adapters.rest.app import create_app
    from tabletalk.config.settings import Settings
    from tabletalk.core.nlq import pipeline
    from tests.fakes.openai_server import FakeOpenAI

    current: dict = {}

    def reply(body: dict) -> str:
        if _asks_for_sql(body):
            return f"```sql\n{current['gold_sql']}\n```"
        return "Here is what I found."

    saved = pipeline.CONFIDENT
    if force_model:
        pipeline.CONFIDENT = float("inf")  # the built-in engine is never confident enough: all go to the model
    out = []
    try:
        async with FakeOpenAI(default=reply) as fake:
            home = tempfile.mkdtemp(prefix="tt-recall-")
            app = create_app(Settings(TABLETALK_HOME=home, TABLETALK_ADMIN_KEY=KEY, OPENAI_BASE_URL=fake.base_url,
                                      OPENAI_API_KEY="x", TABLETALK_DEMO=False, TABLETALK_LOG_LEVEL="WARNING"))
            server = TestServer(app)
            await server.start_server()
            base = str(server.make_url("")).rstrip("/")
            headers = {"Authorization": f"Bearer {KEY}"}
            try:
                async with aiohttp.ClientSession() as http:
                    ids = await _datasources(http, base, headers, sorted({q["db_id"] for q in questions}))
                    for q in questions:
                        current.update(q)
                        fake.requests.clear()
                        resp = await http.post(f"{base}/api/v1/single-turn/q2s", headers=headers,
                                               json={"datasource_id": ids[q["db_id"]], "question": q["question"]})
                        body = await resp.json()
                        sent = [r for r in fake.requests if _asks_for_sql(r)]
                        out.append({**q, "engine": body.get("engine"), "timing": body.get("timing", {}),
                                    "prompt": prompt_text(sent[0]) if sent else None})
            finally:
                try:
                    await server.close()
                except Exception as exc:  # noqa: BLE001 - a shutdown error does not change what the prompts held
                    print(f"prompt_recall: the service did not close cleanly: {type(exc).__name__}: {exc}"[:300],
                          file=sys.stderr)
    finally:
        pipeline.CONFIDENT = saved
    return out


def summarise(rows: list[dict], golds: dict[int, Gold]) -> dict:
    sent = [r for r in rows if r["prompt"] is not None]
    agg = {"questions": len(rows), "sent": len(sent)}
    if not sent:
        return agg
    scores = [(r, score(golds[r["dev_index"]], r["prompt"])) for r in sent]
    for part in ("tables", "columns", "literals"):
        flat = [ok for _, s in scores for ok in s[part]]
        agg[part] = sum(flat) / len(flat) if flat else 1.0
        agg[f"{part}_n"] = len(flat)
    agg["all"] = sum(s["all"] for _, s in scores) / len(scores)
    # Same-run baseline: the same prompts without their question-matched value hints (schema and samples only).
    bare = [ok for r in sent for ok in score(golds[r["dev_index"]], _without_hints(r["prompt"]))["literals"]]
    agg["literals_bare"] = sum(bare) / len(bare) if bare else 1.0
    counts = sorted(_hint_count(r["prompt"]) for r in sent)
    agg["hints_p50"], agg["hints_max"] = statistics.median(counts), counts[-1]
    tokens = sorted(s["tokens"] for _, s in scores)
    agg["tokens_p50"] = statistics.median(tokens)
    agg["tokens_p95"] = tokens[min(len(tokens) - 1, int(round(0.95 * (len(tokens) - 1))))]
    agg["misses"] = [{"q": r["question"], "db": r["db_id"],
                      "literals": [f for (_, _, f), ok in zip(golds[r["dev_index"]].literals, s["literals"]) if not ok],
                      "tables_missing": not all(s["tables"]), "columns_missing": not all(s["columns"])}
                     for r, s in scores if not s["all"]]
    return agg


def load(spider: Path = SPIDER) -> tuple[list[dict], dict[int, Gold]]:
    questions = json.loads((spider / "questions.json").read_text())
    golds = {}
    for db_id in sorted({q["db_id"] for q in questions}):
        db = sqlite3.connect(f"file:{spider / 'databases' / f'{db_id}.sqlite'}?mode=ro", uri=True)
        schema = _db_schema(db)
        for q in questions:
            if q["db_id"] == db_id:
                golds[q["dev_index"]] = gold_of(q["gold_sql"], db, schema)
        db.close()
    return questions, golds


async def measure(questions: list[dict], golds: dict[int, Gold]) -> dict:
    return {"sent": summarise(await record(questions, force_model=False), golds),
            "all": summarise(await record(questions, force_model=True), golds)}


def _pct(x: float) -> str:
    return f"{x * 100:.1f}"


def run() -> dict:
    if not (SPIDER / "questions.json").exists():
        return {"error": f"{SPIDER} is absent"}
    questions, golds = load()
    res = asyncio.run(measure(questions, golds))
    rows = []
    for label, agg in (("sent to the model", res["sent"]), ("all questions", res["all"])):
        n = f"{agg['sent']}/{agg['questions']}"
        rows += [
            {"metric": f"gold tables / columns present ({label}, {n})",
             "value": f"{_pct(agg['tables'])} / {_pct(agg['columns'])}", "unit": "%"},
            {"metric": f"gold stored literals present ({label}, {agg['literals_n']} literals)",
             "value": _pct(agg["literals"]), "unit": "%", "baseline": f"{_pct(agg['literals_bare'])} % (same prompts without value hints)",
             "ratio": round(agg["literals"] / agg["literals_bare"], 2) if agg["literals_bare"] else "",
             "goal": f">= {GOAL_LITERALS:.0%}", "met": agg["literals"] >= GOAL_LITERALS},
            {"metric": f"all three present ({label})", "value": _pct(agg["all"]), "unit": "%",
             "goal": f">= {GOAL_ALL:.0%}", "met": agg["all"] >= GOAL_ALL},
            {"metric": f"prompt tokens p50 / p95 ({label})", "value": f"{agg['tokens_p50']:.0f} / {agg['tokens_p95']:.0f}",
             "unit": "tokens", "goal": f"p95 <= {GOAL_P95:,}", "met": agg["tokens_p95"] <= GOAL_P95},
            {"metric": f"value hints per prompt p50 / max ({label})", "value": f"{agg['hints_p50']:.0f} / {agg['hints_max']}",
             "unit": "values"},
        ]
    skipped = sum(len(g.skipped) for g in golds.values())
    rows.append({"metric": "gold string literals without a stored form (LIKE patterns, numbers, absent)",
                 "value": skipped, "unit": "literals"})
    return {"rows": rows, "misses": {"sent": res["sent"].get("misses", []), "all": res["all"].get("misses", [])}}


if __name__ == "__main__":
    out = run()
    for row in out.get("rows", [out]):
        print(row)
    if "-v" in sys.argv:
        for m in out["misses"]["all"]:
            print("MISS", json.dumps(m, ensure_ascii=False))
