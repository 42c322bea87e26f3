"""The one conversation dispatcher: every door (REST chats, Slack, Telegram, Feishu) calls `handle`.

It resolves who is asking (role from the bot's `access`), keeps the conversation (history, order,
durability), runs the query pipeline, and returns a platform-neutral `Reply`.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from tabletalk.bot.answerable import has_data_words
from tabletalk.bot.chats import INTERRUPTED, ChatService
from tabletalk.bot.config import BotConfig
from tabletalk.bot.leases import TurnLeases, incoming_of, turn_record
from tabletalk.bot.messages import IncomingMessage, Reply
from tabletalk.bot.service import BotService
from tabletalk.bot.tablegen import generate_table
from tabletalk.core.errors import Forbidden, NotFound, TableTalkError, shown_to
from tabletalk.core.nlq.charts import render_png
from tabletalk.core.nlq.pipeline import Ask
from tabletalk.core.runtime import Core
from tabletalk.core.store.models import Chat, Message, SeenEvent, utcnow

log = logging.getLogger(__name__)

Progress = Callable[[str], Awaitable[dict | None]]  # may say where it shows (see ChatService.remember_ref)
Events = Callable[[str, dict], Awaitable[None]]
NO_ACCESS = "Sorry, you don't have access to this bot's data. Ask an administrator to add you."
SEEN_RETENTION = timedelta(hours=24)  # Feishu redelivers up to 6 h later; keep well beyond that
HELP = ("Ask a question about your data in plain words, e.g. \"how many orders are there?\".\n"
        "Commands: /help (this text), /tables (what you can query), /sql (the SQL behind the last answer), "
        "/reset (start a new conversation).")
SHORT_HELP = ("I answer questions about your data, e.g. \"how many orders are there?\". "
              "Type /help to see what I can do.")


class _Turns:
    """One conversation's queue: tickets in arrival order, answered strictly in ticket order."""

    def __init__(self):
        self.intake = asyncio.Lock()
        self._cond = asyncio.Condition()
        self._next = 0
        self._serving = 0
        self._done: set[int] = set()

    def take(self) -> int:
        ticket, self._next = self._next, self._next + 1
        return ticket

    async def wait_for_turn(self, ticket: int) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self._serving == ticket)

    async def finish(self, ticket: int) -> None:
        async with self._cond:
            self._done.add(ticket)
            while self._serving in self._done:
                self._done.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()


class Access:
    """Who is asking, as the bot's access rules resolve them."""

    def __init__(self, role: str | None, variables: dict, allowed: bool):
        self.role, self.variables, self.allowed = role, variables, allowed


