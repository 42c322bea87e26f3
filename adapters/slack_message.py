"""Slack Events API event → IncomingMessage: which messages are for this bot, and their text.

The rule: DMs (`message` in an `im`), every message a person writes there — including one with a
file (`file_share`) and a thread reply also sent to the conversation (`thread_broadcast`, the only
event Slack sends for it). Channels: `app_mention` (Slack sends it only for mentions of this app),
and replies in a thread this bot started (`parent_user_id` is the bot's own user id, from
auth.test) that do not mention it (those arrive as app_mention too). Bots, edits, deletions and
joins are ignored. Text is read from `text`, else from rich-text blocks; mention, channel and
link markup is reduced to plain words.
"""
from __future__ import annotations

import html
import re

from tabletalk.bot.messages import IncomingMessage
from tabletalk.core.errors import Invalid

ANSWERED_SUBTYPES = {None, "file_share", "thread_broadcast"}
_USER = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_LINK = re.compile(r"<(?:#[A-Z0-9]+\|([^>]*)|!([a-z]+)[^>]*|([^|>]+)(?:\|([^>]*))?)>")


def _blocks_text(blocks) -> str:
    """The words of rich_text blocks (what Slack's clients render), for events whose `text` is empty."""
    out: list[str] = []

    def walk(node) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict):
            if node.get("type") in ("text", "link") and isinstance(node.get("text") or node.get("url"), str):
                out.append(node.get("text") or node.get("url"))
            elif node.get("type") == "user" and isinstance(node.get("user_id"), str):
                out.append(f"<@{node['user_id']}>")
            walk(node.get("elements"))
            if node.get("type") in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
                out.append("\n")

    walk(blocks)
    return "".join(out)


def plain(text: str) -> str:
    """Slack mrkdwn markup → the words a person typed: mentions dropped, <#C|name> → name, links → their label."""
    text = _USER.sub(" ", text)
    text = _LINK.sub(lambda m: m.group(1) or m.group(4) or m.group(3) or "", text)
    return re.sub(r"[ \t]+", " ", html.unescape(text)).strip()


def event_text(event: dict) -> str:
    text = event.get("text")
    if text is not None and not isinstance(text, str):
        raise Invalid("'event.text' must be a string.")
    return text if text and text.strip() else _blocks_text(event.get("blocks"))


def to_incoming(bot_id: str, event: dict, event_id: str, bot_user_id: str | None) -> IncomingMessage | None:
    """The neutral message, or None when the event is not for this bot."""
    kind, subtype = event.get("type"), event.get("subtype")
    user, channel = event.get("user"), event.get("channel")
    if event.get("bot_id") or event.get("bot_profile") or subtype not in ANSWERED_SUBTYPES:
        return None
    if not isinstance(user, str) or not isinstance(channel, str) or (bot_user_id and user == bot_user_id):
        return None
    raw = event_text(event)
    thread = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else None
    if kind == "app_mention":
        is_group = not channel.startswith("D")
    elif kind == "message" and event.get("channel_type") == "im":
        is_group = False
    elif kind == "message" and subtype is None and thread and bot_user_id and event.get("parent_user_id") == bot_user_id \
            and f"<@{bot_user_id}>" not in raw:
        is_group = True  # a reply in the bot's own thread, without a mention
    else:
        return None
    if subtype == "thread_broadcast" and is_group:
        return None  # a channel broadcast is a copy of a thread reply; its mention arrives as app_mention
    text = plain(raw)
    if not text:
        return None
    ts = event.get("ts") if isinstance(event.get("ts"), str) else None
    # Channels: answer in the thread (started by the question if need be). DMs: inline, unless in a thread.
    return IncomingMessage(bot_id=bot_id, platform="slack", user=user, chat=channel, text=text,
                           thread=thread or (ts if is_group else None), event_id=event_id, is_group=is_group)


def needs_identity(event: dict) -> bool:
    """A channel message in a thread someone started: only the bot's user id tells whether it is the bot's thread."""
    return event.get("type") == "message" and event.get("channel_type") not in ("im", None) \
        and isinstance(event.get("thread_ts"), str) and isinstance(event.get("parent_user_id"), str)
