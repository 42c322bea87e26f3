"""/single-turn: question → SQL (q2s), answer (q2a), chart (q2w), and the chart's PNG."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import API_KEY, json_response, parse_body, requires
from tabletalk.core.errors import NotFound
from tabletalk.core.nlq.charts import render_png
from tabletalk.core.nlq.history import KINDS
from tabletalk.core.nlq.pipeline import Ask
from tabletalk.core.policy.principal import Principal

routes = web.RouteTableDef()


class SingleTurn(BaseModel):
    datasource_id: str = Field(min_length=1)
    question: str = Field(min_length=1, max_length=4000)
    role_id: str | None = None
    role_variables: dict = Field(default_factory=dict)
    parameterize: bool = False
    max_rows: int | None = Field(None, ge=1, le=100_000)
    model: str | None = None


async def _run(request: web.Request, kind: str) -> web.Response:
    body = await parse_body(request, SingleTurn)
    core = core_of(request)
    ask = Ask(datasource_id=body.datasource_id, question=body.question, role_id=body.role_id,
              role_variables=body.role_variables, execute=kind != "q2s", chart=kind == "q2w",
              max_rows=body.max_rows, model=body.model, principal=Principal.of_key(request[API_KEY]))
    answer = await core.pipeline.run(ask, kind)
    if kind in KINDS:  # the stored answer is the one returned
        out = dict((await core.history.record(kind, ask, answer, owner_key_id=request[API_KEY].id))["answer"])
    else:
        out = answer.to_dict(kind)
    if answer.upstream_failed:  # the model or the database is down: a 502 with the same body
        return json_response({"detail": answer.message, **out}, status=502)
    if kind == "q2w" and answer.chart:
        out["chart_png_url"] = f"/api/v1/single-turn/q2w/{answer.id}/chart.png"
        await core.remember_result(answer.id, kind, body.datasource_id, answer.question, {"chart": answer.chart},
                                   owner_key_id=request[API_KEY].id)
    return json_response(out)


@routes.post("/single-turn/q2s")
@requires("priv_asker", body=SingleTurn)
async def q2s(request: web.Request) -> web.Response:
    """Question to SQL (policy-rewritten, not executed)."""
    return await _run(request, "q2s")


@routes.post("/single-turn/q2a")
@requires("priv_asker", body=SingleTurn)
async def q2a(request: web.Request) -> web.Response:
    """Question to answer: SQL, a sentence and the dataframe."""
    return await _run(request, "q2a")


@routes.post("/single-turn/q2w")
@requires("priv_asker", body=SingleTurn)
async def q2w(request: web.Request) -> web.Response:
    """Question to chart: a Vega-Lite spec chosen from the result's shape."""
    return await _run(request, "q2w")


@routes.get("/single-turn/q2w/{result_id}/chart.png")
@requires("priv_asker")
async def q2w_png(request: web.Request) -> web.Response:
    """The PNG rendering of a q2w chart, for the key that asked (and administrators)."""
    record = await core_of(request).recall_result(request.match_info["result_id"], Principal.of_key(request[API_KEY]))
    if record is None or not record.get("chart"):
        raise NotFound(f"No chart for result '{request.match_info['result_id']}'.")
    png = await render_png(record["chart"])
    return web.Response(body=png, content_type="image/png")
