"""The one question-answering pipeline every door uses (REST single-turn, chats, bots, canvas).

question → schema (role-visible) → SQL (training match / built-in engine / LLM with self-correction)
→ read-only check + policy rewrite → execution → answer text → optional chart. Each step is timed.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

from tabletalk.core.errors import Forbidden, Invalid, TableTalkError, Upstream, shown_to
from tabletalk.core.metadata.schema import Schema
from tabletalk.core.nlq import builtin
from tabletalk.core.nlq.answer import clean_numbers, template_answer
from tabletalk.core.nlq.charts import chart_code, chart_kind, choose_chart
from tabletalk.core.nlq.linking import link
from tabletalk.core.nlq.llm import llm_answer, llm_sql
from tabletalk.core.nlq.value_hints import Lookup, question_values
from tabletalk.core.pacing import turn
from tabletalk.core.policy.principal import Principal
from tabletalk.core.store.models import new_id

log = logging.getLogger(__name__)

CONFIDENT = 0.6  # below this, a configured LLM answers instead of the built-in engine
Progress = Callable[[str, dict], Awaitable[None]]


@dataclass
class Ask:
    datasource_id: str
    question: str
    role_id: str | None = None          # the role the request names; a role bound to the principal wins
    role_variables: dict = field(default_factory=dict)
    principal: Principal = field(default_factory=Principal)  # who asks (default: an anonymous visitor)
    history: list[dict] = field(default_factory=list)  # earlier turns: {"question", "sql"}
    execute: bool = True
    chart: bool = False
    max_rows: int | None = None
    model: str | None = None
    sql: str | None = None  # user-written SQL (canvas sql nodes): skip generation, still enforced
    progress: Progress | None = None


@dataclass
class Answer:
    id: str
    question: str
    status: str = "success"  # success | failed
    sql: str | None = None
    answer: str | None = None
    dataframe: dict | None = None
    chart: dict | None = None
    message: str | None = None
    engine: str | None = None  # training | builtin | llm | user
    filtered: bool = False      # computed under a row filter
    not_permitted: bool = False
    upstream_failed: bool = False  # an LLM or the database did not answer
    timing: dict = field(default_factory=dict)
    debug: dict = field(default_factory=dict)  # LLM prompt size, what its budget cut, value hints
    interpretation: str | None = None  # the question as the built-in engine read it, in plain words
    confidence: float | None = None    # the built-in engine's calibrated confidence in that reading
    chart_hint: str | None = field(default=None, repr=False)
    checked: tuple | None = field(default=None, repr=False)  # (sql, rewritten, result or None) of the validation

    def to_dict(self, kind: str) -> dict:
        out = {"id": self.id, "question": self.question, "status": self.status, "sql": self.sql,
               "timing": self.timing, "engine": self.engine}
        if self.debug:
            out["debug"] = self.debug
        if self.message:
            out["message"] = self.message
        if self.interpretation:
            out["interpretation"] = self.interpretation
        if self.confidence is not None:
            out["confidence"] = self.confidence
        if kind in ("q2a", "q2w", "chat"):
            out["answer"] = self.answer
            out["dataframe"] = self.dataframe
        if kind == "q2w":
            out["chart"] = self.chart
            out["chart_type"] = chart_kind(self.chart)
            out["chart_code"] = chart_code(self.chart, self.id)
        return out


class Pipeline:
    def __init__(self, *, metadata, datasources, policies, training, llm, settings):
        self.metadata = metadata
        self.datasources = datasources
        self.policies = policies
        self.training = training
        self.llm = llm  # ModelRegistry
        self.settings = settings

    async def run(self, ask: Ask, kind: str = "q2a") -> Answer:
        started = time.perf_counter()
        timing: dict = {"llm_duration": 0.0}
        answer = Answer(id=new_id(kind), question=ask.question.strip())
        answer.timing = timing

        progress = ask.progress  # streamed steps (chats over SSE); their payloads are built only for them

        def mark(name: str, t0: float) -> None:
            timing[f"{name}_duration"] = _seconds(time.perf_counter() - t0)

        await turn()  # a burst of questions takes the loop a few at a time (core/pacing.py)
        # Request errors (unknown datasource or role, missing role variable, empty question) are 4xx.
        t0 = time.perf_counter()
        if not answer.question and not ask.sql:
            raise Invalid("The question is empty.")
        ds = await self.datasources.get(ask.datasource_id)
        scope = await self.policies.scope_for(ask.principal, ds.id, ask.role_id, ask.role_variables)
        try:
            full = await self.metadata.schema(ds.id)
            visible = scope.visible_in(full)
            schema = await self.metadata.schema_for(ds.id, scope)  # its tables; values from its rows only
            answer.filtered = scope.filtered
            mark("linking", t0)
            if progress:
                await progress("linking", {"tables": [t.name for t in schema.tables][:20]})

            connector = await self.datasources.connector(ds)

            def enforce(sql: str) -> str:
                return scope.enforce(sql, full)

            t0 = time.perf_counter()
            sql = ask.sql
            if sql:
                answer.engine = "user"
            else:
                sql = await self._generate(ask, answer, schema, full, visible, enforce, connector, scope)
            mark("sql", t0)
            if sql is None:
                return answer
            checked = answer.checked  # the model's SQL was rewritten (and run) while validating it
            reused = checked is not None and checked[0] == sql
            answer.sql = checked[1] if reused else enforce(sql)
            if progress:
                await progress("sql", {"sql": answer.sql})
            if ask.execute:
                t0 = time.perf_counter()
                cap = ask.max_rows or self.settings.max_rows
                if reused and checked[2] is not None:
                    result = checked[2]
                else:
                    result = await connector.execute(answer.sql, max_rows=cap, timeout=self.settings.query_timeout)
                answer.dataframe = clean_numbers(result.to_dict())
                mark("execute", t0)
                if progress:
                    await progress("rows", {"count": len(result.data), "truncated": result.truncated})
                t0 = time.perf_counter()
                answer.answer = await self._answer_text(ask, answer, result)
                mark("answer", t0)
                if progress:
                    await progress("answer", {"text": answer.answer})
                if ask.chart:
                    answer.chart = choose_chart(answer.question, result.columns, result.data, answer.chart_hint)
        except Forbidden as exc:
            answer.status, answer.not_permitted, answer.message = "failed", True, exc.detail
            answer.answer = exc.detail
        except Upstream as exc:
            if not ask.principal.admin:
                log.warning("upstream failure shown to a non-admin as a generic sentence: %s", exc.detail)
            answer.status, answer.message, answer.upstream_failed = "failed", shown_to(exc, ask.principal.admin), True
            answer.answer = answer.message
        except Invalid as exc:
            answer.status, answer.message = "failed", exc.detail
            answer.answer = exc.detail
        finally:
            timing["total_duration"] = _seconds(time.perf_counter() - started)
            timing["llm_duration"] = _seconds(timing["llm_duration"])
        return answer

    async def _generate(self, ask: Ask, answer: Answer, schema: Schema, full: Schema, visible, enforce, connector,
                        scope) -> str | None:
        today = date.today()
        hidden = _mentioned_hidden_table(answer.question, full, visible)
        if hidden:  # never answered from another table, by the engine or a model
            raise Forbidden(f"You are not permitted to query the table '{hidden}'.")
        # Pairs naming what this asker may not read never reach its engine, prompt or answer (training.py).
        pairs = await self.training.pairs_for(ask.datasource_id, scope)
        previous = None
        if ask.history:
            last = ask.history[-1]
            if last.get("sql"):
                previous = (last.get("question", ""), last["sql"])
        local = builtin.read(answer.question, schema, today=today, training=pairs, previous=previous)
        answer.chart_hint = local.chart_hint
        llm_ready = self.llm.available
        # Follow-ups in a conversation go to the model when there is one: resolving "that" is its strength.
        confident = local.confidence >= CONFIDENT and (not ask.history or local.confidence >= 1.0)
        if local.sql and (confident or not llm_ready):
            answer.engine = "builtin"
            answer.interpretation = local.interpretation or None
            answer.confidence = local.confidence
            return local.sql
        if not llm_ready:
            return self._cannot_map(answer, local, full, visible)
        client, info = self.llm.resolve(ask.model)
        try:  # tables close in meaning (vector index), when an embedding model is configured
            prefer = await self.metadata.similar_tables(ask.datasource_id, answer.question, visible=visible)
        except TableTalkError as exc:
            log.info("vector linking skipped: %s", exc.detail)
            prefer = []
        linked = link(answer.question, schema, prefer=prefer)
        hints = await self._value_hints(answer, linked, enforce, connector)

        async def validate(sql: str) -> None:
            # Executing is the real check; its result is kept so the answer does not run it twice.
            try:
                rewritten = enforce(sql)
            except Forbidden as exc:  # final: a retry cannot make a table visible
                raise _NotPermitted(exc.detail) from None
            result = None
            if ask.execute:
                cap = ask.max_rows or self.settings.max_rows
                result = await connector.execute(rewritten, max_rows=cap, timeout=self.settings.query_timeout)
            answer.checked = (sql, rewritten, result)

        history = [{"question": h.get("question", ""), "sql": h.get("sql")} for h in ask.history[-6:]]
        try:
            result = await llm_sql(client, answer.question, linked, dialect=full.dialect, today=today,
                                   training=pairs, history=history, hints=hints, validate=validate,
                                   allowed=visible if visible is not None else {t.name.lower() for t in schema.tables})
        except _NotPermitted as exc:
            raise Forbidden(str(exc)) from None
        answer.timing["llm_duration"] += result.duration_s
        answer.debug.update(prompt_tokens=result.prompt_tokens, prompt_cut=result.cut, value_hints=len(hints))
        answer.engine = "llm"
        return result.sql

    async def _value_hints(self, answer: Answer, linked: Schema, enforce, connector):
        """The stored values the question names (every database read through the role's policy). The
        schema's own samples need no such care: `schema_for` read them from the role's rows."""
        async def execute(sql: str):  # value_hints runs only what `enforce` returned
            result = await connector.execute(sql, max_rows=200, timeout=min(2.0, self.settings.query_timeout))
            return result.data

        return await question_values(answer.question, linked, lookup=Lookup(enforce, execute), filtered=answer.filtered)

    def _cannot_map(self, answer: Answer, local, full: Schema, visible) -> None:
        answer.status = "failed"
        answer.engine = "builtin"
        answer.message = local.message or "I could not turn that question into a query."
        answer.answer = answer.message
        return None

    async def _answer_text(self, ask: Ask, answer: Answer, result) -> str:
        text = template_answer(answer.question, result.columns, result.data, result.truncated)
        if answer.engine != "llm" or not self.llm.available:
            return text
        client, info = self.llm.resolve(ask.model)
        t0 = time.perf_counter()
        try:
            return await llm_answer(client, answer.question, answer.sql, result.columns, result.data[:20],
                                    total_rows=len(result.data), model=info.model)
        except TableTalkError as exc:  # the data is there; a template sentence is a fine fallback
            log.info("LLM answer failed, using the template: %s", exc.detail)
            return text
        finally:
            answer.timing["llm_duration"] += time.perf_counter() - t0


def _seconds(duration: float) -> float:
    """A duration to 0.1 ms, as round(duration, 4) would give it at a third of the cost (three a question)."""
    return int(duration * 10_000 + 0.5) / 10_000


class _NotPermitted(Exception):
    """Carries a Forbidden through the LLM's self-correction loop, which must not retry it."""


def _mentioned_hidden_table(question: str, full: Schema, visible: set[str] | None) -> str | None:
    if visible is None:
        return None
    words = set(re.findall(r"[a-z0-9_]+", question.lower()))
    for t in full.tables:
        name = t.name.lower()
        if name in visible:
            continue
        forms = {name, name.rstrip("s"), name + "s", name.replace("_", " ")}
        if words & forms or any(" " in f and f in question.lower() for f in forms):
            return t.name
    return None