class Dispatcher:
    def __init__(self, core: Core):
        self.core = core
        self.bots = BotService(core)
        self.chats = ChatService(core.store)
        self._turns: weakref.WeakValueDictionary[str, _Turns] = weakref.WeakValueDictionary()
        self.leases = TurnLeases(core.store, core.settings.turn_lease)
        self._resuming: set[asyncio.Task] = set()
        # platform -> async (bot, msg, ref, reply): how a late answer reaches its asker (set by adapters)
        self.late_replies: dict[str, Callable[..., Awaitable[None]]] = {}
        self._commands = {"/help": self._help, "/start": self._start, "/tables": self._tables,
                          "/sql": self._sql, "/reset": self._reset}

    async def start(self, *, resume: bool = False) -> None:
        """Load bot files; a serving instance (`resume`) also answers the questions a crashed one
        accepted but never answered, and keeps its own questions leased."""
        paths = [self.core.home / "bots", *map(Path, self.core.settings.bot_paths)]
        self.file_errors = await self.bots.load_files(paths)
        if resume:
            await self._resume_all(await self.leases.reclaim())
            self.leases.keep_alive(self._resume_all)

    async def close(self) -> None:
        await self.leases.close()
        for task in list(self._resuming):
            task.cancel()
        await asyncio.gather(*self._resuming, return_exceptions=True)

    async def _resume_all(self, humans: list) -> None:
        if humans:
            log.warning("answering %d question(s) a stopped instance had accepted", len(humans))
        for human in humans:  # oldest first: each takes its place in its conversation's queue in order
            task = asyncio.create_task(self._resume(human), name=f"resume:{human.id}")
            self._resuming.add(task)
            task.add_done_callback(self._resuming.discard)
            await asyncio.sleep(0)

    # --- what adapters call -----------------------------------------------------------------
    async def bot(self, bot_id: str) -> BotConfig:
        return await self.bots.config(bot_id)

    async def first_delivery(self, platform: str, bot_id: str, event_id: str) -> bool:
        """True the first time an event id is seen (recorded in the store, so it holds across restarts
        and instances); False for a redelivery."""
        try:
            async with self.core.store.session() as s:
                s.add(SeenEvent(platform=platform, bot_id=bot_id, event_id=str(event_id)))
                await s.commit()
        except IntegrityError:
            return False
        if hash(event_id) % 200 == 0:  # prune now and then, not on every delivery
            async with self.core.store.session() as s:
                await s.exec(delete(SeenEvent).where(SeenEvent.created_at < utcnow() - SEEN_RETENTION))
                await s.commit()
        return True

    async def handle(self, msg: IncomingMessage, *, progress: Progress | None = None,
                     events: Events | None = None, chat: Chat | None = None) -> Reply:
        """Answer one message. Within a conversation, questions are stored in arrival order as soon
        as they arrive (so a crash loses none) and answered one at a time in that order."""
        turns = self._queue(msg.conversation_key)
        async with turns.intake:  # taken before any await: arrival order
            ticket = turns.take()
            try:
                prepared = await self._prepare(msg, chat)
            except BaseException:
                await turns.finish(ticket)
                raise
        try:
            if isinstance(prepared, Reply):
                return prepared
            if progress:  # what it returns says where the platform shows it, for a late answer after a restart
                ref = await progress("Working on it…")
                if ref:
                    await self.chats.remember_ref(prepared[4].id, ref)
            await turns.wait_for_turn(ticket)
            return await self._answer(*prepared, events)
        finally:
            await turns.finish(ticket)

    def _queue(self, key: str) -> _Turns:
        turns = self._turns.get(key)
        if turns is None:
            turns = self._turns[key] = _Turns()
        return turns

    async def _resume(self, human) -> None:
        """Answer a question accepted before a crash, late, through the normal reply path (the
        platform's progress message is updated); if that is impossible, tell the asker to ask again."""
        try:
            turn = human.turn or {}
            msg = incoming_of(turn)
            chat = await self.chats.get(human.chat_id)
            bot = await (self.bots.for_datasource(chat.datasource_id) if chat.datasource_id
                         else self.bots.config(msg.bot_id))
        except Exception:  # stored before turns were recorded, or its chat or bot is gone
            log.warning("question %s cannot be answered again; marked failed", human.id, exc_info=True)
            await self.chats.finish(human.id, status="failed", error=INTERRUPTED)
            return
        turns = self._queue(msg.conversation_key)
        async with turns.intake:
            ticket = turns.take()
        try:
            await turns.wait_for_turn(ticket)
            access = Access(turn.get("role"), turn.get("variables") or {}, True)
            try:
                reply = await self._answer(bot, msg, chat, access, human, None)
            except Exception:  # logged by _answer; the asker still hears from us
                await self.chats.finish(human.id, status="failed", error=INTERRUPTED)
                reply = Reply(text=INTERRUPTED, error=INTERRUPTED, chat_id=chat.id)
        finally:
            await turns.finish(ticket)
        late = self.late_replies.get(msg.platform)
        if late is not None:
            try:
                await late(bot, msg, turn.get("ref") or {}, reply)
            except Exception:
                log.warning("late answer to question %s could not be delivered", human.id, exc_info=True)

    async def _prepare(self, msg: IncomingMessage, chat: Chat | None):
        """A Reply for commands and refusals; otherwise the stored question and what answering needs."""
        bot = await (self.bots.for_datasource(chat.datasource_id) if chat is not None and chat.datasource_id
                     else self.bots.config(msg.bot_id))
        text = msg.text.strip()
        command = text.split()[0].split("@")[0].lower() if text.startswith("/") else None
        if command in ("/help", "/start"):
            return await self._commands[command](bot, msg, chat)
        access = await self.resolve_access(bot, msg)
        if chat is not None and chat.role_id:  # chosen by an admin when the chat was made: see what the role sees
            access = Access(chat.role_id, chat.role_variables, True)
        refused = await self._refusal(bot, msg, access)
        if refused:
            log.info("bot %s refused %s user %s: %s", bot.id, msg.platform, msg.user, refused)
            return Reply(text=NO_ACCESS, error="no_access")
        if command in self._commands:
            return await self._commands[command](bot, msg, chat, access)
        generated = await generate_table(self.core.tables, text, may_create=msg.asker.may("priv_asker"))
        if generated is not None:
            return generated
        if not await has_data_words(self.core, bot.datasource_ids, text):
            # Nothing a dataset could answer ("hi", "Tes"): help in a DM, silence in a group.
            return Reply(text="", silent=True) if msg.is_group else Reply(text=SHORT_HELP, suggestions=bot.sample_questions)
        if chat is None:
            chat = await self.chats.for_conversation(bot.id, msg.conversation_key, msg.user)
        human = await self.chats.add(chat.id, "human", {"text": msg.text, "user": msg.user}, status="pending",
                                     lease_owner=self.leases.owner, lease_until=self.leases.until(),
                                     turn=turn_record(msg, access.role, access.variables))
        return bot, msg, chat, access, human

    async def stored_answer(self, bot_id: str, message_id: str, user: str) -> Reply:
        """An earlier answer of this bot (its SQL and rows), for the person who asked for it only —
        what buttons such as "Show SQL" under a platform answer read."""
        gone = "That answer is no longer available."
        try:
            answer = await self.core.store.fetch(Message, message_id, "Answer")
            chat = await self.chats.get(answer.chat_id)
            question = await self.core.store.fetch(Message, str(answer.content.get("in_reply_to")), "Question")
        except NotFound:
            raise NotFound(gone) from None
        if chat.bot_id != bot_id or answer.role != "assistant":
            raise NotFound(gone)
        if question.content.get("user") != user:
            raise Forbidden("Only the person who asked can see this answer's SQL and data.")
        c = answer.content
        return Reply(text=c.get("text") or "", sql=c.get("sql"), dataframe=c.get("dataframe"), message_id=answer.id,
                     chat_id=chat.id)

    # --- access -----------------------------------------------------------------------------
    async def resolve_access(self, bot: BotConfig, msg: IncomingMessage) -> Access:
        """The role the bot's rules name for this user: a role bound to the caller's key first, then the
        first matching `access.users` rule, then `access.default`. A bot with user rules refuses anyone
        else but administrators. Whether the role may be used (an empty, null or unknown role, or none
        on a datasource with policies, is a refusal) is `PolicyService.scope_for`'s decision."""
        asker = msg.asker
        if asker.bound:
            return Access(asker.role_id, asker.role_variables, True)
        names = {msg.user, msg.user_name} - {None}
        for rule in bot.access.users:
            if rule.platform in ("*", msg.platform) and rule.user in names:
                return Access(rule.role, rule.variables, True)
        if bot.access.default is not None:
            return Access(bot.access.default.role, bot.access.default.variables, True)
        if asker.admin:  # administrators manage the policies; unscoped unless a rule above names them
            return Access(None, {}, True)
        return Access(None, {}, not bot.access.users)

    async def _refusal(self, bot: BotConfig, msg: IncomingMessage, access: Access) -> str | None:
        """Why this user may not ask this bot (None when they may), checked on every datasource."""
        if not access.allowed:
            return "no rule of the bot names this user"
        for ds_id in bot.datasource_ids:
            try:
                await self.core.policies.scope_for(msg.asker, ds_id, access.role, access.variables)
            except TableTalkError as exc:  # unknown role, missing variable, no role under a policy...
                return exc.detail
        return None

    # --- answering --------------------------------------------------------------------------
    async def _answer(self, bot: BotConfig, msg: IncomingMessage, chat: Chat, access: Access, human,
                      events: Events | None) -> Reply:
        # In a shared thread each user's follow-ups build on their own turns only: another user's
        # SQL carries that user's filter values.
        history = [h for h in await self.chats.history(chat.id) if h.get("user") in (None, msg.user)]

        async def on_step(name: str, payload: dict) -> None:
            if events:
                await events(name, payload)

        try:
            answer = None
            for ds_id in bot.datasource_ids:
                ask = Ask(datasource_id=ds_id, question=msg.text, role_id=access.role, role_variables=access.variables,
                          principal=msg.asker, history=history, chart=True, max_rows=bot.max_rows, progress=on_step)
                answer = await self.core.pipeline.run(ask, "chat")
                if answer.status == "success" or answer.not_permitted:
                    break
            reply = Reply(text=answer.answer or answer.message or "", sql=answer.sql, dataframe=answer.dataframe,
                          chart=answer.chart, error=None if answer.status == "success" else (answer.message or "failed"),
                          private=answer.filtered, chat_id=chat.id,
                          interpretation=answer.interpretation if answer.status == "success" else None)
        except TableTalkError as exc:
            shown = shown_to(exc, msg.asker.admin)
            reply = Reply(text=shown, error=shown, chat_id=chat.id)
        except Exception:
            log.exception("answering %s in chat %s failed", msg.event_id or "-", chat.id)
            await self.chats.finish(human.id, status="failed", error="internal error")
            raise
        if reply.chart and msg.platform not in ("rest", "test"):
            try:
                reply.chart_png = await render_png(reply.chart)
            except Exception:  # a chart that will not render must not lose the answer
                log.warning("chart rendering failed for chat %s", chat.id, exc_info=True)
        content = {"text": reply.text, "sql": reply.sql, "dataframe": reply.dataframe, "chart": reply.chart,
                   "in_reply_to": human.id}
        if reply.interpretation:
            content["interpretation"] = reply.interpretation
        if reply.error:
            content["error"] = reply.error
        status = "failed" if reply.error else "success"
        stored = await self.chats.add(chat.id, "assistant", content, status=status)
        await self.chats.finish(human.id, status=status, error=reply.error)
        reply.message_id = stored.id
        return reply

    # --- commands ---------------------------------------------------------------------------
    async def _help(self, bot: BotConfig, msg: IncomingMessage, chat, access=None) -> Reply:
        return Reply(text=HELP, suggestions=bot.sample_questions)

    async def _start(self, bot: BotConfig, msg: IncomingMessage, chat, access=None) -> Reply:
        return Reply(text=bot.welcome_message, suggestions=bot.sample_questions)

    async def _tables(self, bot: BotConfig, msg: IncomingMessage, chat, access: Access) -> Reply:
        lines = []
        for ds_id in bot.datasource_ids:
            schema = await self.core.metadata.schema(ds_id)
            scope = await self.core.policies.scope_for(msg.asker, ds_id, access.role, access.variables)
            visible = scope.visible({t.name.lower() for t in schema.tables})
            for t in schema.restricted_to(visible).tables:
                desc = f" — {t.description}" if t.description else ""
                lines.append(f"• {t.name} ({', '.join(c.name for c in t.columns[:8])}){desc}")
        return Reply(text="You can ask about these tables:\n" + "\n".join(lines) if lines else
                     "There are no tables you can query with this bot.")

    async def _sql(self, bot: BotConfig, msg: IncomingMessage, chat, access: Access) -> Reply:
        chat = chat or await self.chats.for_conversation(bot.id, msg.conversation_key, msg.user)
        # Only this user's own queries: in a shared thread another user's SQL shows their filter values.
        last = next((h for h in reversed(await self.chats.history(chat.id))
                     if h.get("sql") and h.get("user") in (None, msg.user)), None)
        if last is None:
            return Reply(text="There is no previous query in this conversation yet.")
        return Reply(text=f"The last answer came from this SQL:\n{last['sql']}", sql=last["sql"])

    async def _reset(self, bot: BotConfig, msg: IncomingMessage, chat, access: Access) -> Reply:
        chat = chat or await self.chats.for_conversation(bot.id, msg.conversation_key, msg.user)
        await self.chats.add(chat.id, "assistant", {"text": "(conversation reset)", "reset": True})
        return Reply(text="Started a new conversation. Earlier questions are forgotten.")
