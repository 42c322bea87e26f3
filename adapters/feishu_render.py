"""Reply → a Feishu/Lark interactive card, under the card size limit (kept here as data).
Feishu does not render markdown tables in cards, so results use the card's table component."""
from __future__ import annotations

import json

from tabletalk.bot.messages import Reply
from tabletalk.core.nlq.answer import fmt

LIMITS = {"card_bytes": 30 * 1024, "table_rows": 50, "page_size": 10, "csv_rows": 50}


def card(reply: Reply, image_key: str | None = None) -> dict:
    elements: list[dict] = [{"tag": "markdown", "content": reply.text or " "}]
    df = reply.dataframe
    if df and df.get("columns") and (len(df["data"]) > 1 or len(df["columns"]) > 1):
        names = [f"c{i}" for i in range(len(df["columns"]))]
        elements.append({"tag": "table", "page_size": LIMITS["page_size"], "row_height": "low",
                         "columns": [{"name": n, "display_name": str(c), "data_type": "text"} for n, c in zip(names, df["columns"])],
                         "rows": [{n: fmt(v) for n, v in zip(names, r)} for r in df["data"][: LIMITS["table_rows"]]]})
    if image_key:
        elements.append({"tag": "img", "img_key": image_key, "alt": {"tag": "plain_text", "content": "chart"}})
    if reply.interpretation:
        elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": f"Read as: {reply.interpretation}"[:2000]}]})
    if reply.sql:
        elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": f"SQL: {reply.sql}"[:2000]}]})
    if reply.suggestions:
        elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": "Try: " + " · ".join(reply.suggestions[:5])}]})
    result = {"config": {"wide_screen_mode": True, "update_multi": True}, "elements": elements}
    table = next((e for e in elements if e["tag"] == "table"), None)
    while table and table["rows"] and len(json.dumps(result, ensure_ascii=False).encode()) > LIMITS["card_bytes"]:
        table["rows"] = table["rows"][: len(table["rows"]) // 2]  # halve until the card fits
    return result


def progress_card(text: str) -> dict:
    return {"config": {"wide_screen_mode": True, "update_multi": True}, "elements": [{"tag": "markdown", "content": text}]}
