"""Reply → Slack Block Kit, within Slack's limits (kept here as data)."""
from __future__ import annotations

from tabletalk.bot.messages import Reply
from tabletalk.core.nlq.answer import fmt

LIMITS = {"section_chars": 3000, "blocks": 50, "table_rows": 15, "csv_rows": 15}
# Buttons under a stored answer (handled in slack_interactive); the value is the answer's message id.
SHOW_SQL, DOWNLOAD_CSV = "tabletalk_show_sql", "tabletalk_csv"


def table_text(dataframe: dict, max_rows: int) -> str:
    cols = dataframe["columns"]
    rows = [[fmt(v) for v in r] for r in dataframe["data"][:max_rows]]
    widths = [min(30, max(len(str(c)), *(len(r[i]) for r in rows))) if rows else len(str(c)) for i, c in enumerate(cols)]
    line = lambda cells: "  ".join(str(c)[:w].ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _chunks(text: str, size: int) -> list[str]:
    out, current = [], ""
    for line in text.splitlines():
        if len(current) + len(line) + 1 > size:
            out.append(current)
            current = ""
        current += line + "\n"
    return out + ([current] if current else [])


def render(reply: Reply) -> tuple[str, list[dict]]:
    """Fallback text and blocks for one answer."""
    limit = LIMITS["section_chars"]
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": part[:limit]}}
                          for part in _chunks(reply.text or " ", limit - 10)]
    df = reply.dataframe
    if df and df.get("columns") and (len(df["data"]) > 1 or len(df["columns"]) > 1):
        for part in _chunks(table_text(df, LIMITS["table_rows"]), limit - 10):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{part}```"}})
        shown = min(len(df["data"]), LIMITS["table_rows"])
        if len(df["data"]) > shown or df.get("truncated"):
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Showing {shown} of {len(df['data'])}{'+' if df.get('truncated') else ''} rows; the full result is attached as CSV."}]})
    if reply.interpretation:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Read as: {reply.interpretation}"[:limit]}]})
    if reply.suggestions:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "Try: " + " · ".join(reply.suggestions[:5])}]})
    blocks = blocks[: LIMITS["blocks"] - 1]
    buttons = []
    if reply.sql and reply.message_id:  # the SQL is shown on request, to the person who asked
        buttons.append(_button("Show SQL", SHOW_SQL, reply.message_id))
    if df and df.get("columns") and (len(df["data"]) > 1 or len(df["columns"]) > 1) and reply.message_id:
        buttons.append(_button("Download CSV", DOWNLOAD_CSV, reply.message_id))
    if buttons:
        blocks.append({"type": "actions", "block_id": "tabletalk_answer", "elements": buttons})
    elif reply.sql:
        blocks.append(sql_block(reply.sql))
    return (reply.text or " ")[:limit], blocks


def _button(label: str, action_id: str, value: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "value": value}


def sql_block(sql: str) -> dict:
    limit = LIMITS["section_chars"]
    sql = sql if len(sql) < limit - 20 else sql[: limit - 25] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": f"```{sql}```"}}


def needs_csv(reply: Reply) -> bool:
    df = reply.dataframe
    return bool(df and (len(df["data"]) > LIMITS["csv_rows"] or df.get("truncated")))
