"""Reply → Slack Block Kit, within Slack's limits (kept here as data)."""
from __future__ import annotations

from tabletalk.bot.messages import Reply
from tabletalk.core.nlq.answer import fmt

LIMITS = {"section_chars": 3000, "blocks": 50, "table_rows": 15, "csv_rows": 15}


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
    if reply.sql:
        sql = reply.sql if len(reply.sql) < limit - 20 else reply.sql[: limit - 25] + "…"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"SQL: `{sql}`"}]})
    if reply.suggestions:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "Try: " + " · ".join(reply.suggestions[:5])}]})
    return (reply.text or " ")[:limit], blocks[: LIMITS["blocks"]]


def needs_csv(reply: Reply) -> bool:
    df = reply.dataframe
    return bool(df and (len(df["data"]) > LIMITS["csv_rows"] or df.get("truncated")))
