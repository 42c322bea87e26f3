"""Feishu im.message.receive_v1 → IncomingMessage: which messages are for this bot, and their text.

The rule: private (p2p) chats, every message a person sends; groups, messages that @mention this
bot by its open_id (`@_all` / @所有人 is not a mention of the bot). Text and rich text (`post`: title
and every paragraph's text, link and at elements) are read; mention placeholders are removed.
"""
from __future__ import annotations

import json
import re

from tabletalk.bot.messages import IncomingMessage

ALL = "@_all"
_PLACEHOLDER = re.compile(r"@_user_\d+|@_all")
_INLINE = {"text": "text", "a": "text", "md": "text", "code_block": "text", "emotion": None}


def _content(message: dict) -> dict | None:
    try:
        content = json.loads(message.get("content") or "{}")
    except (TypeError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def _post_text(content: dict) -> str:
    """A post's title and paragraphs as lines; `at` elements become their placeholder key."""
    if "content" not in content:  # the locale-keyed form ({"zh_cn": {...}}): the first locale
        content = next((v for v in content.values() if isinstance(v, dict)), {})
    lines = [content["title"]] if isinstance(content.get("title"), str) and content["title"].strip() else []
    for paragraph in content.get("content") or []:
        parts = []
        for el in paragraph if isinstance(paragraph, list) else []:
            if not isinstance(el, dict):
                continue
            if el.get("tag") == "at":
                user = str(el.get("user_id") or "")
                parts.append(ALL if user in ("all", ALL) else user if user.startswith("@_") else f"@{el.get('user_name', '')}")
            elif _INLINE.get(el.get("tag")) and isinstance(el.get("text"), str):
                parts.append(el["text"])
        lines.append("".join(parts))
    return "\n".join(lines)


def message_text(message: dict) -> str | None:
    """The readable text of a text or post message; None for other kinds (images, files, cards)."""
    content = _content(message)
    if content is None:
        return None
    if message.get("message_type") == "text":
        return content.get("text") if isinstance(content.get("text"), str) else None
    if message.get("message_type") == "post":
        return _post_text(content)
    return None


def _mentions(message: dict) -> dict[str, str]:
    """Placeholder key -> open_id of each mentioned user."""
    out = {}
    for m in message.get("mentions") or []:
        if isinstance(m, dict) and isinstance(m.get("key"), str):
            ids = m.get("id") if isinstance(m.get("id"), dict) else {}
            out[m["key"]] = str(ids.get("open_id") or "")
    return out


def _names(message: dict) -> dict[str, str]:
    return {m["key"]: str(m.get("name") or "") for m in message.get("mentions") or []
            if isinstance(m, dict) and isinstance(m.get("key"), str)}


def to_incoming(bot_id: str, event: dict, event_id: str, bot_open_id: str | None) -> IncomingMessage | None:
    """The neutral message, or None when the event is not for this bot."""
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    sender = event.get("sender") if isinstance(event.get("sender"), dict) else {}
    if sender.get("sender_type") not in (None, "user"):
        return None
    text = message_text(message)
    if text is None:
        return None
    group = message.get("chat_type") != "p2p"
    mentions = _mentions(message)
    mine = {key for key, open_id in mentions.items() if bot_open_id and open_id == bot_open_id}
    if group and not mine:
        return None
    names = _names(message)
    # This bot's and @all placeholders go; other people's become their names ("sales of @Bob" stays readable).
    text = _PLACEHOLDER.sub(lambda m: "" if m.group() in mine or m.group() == ALL else names.get(m.group(), ""), text)
    text = re.sub(r"[ \t]+", " ", text).strip()
    if not text:
        return None
    ids = sender.get("sender_id") if isinstance(sender.get("sender_id"), dict) else {}
    user = ids.get("open_id") or ids.get("user_id") or "unknown"
    return IncomingMessage(bot_id=bot_id, platform="feishu", user=str(user), chat=str(message.get("chat_id", "")),
                           text=text, thread=message.get("thread_id") or message.get("root_id") or None,
                           event_id=event_id, is_group=group, attachments=[{"message_id": message.get("message_id")}])
