"""/v1/single-turn: sqls (q2s) and answers (q2a), their creation and their history, as AskTable's
QueryResponse and AnswerResponse."""
from __future__ import annotations

from aiohttp import web
from pydantic import Field

from tabletalk.adapters.asktable.wire import Body, key_of, page, refuse_unserved, stamped
from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import Paging, json_response, parse_body, parse_query, requires
from tabletalk.core.nlq.pipeline import Ask
from tabletalk.core.nlq.history import HistoryRecord
from tabletalk.core.policy.principal import Principal
from tabletalk.core.store.models import iso

routes = web.RouteTableDef()


class SqlCreate(Body):
    datasource_id: str = Field(min_length=1)
    question: str = Field(min_length=1, max_length=4000)
    parameterize: bool | None = None
    role_id: str | None = None
    role_variables: dict | None = None


class AnswerCreate(Body):
    datasource_id: str = Field(min_length=1)
    question: str = Field(min_length=1, max_length=4000)
    max_rows: int | None = Field(None, ge=0, le=100_000)
    role_id: str | None = None
    role_variables: dict | None = None
    with_json: bool | None = None


class HistoryQuery(Paging):
    datasource_id: str | None = None


def record_out(row: HistoryRecord) -> dict:
    """A history row as AskTable's QueryResponse (q2s) or AnswerResponse (q2a)."""
    request, answer = row.request, row.answer
    timing = answer.get("timing") or {}
    out = stamped({"id": row.id, "created_at": iso(row.created_at), "modified_at": iso(row.created_at),
                   "status": answer["status"], "err_msg": answer.get("message") if answer["status"] != "success" else None,
                   "duration": int(round(1000 * (timing.get("total_duration") or 0))), "trace_id": row.id,
                   "timing": {k: timing.get(k) for k in ("llm_duration", "total_duration")},
                   "request": {k: v for k, v in request.items() if v is not None},
                   "sql": answer.get("sql"), "engine": answer.get("engine")})
    if row.kind == "q2s":
        out["query"] = {"sql": answer["sql"]} if answer.get("sql") else None
        return out
    out["timing"]["accessor_duration"] = timing.get("execute_duration")
    attachments = [{"type": "json", "info": answer["dataframe"]}] if request.get("with_json") and answer.get("dataframe") else None
    out["answer"] = {"text": answer.get("answer") or answer.get("message") or "", "attachments": attachments}
    out["dataframe"] = answer.get("dataframe")
    return out


async def _ask(request: web.Request, kind: str, body: SqlCreate | AnswerCreate, **extra) -> web.Response:
    core = core_of(request)
    # The role: a token's bound one wins, else the body's; core's scope_for decides, as on /api/v1.
    ask = Ask(datasource_id=body.datasource_id, question=body.question, role_id=body.role_id,
              role_variables=body.role_variables or {},
              execute=kind == "q2a", max_rows=getattr(body, "max_rows", None) or None,
              principal=Principal.of_key(key_of(request)))
    answer = await core.pipeline.run(ask, kind)
    row = HistoryRecord(**await core.history.record(kind, ask, answer, owner_key_id=key_of(request).id, **extra))
    return json_response(record_out(row), status=502 if answer.upstream_failed else 200)


@routes.post("/single-turn/q2s")
@requires("priv_asker", body=SqlCreate)
async def create_sql(request: web.Request) -> web.Response:
    """Question to SQL: generated, policy-rewritten, not executed."""
    body = await parse_body(request, SqlCreate)
    refuse_unserved(body, ("parameterize",), "TableTalk returns the SQL with values inline (role variables are bound "
                                             "as literals by the policy rewriter).")
    return await _ask(request, "q2s", body)


@routes.post("/single-turn/q2a")
@requires("priv_asker", body=AnswerCreate)
async def create_answer(request: web.Request) -> web.Response:
    """Question to answer: the sentence, and with with_json the rows as a json attachment."""
    body = await parse_body(request, AnswerCreate)
    return await _ask(request, "q2a", body, with_json=bool(body.with_json))


async def _history(request: web.Request, kind: str) -> web.Response:
    q = parse_query(request, HistoryQuery)
    key = key_of(request)
    rows, total = await core_of(request).history.list(kind, datasource_id=q.datasource_id, page=q.page, size=q.size,
                                                      owner_key_id=None if key.scope == "priv_admin" else key.id)
    return json_response(page([record_out(r) for r in rows], total, q))


@routes.get("/single-turn/q2s")
@requires("priv_asker", query=HistoryQuery)
async def list_sqls(request: web.Request) -> web.Response:
    """Earlier question→SQL results, newest first (asked on /v1 or /api/v1)."""
    return await _history(request, "q2s")


@routes.get("/single-turn/q2a")
@requires("priv_asker", query=HistoryQuery)
async def list_answers(request: web.Request) -> web.Response:
    """Earlier question→answer results, newest first (asked on /v1 or /api/v1)."""
    return await _history(request, "q2a")
