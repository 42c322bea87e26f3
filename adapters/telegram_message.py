"""Telegram Update → IncomingMessage: which messages are for this bot, and their text.

The rule: private chats, every text (or caption) a person sends. Groups: commands with no @ or
@this bot (`/help@OtherBot` is for another bot), @mentions of this bot (by @username or a
text_mention of its id), and replies to this bot's own messages — not another bot's, and not the
implicit reply every forum-topic message makes to the topic's opening message. Messages from bots
are ignored, except an anonymous group admin (sent as GroupAnonymousBot on behalf of the group).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from tabletalk.bot.messages import IncomingMessage
from tabletalk.core.errors import Invalid

GROUP_ANONYMOUS_BOT = 1087968824  # Telegram's stand-in sender for anonymous group admins


@dataclass(frozen=True)
class Me:
    """This bot's own account: @username and user id (either may be unknown)."""
    username: str | None = None
    id: int | None = None


def message_of(update) -> dict | None:
    """The update's new message, checked enough to read; None for other kinds of update (edits,
    channel posts, callbacks, membership changes). Malformed updates are a 400."""
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise Invalid("A Telegram Update must be a JSON object with an integer 'update_id'.")
    if "message" not in update:
        return None
    message = update["message"]
    if not isinstance(message, dict):
        raise Invalid("'message' must be a Message object.")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise Invalid("'message.chat' must be a Chat object with an integer 'id'.")
    for key in ("text", "caption"):
        if key in message and not isinstance(message[key], str):
            raise Invalid(f"'message.{key}' must be a string.")
    return message


def _sender(message: dict) -> dict | None:
    sender = message.get("from")
    if not isinstance(sender, dict) or not isinstance(sender.get("id"), int):
        return None
    if sender.get("is_bot"):
        anonymous_admin = sender["id"] == GROUP_ANONYMOUS_BOT and isinstance(message.get("sender_chat"), dict) \
            and message["sender_chat"].get("id") == message["chat"]["id"]
        return sender if anonymous_admin else None
    return sender


def _entities(message: dict, text: str, kind: str) -> list[tuple[str, dict]]:
    out = []
    for e in message.get("entities") or message.get("caption_entities") or []:
        if isinstance(e, dict) and e.get("type") == kind and isinstance(e.get("offset"), int) and isinstance(e.get("length"), int):
            out.append((text[e["offset"]: e["offset"] + e["length"]], e))
    return out


def _is_me(user, me: Me) -> bool:
    if not isinstance(user, dict) or not user.get("is_bot"):
        return False
    if me.id is not None and user.get("id") == me.id:
        return True
    return me.id is None and bool(me.username) and str(user.get("username", "")).lower() == me.username.lower()


def _addressed(message: dict, text: str, me: Me) -> bool:
    name = (me.username or "").lower()
    command = re.match(r"/[A-Za-z0-9_]+(?:@([A-Za-z0-9_]+))?", text)
    if command and (command.group(1) is None or (name and command.group(1).lower() == name)):
        return True
    if name and any(t.lower() == f"@{name}" for t, _ in _entities(message, text, "mention")):
        return True
    if name and not message.get("entities") and not message.get("caption_entities") \
            and re.search(rf"(?<!\w)@{re.escape(name)}\b", text, re.I):
        return True
    if me.id is not None and any((e.get("user") or {}).get("id") == me.id for _, e in _entities(message, text, "text_mention")):
        return True
    replied = message.get("reply_to_message")
    # In a forum, a message posted in a topic without replying to anything is still sent as a
    # reply to the topic's opening message: that is not a reply to the bot.
    if isinstance(replied, dict) and "forum_topic_created" not in replied:
        return _is_me(replied.get("from"), me)
    return False


def to_incoming(bot_id: str, update_id: int, message: dict, me: Me) -> IncomingMessage | None:
    """The neutral message, or None when the message is not for this bot."""
    text = message.get("text") if "text" in message else message.get("caption")
    sender = _sender(message)
    if not text or sender is None:
        return None
    chat = message["chat"]
    private = chat.get("type") == "private" or (chat.get("type") is None and chat["id"] == sender["id"])
    if not private and not _addressed(message, text, me):
        return None
    if me.username:
        text = re.sub(rf"(?<!\w)@{re.escape(me.username)}\b", "", text, flags=re.I)
    text = re.sub(r"[ \t]+", " ", text).strip()
    if not text:
        return None
    topic = message.get("message_thread_id") if message.get("is_topic_message") else None
    return IncomingMessage(bot_id=bot_id, platform="telegram", user=str(sender["id"]), chat=str(chat["id"]), text=text,
                           thread=str(topic) if topic else None, event_id=str(update_id), is_group=not private,
                           user_name=sender.get("username"))


def needs_identity(message: dict, me: Me) -> bool:
    """Whether deciding if a group message is for this bot needs the username (still unknown)."""
    chat = message["chat"]
    return chat.get("type") not in ("private", None) and not me.username
