"""1,000 concurrent q2a requests answered through the LLM path, with a fake OpenAI-compatible server
answering each call in 200 ms. The service, the fake LLM and the load run as three processes.

Ideal wall = the LLM latency times the LLM calls one question needs in sequence (SQL, then the
answer sentence): what an infinitely fast service would take. Also reports errors and the
service's memory high-water mark (ru_maxrss of the service process)."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-admin-key-0123456789"
N, LATENCY, LLM_CALLS = 1000, 0.2, 2
QUESTION = "Which zorblax segments churned?"  # unmappable for the built-in engine: goes to the LLM


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def _main() -> dict:
    llm_port, port = _port(), _port()
    home = tempfile.mkdtemp(prefix="tt-conc-")
    env = {**os.environ, "TABLETALK_HOME": home, "TABLETALK_ADMIN_KEY": KEY, "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
           "OPENAI_API_KEY": "x", "TABLETALK_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", str(llm_port), "--latency", str(LATENCY)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    service = subprocess.Popen([sys.executable, "-m", "tabletalk.adapters.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await _wait(f"http://127.0.0.1:{llm_port}/v1/models")
        await _wait(f"http://127.0.0.1:{port}/healthz")
        headers = {"Authorization": f"Bearer {KEY}"}
        conn = aiohttp.TCPConnector(limit=N)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=300)) as s:
            async with s.get(f"http://127.0.0.1:{port}/api/v1/datasources", headers=headers) as r:
                ds = (await r.json())["items"][0]["id"]
            body = {"datasource_id": ds, "question": QUESTION}
            async with s.post(f"http://127.0.0.1:{port}/api/v1/single-turn/q2a", headers=headers, json=body) as r:
                await r.read()  # warm-up

            async def one():
                async with s.post(f"http://127.0.0.1:{port}/api/v1/single-turn/q2a", headers=headers, json=body) as r:
                    data = await r.json()
                    return r.status == 200 and data.get("status") == "success"

            t0 = time.perf_counter()
            results = await asyncio.gather(*(one() for _ in range(N)), return_exceptions=True)
            wall = time.perf_counter() - t0
        errors = sum(1 for r in results if r is not True)
        rss = _rss_kb(service.pid)
    finally:
        for p in (service, fake):
            p.send_signal(signal.SIGINT)
        for p in (service, fake):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    ideal = LATENCY * LLM_CALLS
    return {"rows": [
        {"metric": f"{N} concurrent q2a wall", "value": round(wall, 2), "unit": "s", "baseline": f"{ideal:.2f} s ideal",
         "ratio": round(wall / ideal, 2), "goal": "<= 1.3x ideal", "met": wall <= 1.3 * ideal},
        {"metric": "errors", "value": errors, "unit": "requests", "goal": "0", "met": errors == 0},
        {"metric": "service memory high-water (VmHWM)", "value": round(rss / 1024), "unit": "MiB"},
    ]}


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run() -> dict:
    return asyncio.run(_main())


if __name__ == "__main__":
    for row in run()["rows"]:
        print(row)
