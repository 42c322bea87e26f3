"""The floor the service is measured against, in the same run: an aiohttp server that reads each
POST's JSON body and answers JSON, doing only the HTTP work a q2a needs — for the LLM path, two
model calls in sequence over the service's own model transport (core/llm/http.py) with a prompt
the size of a real one. What the service spends beyond this is its own work: authentication, the
engine, linking, policies, the database, history."""
from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web

from tabletalk.core.llm.http import Endpoint

PROMPT = "x" * 4000  # about a linked schema, its hints and the instructions


async def main(port: int, llm: str | None) -> None:
    endpoint = Endpoint(llm) if llm else None
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}

    async def q2a(request: web.Request) -> web.Response:
        ask = await request.json()
        text = ask.get("question", "")
        if endpoint is not None:
            for _ in range(2):
                r = await endpoint.request("POST", "/chat/completions", headers, body)
                text = json.loads(r.body)["choices"][0]["message"]["content"]
        return web.json_response({"status": "success", "answer": text, "sql": "SELECT 1", "dataframe": {}})

    app = web.Application()
    app.router.add_post("/api/v1/single-turn/q2a", q2a)
    app.router.add_get("/healthz", lambda r: web.json_response({"status": "ok"}))
    app.router.add_get("/api/v1/datasources", lambda r: web.json_response({"items": [{"id": "floor"}]}))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--llm", help="the model's base URL (the LLM-path floor); without: the offline floor")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.port, args.llm))
    except KeyboardInterrupt:
        pass
