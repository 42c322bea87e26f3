"""Reply → Telegram HTML messages, within Telegram's limits (kept here as data)."""
from __future__ import annotations

import html

from tabletalk.adapters.slack_render import table_text
from tabletalk.bot.messages import Reply

LIMITS = {"message_chars": 4096, "table_rows": 15, "csv_rows": 15, "seconds_between_messages": 1.0}


def render(reply: Reply) -> list[str]:
    """HTML message texts (escaped), each under Telegram's limit."""
    parts = [html.escape(reply.text or " ")]
    df = reply.dataframe
    if df and df.get("columns") and (len(df["data"]) > 1 or len(df["columns"]) > 1):
        parts.append(f"<pre>{html.escape(table_text(df, LIMITS['table_rows']))}</pre>")
    if reply.interpretation:
        parts.append(f"<i>Read as: {html.escape(reply.interpretation)}</i>")
    if reply.sql:
        parts.append(f"<code>{html.escape(reply.sql)}</code>")
    if reply.suggestions:
        parts.append("Try: " + " · ".join(html.escape(s) for s in reply.suggestions[:5]))
    return _split("\n\n".join(parts), LIMITS["message_chars"] - 96)


def _split(text: str, size: int) -> list[str]:
    """Split at paragraph boundaries, keeping <pre>/<code> blocks whole where they fit."""
    out, current = [], ""
    for block in text.split("\n\n"):
        while len(block) > size:  # a single huge block: cut it, closing and reopening its tag
            tag = "pre" if block.startswith("<pre>") else "code" if block.startswith("<code>") else None
            cut = block[:size - 20]
            out.append(cut + (f"</{tag}>" if tag else ""))
            block = (f"<{tag}>" if tag else "") + block[size - 20:]
        if current and len(current) + len(block) + 2 > size:
            out.append(current)
            current = ""
        current = f"{current}\n\n{block}" if current else block
    return out + ([current] if current else [])


def needs_csv(reply: Reply) -> bool:
    df = reply.dataframe
    return bool(df and (len(df["data"]) > LIMITS["csv_rows"] or df.get("truncated")))
