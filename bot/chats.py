"""Conversations and their turns, stored so that a restart loses nothing.

A human turn is stored (status `pending`, leased by the instance answering it) before any work
starts and marked `success` once the assistant turn is stored; turns left `pending` by a crash are
answered again once their lease expires (bot/leases.py), or marked `failed` if that is impossible.
"""
from __future__ import annotations

from sqlalchemy import delete, func, update
from sqlmodel import select

from tabletalk.core.errors import NotFound
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import Chat, Message, iso, utcnow

INTERRUPTED = "The service restarted before this question was answered; please ask again."


def message_view(m: Message) -> dict:
    # One vocabulary with the reply that answered the turn: pending | success | failed ("done" is older rows').
    status = "success" if m.status == "done" else m.status
    out = {"id": m.id, "chat_id": m.chat_id, "role": m.role, "content": m.content, "status": status,
           "created_at": iso(m.created_at)}
    if m.error:
        out["error"] = m.error
    return out


def chat_view(c: Chat, messages: list[Message] | None = None) -> dict:
    out = {"id": c.id, "bot_id": c.bot_id or None, "datasource_id": c.datasource_id, "name": c.name,
           "status": c.status, "user_id": c.user_id, "role_id": c.role_id, "role_variables": c.role_variables,
           "created_at": iso(c.created_at), "modified_at": iso(c.modified_at)}
    if messages is not None:
        out["messages"] = [message_view(m) for m in messages]
    return out


class ChatService:
    def __init__(self, store: Store):
        self.store = store

    async def create(self, bot_id: str, *, conversation_key: str | None = None, owner_key_id: str | None = None,
                     user_id: str | None = None, datasource_id: str | None = None, role_id: str | None = None,
                     role_variables: dict | None = None, name: str = "") -> Chat:
        chat = Chat(bot_id=bot_id, conversation_key="", owner_key_id=owner_key_id, user_id=user_id,
                    datasource_id=datasource_id, role_id=role_id, role_variables=role_variables or {}, name=name)
        chat.conversation_key = conversation_key or f"rest:{chat.id}"
        async with self.store.session() as s:
            s.add(chat)
            await s.commit()
        return chat

    async def for_conversation(self, bot_id: str, key: str, user_id: str | None) -> Chat:
        """The active chat of a platform conversation, created on first use."""
        async with self.store.session() as s:
            chat = (await s.exec(select(Chat).where(Chat.conversation_key == key, Chat.status == "active")
                                 .order_by(Chat.created_at.desc()))).first()
        return chat or await self.create(bot_id, conversation_key=key, user_id=user_id)

    async def get(self, chat_id: str) -> Chat:
        return await self.store.fetch(Chat, chat_id, "Chat")

    async def messages(self, chat_id: str) -> list[Message]:
        """The conversation in reading order: each answer right after its question (questions are
        stored on arrival, answers later, so storage order interleaves them)."""
        async with self.store.session() as s:
            rows = list((await s.exec(select(Message).where(Message.chat_id == chat_id).order_by(Message.seq))).all())
        humans = {m.id for m in rows if m.role == "human"}
        replies: dict[str, list[Message]] = {}
        for m in rows:
            if m.role == "assistant" and m.content.get("in_reply_to") in humans:
                replies.setdefault(m.content["in_reply_to"], []).append(m)
        ordered = []
        for m in rows:
            if m.role == "assistant" and m.content.get("in_reply_to") in humans:
                continue
            ordered.append(m)
            ordered.extend(replies.get(m.id, []))
        return ordered

    async def list(self, *, page: int, size: int, bot_ids: list[str] | None = None,
                   owner_key_id: str | None = None) -> tuple[list[Chat], int]:
        q = select(Chat)
        c = select(func.count()).select_from(Chat)
        if bot_ids is not None:
            q, c = q.where(Chat.bot_id.in_(bot_ids)), c.where(Chat.bot_id.in_(bot_ids))
        if owner_key_id is not None:
            q, c = q.where(Chat.owner_key_id == owner_key_id), c.where(Chat.owner_key_id == owner_key_id)
        async with self.store.session() as s:
            total = (await s.exec(c)).one()
            items = (await s.exec(q.order_by(Chat.created_at.desc(), Chat.id).offset((page - 1) * size).limit(size))).all()
        return list(items), int(total)

    async def delete(self, chat_id: str) -> None:
        await self.get(chat_id)
        async with self.store.session() as s:
            await s.exec(delete(Message).where(Message.chat_id == chat_id))
            await s.exec(delete(Chat).where(Chat.id == chat_id))
            await s.commit()

    async def add(self, chat_id: str, role: str, content: dict, status: str = "success", **lease) -> Message:
        """Store a message under the chat's next seq (taken by one UPDATE, so concurrent adds never share one);
        `lease` (lease_owner, lease_until, turn) for a question accepted but not answered yet."""
        async with self.store.session() as s:
            seq = (await s.exec(update(Chat).where(Chat.id == chat_id)
                                .values(last_seq=Chat.last_seq + 1, modified_at=utcnow())
                                .returning(Chat.last_seq))).scalar_one_or_none()
            if seq is None:
                raise NotFound(f"Chat '{chat_id}' does not exist.")
            msg = Message(chat_id=chat_id, seq=seq, role=role, content=content, status=status, **lease)
            s.add(msg)
            if role == "human":  # the first question names the chat
                title = " ".join(str(content.get("text", "")).split())[:80]
                await s.exec(update(Chat).where(Chat.id == chat_id, Chat.name == "").values(name=title))
            await s.commit()
        return msg

    async def finish(self, message_id: str, *, status: str = "success", error: str | None = None) -> None:
        async with self.store.session() as s:
            msg = await s.get(Message, message_id)
            if msg is not None:
                msg.status, msg.error = status, error
                s.add(msg)
                await s.commit()

    async def history(self, chat_id: str, turns: int = 6) -> list[dict]:
        """The last answered turns as {question, sql, answer, user} (oldest first), for follow-up questions."""
        msgs = await self.messages(chat_id)
        out, question, user = [], None, None
        for m in msgs:
            if m.content.get("reset"):  # /reset: nothing before this point is context any more
                out, question = [], None
            elif m.role == "human":
                question = m.content.get("text", "") if m.status != "failed" or m.error != INTERRUPTED else None
                user = m.content.get("user")
            elif m.role == "assistant" and question is not None:
                out.append({"question": question, "sql": m.content.get("sql"), "answer": m.content.get("text"), "user": user})
                question = None
        return out[-turns:]

    async def remember_ref(self, message_id: str, ref: dict) -> None:
        """Where the platform shows a pending question's progress (kept with the question's turn)."""
        async with self.store.session() as s:
            msg = await s.get(Message, message_id)
            if msg is not None and msg.turn is not None:
                msg.turn = {**msg.turn, "ref": ref}
                s.add(msg)
                await s.commit()
